"""The zeroconf edge in-process, on loopback: advertise, browse, feed the scheduler, close.

Loopback keeps these tests to this machine and needs no root; the namespace tests
(test_lan_sync, test_avahi) show the same code across a real link.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from ipaddress import IPv4Interface

import pytest
from zeroconf import IPVersion
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

from shelterkit.discovery.ads import SERVICE_TYPE, LocalAddress, PeerAd
from shelterkit.discovery.lan import LanDiscovery, discovery_for
from shelterkit.errors import LinkError

# Seconds to wait for what mDNS on loopback does in about 1.5 s (probing, then browsing).
SEEN_DEADLINE_S = 15.0
POLL_S = 0.05


class RecordingSink:
    """Stands in for the scheduler: the set of peers it was told to sync with."""

    def __init__(self) -> None:
        self.urls: set[str] = set()
        self.calls: list[tuple[str, str]] = []

    def add_peer(self, url: str) -> None:
        self.urls.add(url)
        self.calls.append(("add", url))

    def remove_peer(self, url: str) -> None:
        self.urls.discard(url)
        self.calls.append(("remove", url))


async def loopback() -> list[LocalAddress]:
    return [LocalAddress("lo", IPv4Interface("127.0.0.1/8"))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def on_loopback(sink: RecordingSink, shelter: str, **kw: object) -> LanDiscovery:
    ad = PeerAd(os.urandom(32), shelter)
    return LanDiscovery(ad, f"127.0.0.1:{free_port()}", sink, addresses=loopback, **kw)  # type: ignore[arg-type]


def url_of(d: LanDiscovery) -> str:
    return f"http://127.0.0.1:{d.port}/"


@asynccontextmanager
async def running(*discoveries: LanDiscovery) -> AsyncIterator[list[asyncio.Task[None]]]:
    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(d.run()) for d in discoveries]
        yield tasks
        for task in tasks:
            if not task.cancelling():  # cancel each once, as run_services does
                task.cancel()


async def until(done: Callable[[], bool], what: str) -> None:
    """Poll ``done`` (mDNS gives us no event to wait on) until it holds, or fail."""
    for _ in range(int(SEEN_DEADLINE_S / POLL_S)):
        if done():
            return
        await asyncio.sleep(POLL_S)
    raise AssertionError(f"not {what} within {SEEN_DEADLINE_S}s")


async def test_two_nodes_find_each_other_and_goodbye_removes() -> None:
    a_sink, b_sink = RecordingSink(), RecordingSink()
    a, b = on_loopback(a_sink, "S01"), on_loopback(b_sink, "S02")
    async with running(a, b) as (_task_a, task_b):
        await until(lambda: url_of(b) in a_sink.urls and url_of(a) in b_sink.urls, "found")
        assert url_of(a) not in a_sink.urls  # our own advertisement is ignored
        assert url_of(b) not in b_sink.urls
        task_b.cancel()  # b shuts down and says goodbye
        await until(lambda: url_of(b) not in a_sink.urls, "seen b's goodbye")
        assert ("remove", url_of(b)) in a_sink.calls
    # a's own shutdown withdraws what it had added
    assert not a_sink.urls and not b_sink.urls


async def test_configured_peers_are_never_touched() -> None:
    a_sink = RecordingSink()
    b = on_loopback(RecordingSink(), "S02")
    a = on_loopback(a_sink, "S01", static_urls=[url_of(b).rstrip("/")])
    async with running(a, b) as (_task_a, task_b):
        await until(lambda: url_of(b) in a.table.urls(), "a saw b")
        task_b.cancel()
        await until(lambda: url_of(b) not in a.table.urls(), "b left")
    assert all(url != url_of(b) for _, url in a_sink.calls)


async def test_malformed_advertisement_ignored_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, "shelterkit.discovery")
    sink = RecordingSink()
    a = on_loopback(sink, "S01")
    name = f"bogus-{os.urandom(4).hex()}.{SERVICE_TYPE}"
    bogus = AsyncServiceInfo(
        SERVICE_TYPE,
        name,
        port=free_port(),
        properties={"node": "not-a-key", "shelter": "S09", "v": "1", "role": "node"},
        server=f"{name.split('.')[0]}.local.",
        parsed_addresses=["127.0.0.1"],
    )
    zc = AsyncZeroconf(interfaces=["127.0.0.1"], ip_version=IPVersion.V4Only)
    try:
        async with running(a):
            for _ in range(2):  # appears, goes, appears again
                await (await zc.async_register_service(bogus))
                await until(lambda: name in caplog.text, "seen the bogus ad")
                await (await zc.async_unregister_service(bogus))
            await asyncio.sleep(1.0)
    finally:
        await zc.async_close()
    complaints = [r for r in caplog.records if name in r.getMessage()]
    assert len(complaints) == 1, complaints
    assert "64-hex-digit" in complaints[0].getMessage()
    assert all(f":{bogus.port}/" not in url for _, url in sink.calls)


@pytest.mark.parametrize(
    ("listen", "enabled", "shelter"),
    [
        ("127.0.0.1:8081", True, "S01"),
        ("[::1]:8081", True, "S01"),
        ("0.0.0.0:8081", False, "S01"),
        ("0.0.0.0:8081", True, "避難所"),
    ],
)
def test_discovery_off_when_it_has_nothing_to_do(listen: str, enabled: bool, shelter: str) -> None:
    made = discovery_for(
        b"\x02" * 32,
        shelter,
        "node",
        listen,
        RecordingSink(),
        enabled=enabled,
        interfaces=[],
        excluded=[],
        static_urls=[],
    )
    assert made is None


def test_discovery_on_for_a_lan_listener() -> None:
    made = discovery_for(
        b"\x02" * 32,
        "S01",
        "hub",
        "0.0.0.0:8081",
        RecordingSink(),
        enabled=True,
        interfaces=["eth0"],
        excluded=["wlan0"],
        static_urls=["http://192.0.2.1:8081"],
    )
    assert made is not None
    assert (made.ad.role, made.port, made.interfaces, made.excluded) == (
        "hub",
        8081,
        ("eth0",),
        ("wlan0",),
    )
    assert made.static == {"http://192.0.2.1:8081/"}


async def test_shutdown_survives_a_second_cancel() -> None:
    """Cancelled again while saying goodbye, discovery still closes every socket."""
    a = on_loopback(RecordingSink(), "S01")
    async with asyncio.TaskGroup() as group:
        task = group.create_task(a.run())
        await until(lambda: a.advertised != [], "advertising")
        task.cancel()
        await asyncio.sleep(0)  # let it start saying goodbye
        task.cancel()
    assert task.cancelled()
    gc.collect()  # an unclosed transport would warn here, and warnings are errors


async def test_netlink_failure_and_address_change_are_survived(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, "shelterkit.discovery")
    calls = 0

    async def flaky() -> list[LocalAddress]:
        nonlocal calls
        calls += 1
        if calls <= 2:
            raise LinkError("netlink: no answer")
        prefix = 8 if calls < 5 else 16  # then the address "changes" (its prefix)
        return [LocalAddress("lo", IPv4Interface(f"127.0.0.1/{prefix}"))]

    ad = PeerAd(os.urandom(32), "S01")
    a = LanDiscovery(ad, f"127.0.0.1:{free_port()}", RecordingSink(), addresses=flaky, rescan_s=0.2)
    async with running(a):
        await until(lambda: caplog.text.count("discovery: advertising") >= 2, "advertised again")
    assert caplog.text.count("netlink: no answer") == 1  # logged once, not per attempt
    assert "our addresses changed" in caplog.text
    assert [str(x.address) for x in a.advertised] == []  # withdrawn on shutdown

"""sd_notify and the watchdog pinger, against a real AF_UNIX datagram listener."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from shelterkit.power import watchdog
from shelterkit.power.watchdog import (
    notify_status,
    sd_notify,
    watchdog_interval_s,
    watchdog_pinger,
)

REPO = Path(__file__).resolve().parents[2]
# Longest wait for one datagram before the test gives up (seconds).
RECV_TIMEOUT_S = 5.0


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """A datagram socket standing in for systemd's notify socket, and its address."""
    path = tmp_path / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(RECV_TIMEOUT_S)
    try:
        yield sock, str(path)
    finally:
        sock.close()


@pytest.fixture
def abstract_listener() -> Iterator[tuple[socket.socket, str]]:
    name = f"shelterkit-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(RECV_TIMEOUT_S)
    try:
        yield sock, "@" + name
    finally:
        sock.close()


def test_no_socket_is_a_no_op() -> None:
    assert sd_notify("READY=1", {}) is False
    assert watchdog_interval_s({}) is None


def test_messages_reach_a_path_socket(listener: tuple[socket.socket, str]) -> None:
    sock, address = listener
    env = {"NOTIFY_SOCKET": address}
    assert sd_notify("READY=1", env)
    assert notify_status("serving\n12 phones", env)
    assert sd_notify("STOPPING=1", env)
    received = [sock.recv(4096) for _ in range(3)]
    assert received == [b"READY=1", b"STATUS=serving 12 phones", b"STOPPING=1"]


def test_messages_reach_an_abstract_socket(
    abstract_listener: tuple[socket.socket, str],
) -> None:
    sock, address = abstract_listener
    assert sd_notify("WATCHDOG=1", {"NOTIFY_SOCKET": address})
    assert sock.recv(4096) == b"WATCHDOG=1"


def test_unreachable_socket_is_reported_not_raised(tmp_path: Path) -> None:
    watchdog._warned.clear()
    assert sd_notify("READY=1", {"NOTIFY_SOCKET": str(tmp_path / "absent")}) is False
    assert sd_notify("READY=1", {"NOTIFY_SOCKET": "relative"}) is False


def test_interval_is_half_of_watchdog_usec() -> None:
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000"}) == 15.0
    mine = {"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": str(os.getpid())}
    assert watchdog_interval_s(mine) == 1.0
    assert watchdog_interval_s({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "1"}) is None
    assert watchdog_interval_s({"WATCHDOG_USEC": "soon"}) is None
    assert watchdog_interval_s({"WATCHDOG_USEC": "0"}) is None


async def test_pinger_pings_from_the_loop(listener: tuple[socket.socket, str]) -> None:
    sock, address = listener
    env = {"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "20000"}
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.1):
            await watchdog_pinger(environ=env)
    sock.settimeout(0)
    pings = []
    while True:
        try:
            pings.append(sock.recv(4096))
        except BlockingIOError:
            break
    assert len(pings) >= 3 and set(pings) == {b"WATCHDOG=1"}


async def test_pinger_without_watchdog_returns_at_once() -> None:
    async with asyncio.timeout(1):
        await watchdog_pinger(environ={})


# A process like the node: READY=1, pings from its event loop, then the loop blocks for
# HANG_S seconds (a hung coroutine), then it recovers and stops.
HANG_S = 1.5
CHILD = textwrap.dedent(
    f"""
    import asyncio, time
    from shelterkit.power.watchdog import sd_notify, watchdog_pinger

    async def main():
        async with asyncio.TaskGroup() as tasks:
            pinger = tasks.create_task(watchdog_pinger())
            sd_notify("READY=1")
            await asyncio.sleep(0.6)
            sd_notify("STATUS=hanging")
            time.sleep({HANG_S})
            sd_notify("STATUS=recovered")
            await asyncio.sleep(0.6)
            sd_notify("STOPPING=1")
            pinger.cancel()

    asyncio.run(main())
    """
)


def test_hung_event_loop_stops_the_pings(listener: tuple[socket.socket, str]) -> None:
    sock, address = listener
    env = dict(os.environ, NOTIFY_SOCKET=address, WATCHDOG_USEC="200000")
    env.pop("WATCHDOG_PID", None)
    child = subprocess.Popen([sys.executable, "-c", CHILD], cwd=REPO, env=env)
    events: list[tuple[float, bytes]] = []
    try:
        while not events or events[-1][1] != b"STOPPING=1":
            message = sock.recv(4096)
            events.append((time.monotonic(), message))
    finally:
        assert child.wait(timeout=10) == 0
    messages = [m for _, m in events]
    assert messages[0] in (b"READY=1", b"WATCHDOG=1")
    assert b"READY=1" in messages
    hang = messages.index(b"STATUS=hanging")
    back = messages.index(b"STATUS=recovered")
    assert messages[:hang].count(b"WATCHDOG=1") >= 3  # every 0.1 s while healthy
    assert back == hang + 1  # not one ping while the loop was blocked
    assert events[back][0] - events[hang][0] >= HANG_S - 0.1  # longer than WATCHDOG_USEC
    assert messages[back:].count(b"WATCHDOG=1") >= 2  # pings resume with the loop

"""After a start, own signing waits (bounded) for a peer's summary: a card restored from an
old image cannot be told from a reboot, only peers know the numbers it used since
(docs/durability.md). SQLite on disk; the peer's summary is the session's event."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from shelterkit.config import Config, NodeSettings, RadioSettings, ShelterSettings
from shelterkit.errors import StorageError
from shelterkit.model.kinds import PostBody, StatusBody, Stream
from shelterkit.service.node import PUBLISH_CONTACT_WAIT_S, Node, first_contact_wait_s
from shelterkit.sync import RADIO_STREAMS, PeerSummarized, VersionVector
from tests.conftest import CITY, FakeClock, free_port

NOW_MS = 1_800_000_000_000


def config(data: Path, **node: object) -> Config:
    settings = {
        "data_dir": str(data),
        "authority_keys": [CITY.public.hex()],
        "discovery": False,
        **node,
    }
    return Config(
        shelter=ShelterSettings(id="S01"),
        node=NodeSettings(**settings),  # type: ignore[arg-type]
    )


def unreachable_hub() -> str:
    return f"http://127.0.0.1:{free_port()}/"  # nothing listens there


async def open_node(cfg: Config, monotonic: FakeClock | None = None, **kw: object) -> Node:
    return await Node.open(
        cfg,
        lambda: NOW_MS,
        monotonic=monotonic or time.monotonic,
        **kw,  # type: ignore[arg-type]
    )


def test_who_waits_and_how_long(tmp_path: Path) -> None:
    hub = unreachable_hub()
    assert first_contact_wait_s(config(tmp_path)) == 0  # nobody to wait for
    assert first_contact_wait_s(config(tmp_path, hub_url=hub)) == 120
    assert first_contact_wait_s(config(tmp_path, peers=[hub], first_contact_wait_s=30)) == 30
    assert first_contact_wait_s(config(tmp_path, hub_url=hub, first_contact_wait_s=0)) == 0
    radio_only = Config(
        node=NodeSettings(data_dir=str(tmp_path), discovery=False),
        radio=[RadioSettings(port="/dev/ttyUSB0")],
    )
    assert first_contact_wait_s(radio_only) == 120
    # zeroconf only: a short wait, and none at all on loopback (nothing can be found)
    lan = config(tmp_path, discovery=True, listen="192.0.2.10:8080")
    assert 0 < first_contact_wait_s(lan) <= 15
    assert first_contact_wait_s(config(tmp_path, discovery=True)) == 0


async def test_a_node_without_peers_signs_at_once(tmp_path: Path) -> None:
    node = await open_node(config(tmp_path / "data"))
    try:
        started = time.monotonic()
        record = await node.publish(PostBody(text="no peers"))
        assert record.seq == 1 and time.monotonic() - started < 1.0
        assert node.contact_report() == {"waiting": [], "left_s": 0.0}
    finally:
        await node.close()


async def test_city_hall_signs_at_once(tmp_path: Path) -> None:
    node = await open_node(config(tmp_path / "data", hub_url=unreachable_hub()), sign_at_once=True)
    try:
        started = time.monotonic()
        await node.publish(PostBody(text="alerts are urgent"))
        assert time.monotonic() - started < 1.0
    finally:
        await node.close()


async def test_posting_waits_at_most_the_bound_when_no_peer_answers(tmp_path: Path) -> None:
    cfg = config(tmp_path / "data", hub_url=unreachable_hub(), first_contact_wait_s=1)
    node = await open_node(cfg)
    try:
        report = node.contact_report()
        assert "board" in report["waiting"] and 0 < report["left_s"] <= 1
        started = time.monotonic()
        record = await node.publish(PostBody(text="isolated shelter"))
        waited = time.monotonic() - started
        assert record.seq == 1
        assert 0.8 <= waited < 3.0, waited  # the bound, not more
        assert node.contact_report()["waiting"] == []
    finally:
        await node.close()


async def test_a_long_wait_tells_the_phone_to_try_again_and_stores_nothing(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    node = await open_node(config(tmp_path / "data", hub_url=unreachable_hub()), clock)
    try:
        publish = asyncio.create_task(node.publish(PostBody(text="too early")))
        await asyncio.sleep(0.05)
        assert not publish.done()  # waiting, not refused at once (a real 10 s wait)
        with pytest.raises(StorageError, match="try again"):
            await asyncio.wait_for(publish, PUBLISH_CONTACT_WAIT_S + 5)
        assert await node.store.count() == 0  # nothing half-done
        clock.now += 120  # the bound passed: an isolated shelter posts again
        assert (await node.publish(PostBody(text="later"))).seq == 1
    finally:
        await node.close()


async def test_a_waiting_post_is_signed_above_what_the_peer_reports(tmp_path: Path) -> None:
    node = await open_node(config(tmp_path / "data", hub_url=unreachable_hub()))
    me = node.identity.public
    try:
        for i in range(3):  # what the old image holds, signed before this start
            await node.store.append_own(
                node.identity, PostBody(text=f"old {i}"), node.clock, NOW_MS
            )
        assert node.store.health().restore_detected_ms is None
        waiting = [asyncio.create_task(node.publish(PostBody(text=f"new {i}"))) for i in range(3)]
        await asyncio.sleep(0.05)
        assert not any(t.done() for t in waiting)
        started = time.monotonic()
        # the hub's summary: it holds our posts up to 7 (signed since the image was taken)
        await node.learn_own_heads(
            PeerSummarized(VersionVector({(me, Stream.BOARD): 7}), frozenset(Stream))
        )
        records = await asyncio.gather(*waiting)
        assert time.monotonic() - started < 1.0  # released at once, not at the bound
        assert sorted(r.seq for r in records) == [8, 9, 10]  # never 4 again
        assert node.store.health().restore_detected_ms == NOW_MS  # staff see it
        assert node.contact_report()["waiting"] == []
    finally:
        await node.close()
    reopened = await open_node(config(tmp_path / "data"))
    try:  # the floor and the finding are durable
        assert reopened.store.health().restore_detected_ms == NOW_MS
        assert (await reopened.publish(PostBody(text="after restart"))).seq == 11
    finally:
        await reopened.close()


async def test_a_radio_summary_releases_only_the_radio_streams(tmp_path: Path) -> None:
    clock = FakeClock()
    cfg = Config(
        shelter=ShelterSettings(id="S01"),
        node=NodeSettings(data_dir=str(tmp_path / "data"), discovery=False),
        radio=[RadioSettings(port="/dev/ttyUSB0")],
    )
    node = await open_node(cfg, clock)
    try:
        await node.learn_own_heads(PeerSummarized(VersionVector(), RADIO_STREAMS))
        status = await node.publish(StatusBody(shelter="S01", headcount=5))
        assert status.seq == 1  # status crosses the radio: its numbers are known
        assert node.contact_report()["waiting"] == ["board"]
        assert node.awaiting_contact(Stream.BOARD)  # the board never crosses a radio
        clock.now += 120
        assert (await node.publish(PostBody(text="bounded"))).seq == 1
    finally:
        await node.close()

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
from shelterkit.model.record import Record
from shelterkit.service.node import PUBLISH_CONTACT_WAIT_S, Node, first_contact_wait_s
from shelterkit.storage.store import PendingOwn
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
        assert node.contact_report() == {"waiting": [], "left_s": 0.0, "queued": 0}
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


# -- board posts during the wait: acknowledged at once, signed later ----------------------


async def test_a_post_during_the_wait_is_queued_durably_and_signed_in_order(
    tmp_path: Path,
) -> None:
    cfg = config(tmp_path / "data", hub_url=unreachable_hub())
    node = await open_node(cfg)
    me = node.identity.public
    try:
        for i in range(3):  # what the old image holds
            await node.store.append_own(
                node.identity, PostBody(text=f"old {i}"), node.clock, NOW_MS
            )
        started = time.monotonic()
        for i in range(3):
            assert isinstance(await node.publish_or_queue(PostBody(text=f"queued {i}")), PendingOwn)
        assert time.monotonic() - started < 1.0  # acknowledged at once
        assert [p.body.text for p in node.pending] == [f"queued {i}" for i in range(3)]  # type: ignore[union-attr]
    finally:
        await node.close()  # as a SIGKILL would: nothing signed, all on disk
    node = await open_node(cfg)
    try:
        assert [p.body.text for p in node.pending] == [f"queued {i}" for i in range(3)]  # type: ignore[union-attr]
        assert await node.store.count() == 3  # only the old image's posts are signed
        generation = node.generation
        await node.learn_own_heads(
            PeerSummarized(VersionVector({(me, Stream.BOARD): 7}), frozenset(Stream))
        )
        assert node.pending == [] and node.generation > generation
        records = await node.store.records_range(me, Stream.BOARD, 8, 100)
        assert [(r.seq, r.body.text) for r in records] == [  # type: ignore[union-attr]
            (8, "queued 0"),
            (9, "queued 1"),
            (10, "queued 2"),
        ]
        assert await node.store.pending_own() == []
        # a post after the contact is signed at once, after the queued ones
        record = await node.publish_or_queue(PostBody(text="later"))
        assert isinstance(record, Record) and record.seq == 11
    finally:
        await node.close()


async def test_queued_posts_are_signed_when_the_bound_passes(tmp_path: Path) -> None:
    node = await open_node(
        config(tmp_path / "data", hub_url=unreachable_hub(), first_contact_wait_s=1)
    )
    try:
        assert isinstance(await node.publish_or_queue(PostBody(text="isolated")), PendingOwn)
        started = time.monotonic()
        await asyncio.wait_for(node.sign_pending_when_due(), 5)
        assert 0.5 < time.monotonic() - started < 3.0
        assert node.pending == []
        (record,) = await node.store.records_range(node.identity.public, Stream.BOARD, 1, 9)
        assert record.body.text == "isolated"  # type: ignore[union-attr]
    finally:
        await node.close()


async def test_a_node_without_peers_signs_what_a_killed_run_queued(tmp_path: Path) -> None:
    data = tmp_path / "data"
    node = await open_node(config(data, hub_url=unreachable_hub()))
    try:
        assert isinstance(await node.publish_or_queue(PostBody(text="queued")), PendingOwn)
    finally:
        await node.close()
    node = await open_node(config(data))  # the hub taken out of the configuration
    try:
        assert node.pending == []
        assert await node.store.count() == 1
    finally:
        await node.close()


async def test_the_board_shows_a_queued_post_as_waiting(tmp_path: Path) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from shelterkit.portal.app import create_portal_app

    node = await open_node(config(tmp_path / "data", hub_url=unreachable_hub()))
    try:
        async with TestClient(TestServer(create_portal_app(node))) as client:
            page = await (await client.get("/board")).text()
            token = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
            response = await client.post(
                "/board", data={"csrf": token, "text": "help needed"}, allow_redirects=False
            )
            assert response.status == 303
            assert response.headers["Location"] == "/board?posted=pending#posts"
            page = await (await client.get("/board?posted=pending")).text()
            assert "help needed" in page and "送信待ち" in page
            assert "まもなく" in page or "つながり次第" in page
            await node.learn_own_heads(PeerSummarized(VersionVector(), frozenset(Stream)))
            page = await (await client.get("/board")).text()
            assert "help needed" in page and "送信待ち" not in page
    finally:
        await node.close()

"""Safety registrations and staff actions during the first-contact wait after a start
(docs/durability.md): stored durably in ``pending`` and acknowledged at once, found by a
local search as waiting, deletable unsent, and signed in order once a peer has spoken.
SQLite on disk; the portal and the staff API through real HTTP servers in-process; a
node and a hub as real processes for SIGKILL and the way to city hall."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import signal
import sqlite3
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from shelterkit.config import Config
from shelterkit.model.anpi import check_erase_code, new_person
from shelterkit.model.kinds import Kind, PersonBody, PostBody, Stream
from shelterkit.model.names import query_keys
from shelterkit.model.record import Record, decode_record
from shelterkit.paths import DataPaths
from shelterkit.portal.app import create_portal_app
from shelterkit.service.node import Node
from shelterkit.service.run import peer_app
from shelterkit.storage.store import PENDING_BATCH, PendingOwn
from shelterkit.sync import RADIO_STREAMS, PeerSummarized, Role, VersionVector
from tests.admin.test_node_api import SECRET, auth
from tests.anpi.test_safety_portal import codes, register, search, token
from tests.conftest import CITY, FakeClock, NodeProcess, free_port, free_port_range, node_config
from tests.storage.test_storage_faults import (
    Phone,
    _start_hub,
    _stop,
    _wait_for,
    enrol_at_new_hub,
)

NOW_MS = 1_800_000_000_000
YAMADA = {"family": "山田", "given": "太郎", "consent": "yes"}
SATO = {"family": "佐藤", "given": "花子", "consent": "yes"}


def waiting_config(data: Path) -> Config:
    """A node with a hub that does not answer: own signing waits for the first contact."""
    config = node_config(data)
    hub = f"http://127.0.0.1:{free_port()}/"  # nothing listens there
    return replace(config, node=replace(config.node, hub_url=hub, discovery=False))


async def open_waiting(data: Path, monotonic: FakeClock | None = None) -> Node:
    return await Node.open(
        waiting_config(data), lambda: NOW_MS, monotonic=monotonic or time.monotonic
    )


def person(person_id: str, given: str = "太郎", **kw: object) -> PersonBody:
    return new_person(
        person_id=person_id,
        family_name="山田",
        given_name=given,
        reading="やまだ たろう",
        shelter="S01",
        consent=True,
        authority_key=CITY.public,
        **kw,  # type: ignore[arg-type]
    )


def released(node: Node, floor: int = 0) -> PeerSummarized:
    """The hub's summary: it holds the node's safety records up to ``floor``."""
    return PeerSummarized(
        VersionVector({(node.identity.public, Stream.ANPI): floor}), frozenset(Stream)
    )


async def own_anpi(node: Node) -> list[Record]:
    return await node.store.records_range(node.identity.public, Stream.ANPI, 1, 100)


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    n = await open_waiting(tmp_path / "data")
    yield n
    await n.close()


# -- the node ------------------------------------------------------------------------------


async def test_a_registration_during_the_wait_is_queued_found_and_signed_after_the_floor(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    node = await open_waiting(data)
    try:
        started = time.monotonic()
        stored = await node.publish_or_queue(person("p1"))
        assert isinstance(stored, PendingOwn)
        assert time.monotonic() - started < 1.0  # acknowledged at once, not after 10 s
        found = await node.search_persons(query_keys("山田"), 10)
        assert [(p.person_id, waiting) for p, waiting in found] == [("p1", True)]
        assert await node.store.count() == 0  # nothing signed before the first contact
        assert node.contact_report()["queued"] == 1  # health tells staff
    finally:
        await node.close()  # as a SIGKILL would leave it: on disk, unsigned
    node = await open_waiting(data)
    try:
        assert [(p.person_id, w) for p, w in await node.search_persons(query_keys("たろう"), 10)]
        assert node.pending_person("p1") is not None
        await node.learn_own_heads(released(node, floor=4))  # an old image's numbers
        (record,) = await own_anpi(node)
        assert record.seq == 5 and isinstance(record.body, PersonBody)
        assert record.body.person_id == "p1" and node.pending == []
        found = await node.search_persons(query_keys("山田"), 10)
        assert [(p.person_id, waiting) for p, waiting in found] == [("p1", False)]
    finally:
        await node.close()


async def test_a_queued_correction_is_signed_after_the_registration_and_wipes_it(
    node: Node,
) -> None:
    await node.publish_or_queue(person("p1"))
    await node.publish_or_queue(person("p1", given="次郎"))
    assert node.pending_person("p1").body.given_name == "次郎"  # type: ignore[union-attr]
    found = await node.search_persons(query_keys("山田"), 10)
    assert [(p.name, waiting) for p, waiting in found] == [("山田 次郎", True)]
    await node.learn_own_heads(released(node))
    records = await own_anpi(node)
    kinds = [(r.seq, r.kind) for r in records]
    # registration (1, wiped since), correction, then the redaction of the registration
    assert kinds == [(2, Kind.PERSON), (3, Kind.REDACT)]
    assert await node.store.superseded_persons(node.identity.public, 10) == []
    current = await node.store.get_person("p1")
    assert current is not None and current.body.given_name == "次郎"  # type: ignore[union-attr]


async def test_deleting_a_queued_registration_drops_it_unsent(node: Node) -> None:
    await node.publish_or_queue(person("p1"))
    kept = await node.publish_or_queue(PostBody(text="board"))
    assert await node.delete_person("p1") is None  # nothing to tombstone: never signed
    assert node.pending == [kept] and node.pending_person("p1") is None
    assert await node.search_persons(query_keys("山田"), 10) == []
    await node.learn_own_heads(released(node))
    assert await own_anpi(node) == []  # nothing of it was ever signed
    assert await node.store.count() == 1  # the post


async def test_deleting_a_signed_registration_during_the_wait_queues_the_tombstone(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    node = await open_waiting(tmp_path / "data", clock)
    try:
        clock.now += 1000  # the bound passed without a peer: signed at once
        assert isinstance(await node.publish_or_queue(person("p1")), Record)
    finally:
        await node.close()
    node = await open_waiting(tmp_path / "data")  # the next start waits again
    try:
        tomb = await node.delete_person("p1")
        assert isinstance(tomb, PendingOwn) and tomb.body.deleted  # type: ignore[union-attr]
        assert await node.search_persons(query_keys("山田"), 10) == []  # hidden at once
        await node.learn_own_heads(released(node))
        current = await node.store.get_person("p1")
        assert current is not None and current.body.deleted  # type: ignore[union-attr]
    finally:
        await node.close()


async def test_queued_posts_do_not_hold_back_a_released_registration(node: Node) -> None:
    for i in range(PENDING_BATCH + 5):  # more board posts than one signing batch
        await node.publish_or_queue(PostBody(text=f"post {i}"))
    await node.publish_or_queue(person("p1"))
    # a radio summary: every stream but the board is released
    await node.learn_own_heads(PeerSummarized(VersionVector(), RADIO_STREAMS))
    assert [r.seq for r in await own_anpi(node)] == [1]
    assert len(node.pending) == PENDING_BATCH + 5  # the posts still wait


# -- the portal ----------------------------------------------------------------------------


@pytest.fixture
async def client(node: Node, clock: FakeClock) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(create_portal_app(node, clock))) as c:
        yield c


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def test_the_portal_registers_searches_and_deletes_during_the_wait(
    node: Node, client: TestClient
) -> None:
    started = time.monotonic()
    resp = await register(client, family="山田", given="太郎", reading="やまだ たろう")
    assert resp.status == 200 and time.monotonic() - started < 2.0
    html = await resp.text()
    number, code = codes(html)
    assert check_erase_code(node.identity, number, code)
    assert "登録を保存しました" in html and "つながり次第" in html
    html = await (await search(client, "やまだ")).text()
    assert "山田 太郎" in html and "送信待ち" in html
    english = await (await client.get("/safety/register?lang=en")).text()
    assert "Register" in english
    # the wrong code deletes nothing; the right one drops the queued registration
    t = await token(client, "/safety/delete")
    wrong = await client.post(
        "/safety/delete", data={"csrf": t, "number": number, "code": "AAAA-AAAA-AAAA"}
    )
    assert wrong.status == 403 and node.pending_person(number) is not None
    t = await token(client, "/safety/delete")
    resp = await client.post("/safety/delete", data={"csrf": t, "number": number, "code": code})
    assert resp.status == 200 and node.pending_person(number) is None
    assert "山田 太郎" not in await (await search(client, "やまだ")).text()
    await node.learn_own_heads(released(node))
    assert await own_anpi(node) == []


async def test_bad_registrations_during_the_wait_get_their_4xx_and_queue_nothing(
    node: Node, client: TestClient
) -> None:
    assert (await register(client, family="山田", age="200")).status == 400
    assert (await register(client, family="", given="")).status == 400
    assert (await register(client, family="山田🙂")).status == 400
    no_token = await client.post("/safety/register", data={"family": "山田", "consent": "yes"})
    assert no_token.status == 403
    assert node.pending == []


async def test_the_english_result_page_says_it_is_saved_and_waiting(client: TestClient) -> None:
    client.session.cookie_jar.update_cookies({"lang": "en"})
    html = await (await register(client, family="Silva", given="José")).text()
    assert "as soon as this shelter has reached them" in html


# -- the staff API -------------------------------------------------------------------------


@pytest.fixture
async def api(node: Node) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(peer_app(node, SECRET, Role.NODE))) as c:
        yield c


async def test_staff_actions_during_the_wait_are_accepted_and_queued(
    node: Node, api: TestClient
) -> None:
    entry = {"family": "田中", "given": "一", "reading": "たなか はじめ", "consent": True}
    resp = await api.post("/api/anpi/persons", headers=auth(), json=entry)
    assert resp.status == 202
    added = await resp.json()
    assert added["queued"] is True and isinstance(added["pending"], int)
    assert check_erase_code(node.identity, added["person_id"], added["erase_code"])
    person_id = added["person_id"]
    found = await (await api.get("/api/anpi/search?q=田中", headers=auth())).json()
    assert [(p["person_id"], p["waiting"], p["own"]) for p in found["persons"]] == [
        (person_id, True, True)
    ]
    # a correction of the still-queued registration, then withdrawing its consent
    resp = await api.post(
        f"/api/anpi/persons/{person_id}", headers=auth(), json={**entry, "given": "二"}
    )
    assert resp.status == 202
    resp = await api.post(
        f"/api/anpi/persons/{person_id}/consent", headers=auth(), json={"public": False}
    )
    assert resp.status == 202 and (await resp.json())["public"] is False
    status = await api.post("/api/shelter/status", headers=auth(), json={"headcount": 42})
    assert status.status == 202
    current = await (await api.get("/api/shelter/status", headers=auth())).json()
    assert current["status"]["headcount"] == 42  # the queued one is the current one
    notice = await api.post("/api/shelter/notices", headers=auth(), json={"title": "給水"})
    assert notice.status == 202
    # bad input still gets its 4xx and queues nothing
    before = len(node.pending)
    for bad in ({"family": "", "given": ""}, {"family": "山田", "age": 300}):
        assert (await api.post("/api/anpi/persons", headers=auth(), json=bad)).status == 400
    assert (
        await api.post("/api/shelter/status", headers=auth(), json={"headcount": -1})
    ).status == 400
    missing = await api.post("/api/anpi/persons/nobody", headers=auth(), json=entry)
    assert missing.status == 404
    assert len(node.pending) == before
    await node.learn_own_heads(released(node))
    assert node.pending == []
    signed = await node.store.get_person(person_id)
    assert signed is not None and not signed.body.public  # type: ignore[union-attr]
    assert (await api.get("/api/anpi/search?q=田中", headers=auth())).status == 200


# -- real processes: SIGKILL while queued, and the way to city hall -------------------------


def _phone_form(phone: Phone, page: str, fields: dict[str, str]) -> tuple[int, str]:
    """Fill in and send the form that posts to ``page``, as a phone's browser does."""
    _, html = phone.get("safety" if page == "safety/search" else page)
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match is not None
    data = urllib.parse.urlencode({"csrf": match.group(1), **fields}).encode()
    try:
        with phone.opener.open(phone.url + page, data, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _persons_at(db: Path) -> dict[str, tuple[int, bytes, bool]]:
    """person id → (seq, origin, deleted) of every person record in the database."""
    if not db.exists():
        return {}
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT wire FROM records WHERE kind = ?", (int(Kind.PERSON),))
        out = {}
        for (wire,) in rows.fetchall():
            record = decode_record(bytes(wire))
            assert isinstance(record.body, PersonBody)
            out[record.body.person_id] = (record.seq, record.origin, record.body.deleted)
        return out
    except sqlite3.OperationalError:  # the hub's first migration still running
        return {}
    finally:
        conn.close()


def test_registrations_queued_across_a_sigkill_reach_the_hub_and_a_deleted_one_never(
    tmp_path: Path, start_node: Callable[..., NodeProcess]
) -> None:
    _, authority = asyncio.run(enrol_at_new_hub(tmp_path))
    hub_port = free_port()
    port = free_port_range(2)  # the node's portal and peer listener, not the hub's port
    while hub_port in (port, port + 1):
        port = free_port_range(2)
    config = tmp_path / "S01.toml"
    config.write_text(
        f'[shelter]\nid = "S01"\n[node]\nauthority_keys = ["{authority}"]\n'
        f'hub_url = "http://127.0.0.1:{hub_port}/"\nsync_interval_s = 1\ndiscovery = false\n',
        "utf-8",
    )
    data = tmp_path / "S01"
    hub_db = DataPaths(tmp_path / "hub").database
    hub = None
    try:
        node = start_node(data=data, port=port, config=config)  # the hub is down: wait
        phone = Phone(node.url)
        started = time.monotonic()
        status, html = _phone_form(phone, "safety/register", YAMADA)
        answered_s = time.monotonic() - started
        # at once: not after the 10 s a signed record would wait, nor a 503
        assert status == 200 and answered_s < 5.0, (status, answered_s)
        kept, _ = codes(html)
        status, html = _phone_form(phone, "safety/register", SATO)
        dropped, code = codes(html)
        _, found = _phone_form(phone, "safety/search", {"q": "山田"})
        assert "山田 太郎" in found and "送信待ち" in found
        node.kill()  # SIGKILL with both still queued
        node = start_node(data=data, port=port, config=config)
        phone = Phone(node.url)
        _, found = _phone_form(phone, "safety/search", {"q": "山田"})
        assert "山田 太郎" in found and "送信待ち" in found  # still there, still waiting
        status, _ = _phone_form(phone, "safety/delete", {"number": dropped, "code": code})
        assert status == 200
        hub = _start_hub(tmp_path, hub_port, tmp_path / "hub.log")
        _wait_for("the hub holds the queued registration", lambda: kept in _persons_at(hub_db))
        print(f"registration while the hub was down: answered in {answered_s:.2f} s;")
        print(f"  at the hub {time.monotonic() - started:.1f} s later (a SIGKILL in between)")
        with urllib.request.urlopen(
            node.url.replace(f":{port}/", f":{port + 1}/") + "healthz", timeout=10
        ) as r:
            assert json.loads(r.read())["first_contact"]["waiting"] == []
        node.kill(signal.SIGTERM)
    finally:
        if hub is not None and hub.poll() is None:
            _stop(hub)
    at_node, at_hub = _persons_at(DataPaths(data).database), _persons_at(hub_db)
    assert at_node[kept] == at_hub[kept] and at_hub[kept][0] == 1  # the first number
    assert dropped not in at_node and dropped not in at_hub  # deleted before it was sent
    with contextlib.suppress(FileNotFoundError):
        assert "equivocation" not in (tmp_path / "hub.log").read_text("utf-8")

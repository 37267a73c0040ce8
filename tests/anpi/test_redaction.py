"""Corrected, deleted and expired registrations are wiped to placeholders on every node,
while sync stays gap-free and converged (model/redaction.py, docs/anpi.md "Redaction").

The nodes are real stores on disk synced by real sync sessions (``service.replica.drive``
over an in-memory pipe); what a node holds is checked on the bytes of its SQLite database
and WAL files.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace
from pathlib import Path

import xmlschema

from shelterkit.hub.pfif import export_pfif, import_pfif
from shelterkit.links.radio import radio_safe
from shelterkit.model import codec
from shelterkit.model.anpi import DAY_MS, new_person, tombstone
from shelterkit.model.hlc import wall_ms_of
from shelterkit.model.kinds import (
    AlertBody,
    EnrolBody,
    Kind,
    NoteBody,
    NoteStatus,
    PersonBody,
    RedactBody,
    RedactReason,
    Stream,
)
from shelterkit.model.names import query_keys
from shelterkit.model.record import Record, sign_record
from shelterkit.model.redaction import (
    decode_placeholder,
    is_placeholder,
    make_placeholder,
)
from shelterkit.radio.compact import compact_record, rebuild_record
from shelterkit.service.node import Node
from shelterkit.service.replica import drive, wires_for
from shelterkit.sync import (
    RecordsReceived,
    RecordsRequested,
    RecordsStored,
    SendRecords,
    SeqRange,
    SessionConfig,
    Start,
    SyncSession,
    VersionVector,
    accept_batch,
)
from shelterkit.sync.session import Event
from tests.anpi.conftest import NOW_MS, open_node
from tests.anpi.test_pfif import SCHEMA
from tests.conftest import CITY

OLD = ("太郎", "たろう", "タロウ")  # the name before the correction, in every stored form
MAX_STEPS = 10_000


def person(given: str = "太郎", reading: str = "やまだ たろう", **kw: object) -> PersonBody:
    fields: dict[str, object] = {
        "person_id": "p1",
        "family_name": "山田",
        "given_name": given,
        "reading": reading,
        "birth_year": 1950,
        "home_district": "大通",
        "shelter": "S01",
        "consent": True,
        "authority_key": CITY.public,
    }
    fields.update(kw)
    return new_person(**fields)  # type: ignore[arg-type]


async def _radio_drive(node: Node, session: SyncSession, events: list[Event]) -> bytes:
    """``RadioSync._answer``: what may not cross a radio stays behind (links/radio.py)."""
    out: list[bytes] = []
    for event in events:
        if isinstance(event, RecordsRequested):
            wires = await wires_for(node, event.ranges, event.max_records, event.max_bytes)
            out.append(session.send(SendRecords(event.request, radio_safe(wires))))
        elif isinstance(event, RecordsReceived):
            await node.ingest_batch(event.records)
            out.append(session.send(RecordsStored(event.request, await node.have())))
    out.append(session.data_to_send())
    return b"".join(out)


async def sync(a: Node, b: Node, *, radio: bool = False) -> tuple[bytes, bytes]:
    """One real sync session between ``a`` and ``b``; returns the bytes each way."""
    config = SessionConfig.radio if radio else SessionConfig
    answer = _radio_drive if radio else drive
    sa = SyncSession(config(a.identity.public), await a.have(), 0.0)
    sb = SyncSession(config(b.identity.public), await b.have(), 0.0)
    sent = {id(sa): bytearray(), id(sb): bytearray()}
    inbox: list[tuple[SyncSession, Node, bytes]] = [
        (sb, b, sa.send(Start())),
        (sa, a, sb.send(Start())),
    ]
    steps = 0
    while inbox and steps < MAX_STEPS:
        steps += 1
        session, node, data = inbox.pop(0)
        other = sa if session is sb else sb
        sent[id(other)] += data
        reply = await answer(node, session, session.receive(data, 0.0))
        if reply:
            inbox.append((other, a if other is sa else b, reply))
    assert sa.finished and sb.finished, (sa.state, sb.state)
    return bytes(sent[id(sa)]), bytes(sent[id(sb)])


def file_bytes(node: Node) -> bytes:
    """Everything the node's database keeps on disk: the file, its WAL and journal."""
    path = node.store.path
    out = b""
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-journal")):
        if p.exists():
            out += p.read_bytes()
    return out


def holds_old_name(blob: bytes) -> list[str]:
    return [w for w in OLD if w.encode() in blob]


async def three_nodes(tmp_path: Path, wall: list[int]) -> tuple[Node, Node, Node]:
    """Three shelters, each holding city hall's enrolment of all three (the same records)."""
    nodes = [await open_node(tmp_path / s, s, wall) for s in ("S01", "S02", "S03")]
    wires = [
        sign_record(
            CITY, i + 1, NOW_MS, EnrolBody(node_key=n.identity.public, shelter=n.config.shelter.id)
        ).wire
        for i, n in enumerate(nodes)
    ]
    for n in nodes:
        assert not (await n.ingest(wires)).rejected
    return nodes[0], nodes[1], nodes[2]


async def found(node: Node, query: str) -> list[str]:
    hits = await node.store.search_persons(query_keys(query), 10, node.wall_ms())
    return [p.name for p in hits]


async def test_a_corrected_name_never_reaches_a_new_node(tmp_path: Path, wall: list[int]) -> None:
    a, b, c = await three_nodes(tmp_path, wall)
    try:
        first = await a.publish_person(person())
        await sync(a, b)  # b held the old name before the correction
        assert holds_old_name(file_bytes(b))
        wall[0] += 60_000
        await a.publish_person(person(given="次郎", reading="やまだ じろう"))
        assert holds_old_name(file_bytes(a)) == []  # wiped at the origin at once
        to_b, _ = await sync(a, b)
        assert holds_old_name(to_b) == []
        assert holds_old_name(file_bytes(b)) == []  # wiped where it was held
        to_c, _ = await sync(b, c)  # a new node, from a relay
        assert holds_old_name(to_c) == []  # never sent: the placeholder travels
        assert holds_old_name(file_bytes(c)) == []
        assert await found(c, "やまだ じろう") == ["山田 次郎"]
        assert await found(c, "やまだ たろう") == []
        assert await c.store.get(first.id) is None
        assert await c.have() == await a.have() == await b.have()
    finally:
        for n in (a, b, c):
            await n.close()


async def test_deletion_wipes_every_node_and_sync_stays_converged(
    tmp_path: Path, wall: list[int]
) -> None:
    a, b, c = await three_nodes(tmp_path, wall)
    try:
        registered = await a.publish_person(person())
        await sync(a, b)
        await sync(b, c)
        assert await found(c, "山田 太郎") == ["山田 太郎"]
        wall[0] += 60_000
        await a.publish_person(tombstone(registered.body))  # type: ignore[arg-type]
        await sync(a, b)
        await sync(b, c)
        for node in (a, b, c):
            blob = file_bytes(node)
            assert holds_old_name(blob) == [], node.config.shelter.id
            assert "山田".encode() not in blob
            assert "大通".encode() not in blob
            assert await found(node, "山田") == []
            current = await node.store.get_person("p1")
            assert current is not None and isinstance(current.body, PersonBody)
            assert current.body.deleted
        vectors = [await n.have() for n in (a, b, c)]
        assert vectors[0] == vectors[1] == vectors[2]
        assert vectors[0].head(a.identity.public, Stream.ANPI) == 3  # person, tombstone, redact
        # converged: another round moves nothing and asks for nothing again
        ab, ba = await sync(a, c)
        assert len(ab) + len(ba) < 200  # two HELLOs with equal digests
        wires = await a.store.wires_range(a.identity.public, Stream.ANPI, 1, 3)
        assert is_placeholder(wires[0]) and not is_placeholder(wires[1])
        # the old record handed in again (a file, a late peer): a duplicate, no conflict
        (result,) = await c.store.append_records([registered], 0)
        assert not result.stored and not result.conflict
        assert holds_old_name(file_bytes(c)) == []
    finally:
        for n in (a, b, c):
            await n.close()


async def test_deletion_and_expiry_cross_the_radio(tmp_path: Path, wall: list[int]) -> None:
    a, b, _c = await three_nodes(tmp_path, wall)
    try:
        await a.publish_person(person(expiry_ms=wall[0] + DAY_MS))
        await sync(a, b, radio=True)
        assert await found(b, "やまだ") == ["山田 太郎"]
        wall[0] += 2 * DAY_MS
        assert await found(a, "やまだ") == []  # search hides the expired at once
        assert await a.sweep_persons() == 1  # one person deleted (and wiped)
        assert (await a.have()).head(a.identity.public, Stream.ANPI) == 3
        await sync(a, b, radio=True)
        assert holds_old_name(file_bytes(b)) == []
        assert await b.have() == await a.have()
        current = await b.store.get_person("p1")
        assert current is not None and isinstance(current.body, PersonBody)
        assert current.body.deleted and current.body.expiry_ms == wall[0] - DAY_MS
        assert await a.sweep_persons() == 0  # nothing left to do
    finally:
        for n in (a, b, _c):
            await n.close()


async def test_city_hall_expires_and_wipes_any_origin(tmp_path: Path, wall: list[int]) -> None:
    a, b, c = await three_nodes(tmp_path, wall)
    try:
        await a.publish_person(person(expiry_ms=wall[0] + DAY_MS))
        await sync(a, b)
        wall[0] += 2 * DAY_MS
        assert await b.sweep_persons() == 0  # not b's registration: b may not delete it
        signed = await b.expire_persons(CITY)  # b is standing in for city hall's hub here
        assert len(signed) == 1
        assert holds_old_name(file_bytes(b)) == []
        await sync(b, c)
        assert holds_old_name(file_bytes(c)) == []
        await sync(b, a)  # a receives city hall's redaction of its own record
        assert holds_old_name(file_bytes(a)) == []
        assert await a.have() == await b.have() == await c.have()
    finally:
        for n in (a, b, c):
            await n.close()


async def test_a_record_arriving_after_its_redaction_is_kept_only_as_placeholder(
    tmp_path: Path, wall: list[int]
) -> None:
    a, b, _c = await three_nodes(tmp_path, wall)
    try:
        registered = await a.publish_person(person())
        # city hall's deletion reaches b before a's registration does
        tomb = sign_record(CITY, 1, a.clock.now(wall[0]), tombstone(registered.body))  # type: ignore[arg-type]
        redact = sign_record(
            CITY,
            2,
            a.clock.now(wall[0]),
            RedactBody(
                targets=((registered.seq, registered.id),),
                origin=a.identity.public,
                reason=RedactReason.DELETED,
            ),
        )
        assert not (await b.ingest([tomb.wire, redact.wire])).rejected
        await sync(a, b)
        assert holds_old_name(file_bytes(b)) == []
        assert await b.store.get(registered.id) is None
        assert await found(b, "山田") == []
        assert (await b.have()).head(a.identity.public, Stream.ANPI) == 1
    finally:
        for n in (a, b, _c):
            await n.close()


async def test_forged_placeholders_are_refused(tmp_path: Path, wall: list[int]) -> None:
    a, b, c = await three_nodes(tmp_path, wall)
    try:
        registered = await a.publish_person(person())

        def redaction(signer_key: object, seq: int, body: RedactBody) -> Record:
            return sign_record(signer_key, seq, a.clock.now(wall[0]), body)  # type: ignore[arg-type]

        # b (a node, not city hall) tries to wipe a's record
        by_b = redaction(b.identity, 1, RedactBody(((1, registered.id),), origin=a.identity.public))
        forged = make_placeholder(registered, by_b)
        stored = await c.ingest_batch([forged.wire])
        assert stored == ()
        assert (await c.have()).head(a.identity.public, Stream.ANPI) == 0
        reasons = await c.store.rejections()
        assert "only city hall" in reasons[a.identity.public][1]

        # a valid redaction, but for another record: the placeholder names the wrong slot
        other = await a.publish_person(replace(person(), person_id="p2"))
        own = await a.publish_as(a.identity, RedactBody(((other.seq, other.id),)))
        wire = codec.decode(make_placeholder(other, own).wire)
        wire[3] = registered.seq  # move it onto slot 1
        moved = codec.encode(wire)
        result = accept_batch([moved], c.trust, await c.have())
        assert not result.placeholders and result.rejected

        # a placeholder whose redaction's signature was tampered with
        good = make_placeholder(other, own).wire
        bad = bytearray(good)
        bad[-5] ^= 1
        after_first = VersionVector({(a.identity.public, Stream.ANPI): 1})
        assert accept_batch([good], c.trust, after_first).placeholders
        result = accept_batch([bytes(bad)], c.trust, after_first)
        assert not result.placeholders and result.rejected

        # alerts are never redactable, even by city hall
        alert = sign_record(CITY, 1, 1, AlertBody(identifier="x", headline={"ja": "避難"}))
        by_city = redaction(
            CITY, 1, RedactBody(((1, alert.id),), origin=CITY.public, reason=RedactReason.DELETED)
        )
        raw = [0, CITY.public, int(Stream.ALERTS), 1, int(Kind.ALERT), alert.id, by_city.wire]
        result = accept_batch([codec.encode(raw)], c.trust, await c.have())
        assert not result.placeholders and result.rejected

        # the real thing is accepted
        assert await c.ingest_batch([registered.wire, other.wire]) != ()
        assert holds_old_name(file_bytes(c))
    finally:
        for n in (a, b, c):
            await n.close()


async def test_placeholder_is_radio_safe_and_compacts(tmp_path: Path, wall: list[int]) -> None:
    a = await open_node(tmp_path / "a", "S01", wall)
    try:
        registered = await a.publish_person(person())
        await a.publish_person(tombstone(registered.body))  # type: ignore[arg-type]
        (wire,) = await a.store.wires_range(a.identity.public, Stream.ANPI, 1, 1)
        assert is_placeholder(wire) and radio_safe([wire]) == [wire]
        ranges = [SeqRange(a.identity.public, Stream.ANPI, 1, 3)]
        assert rebuild_record(compact_record(wire, ranges), ranges) == wire
        placeholder = decode_placeholder(wire)
        assert placeholder.original_id == registered.id and placeholder.kind is Kind.PERSON
        assert len(wire) < 250  # a little more than the redaction record it carries
    finally:
        await a.close()


async def test_pfif_export_shows_deletion_and_expiry(tmp_path: Path, wall: list[int]) -> None:
    a = await open_node(tmp_path / "a", "S01", wall)
    try:
        expiry = wall[0] + DAY_MS
        await a.publish_person(person(expiry_ms=expiry))
        kept = await a.publish_person(replace(person(), person_id="p2"))
        wall[0] += 2 * DAY_MS
        heads = list((await a.store.heads([Kind.PERSON, Kind.NOTE])).values())
        xml = export_pfif(heads, domain="example.org", now_ms=a.wall_ms())
        xmlschema.XMLSchema(SCHEMA).validate(xml.decode())
        assert xml.decode().count("山田") == 2  # p2 still listed (its own 40 days); p1 not
        assert "expiry_date>" in xml.decode()
        await a.sweep_persons()
        heads = list((await a.store.heads([Kind.PERSON, Kind.NOTE])).values())
        xml = export_pfif(heads, domain="example.org", now_ms=a.wall_ms())
        xmlschema.XMLSchema(SCHEMA).validate(xml.decode())
        persons = {p.person_id: p for p in import_pfif(xml, domain="example.org").persons}
        gone = persons["p1"]
        assert gone.deleted and not gone.family_name and gone.expiry_ms == expiry // 1000 * 1000
        assert persons["p2"].family_name == "山田"
        assert wall_ms_of(kept.hlc) < a.wall_ms()
    finally:
        await a.close()


async def test_the_sweep_job_deletes_expired_registrations(tmp_path: Path, wall: list[int]) -> None:
    a = await open_node(tmp_path / "a", "S01", wall)
    job = asyncio.create_task(a.sweep_loop(interval_s=0.02))
    try:
        await a.publish_person(person(expiry_ms=wall[0] + DAY_MS))
        await asyncio.sleep(0.1)
        current = await a.store.get_person("p1")
        assert current is not None and not current.body.deleted  # type: ignore[union-attr]
        seen = a.changes
        wall[0] += 2 * DAY_MS
        async with asyncio.timeout(10):  # the job deletes and wipes on its next round
            while holds_old_name(file_bytes(a)):
                seen = await a.wait_for_change(seen, 1.0)
        current = await a.store.get_person("p1")
        assert current is not None and current.body.deleted  # type: ignore[union-attr]
    finally:
        job.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await job
        await a.close()


async def test_notes_about_a_deleted_person_are_wiped_by_city_hall(
    tmp_path: Path, wall: list[int]
) -> None:
    a, b, c = await three_nodes(tmp_path, wall)
    try:
        registered = await a.publish_person(person())
        note = NoteBody(
            note_id="n1",
            person_id="p1",
            status=NoteStatus.BELIEVED_ALIVE,
            text="市民病院に入院中",
            last_known_location="市民病院",
        )
        await b.publish_as(CITY, note)  # b stands in for city hall's hub (a PFIF import)
        await sync(a, b)
        assert "市民病院".encode() in file_bytes(a)
        wall[0] += 60_000
        await a.publish_person(tombstone(registered.body))  # type: ignore[arg-type]
        assert await a.sweep_persons() == 0  # a may not wipe city hall's note
        assert "市民病院".encode() in file_bytes(a)
        await sync(a, b)
        assert await b.sweep_persons(CITY) == 1  # city hall's sweep does
        await sync(b, c)
        await sync(b, a)
        for node in (a, b, c):
            blob = file_bytes(node)
            assert "市民病院".encode() not in blob, node.config.shelter.id
            assert holds_old_name(blob) == [], node.config.shelter.id
        assert await a.have() == await b.have() == await c.have()
    finally:
        for n in (a, b, c):
            await n.close()

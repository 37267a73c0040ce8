"""Redaction under arbitrary histories: whatever the order of registrations, corrections,
deletions and sync rounds between in-memory replicas, every replica ends converged (equal
vectors, the same content in every slot) and no replica holds a record that a redaction
anywhere names (model/redaction.py; the SQLite store is tested in tests/anpi)."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st
from sync_city import WALL_MS, City, make_city

from shelterkit.model.kinds import Kind, PersonBody, RedactBody, RedactReason, Stream
from shelterkit.model.record import Record
from shelterkit.model.redaction import Placeholder, targets
from shelterkit.sync import accept_batch
from shelterkit.sync.memory import MemoryReplica, sync_pair

NODES = 3
PEOPLE = 3

ops = st.lists(
    st.one_of(
        st.tuples(st.just("write"), st.integers(0, NODES - 1), st.integers(0, PEOPLE - 1)),
        st.tuples(st.just("delete"), st.integers(0, NODES - 1), st.integers(0, PEOPLE - 1)),
        st.tuples(st.just("sync"), st.integers(0, NODES - 1), st.integers(0, NODES - 1)),
    ),
    max_size=30,
)


def own_superseded(replica: MemoryReplica, origin: bytes, person_id: str) -> list[Record]:
    """The records of ``person_id`` by ``origin`` held here, all but the newest."""
    mine = [
        r
        for r in replica.records()
        if r.origin == origin and isinstance(r.body, PersonBody) and r.body.person_id == person_id
    ]
    return sorted(mine, key=lambda r: r.seq)[:-1]


def write_person(city: City, index: int, person: int, serial: int, deleted: bool) -> None:
    replica, node = city.replicas[index], city.nodes[index]
    name = f"名{serial}"
    body = PersonBody(
        person_id=f"p{person}",
        family_name="" if deleted else "山田",
        given_name="" if deleted else name,
        public=not deleted,
        deleted=deleted,
    )
    replica.write(node, body, WALL_MS + serial)
    old = own_superseded(replica, node.public, body.person_id)
    if old:
        reason = RedactReason.DELETED if deleted else RedactReason.SUPERSEDED
        redact = RedactBody(tuple((r.seq, r.id) for r in old[-16:]), reason=reason)
        replica.write(node, redact, WALL_MS + serial)


@settings(max_examples=60, deadline=None)
@given(ops, st.integers(0, 2**32))
def test_redaction_converges_and_wipes_everywhere(history: list[tuple], seed: int) -> None:
    city = make_city(random.Random(seed), NODES)
    for serial, (op, x, y) in enumerate(history):
        if op == "sync":
            if x != y:
                sync_pair(city.replicas[x], city.replicas[y], city.config(x), city.config(y))
        else:
            write_person(city, x, y, serial, deleted=op == "delete")
    for _ in range(2):  # two passes of all pairs: everything reaches everyone
        for x in range(NODES):
            for y in range(x + 1, NODES):
                sync_pair(city.replicas[x], city.replicas[y], city.config(x), city.config(y))
    vectors = {r.have() for r in city.replicas}
    assert len(vectors) == 1
    named: set[bytes] = set()
    for replica in city.replicas:
        for record in replica.records():
            if record.kind is Kind.REDACT:
                named.update(t.record_id for t in targets(record))
    slots = [
        {key: [item.id for item in log] for key, log in replica.logs.items()}
        for replica in city.replicas
    ]
    assert all(s == slots[0] for s in slots)  # the same record or placeholder everywhere
    for replica in city.replicas:
        held = {r.id for r in replica.records()}
        assert not held & named, "a redacted record survived"
        placeholders = [
            p for log in replica.logs.values() for p in log if isinstance(p, Placeholder)
        ]
        assert {p.original_id for p in placeholders} == named


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 10_000), st.integers(1, 255)), min_size=1, max_size=4))
def test_a_damaged_placeholder_is_never_accepted(flips: list[tuple[int, int]]) -> None:
    city = make_city(random.Random(7), 2)
    write_person(city, 0, 0, 1, deleted=False)
    write_person(city, 0, 0, 2, deleted=True)  # the deletion redacts the registration
    log = city.replicas[0].logs[(city.nodes[0].public, Stream.ANPI)]
    placeholder = log[0]
    assert isinstance(placeholder, Placeholder)
    wire = bytearray(placeholder.wire)
    for position, xor in flips:
        wire[position % len(wire)] ^= xor
    have = city.replicas[1].have()
    result = accept_batch([bytes(wire)], city.replicas[1].trust, have)
    if bytes(wire) != placeholder.wire:
        assert not result.placeholders and not result.accepted
    assert accept_batch([placeholder.wire], city.replicas[1].trust, have).placeholders

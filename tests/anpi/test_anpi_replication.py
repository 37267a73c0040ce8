"""Registrations and deletions made at one node are found, and gone, at another once the
records arrive (the transport itself is the sync layer's; here the records are handed over)."""

from __future__ import annotations

from shelterkit.model.anpi import new_person, radio_form, tombstone
from shelterkit.model.kinds import PersonBody, Stream
from shelterkit.model.names import query_keys
from shelterkit.service.node import Node
from tests.anpi.conftest import enrol
from tests.conftest import CITY


async def hand_over(src: Node, dst: Node, *, radio: bool = False) -> None:
    records = await src.store.records_range(src.identity.public, Stream.ANPI, 1, 1000)
    if radio:
        records = [r for r in (radio_form(r) for r in records) if r is not None]
    result = await dst.ingest([r.wire for r in records])
    assert not result.rejected


async def found(node: Node, query: str) -> list[str]:
    return [p.name for p in await node.store.search_persons(query_keys(query), 10, node.wall_ms())]


async def test_registered_at_a_found_at_b(node: Node, node_b: Node) -> None:
    await enrol(node_b, node)
    body = new_person(
        person_id="p1",
        family_name="山田",
        given_name="太郎",
        reading="やまだ たろう",
        shelter=node.config.shelter.id,
        consent=True,
        contact="090-1234-5678",
        authority_key=CITY.public,
    )
    await node.publish(body)
    await hand_over(node, node_b, radio=True)
    for q in ("やまだ たろう", "山田太郎", "ﾔﾏﾀﾞ ﾀﾛｳ"):
        assert await found(node_b, q) == ["山田 太郎"], q
    (p,) = await node_b.store.search_persons(query_keys("山田"), 10, node_b.wall_ms())
    assert p.shelter == "S01"


async def test_deletion_replicates_as_a_record(node: Node, node_b: Node) -> None:
    await enrol(node_b, node)
    body = new_person(
        person_id="p1",
        family_name="山田",
        given_name="太郎",
        reading="",
        shelter="S01",
        consent=True,
        authority_key=CITY.public,
    )
    await node.publish(body)
    await hand_over(node, node_b)
    assert await found(node_b, "山田") == ["山田 太郎"]
    deletion = await node.publish(tombstone(body))
    assert radio_form(deletion) is deletion
    await hand_over(node, node_b, radio=True)
    assert await found(node_b, "山田") == []
    current = await node_b.store.get_person("p1")
    assert current is not None and current.id == deletion.id
    assert isinstance(current.body, PersonBody) and current.body.deleted


async def test_records_from_unenrolled_nodes_rejected(node: Node, node_b: Node) -> None:
    await node.publish(
        new_person(
            person_id="p1",
            family_name="偽",
            given_name="名",
            reading="",
            shelter="S01",
            consent=True,
            authority_key=None,
        )
    )
    records = await node.store.records_range(node.identity.public, Stream.ANPI, 1, 10)
    result = await node_b.ingest([r.wire for r in records])
    assert result.rejected and not result.stored
    assert await found(node_b, "偽名") == []

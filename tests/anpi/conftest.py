"""Fixtures for the safety-registration tests: a second node that trusts the first."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shelterkit.model.kinds import EnrolBody
from shelterkit.model.record import sign_record
from shelterkit.service.node import Node
from shelterkit.storage.store import Store
from tests.conftest import CITY, node_config

NOW_MS = 1_800_000_000_000


async def open_node(data: Path, shelter: str, wall: list[int]) -> Node:
    config = node_config(data)
    config = type(config)(
        shelter=type(config.shelter)(id=shelter, name_ja=f"避難所{shelter}", name_en=shelter),
        node=config.node,
        portal=config.portal,
    )
    return await Node.open(config, lambda: wall[0])


async def enrol(node: Node, *others: Node) -> None:
    """Have city hall enrol ``others`` at ``node`` so that it accepts their records."""
    wires = [
        sign_record(
            CITY,
            i + 1,
            node.clock.now(node.wall_ms()),
            EnrolBody(node_key=o.identity.public, shelter=o.config.shelter.id),
        ).wire
        for i, o in enumerate(others)
    ]
    result = await node.ingest(wires)
    assert not result.rejected


@pytest.fixture
def wall() -> list[int]:
    """The nodes' wall clock in ms, moved by hand."""
    return [NOW_MS]


@pytest.fixture
async def node_b(tmp_path: Path, wall: list[int]) -> AsyncIterator[Node]:
    n = await open_node(tmp_path / "b", "S02", wall)
    yield n
    await n.close()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    """A real store on disk, closed even when the test fails (its thread would linger)."""
    s = await Store.open(tmp_path / "anpi.sqlite")
    yield s
    await s.close()

"""Two real nodes on a LAN of network namespaces find each other by zeroconf and sync.

Neither node is told of the other (no hub, no peers in the config): a board post made on
one portal reaching the other portal proves discovery, enrolment checks and sync together.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest

from shelterkit.config import Config, NodeSettings
from shelterkit.hub.service import Hub
from shelterkit.paths import DataPaths, write_private_file
from shelterkit.service.node import load_or_create_identity
from tests.discovery.conftest import Lan, NodeInLan, NodeStarter

pytestmark = pytest.mark.system

# Seconds for a post to cross: registration (≈1.2 s), browsing, one sync round.
CONVERGE_DEADLINE_S = 45.0


def enrol(tmp_path: Path, shelters: list[str]) -> str:
    """Enrol a node key per shelter with an in-process hub; return the authority key (hex)."""

    async def sign() -> str:
        hub = await Hub.open(
            Config(node=NodeSettings(data_dir=str(tmp_path / "hub"))),
            lambda: time.time_ns() // 1_000_000,
        )
        try:
            for shelter in shelters:
                paths = DataPaths(tmp_path / f"{shelter}-data")
                key = load_or_create_identity(paths.node_key, os.urandom).public
                record = await hub.enrol(key, shelter)
                write_private_file(paths.enrolment, record.wire)
            return hub.authority.public.hex()
        finally:
            await hub.close()

    return asyncio.run(sign())


def wait_for(what: str, done: Callable[[], bool], *nodes: NodeInLan) -> None:
    end = time.monotonic() + CONVERGE_DEADLINE_S
    while not done():
        if time.monotonic() > end:
            logs = "".join(f"\n--- {n.lan.ns[n.index]}\n{n.output()}" for n in nodes)
            raise AssertionError(f"{what} within {CONVERGE_DEADLINE_S}s{logs}")
        time.sleep(0.5)


def board_shows(lan: Lan, index: int, text: str) -> bool:
    return text in lan.http(index, "get", "http://127.0.0.1:8080/board")[1]


def test_two_nodes_find_each_other_and_sync(lan_node: NodeStarter, tmp_path: Path) -> None:
    authority = enrol(tmp_path, ["S01", "S02"])
    common = {"authority_keys": [authority], "sync_interval_s": 1}
    nodes = [lan_node(0, "S01", **common), lan_node(1, "S02", **common)]
    lan = nodes[0].lan
    found = [
        f"added S02 (node) at http://{lan.address[1]}:8081/",
        f"added S01 (node) at http://{lan.address[0]}:8081/",
    ]
    wait_for(
        "the nodes did not find each other",
        lambda: all(line in n.output() for line, n in zip(found, nodes, strict=True)),
        *nodes,
    )
    for source, target in ((0, 1), (1, 0)):
        text = f"water needed {uuid.uuid4().hex[:8]}"
        assert lan.http(source, "post-board", "http://127.0.0.1:8080/", text)[0] == 303
        wait_for(
            f"a post on {lan.ns[source]} did not reach {lan.ns[target]}",
            partial(board_shows, lan, target, text),
            *nodes,
        )

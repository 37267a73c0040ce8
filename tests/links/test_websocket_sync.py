"""Sync over real WebSockets between in-process nodes and a hub (real SQLite stores)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from shelterkit.config import Config, NodeSettings, ShelterSettings
from shelterkit.errors import LinkError, TrustError
from shelterkit.hub.service import Hub
from shelterkit.links.websocket import add_sync_route, sync_with
from shelterkit.model.kinds import PostBody
from shelterkit.model.record import sign_record
from shelterkit.paths import DataPaths, write_private_file
from shelterkit.service.node import Node, load_or_create_identity
from shelterkit.sync import Role
from tests.helpers import alert, identity

NOW_MS = 1_800_000_000_000


def clock() -> int:
    return NOW_MS


async def open_hub(root: Path) -> Hub:
    return await Hub.open(Config(node=NodeSettings(data_dir=str(root / "hub"))), clock)


async def open_node(root: Path, hub: Hub | None, shelter: str, *, enrol: bool = True) -> Node:
    data = root / shelter
    if hub is not None and enrol:
        key = load_or_create_identity(
            DataPaths(data).node_key, lambda n: identity(shelter).seed[:n]
        )
        record = await hub.enrol(key.public, shelter)
        write_private_file(DataPaths(data).enrolment, record.wire)
    keys = [hub.authority.public.hex()] if hub is not None else []
    config = Config(
        shelter=ShelterSettings(id=shelter),
        node=NodeSettings(data_dir=str(data), authority_keys=keys),
    )
    return await Node.open(config, clock, lambda n: identity(shelter).seed[:n])


@dataclasses.dataclass
class Served:
    node: Node
    url: str


@pytest.fixture
async def city(tmp_path: Path) -> AsyncIterator[tuple[Hub, list[Node], list[Served]]]:
    hub = await open_hub(tmp_path)
    nodes = [await open_node(tmp_path, hub, s) for s in ("S01", "S02", "S03")]
    servers = []
    served = []
    for n in [hub.node, *nodes]:
        app = web.Application()
        add_sync_route(app, n, Role.HUB if n is hub.node else Role.NODE)
        server = TestServer(app)
        await server.start_server()
        servers.append(server)
        served.append(Served(n, str(server.make_url("/"))))
    yield hub, nodes, served
    for server in servers:
        await server.close()
    for n in nodes:
        await n.close()
    await hub.close()


async def test_alert_from_hub_reaches_every_node(city) -> None:
    hub, nodes, served = city
    record = await hub.issue_alert(alert(hub.authority, 1, 1, "x").body)  # re-signed by the hub
    async with aiohttp.ClientSession() as http:
        for n in nodes[:2]:
            result = await sync_with(n, served[0].url, session=http)
            assert result.ok and result.records_received >= 1
        # S03 reaches the hub only through S02 (a relay by syncing both sides)
        result = await sync_with(nodes[2], served[2].url, session=http)
        assert result.ok
    for n in nodes:
        assert await n.store.get(record.id) is not None


async def test_posts_flow_to_the_hub_and_converge(city) -> None:
    hub, nodes, served = city
    for i, n in enumerate(nodes):
        await n.publish(PostBody(text=f"from {i}"))
    async with aiohttp.ClientSession() as http:
        for _ in range(2):
            for n in nodes:
                assert (await sync_with(n, served[0].url, session=http)).ok
    sets = [{r.id for r in (await n.store.heads()).values()} for n in [hub.node, *nodes]]
    assert all(s == sets[0] for s in sets)
    assert await hub.node.have() == await nodes[0].have()


async def test_idle_round_is_small(city) -> None:
    _hub, nodes, served = city
    async with aiohttp.ClientSession() as http:
        await sync_with(nodes[0], served[0].url, session=http)
        idle = await sync_with(nodes[0], served[0].url, session=http)
    assert idle.ok and idle.records_received == 0
    # two challenges with enrolment records, two proofs, two HELLOs (WebSocket framing aside)
    assert idle.bytes_sent + idle.bytes_received < 1200


async def test_forged_alert_never_stored_attack(city, tmp_path: Path) -> None:
    hub, nodes, served = city
    mallory = identity("mallory")
    forged = alert(mallory, 1, 2, "forged")  # an "alert" not signed by city hall
    result = await nodes[0].ingest([forged.wire])
    assert result.rejected and not result.stored
    # a node that signs an alert itself: relays refuse it too
    own = alert(nodes[1].identity, 1, 3, "self-made")
    assert (await nodes[1].ingest([own.wire])).rejected
    async with aiohttp.ClientSession() as http:
        for n in nodes:
            await sync_with(n, served[0].url, session=http)
    for n in [hub.node, *nodes]:
        assert await n.store.get(forged.id) is None
        assert await n.store.get(own.id) is None


async def test_unenrolled_peer_refused_attack(city, tmp_path: Path) -> None:
    hub, _nodes, served = city
    stranger = await open_node(tmp_path, hub, "S99", enrol=False)
    try:
        async with aiohttp.ClientSession() as http:
            with pytest.raises((TrustError, LinkError)):
                await sync_with(stranger, served[0].url, session=http)
    finally:
        await stranger.close()


async def test_revoked_peer_refused_attack(city) -> None:
    hub, nodes, served = city
    await hub.revoke(nodes[2].identity.public, "card stolen")
    async with aiohttp.ClientSession() as http:
        result = None
        with pytest.raises((TrustError, LinkError)):
            result = await sync_with(nodes[2], served[0].url, session=http)
        assert result is None
        # and the hub refuses its records when they arrive through another node
        post = sign_record(nodes[2].identity, 1, 5, PostBody(text="after revocation"))
        await nodes[0].ingest([post.wire])
        await sync_with(nodes[0], served[0].url, session=http)
    assert await hub.node.store.get(post.id) is None


async def test_wrong_expected_peer_refused_attack(city) -> None:
    hub, nodes, served = city
    async with aiohttp.ClientSession() as http:
        with pytest.raises(TrustError):
            await sync_with(
                nodes[0], served[1].url, session=http, expected=hub.node.identity.public
            )


async def test_unreachable_peer_is_a_link_error(city) -> None:
    _hub, nodes, _served = city
    async with aiohttp.ClientSession() as http:
        with pytest.raises(LinkError):
            await sync_with(nodes[0], "http://127.0.0.1:9/", session=http)

"""A node without a real-time clock takes city hall's time on its first sync (DESIGN §9)."""

from __future__ import annotations

from pathlib import Path

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from shelterkit.config import Config, NodeSettings, ShelterSettings
from shelterkit.hub.service import Hub
from shelterkit.links.websocket import add_sync_route, sync_with
from shelterkit.model.fold import active_alerts
from shelterkit.model.kinds import AlertBody
from shelterkit.paths import DataPaths, write_private_file
from shelterkit.service.node import Node, load_or_create_identity
from shelterkit.sync import Role
from tests.helpers import identity

REAL_NOW = 1_800_000_000_000  # 2027-01-15
HOUR = 3_600_000
YEAR = 365 * 24 * HOUR


async def make_node(root: Path, hub: Hub, shelter: str, system_ms: int) -> Node:
    data = root / shelter
    seed = identity(shelter).seed
    key = load_or_create_identity(DataPaths(data).node_key, lambda n: seed[:n])
    write_private_file(DataPaths(data).enrolment, (await hub.enrol(key.public, shelter)).wire)
    config = Config(
        shelter=ShelterSettings(id=shelter),
        node=NodeSettings(data_dir=str(data), authority_keys=[hub.authority.public.hex()]),
    )
    return await Node.open(config, lambda: system_ms, lambda n: seed[:n])


async def test_clock_from_city_hall_decides_expiry(tmp_path: Path) -> None:
    hub = await Hub.open(
        Config(node=NodeSettings(data_dir=str(tmp_path / "hub"))), lambda: REAL_NOW
    )
    past = await make_node(tmp_path, hub, "S01", system_ms=5_000)  # booted at 1970
    future = await make_node(tmp_path, hub, "S02", system_ms=REAL_NOW + 10 * YEAR)
    relayed = await make_node(tmp_path, hub, "S48", system_ms=5_000)  # no backhaul: via S02
    expired = AlertBody(identifier="old", headline={"ja": "古い"}, expires_ms=REAL_NOW - HOUR)
    current = AlertBody(identifier="new", headline={"ja": "新しい"}, expires_ms=REAL_NOW + HOUR)
    await hub.issue_alert(expired)
    await hub.issue_alert(current)

    app = web.Application()
    add_sync_route(app, hub.node, Role.HUB)
    neighbour = web.Application()
    add_sync_route(neighbour, future, Role.NODE)
    async with TestServer(app) as hub_server, TestServer(neighbour) as s02_server:
        assert not past.clock_certain and future.clock_certain and not relayed.clock_certain
        async with aiohttp.ClientSession() as http:
            for node in (past, future):
                assert (await sync_with(node, str(hub_server.make_url("/")), session=http)).ok
            assert (await sync_with(relayed, str(s02_server.make_url("/")), session=http)).ok

    for node in (past, future, relayed):
        assert node.clock_certain
        assert abs(node.wall_ms() - REAL_NOW) < 2_000
        shown = [a.body.identifier for a in active_alerts(node.heads, node.wall_ms())]
        assert shown == ["new"]  # never the expired one, whatever the node's own clock said
    for node in (past, future, relayed):
        await node.close()
    await hub.close()

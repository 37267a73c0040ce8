"""Register at shelter A's portal; after real sync rounds through city hall, a search at
shelter B's portal finds the person by kana reading, by kanji and by half-width katakana;
city hall exports status as JSON/CSV and people as PFIF (issue 8)."""

from __future__ import annotations

import time
from pathlib import Path

import aiohttp
from aiohttp.test_utils import TestClient, TestServer

from shelterkit.admin.tokens import mint_token
from shelterkit.config import Config, NodeSettings
from shelterkit.hub.api import install_hub_api
from shelterkit.hub.pfif import import_pfif
from shelterkit.hub.service import Hub
from shelterkit.links.websocket import sync_with
from shelterkit.model.kinds import NeedLevel, StatusBody
from shelterkit.portal.app import create_portal_app
from shelterkit.service.node import Node
from shelterkit.service.run import peer_app
from shelterkit.sync import Role
from tests.anpi.test_safety_portal import codes, register, search, token
from tests.links.test_websocket_sync import open_node

SECRET = b"h" * 32


async def test_register_on_a_find_on_b(tmp_path: Path) -> None:
    hub = await Hub.open(Config(node=NodeSettings(data_dir=str(tmp_path / "hub"))), time_ms)
    a = await open_node(tmp_path, hub, "S01")
    b = await open_node(tmp_path, hub, "S02")
    hub_app = peer_app(hub.node, SECRET, Role.HUB)
    install_hub_api(hub_app, hub)
    try:
        async with (
            TestClient(TestServer(create_portal_app(a))) as portal_a,
            TestClient(TestServer(create_portal_app(b))) as portal_b,
            TestClient(TestServer(hub_app)) as hub_api,
            aiohttp.ClientSession() as http,
        ):
            resp = await register(
                portal_a,
                family="渡邊",
                given="健太",
                reading="わたなべ けんた",
                age="34",
                district="境",
            )
            assert "登録しました" in await resp.text()
            await a.publish(
                StatusBody(
                    shelter="S01",
                    headcount=120,
                    households=48,
                    needs_care=6,
                    need_water=NeedLevel.CRITICAL,
                )
            )
            hub_url = str(hub_api.make_url("/"))
            assert (await sync_with(a, hub_url, session=http)).ok
            assert (await sync_with(b, hub_url, session=http)).ok
            for q in ("わたなべ けんた", "渡辺健太", "渡邊", "ﾜﾀﾅﾍﾞ ｹﾝﾀ"):
                html = await (await search(portal_b, q)).text()
                assert "渡邊 健太" in html, q
                assert "34 歳" in html

            auth = {"Authorization": f"Bearer {mint_token(SECRET, time.time())}"}
            report = await (await hub_api.get("/api/status.json", headers=auth)).json()
            assert report["totals"]["headcount"] == 120
            assert report["totals"]["shelters_needing_water"] == 1
            assert {s["shelter"] for s in report["shelters"]} == {"S01", "S02"}
            csv_text = await (await hub_api.get("/api/status.csv", headers=auth)).text()
            assert csv_text.splitlines()[0].startswith("shelter,name,reported_at_ms,headcount")
            assert any(
                line.startswith("S01,") and ",120," in line for line in csv_text.splitlines()
            )
            pfif = await (await hub_api.get("/api/pfif", headers=auth)).read()
            (person,) = import_pfif(pfif, domain="shelterkit.nasukarasuyama.local").persons
            assert person.family_name == "渡邊" and not person.contact_sealed
    finally:
        for n in (a, b):
            await n.close()
        await hub.close()


def time_ms() -> int:
    return int(time.time() * 1000)


def on_disk(node: Node) -> bytes:
    path = node.store.path
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())


async def test_deletion_at_a_wipes_the_name_at_city_hall_and_b(tmp_path: Path) -> None:
    """Over real WebSocket sync rounds: a registration deleted on A's portal leaves no
    trace of the name in the database files of A, city hall and B (docs/anpi.md)."""
    hub = await Hub.open(Config(node=NodeSettings(data_dir=str(tmp_path / "hub"))), time_ms)
    a = await open_node(tmp_path, hub, "S01")
    b = await open_node(tmp_path, hub, "S02")
    try:
        async with (
            TestClient(TestServer(create_portal_app(a))) as portal_a,
            TestClient(TestServer(peer_app(hub.node, SECRET, Role.HUB))) as hub_peer,
            aiohttp.ClientSession() as http,
        ):
            hub_url = str(hub_peer.make_url("/"))
            html = await (await register(portal_a, family="渡邊", given="健太")).text()
            number, code = codes(html)
            for node in (a, b):
                assert (await sync_with(node, hub_url, session=http)).ok
            assert "健太".encode() in on_disk(b)
            t = await token(portal_a, "/safety/delete")
            resp = await portal_a.post(
                "/safety/delete", data={"csrf": t, "number": number, "code": code}
            )
            assert resp.status == 200
            for node in (a, b):
                assert (await sync_with(node, hub_url, session=http)).ok
            for node in (a, hub.node, b):
                assert "健太".encode() not in on_disk(node), node.config.shelter.id
                assert "渡邊".encode() not in on_disk(node), node.config.shelter.id
            assert await a.have() == await hub.node.have() == await b.have()
    finally:
        for n in (a, b):
            await n.close()
        await hub.close()

"""The hub endpoints the staff TUI adds: alert preview, needs in the fleet view; and the
node endpoints served at the hub."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from shelterkit.admin.tokens import mint_token
from shelterkit.config import Config, NodeSettings
from shelterkit.hub.api import install_hub_api
from shelterkit.hub.service import Hub
from shelterkit.model.fold import active_alerts
from shelterkit.model.hlc import pack
from shelterkit.model.kinds import NeedLevel, StatusBody
from shelterkit.model.record import sign_record
from shelterkit.service.run import peer_app
from shelterkit.sync import Role
from tests.helpers import identity

SECRET = b"h" * 32
NOW = 1_800_000_000_000


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Hub]:
    h = await Hub.open(Config(node=NodeSettings(data_dir=str(tmp_path / "hub"))), lambda: NOW)
    yield h
    await h.close()


@pytest.fixture
async def api(hub: Hub) -> AsyncIterator[TestClient]:
    app = peer_app(hub.node, SECRET, Role.HUB)
    install_hub_api(app, hub)
    async with TestClient(TestServer(app)) as client:
        yield client


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(SECRET, time.time())}"}


async def test_preview_checks_without_issuing(api: TestClient, hub: Hub) -> None:
    before = hub.node.record_count
    resp = await api.post(
        "/api/alerts/preview",
        headers=auth(),
        json={"headline": {"ja": "避難指示"}, "severity": "extreme", "expires_in_s": 3600},
    )
    assert resp.status == 200, await resp.text()
    preview = await resp.json()
    assert preview["headline"] == {"ja": "避難指示"} and preview["severity"] == "extreme"
    assert preview["expires_ms"] == NOW + 3600 * 1000 and preview["targets"] == []
    assert hub.node.record_count == before and active_alerts(hub.node.heads, NOW) == []


@pytest.mark.parametrize("payload", [{}, {"headline": "x", "severity": "apocalyptic"}])
async def test_bad_preview_rejected(api: TestClient, payload: dict) -> None:
    resp = await api.post("/api/alerts/preview", headers=auth(), json=payload)
    assert resp.status == 400 and (await resp.json())["detail"]


async def test_preview_needs_credentials_rejected(api: TestClient) -> None:
    assert (await api.post("/api/alerts/preview", json={"headline": "x"})).status == 401


async def test_fleet_carries_needs_from_the_status_record(api: TestClient, hub: Hub) -> None:
    node = identity("node-s01")
    await hub.enrol(node.public, "S01", "烏山公民館")
    status = StatusBody(
        shelter="S01", headcount=87, households=30, need_water=NeedLevel.CRITICAL, links="http:up"
    )
    result = await hub.node.ingest([sign_record(node, 1, pack(NOW, 0), status).wire])
    assert not result.rejected
    fleet = await (await api.get("/api/fleet", headers=auth())).json()
    (row,) = fleet["shelters"]
    assert row["headcount"] == 87 and row["households"] == 30 and row["links"] == "http:up"
    assert row["needs"]["water"] == "critical" and row["needs"]["food"] == "none"
    assert row["last_contact_ms"] is None  # heard of, but never heard from directly


async def test_node_endpoints_are_served_at_the_hub_too(api: TestClient) -> None:
    data = await (await api.get("/api/node", headers=auth())).json()
    assert data["shelter"] == "CITY" and data["enrolled"]

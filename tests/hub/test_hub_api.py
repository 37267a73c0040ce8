"""The hub's admin API through a real HTTP server: credentials, alerts, enrolment, fleet."""

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
from shelterkit.service.run import peer_app
from shelterkit.sync import Role
from tests.helpers import identity

SECRET = b"s" * 32


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Hub]:
    h = await Hub.open(
        Config(node=NodeSettings(data_dir=str(tmp_path / "hub"))), lambda: 1_800_000_000_000
    )
    yield h
    await h.close()


@pytest.fixture
async def api(hub: Hub) -> AsyncIterator[TestClient]:
    app = peer_app(hub.node, SECRET, Role.HUB)
    install_hub_api(app, hub)
    async with TestClient(TestServer(app)) as client:
        yield client


def auth(token: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token or mint_token(SECRET, time.time())}"}


async def test_missing_wrong_and_expired_credentials_rejected(api: TestClient) -> None:
    assert (await api.get("/api/fleet")).status == 401
    assert (await api.get("/api/fleet", headers=auth("sk1.9999999999.AAAA"))).status == 401
    other = mint_token(b"x" * 32, time.time())
    assert (await api.get("/api/fleet", headers=auth(other))).status == 401
    expired = mint_token(SECRET, time.time() - 3600, ttl_s=60)
    resp = await api.get("/api/fleet", headers=auth(expired))
    assert resp.status == 401 and (await resp.json())["error"] == "expired"
    assert (await api.get("/api/fleet", headers=auth())).status == 200


async def test_failed_logins_are_rate_limited_rejected(api: TestClient) -> None:
    statuses = [(await api.get("/api/fleet", headers=auth("bad"))).status for _ in range(14)]
    assert statuses[:10] == [401] * 10 and 429 in statuses[10:]


async def test_health_is_public(api: TestClient) -> None:
    assert (await api.get("/healthz")).status == 200


async def test_issue_alert(api: TestClient, hub: Hub) -> None:
    resp = await api.post(
        "/api/alerts",
        headers=auth(),
        json={
            "headline": {"ja": "避難指示", "en": "Evacuate"},
            "severity": "extreme",
            "expires_in_s": 3600,
            "targets": ["S01"],
        },
    )
    assert resp.status == 201, await resp.text()
    (active,) = active_alerts(hub.node.heads, hub.node.wall_ms())
    assert active.body.headline == {"ja": "避難指示", "en": "Evacuate"}
    assert active.record.origin == hub.authority.public
    assert active.body.expires_ms == hub.node.wall_ms() + 3600 * 1000


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"headline": ""},
        {"headline": 5},
        {"headline": "x", "severity": "apocalyptic"},
        {"headline": "x", "expires_in_s": 5},
        {"headline": "x", "expires_in_s": "soon"},
        {"headline": "x", "targets": "S01"},
        {"headline": "bell\x07"},
        {"headline": "x" * 1000},
    ],
)
async def test_bad_alert_rejected(api: TestClient, hub: Hub, payload: dict) -> None:
    resp = await api.post("/api/alerts", headers=auth(), json=payload)
    assert resp.status == 400
    assert (await resp.json())["detail"]
    assert active_alerts(hub.node.heads, 0) == []


async def test_bad_json_rejected(api: TestClient) -> None:
    for body in (b"{", b"[1]", b"\xff"):
        resp = await api.post("/api/alerts", headers=auth(), data=body)
        assert resp.status == 400


async def test_enrol_and_fleet(api: TestClient, hub: Hub) -> None:
    key = identity("node-s01").public
    resp = await api.post(
        "/api/enrol", headers=auth(), json={"node_key": key.hex(), "shelter": "S01", "name": "烏山"}
    )
    assert resp.status == 201
    fleet = await (await api.get("/api/fleet", headers=auth())).json()
    assert [(s["shelter"], s["node"]) for s in fleet["shelters"]] == [("S01", key.hex())]
    bad = await api.post("/api/enrol", headers=auth(), json={"node_key": "zz", "shelter": "S01"})
    assert bad.status == 400

"""CAP 1.2 import at the hub: the admin API with the whole corpus, and the CLI end to end."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from shelterkit.admin.tokens import mint_token
from shelterkit.config import Config, NodeSettings
from shelterkit.hub.api import install_hub_api
from shelterkit.hub.cap import alert_to_cap
from shelterkit.hub.service import Hub
from shelterkit.model.fold import active_alerts
from shelterkit.model.kinds import AlertBody, Severity
from shelterkit.service.run import peer_app
from shelterkit.sync import Role
from tests.alerts.corpus import BAD, GOOD, NODE_NOW_MS
from tests.conftest import SHELTERKIT, free_port_range, wait_healthy

SECRET = b"c" * 32


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[tuple[Hub, TestClient]]:
    hub = await Hub.open(
        Config(node=NodeSettings(data_dir=str(tmp_path / "hub"))), lambda: NODE_NOW_MS
    )
    app = peer_app(hub.node, SECRET, Role.HUB)
    install_hub_api(app, hub)
    async with TestClient(TestServer(app)) as client:
        yield hub, client
    await hub.close()


def headers() -> dict[str, str]:
    return {
        "Authorization": f"Bearer {mint_token(SECRET, time.time())}",
        "Content-Type": "application/cap+xml",
    }


async def test_corpus_imports_in_order_with_updates_and_cancels(api) -> None:
    hub, client = api
    for path in GOOD:
        resp = await client.post("/api/alerts/cap", data=path.read_bytes(), headers=headers())
        assert resp.status == 201, (path.name, await resp.text())
    active = {a.body.identifier for a in active_alerts(hub.node.heads, NODE_NOW_MS)}
    imported = {r.body.identifier for r in hub.node.heads.values() if isinstance(r.body, AlertBody)}
    assert len(imported) == len(GOOD)
    assert active < imported  # updates and cancels took earlier alerts out


async def test_bad_cap_rejected(api) -> None:
    hub, client = api
    for path in sorted(BAD.glob("*.xml")):
        resp = await client.post("/api/alerts/cap", data=path.read_bytes(), headers=headers())
        assert resp.status in (400, 413), path.name
        detail = (await resp.json())["detail"]
        assert detail and "\n" not in detail, path.name
    assert not any(isinstance(r.body, AlertBody) for r in hub.node.heads.values())


def test_cli_import_end_to_end(tmp_path: Path) -> None:
    port = free_port_range(2)
    data = tmp_path / "hub"
    hub = subprocess.Popen(
        [SHELTERKIT, "hub", "--data", str(data), "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_healthy(url, hub)
        token = subprocess.run(
            [SHELTERKIT, "token", "--data", str(data)], capture_output=True, text=True, check=True
        ).stdout.strip()
        env = {**os.environ, "SHELTERKIT_HUB": url, "SHELTERKIT_TOKEN": token}
        now = int(time.time() * 1000)
        body = AlertBody(
            identifier=f"test-{now}",
            headline={"ja": "避難指示", "en": "Evacuate"},
            severity=Severity.EXTREME,
            sent_ms=now,
            expires_ms=now + 3_600_000,
        )
        good = tmp_path / "alert.xml"
        good.write_bytes(alert_to_cap(body, sender="city@nasukarasuyama.example"))
        done = subprocess.run(
            [SHELTERKIT, "alert", "import", str(good)], env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        assert f"imported test-{now}" in done.stdout
        for path in sorted(BAD.glob("*.xml")):
            done = subprocess.run(
                [SHELTERKIT, "alert", "import", str(path)], env=env, capture_output=True, text=True
            )
            assert done.returncode == 2, path.name
            assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, path.name
    finally:
        hub.terminate()
        hub.wait(timeout=30)

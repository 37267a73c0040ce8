"""A node started from a bundle enrols at the hub that provisioned it, and they sync.

Real processes: ``shelterkit hub --data <the hub folder used for provisioning>`` and
``shelterkit node --config <bundle's node.toml> --data <copy of the bundle>``. The bundle's
configuration is for a Pi (ports 8080/8081 on every address, the hub's real URL); the copy
moves only the listeners to free loopback ports and points the node at the test hub.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import tomllib
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shelterkit.provision.bundle import toml_document
from tests.conftest import SHELTERKIT, free_port_range, wait_healthy
from tests.provision.conftest import Provisioned

# Sync rounds run every second here; a first sync takes a few of them.
SYNC_DEADLINE_S = 45.0


def get_json(url: str, token: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as r:
        return json.loads(r.read())


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=20)


def node_config_for_test(bundle: Path, out: Path, port: int, hub_url: str) -> Path:
    """The bundle's node.toml with loopback listeners and the test hub; all else as given."""
    raw = tomllib.loads((bundle / "node.toml").read_text("utf-8"))
    raw["node"].update(
        listen=f"127.0.0.1:{port}",
        peer_listen=f"127.0.0.1:{port + 1}",
        hub_url=hub_url,
        peers=[],  # the neighbours' mDNS names exist only in the field
        sync_interval_s=1,
    )
    raw["network"].update(portal_port=port, admin_port=port + 1)
    path = out / "node.toml"
    path.write_text(toml_document(raw), "utf-8")
    return path


@pytest.mark.parametrize("shelter", ["S01", "S07"])  # fibre, and one of the seven uncovered
def test_node_from_bundle_enrols_and_syncs(
    provisioned: Provisioned,
    tmp_path: Path,
    processes: list[subprocess.Popen[bytes]],
    shelter: str,
) -> None:
    copy = provisioned.copy(tmp_path / "city-hall")
    hub_port = free_port_range(1)
    hub_url = f"http://127.0.0.1:{hub_port}/"
    with (tmp_path / "hub.log").open("ab") as log:
        hub = subprocess.Popen(
            [SHELTERKIT, "hub", "--data", str(copy.hub), "--listen", f"127.0.0.1:{hub_port}"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    processes.append(hub)
    wait_healthy(hub_url, hub)

    bundle = copy.out / "bundles" / shelter
    data = tmp_path / "node-data"
    shutil.copytree(bundle, data)
    port = free_port_range(2)
    config = node_config_for_test(bundle, tmp_path, port, hub_url)
    with (tmp_path / "node.log").open("ab") as log:
        node = subprocess.Popen(
            [SHELTERKIT, "node", "--config", str(config), "--data", str(data)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    processes.append(node)
    node_url = f"http://127.0.0.1:{port}/"
    wait_healthy(node_url, node)

    token = subprocess.run(
        [SHELTERKIT, "token", "--data", str(copy.hub)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.strip()
    manifest = json.loads((bundle / "bundle.json").read_text("utf-8"))
    deadline = time.monotonic() + SYNC_DEADLINE_S
    row: dict[str, Any] = {}
    health: dict[str, Any] = {}
    while time.monotonic() < deadline:
        health = get_json(node_url + "healthz")
        rows = get_json(hub_url + "api/fleet", token)["shelters"]
        assert len(rows) == 48  # every enrolment made by provisioning is in the hub's store
        row = next(r for r in rows if r["shelter"] == shelter)
        if health.get("last_sync") and row.get("last_contact_ms"):
            break
        time.sleep(0.3)
    logs = (tmp_path / "node.log").read_text(errors="replace")[-2000:]
    assert health.get("last_sync"), logs
    assert row.get("last_contact_ms"), row
    assert row["node"] == manifest["node_key"] and not row["revoked"]
    assert health["shelter"] == shelter
    # the node learnt every other shelter's enrolment from the hub
    assert health["records"] >= 48

"""Two `shelterkit node` processes joined only by a serial cable (a real socat pty pair),
configured through [[radio]]: an alert held by one reaches the other's portal."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import time
import urllib.request
from pathlib import Path

from shelterkit.config import Config, NodeSettings, ShelterSettings
from shelterkit.hub.service import Hub
from shelterkit.model.kinds import AlertBody, Severity
from shelterkit.paths import DataPaths, write_private_file
from shelterkit.service.node import Node, load_or_create_identity
from shelterkit.service.run import wall_ms
from tests.conftest import SHELTERKIT, free_port_range, wait_healthy

DEADLINE_S = 90


def socat_pair(tmp_path: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    log = tmp_path / "socat.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["socat", "-d", "-d", "pty,raw,echo=0", "pty,raw,echo=0"], stderr=out
        )
    end = time.monotonic() + 10
    while time.monotonic() < end:
        ptys = re.findall(r"PTY is (\S+)", log.read_text())
        if len(ptys) == 2:
            return proc, ptys[0], ptys[1]
        time.sleep(0.05)
    raise AssertionError("socat did not create its ptys")


async def prepare(tmp_path: Path) -> tuple[str, list[Path]]:
    """Enrol S03 and S48 at a hub; S03 already holds an alert (it came over its backhaul),
    S48 only its enrolment. Returns the authority key and the two data directories."""
    hub = await Hub.open(Config(node=NodeSettings(data_dir=str(tmp_path / "hub"))), wall_ms)
    now = wall_ms()
    alert = await hub.issue_alert(
        AlertBody(
            identifier="cable-test",
            headline={"ja": "ケーブル越しの警報"},
            severity=Severity.SEVERE,
            sent_ms=now,
            expires_ms=now + 3_600_000,
        )
    )
    dirs = []
    for shelter in ("S03", "S48"):
        data = tmp_path / shelter
        key = load_or_create_identity(DataPaths(data).node_key, os.urandom)
        write_private_file(DataPaths(data).enrolment, (await hub.enrol(key.public, shelter)).wire)
        dirs.append(data)
    enrolments = [r.wire for r in (await hub.node.store.heads()).values()]
    authority = hub.authority.public.hex()
    await hub.close()
    near = await Node.open(
        Config(
            shelter=ShelterSettings(id="S03"),
            node=NodeSettings(data_dir=str(dirs[0]), authority_keys=[authority]),
        ),
        wall_ms,
    )
    await near.ingest([*enrolments, alert.wire])
    await near.close()
    return authority, dirs


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read().decode()


def test_alert_crosses_a_serial_cable(tmp_path: Path) -> None:
    authority, dirs = asyncio.run(prepare(tmp_path))
    socat, pty_a, pty_b = socat_pair(tmp_path)
    procs = []
    try:
        for shelter, data, pty in (("S03", dirs[0], pty_a), ("S48", dirs[1], pty_b)):
            port = free_port_range(2)
            toml = tmp_path / f"{shelter}.toml"
            toml.write_text(
                f'[shelter]\nid = "{shelter}"\n'
                f'[node]\nauthority_keys = ["{authority}"]\n'
                f'[[radio]]\ndriver = "cable"\nport = "{pty}"\n'
            )
            with (tmp_path / f"{shelter}.log").open("wb") as out:
                proc = subprocess.Popen(
                    [
                        SHELTERKIT,
                        "node",
                        "--config",
                        str(toml),
                        "--data",
                        str(data),
                        "--listen",
                        f"127.0.0.1:{port}",
                    ],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            procs.append((proc, port))
            wait_healthy(f"http://127.0.0.1:{port}/", proc)
        far_port = procs[1][1]
        end = time.monotonic() + DEADLINE_S
        while "ケーブル越しの警報" not in get(f"http://127.0.0.1:{far_port}/"):
            if time.monotonic() > end:
                raise AssertionError((tmp_path / "S48.log").read_text()[-3000:])
            time.sleep(0.5)
        health = json.loads(get(f"http://127.0.0.1:{far_port + 1}/healthz"))
        assert health["links"]["radio1"]["state"] == "up"
        assert health["links"]["radio1"]["driver"] == "cable"
    finally:
        for proc, _ in procs:
            proc.terminate()
            proc.wait(timeout=30)
        socat.terminate()
        socat.wait(timeout=10)

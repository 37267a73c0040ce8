"""Two `shelterkit node` processes joined only by a serial cable (a real socat pty pair),
configured through [[radio]]: an alert held by one reaches the other's portal; with a
route, what was handed over survives a SIGKILL of either end."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sqlite3
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from shelterkit.config import Config, NodeSettings, ShelterSettings
from shelterkit.hub.service import Hub
from shelterkit.model.kinds import AlertBody, Severity, StatusBody, Stream
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


def start_node_process(toml: Path, data: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    """``shelterkit node`` with a config file, its output appended to ``log``."""
    argv = [SHELTERKIT, "node", "--config", str(toml), "--data", str(data)]
    with log.open("ab") as out:
        return subprocess.Popen(
            [*argv, "--listen", f"127.0.0.1:{port}"], stdout=out, stderr=subprocess.STDOUT
        )


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
            proc = start_node_process(toml, data, port, tmp_path / f"{shelter}.log")
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


STATUSES = 30  # own statuses a station holds before its radio starts


def socat_logged_pair(tmp_path: Path) -> tuple[subprocess.Popen[bytes], str, str, Path]:
    """``socat_pair`` that also logs every chunk it moves (``-x``): direction and length."""
    log = tmp_path / "socat-x.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["socat", "-d", "-d", "-x", "pty,raw,echo=0", "pty,raw,echo=0"], stderr=out
        )
    end = time.monotonic() + 10
    while time.monotonic() < end:
        ptys = re.findall(r"PTY is (\S+)", log.read_text(errors="replace"))
        if len(ptys) == 2:
            return proc, ptys[0], ptys[1], log
        time.sleep(0.05)
    raise AssertionError("socat did not create its ptys")


def bytes_sent(log: Path, direction: str, after: int = 0) -> int:
    """Bytes socat moved in ``direction`` (``>``: first pty to second) past offset ``after``."""
    text = log.read_bytes()[after:].decode(errors="replace")
    pattern = rf"^{re.escape(direction)} \S+ \S+\s+length=(\d+)"
    return sum(int(n) for n in re.findall(pattern, text, re.MULTILINE))


def handover(data: Path, station: int) -> dict[tuple[bytes, int], tuple[int, int, int]]:
    """A running node's stored hand-over state: (origin, stream) -> (handed, pending, from)."""
    db = sqlite3.connect(f"file:{DataPaths(data).database}?mode=ro", uri=True, timeout=10)
    try:
        rows = db.execute(
            "SELECT origin, stream, handed, pending, came_from FROM radio_handover"
            " WHERE station = ?",
            (station,),
        ).fetchall()
    finally:
        db.close()
    return {(bytes(o), s): (h, p, c) for o, s, h, p, c in rows}


def wait_for(what: str, check: Callable[[], bool], logs: Path, deadline_s: float = 60) -> None:
    end = time.monotonic() + deadline_s
    while not check():
        if time.monotonic() > end:
            tails = "\n".join(p.read_text()[-1500:] for p in sorted(logs.glob("S*.log")))
            raise AssertionError(f"{what}\n{tails}")
        time.sleep(0.25)


def test_radio_hand_over_survives_sigkill(tmp_path: Path) -> None:
    """S03 → S48 over a cable with a route; S48's own uplink (station 99) never answers.

    S03 holds 30 statuses: it pushes them, S48 acknowledges and keeps them to hand on.
    S48 is SIGKILLed and started again: the records it took are still marked to hand on,
    from S03. S03 is SIGKILLed and started again: it does not push the 30 again (socat's
    byte count from S03 after its restart stays far below one push of them)."""
    authority, dirs = asyncio.run(prepare(tmp_path))
    asyncio.run(publish_statuses(dirs, authority))
    origin = load_or_create_identity(DataPaths(dirs[0]).node_key, os.urandom).public
    key = (origin, int(Stream.STATUS))
    socat, pty_a, pty_b, socat_log = socat_logged_pair(tmp_path)
    procs: dict[str, subprocess.Popen[bytes]] = {}
    ports: dict[str, int] = {}

    def start(shelter: str, data: Path, pty: str, station: int, uplink: int) -> None:
        port = ports.setdefault(shelter, free_port_range(2))
        toml = tmp_path / f"{shelter}.toml"
        toml.write_text(
            f'[shelter]\nid = "{shelter}"\n'
            f'[node]\nauthority_keys = ["{authority}"]\n'
            f'[[radio]]\ndriver = "cable"\nport = "{pty}"\nstation_id = {station}\n'
            f"routed = true\nuplinks = [{uplink}]\n"
        )
        procs[shelter] = start_node_process(toml, data, port, tmp_path / f"{shelter}.log")
        wait_healthy(f"http://127.0.0.1:{port}/", procs[shelter])

    def kill(shelter: str) -> None:
        procs[shelter].send_signal(signal.SIGKILL)
        procs[shelter].wait(timeout=10)

    try:
        start("S48", dirs[1], pty_b, 48, 99)
        start("S03", dirs[0], pty_a, 3, 48)
        wait_for(
            "S48 never took S03's statuses",
            lambda: (
                handover(dirs[1], 48).get(key, (0, 0, 0))[1:] == (1, 3)
                and handover(dirs[0], 3).get(key, (0, 0, 0))[0] >= STATUSES
            ),
            tmp_path,
        )
        kill("S48")
        assert handover(dirs[1], 48)[key][1:] == (1, 3)  # still to hand on, from S03
        start("S48", dirs[1], pty_b, 48, 99)
        handed = handover(dirs[0], 3)[key][0]
        pushed = bytes_sent(socat_log, ">")
        assert pushed > 2_000  # the 30 statuses went over the cable once
        kill("S03")
        offset = socat_log.stat().st_size
        start("S03", dirs[0], pty_a, 3, 48)
        time.sleep(25)  # past the push gathering (10 s) and the first status report
        after = bytes_sent(socat_log, ">", offset)
        now_handed = handover(dirs[0], 3)[key][0]
        # at most its own new statuses went up (one push each, a few hundred bytes),
        # beacons and ARQ acknowledgements; never the 30 again
        assert after < pushed // 2, (after, pushed)
        assert now_handed - handed <= 2
        assert handover(dirs[1], 48)[key][1:] == (1, 3)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=30)
        socat.terminate()
        socat.wait(timeout=10)


async def publish_statuses(dirs: list[Path], authority: str) -> None:
    """S03 signs its statuses; S48 learns S03's enrolment first (as every node of a
    provisioned city holds every enrolment): a push from an origin it does not know yet
    would be refused."""
    configs = [
        Config(
            shelter=ShelterSettings(id=shelter),
            node=NodeSettings(data_dir=str(data), authority_keys=[authority]),
        )
        for shelter, data in zip(("S03", "S48"), dirs, strict=True)
    ]
    node = await Node.open(configs[0], wall_ms, sign_at_once=True)
    for i in range(STATUSES):
        await node.publish(StatusBody(shelter="S03", headcount=100 + i, battery_pct=80))
    await node.close()
    node = await Node.open(configs[1], wall_ms)
    assert (await node.ingest([DataPaths(dirs[0]).enrolment.read_bytes()])).stored
    await node.close()

"""`shelterkit node` as a user runs it."""

from __future__ import annotations

import json
import signal
import subprocess
import urllib.request
from pathlib import Path

from tests.conftest import SHELTERKIT, free_port_range, wait_healthy


def test_embedded_defaults_and_clean_sigterm(tmp_path: Path) -> None:
    # No config, no --data: data goes to ./shelterkit-data, portal on 127.0.0.1:8080 by
    # default (here --listen picks a free port so tests can run in parallel).
    port = free_port_range(2)
    proc = subprocess.Popen(
        [SHELTERKIT, "node", "--listen", f"127.0.0.1:{port}"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_healthy(f"http://127.0.0.1:{port}/", proc)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz") as r:
            node_id = json.loads(r.read())["node"]
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert b"Traceback" not in out
    assert (tmp_path / "shelterkit-data" / "records.sqlite").exists()
    assert (tmp_path / "shelterkit-data" / "node.key").stat().st_mode & 0o777 == 0o600

    # A restart on the same data directory keeps the identity and everything stored.
    proc = subprocess.Popen(
        [SHELTERKIT, "node", "--listen", f"127.0.0.1:{port}"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_healthy(f"http://127.0.0.1:{port}/", proc)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz") as r:
            again = json.loads(r.read())
        assert again["node"] == node_id
        assert again["records"] >= 1  # the status record of the first run
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out


def test_port_in_use_is_a_clear_error(tmp_path: Path, start_node) -> None:
    node = start_node()
    out = subprocess.run(
        [
            SHELTERKIT,
            "node",
            "--data",
            str(tmp_path / "other"),
            "--listen",
            f"127.0.0.1:{node.port}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert "cannot listen" in out.stderr and "Traceback" not in out.stderr

"""`shelterkit demo` as a visitor runs it: URLs printed, alert everywhere, Ctrl-C stops."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

from tests.conftest import SHELTERKIT, free_port_range

# Backhaul rounds run every 5 s; the radio hop to S48 (SF9, Japan airtime rules) takes
# up to about a minute for a fresh node to catch up.
DEADLINE_S = 150


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read().decode()


def wait_for(predicate, what: str) -> None:
    end = time.monotonic() + DEADLINE_S
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_demo_city(tmp_path: Path) -> None:
    port = free_port_range(16)
    log = tmp_path / "demo.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [SHELTERKIT, "demo", "--port", str(port), "--data", str(tmp_path / "city")],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(lambda: b"export SHELTERKIT_HUB=" in log.read_bytes(), "the export line")
        text = log.read_text()
        export = re.search(r"^export SHELTERKIT_HUB=(\S+) SHELTERKIT_TOKEN=(\S+)$", text, re.M)
        assert export, text
        portals = re.findall(r"^  S\d\d .*?(http://127\.0\.0\.1:\d+/)", text, re.M)
        assert len(portals) == 4
        assert "radio via S03" in text

        def everywhere(needle: str) -> bool:
            return all(needle in fetch(url) for url in portals)

        wait_for(lambda: everywhere("大雨警報"), "the start alert on every portal")

        env = {**os.environ, "SHELTERKIT_HUB": export.group(1), "SHELTERKIT_TOKEN": export.group(2)}
        issued = subprocess.run(
            [
                SHELTERKIT,
                "alert",
                "issue",
                "--headline",
                "避難指示：那珂川沿いの地区",
                "--headline-en",
                "Evacuation order",
                "--severity",
                "extreme",
                "--expires",
                "1h",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert issued.returncode == 0, issued.stderr
        wait_for(lambda: everywhere("避難指示：那珂川沿いの地区"), "the CLI alert on every portal")
        for url in portals:  # and in every node's Atom feed, with a link to its CAP document
            feed = fetch(url + "alerts.atom")
            assert "避難指示：那珂川沿いの地区" in feed and ".cap" in feed
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    assert proc.returncode == 0, log.read_text()[-2000:]
    assert "Traceback" not in log.read_text()

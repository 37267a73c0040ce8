"""A real demo city subprocess and one headless Chromium (Debian package) per test module."""

from __future__ import annotations

import http.client
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, sync_playwright

from tests.system import unavailable

REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT_DIR = REPO_ROOT / "test-artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# A small Android phone in portrait (CSS pixels), the size issue 2 asks the portal to fit.
PHONE_VIEWPORT = {"width": 360, "height": 740}
# `shelterkit demo --port P` puts the hub on P, shelter S01's portal on P+1, and uses
# ports up to P+14 (portals and their peer ports; shelterkit/demo.py).
DEMO_S01_OFFSET = 1
DEMO_PORT_SPAN = 15
# The demo's alert is issued at the hub and reaches S01 over sync within seconds.
DEMO_ALERT_JA = "大雨警報"
NODE_READY_DEADLINE_S = 30.0
NODE_STOP_DEADLINE_S = 10.0
PAGE_TIMEOUT_MS = 15_000


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _free_port_block(span: int) -> int:
    for _ in range(100):
        base = random.randrange(20_000, 60_000)
        if all(_bindable(base + i) for i in range(span)):
            return base
    raise RuntimeError(f"no {span} free consecutive ports on 127.0.0.1")


def _alert_shown(port: int) -> bool:
    """True once S01's home page answers and carries the demo's alert."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", "/", headers={"Accept-Language": "ja"})
        response = conn.getresponse()
        return response.status == 200 and DEMO_ALERT_JA in response.read().decode()
    except OSError:
        return False
    finally:
        conn.close()


@pytest.fixture(scope="module")
def node_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of shelter S01's portal in a demo city (an alert, a notice, two posts)."""
    data = tmp_path_factory.mktemp("node")
    port = _free_port_block(DEMO_PORT_SPAN)
    portal_port = port + DEMO_S01_OFFSET
    log_path = data / "node.log"
    argv = [sys.executable, "-m", "shelterkit.cli", "demo", "--port", str(port)]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [*argv, "--data", str(data / "demo")],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + NODE_READY_DEADLINE_S
        while not _alert_shown(portal_port):
            if proc.poll() is not None:
                pytest.fail(f"node exited with {proc.returncode}:\n{log_path.read_text()}")
            if time.monotonic() > deadline:
                pytest.fail(f"S01 not showing the alert in {NODE_READY_DEADLINE_S:.0f} s")
            time.sleep(0.05)  # readiness poll, bounded by the deadline
        yield f"http://127.0.0.1:{portal_port}"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(NODE_STOP_DEADLINE_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium for the module; CI must have it, elsewhere it may be absent."""
    if shutil.which(CHROMIUM) is None:
        unavailable(f"{CHROMIUM} not found (Debian package chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=30_000)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def phone(browser: Browser) -> Iterator[Callable[..., BrowserContext]]:
    """Factory of phone-sized browser contexts, closed after the test."""
    contexts: list[BrowserContext] = []

    def make(locale: str = "ja-JP") -> BrowserContext:
        context = browser.new_context(
            viewport=PHONE_VIEWPORT,
            device_scale_factor=2,
            is_mobile=True,
            has_touch=True,
            locale=locale,
        )
        context.set_default_timeout(PAGE_TIMEOUT_MS)
        context.set_default_navigation_timeout(PAGE_TIMEOUT_MS)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    return SCREENSHOT_DIR

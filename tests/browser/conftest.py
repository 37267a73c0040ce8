"""A real node subprocess and one headless Chromium (Debian package) per test module."""

from __future__ import annotations

import http.client
import os
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
NODE_READY_DEADLINE_S = 30.0
NODE_STOP_DEADLINE_S = 10.0
PAGE_TIMEOUT_MS = 15_000


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _healthy(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", "/healthz")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


@pytest.fixture(scope="module")
def node_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a seeded demo node (one alert, one notice, two posts) on a free port."""
    data = tmp_path_factory.mktemp("node")
    port = _free_port()
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
        while not _healthy(port):
            if proc.poll() is not None:
                pytest.fail(f"node exited with {proc.returncode}:\n{log_path.read_text()}")
            if time.monotonic() > deadline:
                pytest.fail(f"node not ready in {NODE_READY_DEADLINE_S:.0f} s")
            time.sleep(0.05)  # readiness poll, bounded by the deadline
        yield f"http://127.0.0.1:{port}"
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
        reason = f"{CHROMIUM} not found (Debian package chromium)"
        if _in_ci():
            pytest.fail(reason)
        pytest.skip(reason)
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

"""systemd integration of a real node: READY=1 once serving, and watchdog pings that come
from the event loop itself, so a hung loop stops them (DESIGN §9)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import socket
import subprocess
import threading
import time
from pathlib import Path

from shelterkit.service.run import run_services, start_node
from tests.conftest import SHELTERKIT, free_port_range, node_config


def listener(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(0.05)
    return sock


def drain(sock: socket.socket, seconds: float) -> list[tuple[float, bytes]]:
    got = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        with contextlib.suppress(TimeoutError):
            got.append((time.monotonic(), sock.recv(4096)))
    return got


def test_node_process_sends_ready(tmp_path: Path) -> None:
    sock = listener(tmp_path / "notify")
    port = free_port_range(2)
    env = {**os.environ, "NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "400000"}
    proc = subprocess.Popen(
        [SHELTERKIT, "node", "--data", str(tmp_path / "d"), "--listen", f"127.0.0.1:{port}"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        messages = [m for _, m in drain(sock, 6)]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        sock.close()
    assert b"READY=1" in messages
    assert messages.count(b"WATCHDOG=1") >= 5  # every 0.2 s after start


class Collector(threading.Thread):
    """Reads notifications as they arrive, with their arrival times, off the event loop."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(daemon=True)
        self.sock = sock
        self.got: list[tuple[float, bytes]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            with contextlib.suppress(TimeoutError):
                self.got.append((time.monotonic(), self.sock.recv(4096)))


async def test_hung_event_loop_stops_watchdog_pings(tmp_path: Path, monkeypatch) -> None:
    sock = listener(tmp_path / "notify")
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify"))
    monkeypatch.setenv("WATCHDOG_USEC", "200000")  # ping every 0.1 s
    collector = Collector(sock)
    collector.start()
    service = await start_node(node_config(tmp_path / "d", f"127.0.0.1:{free_port_range(2)}"))
    ready = asyncio.Event()

    async def on_ready() -> None:
        ready.set()

    runner = asyncio.create_task(run_services([service], on_ready=on_ready))
    try:
        await asyncio.wait_for(ready.wait(), 10)
        await asyncio.sleep(0.6)
        stall_start = time.monotonic()
        time.sleep(1.5)  # noqa: ASYNC251 - the point: the event loop hangs, nothing on it runs
        stall_end = time.monotonic()
        await asyncio.sleep(0.6)
    finally:
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner
        collector.stop.set()
        await asyncio.to_thread(collector.join, 5)
        sock.close()
    assert b"READY=1" in [m for _, m in collector.got]
    pings = [t for t, m in collector.got if m == b"WATCHDOG=1"]
    during = [t for t in pings if stall_start + 0.05 < t < stall_end - 0.05]
    assert during == []  # silence while the loop hung: systemd would restart the node
    gaps = [b - a for a, b in itertools.pairwise(pings)]
    assert max(gaps) >= 1.4
    assert sum(1 for t in pings if t < stall_start) >= 4  # regular pings before …
    assert sum(1 for t in pings if t > stall_end) >= 4  # … and again after

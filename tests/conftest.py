"""Fixtures shared by the whole suite: nodes in-process and as real processes."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import uvloop
from aiohttp.test_utils import TestClient, TestServer

from shelterkit.config import Config, NodeSettings, PortalSettings, ShelterSettings
from shelterkit.portal.app import create_portal_app
from shelterkit.service.node import Node
from tests.helpers import identity

CITY = identity("city")
SHELTERKIT = str(Path(sys.executable).with_name("shelterkit"))


def node_config(data_dir: Path, listen: str = "127.0.0.1:8080", **portal: object) -> Config:
    return Config(
        shelter=ShelterSettings(id="S01", name_ja="烏山公民館", name_en="Karasuyama Hall"),
        node=NodeSettings(
            data_dir=str(data_dir), listen=listen, authority_keys=[CITY.public.hex()]
        ),
        portal=replace(PortalSettings(), **portal),  # type: ignore[arg-type]
    )


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """Every async test runs on uvloop, the loop the services run on (``cli.run_service``)."""
    return {"uvloop": uvloop.new_event_loop}


class FakeClock:
    """Monotonic seconds that tests move by hand."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    n = await Node.open(node_config(tmp_path / "data"), lambda: 1_800_000_000_000)
    yield n
    await n.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def client(node: Node, clock: FakeClock) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(create_portal_app(node, clock))) as c:
        yield c


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_port_range(count: int) -> int:
    """A first port P such that P … P+count-1 are all free right now."""
    for _ in range(200):
        first = free_port()
        if first + count >= 65536:
            continue
        sockets = []
        try:
            for port in range(first, first + count):
                s = socket.socket()
                sockets.append(s)
                s.bind(("127.0.0.1", port))
            return first
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise RuntimeError("no free port range")


@dataclass
class NodeProcess:
    url: str
    port: int
    data: Path
    proc: subprocess.Popen[bytes]
    log: Path

    def kill(self, sig: int = signal.SIGKILL) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=30)


def wait_healthy(url: str, proc: subprocess.Popen[bytes], deadline_s: float = 30.0) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"node exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "healthz", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError("node did not become healthy")


@pytest.fixture
def start_node(tmp_path: Path) -> Iterator[Callable[..., NodeProcess]]:
    """Start ``shelterkit node`` as a real process; every one is stopped at the end."""
    started: list[NodeProcess] = []

    def start(
        data: Path | None = None, port: int | None = None, config: Path | None = None
    ) -> NodeProcess:
        data = data or tmp_path / "node"
        port = port or free_port_range(2)  # portal and peer listener
        log = tmp_path / f"node-{len(started)}.log"
        args = [SHELTERKIT, "node", "--data", str(data), "--listen", f"127.0.0.1:{port}"]
        if config is not None:
            args += ["--config", str(config)]
        with log.open("ab") as out:
            proc = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, env=os.environ.copy()
            )
        np = NodeProcess(f"http://127.0.0.1:{port}/", port, data, proc, log)
        started.append(np)
        wait_healthy(np.url, proc)
        return np

    yield start
    for np in started:
        if np.proc.poll() is None:
            np.proc.kill()
            np.proc.wait(timeout=30)


_EXIT_STATUS: list[int] = []


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _EXIT_STATUS.append(int(exitstatus))


def pytest_unconfigure(config: pytest.Config) -> None:
    """A test that fails half-way can leave a store's worker thread behind (aiosqlite runs
    one non-daemon thread per connection), and the interpreter would then wait for it
    forever after the summary. Leave with pytest's status instead of hanging a CI run."""
    import threading

    stuck = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon]
    if stuck and _EXIT_STATUS:
        print(f"\nleft-over threads at exit: {[t.name for t in stuck]}", flush=True)
        sys.stdout.flush()
        os._exit(_EXIT_STATUS[-1])

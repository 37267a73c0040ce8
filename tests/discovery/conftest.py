"""A LAN of two network namespaces joined by a veth pair, nodes in it, and avahi beside it.

Tests that need root or a system tool run for real under ``CI=true`` and fail there when the
machine cannot run them; elsewhere they skip with the reason. Everything these fixtures
create has a unique name and is removed by the fixture, pass or fail; mDNS traffic stays
on the veth pair, inside the test's namespaces.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.system import need_root as _need_root
from tests.system import need_tool, run

SHELTERKIT = str(Path(sys.executable).with_name("shelterkit"))
HTTP_HELPER = str(Path(__file__).with_name("netns_http.py"))
# Seconds for a started daemon (dbus, avahi, a node) to become ready.
READY_DEADLINE_S = 30.0


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> int:
    """Stop one process we started (by its pid), killing it if it does not go."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            return proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
    return proc.wait(timeout=15)


@dataclass
class Lan:
    """Two namespaces on one link: ``ns[i]`` has ``veth[i]`` with ``address[i]``/24."""

    ns: tuple[str, str]
    veth: tuple[str, str]
    address: tuple[str, str]

    def exec(self, i: int, *argv: str) -> list[str]:
        return ["ip", "netns", "exec", self.ns[i], *argv]

    def http(self, i: int, *args: str) -> tuple[int, str]:
        """Run the HTTP helper inside namespace ``i``: (status, body); 0 if unreachable."""
        done = run(*self.exec(i, sys.executable, HTTP_HELPER, *args), check=False, timeout=20)
        if done.returncode != 0:
            return 0, done.stderr
        status, _, body = done.stdout.partition("\n")
        return int(status) if status.isdigit() else 0, body


@pytest.fixture
def lan() -> Iterator[Lan]:
    need_root()
    need_tool("ip")
    tag = uuid.uuid4().hex[:8]
    subnet = int(tag[:2], 16) % 250 + 1  # addresses exist only inside these namespaces
    net = Lan(
        ns=(f"skd-{tag}-a", f"skd-{tag}-b"),
        veth=(f"skd{tag}a", f"skd{tag}b"),  # interface names are at most 15 characters
        address=(f"10.77.{subnet}.1", f"10.77.{subnet}.2"),
    )
    try:
        for ns in net.ns:
            run("ip", "netns", "add", ns)
            run("ip", "-n", ns, "link", "set", "lo", "up")
        run(
            "ip", "link", "add", net.veth[0], "netns", net.ns[0],
            "type", "veth", "peer", "name", net.veth[1], "netns", net.ns[1],
        )  # fmt: skip
        for ns, veth, address in zip(net.ns, net.veth, net.address, strict=True):
            run("ip", "-n", ns, "addr", "add", f"{address}/24", "dev", veth)
            run("ip", "-n", ns, "link", "set", veth, "up")
        yield net
    finally:
        for ns in net.ns:  # deleting a namespace deletes its end of the veth pair too
            run("ip", "netns", "del", ns, check=False)


@dataclass
class NodeInLan:
    """A ``shelterkit node`` process running inside one of the LAN's namespaces."""

    lan: Lan
    index: int
    key: bytes
    proc: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text("utf-8", "replace")


@dataclass
class NodeStarter:
    lan: Lan
    tmp: Path
    started: list[NodeInLan] = field(default_factory=list)

    def __call__(self, index: int, shelter: str, **node: object) -> NodeInLan:
        """Start a node with portal on :8080 and peers on :8081 in namespace ``index``."""
        from shelterkit.paths import DataPaths
        from shelterkit.service.node import load_or_create_identity

        data = self.tmp / f"{shelter}-data"
        key = load_or_create_identity(DataPaths(data).node_key, os.urandom).public
        settings = {"data_dir": str(data), "listen": "0.0.0.0:8080", **node}
        lines = ["[shelter]", f'id = "{shelter}"', "[node]"]
        lines += [f"{k} = {_toml(v)}" for k, v in settings.items()]
        config = self.tmp / f"{shelter}.toml"
        config.write_text("\n".join(lines) + "\n", "utf-8")
        log = self.tmp / f"{shelter}.log"
        with log.open("ab") as out:
            proc = subprocess.Popen(
                self.lan.exec(index, SHELTERKIT, "node", "--config", str(config)),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        started = NodeInLan(self.lan, index, key, proc, log)
        self.started.append(started)
        end = time.monotonic() + READY_DEADLINE_S
        while self.lan.http(index, "get", "http://127.0.0.1:8081/healthz")[0] != 200:
            if proc.poll() is not None or time.monotonic() > end:
                raise AssertionError(f"node {shelter} did not start:\n{started.output()}")
            time.sleep(0.2)
        return started


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return '"' + str(value) + '"'


@pytest.fixture
def lan_node(lan: Lan, tmp_path: Path) -> Iterator[NodeStarter]:
    """Start real nodes in the LAN; every one is stopped before the LAN is removed."""
    starter = NodeStarter(lan, tmp_path)
    yield starter
    for node in starter.started:
        stop(node.proc)


@dataclass
class Avahi:
    """A private avahi-daemon in namespace 0 of the LAN, and how to browse with it."""

    lan: Lan
    env: dict[str, str]

    def browse(self, service_type: str) -> list[list[str]]:
        """``avahi-browse -rtpk``: the resolved (``=``) lines, split into fields."""
        done = run(
            *self.lan.exec(0, "avahi-browse", "-r", "-t", "-p", "-k", service_type),
            env=self.env,
            check=False,
        )
        return [line.split(";") for line in done.stdout.splitlines() if line.startswith("=;")]


_BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
  </policy>
</busconfig>
"""

_AVAHI_CONFIG = """[server]
use-ipv4=yes
use-ipv6=no
allow-interfaces={interface}
enable-dbus=yes
[wide-area]
enable-wide-area=no
[publish]
publish-hinfo=no
publish-workstation=no
"""


@pytest.fixture
def avahi(lan: Lan, tmp_path: Path) -> Iterator[Avahi]:
    """avahi-daemon on the LAN's first namespace, on a D-Bus system bus of its own.

    A machine's own dbus and avahi (running or not) are never touched: the bus is a private
    ``dbus-daemon`` on a socket in ``tmp_path`` (``DBUS_SYSTEM_BUS_ADDRESS`` points avahi
    and avahi-browse at it), and avahi-daemon runs in the mount namespace that ``ip netns
    exec`` gives it, with a fresh /run for its pid file and socket.
    """
    dbus_daemon = need_tool("dbus-daemon")
    avahi_daemon = need_tool("avahi-daemon")
    need_tool("avahi-browse")
    socket_path = tmp_path / "system_bus_socket"
    bus_config = tmp_path / "bus.conf"
    bus_config.write_text(_BUS_CONFIG.format(socket=socket_path), "utf-8")
    avahi_config = tmp_path / "avahi-daemon.conf"
    avahi_config.write_text(_AVAHI_CONFIG.format(interface=lan.veth[0]), "utf-8")
    env = {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={socket_path}"}
    procs: list[subprocess.Popen[bytes]] = []
    log = tmp_path / "avahi.log"
    try:
        with log.open("ab") as out:
            procs.append(
                subprocess.Popen(
                    [dbus_daemon, f"--config-file={bus_config}", "--nofork", "--nopidfile"],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
            end = time.monotonic() + READY_DEADLINE_S
            while not socket_path.exists():
                if procs[0].poll() is not None or time.monotonic() > end:
                    raise AssertionError(f"dbus-daemon did not start:\n{log.read_text()}")
                time.sleep(0.05)
            daemon = (
                f"mount -t tmpfs tmpfs /run && exec {avahi_daemon} --no-drop-root --no-chroot"
                f" --no-rlimits --no-proc-title -f {avahi_config}"
            )
            procs.append(
                subprocess.Popen(
                    lan.exec(0, "sh", "-c", daemon), stdout=out, stderr=subprocess.STDOUT, env=env
                )
            )
        while "Server startup complete" not in log.read_text("utf-8", "replace"):
            if procs[1].poll() is not None or time.monotonic() > end:
                raise AssertionError(f"avahi-daemon did not start:\n{log.read_text()}")
            time.sleep(0.05)
        yield Avahi(lan, env)
    finally:
        for proc in reversed(procs):
            stop(proc)


def need_root() -> None:
    _need_root("network namespaces")

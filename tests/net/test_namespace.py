"""Acceptance: a phone joins the shelter network, finds the portal, and cannot reach staff.

A "node" and a "phone" network namespace are joined by a veth pair that stands in for the
Wi-Fi. The node runs the real dnsmasq with the rendered configuration and loads the rendered
nftables rules; a small HTTP server stands in for the portal and another for the admin API.
The phone runs busybox udhcpc. No packet leaves these namespaces: 203.0.113.0/24 (TEST-NET-3,
RFC 5737) exists only as a route inside the phone namespace.
"""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shelterkit.net.clients import active_leases, read_lease_file
from shelterkit.net.render import write_rendered
from shelterkit.net.settings import NetworkSettings

pytestmark = pytest.mark.system

TOOLS = str(Path(__file__).with_name("netns_tools.py"))
# Seconds to wait for a helper process to report that it is serving.
READY_TIMEOUT_S = 10.0
# An address that exists nowhere: TEST-NET-3 (RFC 5737), routed only inside the phone.
ELSEWHERE = "203.0.113.7"
ELSEWHERE_DNS = "203.0.113.53"

UDHCPC_SCRIPT = """#!/bin/sh
# busybox udhcpc event script: record what the server sent, then configure the interface
env | sort > "$RECORD_DIR/udhcpc-$1.env"
case "$1" in
    deconfig)
        ip link set "$interface" up
        ip -4 addr flush dev "$interface"
        ;;
    bound|renew)
        ip -4 addr flush dev "$interface"
        ip addr add "$ip/$mask" dev "$interface"
        if [ -n "$router" ]; then
            ip route replace default via "${router%% *}" dev "$interface"
        fi
        ;;
esac
exit 0
"""


@dataclasses.dataclass
class Shelter:
    settings: NetworkSettings
    node: str
    phone: str
    phone_if: str
    tmp: Path
    processes: list[subprocess.Popen[bytes]]

    def in_node(self, system: Any, *argv: str, **kw: Any) -> subprocess.CompletedProcess[str]:
        return system.run("ip", "netns", "exec", self.node, *argv, **kw)

    def in_phone(self, system: Any, *argv: str, **kw: Any) -> subprocess.CompletedProcess[str]:
        return system.run("ip", "netns", "exec", self.phone, *argv, env=_clean_env(self.tmp), **kw)

    def tool(self, system: Any, where: str, *args: str) -> list[str]:
        runner = self.in_phone if where == "phone" else self.in_node
        done = runner(system, sys.executable, TOOLS, *args, check=False)
        assert done.returncode == 0, done.stderr
        return done.stdout.split("\n")


def _clean_env(tmp: Path) -> dict[str, str]:
    # no proxy variables, and a place for the udhcpc script to record the options
    return {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "RECORD_DIR": str(tmp)}


def _start(argv: list[str], log: Path, ready: str | None) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    if ready is None:
        return proc
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if ready in log.read_text(errors="replace"):
            return proc
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    _stop(proc)
    raise AssertionError(f"{argv} did not start: {log.read_text(errors='replace')}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


@contextlib.contextmanager
def _build_shelter(
    system: Any, unique: str, tmp_path: Path, internet: bool = False
) -> Iterator[Shelter]:
    """Node and phone namespaces; with ``internet``, a third one behind the node's uplink."""
    system.need_root()
    for tool in ("ip", "nft", "dnsmasq", "busybox"):
        system.need_tool(tool)
    node, phone, world = f"sk-node-{unique}", f"sk-phone-{unique}", f"sk-inet-{unique}"
    node_if, phone_if = f"skn{unique}", f"skp{unique}"
    uplink_if, world_if = f"sku{unique}", f"ski{unique}"
    settings = NetworkSettings(
        wifi_interface=node_if,
        uplink_interface=uplink_if if internet else None,
        internet_sharing=internet,
        portal_cidr="10.42.0.1/22",
        portal_port=8080,
        admin_port=8081,
        shelter_capacity=40,
        client_max_connections=4,
        dhcp_lease_file=str(tmp_path / "dnsmasq.leases"),
    )
    write_rendered(settings, tmp_path / "rendered")
    processes: list[subprocess.Popen[bytes]] = []
    namespaces = [node, phone, *([world] if internet else [])]
    try:
        for ns in namespaces:
            system.run("ip", "netns", "add", ns)
            system.run("ip", "-n", ns, "link", "set", "lo", "up")
        system.run(
            "ip", "link", "add", node_if, "netns", node, "type", "veth",
            "peer", "name", phone_if, "netns", phone,
        )  # fmt: skip
        system.run("ip", "-n", node, "addr", "add", settings.portal_cidr, "dev", node_if)
        system.run("ip", "-n", node, "link", "set", node_if, "up")
        system.run("ip", "-n", phone, "link", "set", phone_if, "up")
        if internet:
            # the "internet" is TEST-NET-3 inside the third namespace, nothing more
            system.run(
                "ip", "link", "add", uplink_if, "netns", node, "type", "veth",
                "peer", "name", world_if, "netns", world,
            )  # fmt: skip
            system.run("ip", "-n", node, "addr", "add", "203.0.113.1/24", "dev", uplink_if)
            system.run("ip", "-n", world, "addr", "add", f"{ELSEWHERE}/24", "dev", world_if)
            system.run("ip", "-n", node, "link", "set", uplink_if, "up")
            system.run("ip", "-n", world, "link", "set", world_if, "up")
            system.run(
                "ip", "netns", "exec", node, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"
            )  # fmt: skip
            processes.append(
                _start(
                    ["ip", "netns", "exec", world, sys.executable, TOOLS, "serve", ELSEWHERE,
                     "80", "internet-standin"],
                    tmp_path / "internet.log",
                    "ready",
                )
            )  # fmt: skip
        system.run(
            "ip", "netns", "exec", node, "nft", "-f", str(tmp_path / "rendered/nftables.conf")
        )
        # upstream DNS, if dnsmasq ever asks, is the "internet" namespace, never the host's
        resolv = tmp_path / "resolv.conf"
        resolv.write_text(f"nameserver {ELSEWHERE}\n", encoding="utf-8")
        processes.append(
            _start(
                [
                    "ip", "netns", "exec", node, "dnsmasq", "--keep-in-foreground",
                    "-C", str(tmp_path / "rendered/dnsmasq.conf"),
                    f"--resolv-file={resolv}",
                    f"--pid-file={tmp_path / 'dnsmasq.pid'}", "--log-facility=-",
                    "--log-dhcp", "--user=root", "--group=root",
                ],
                tmp_path / "dnsmasq.log",
                "DHCP, IP range",
            )
        )  # fmt: skip
        portal = str(settings.portal_ip)
        processes.append(
            _start(
                ["ip", "netns", "exec", node, sys.executable, TOOLS, "serve", portal,
                 str(settings.portal_port), "portal-standin"],
                tmp_path / "portal.log",
                "ready",
            )
        )  # fmt: skip
        # the admin stand-in listens on every address: only the firewall keeps phones out
        processes.append(
            _start(
                ["ip", "netns", "exec", node, sys.executable, TOOLS, "serve", "0.0.0.0",
                 str(settings.admin_port), "admin-standin"],
                tmp_path / "admin.log",
                "ready",
            )
        )  # fmt: skip
        yield Shelter(settings, node, phone, phone_if, tmp_path, processes)
    finally:
        for proc in processes:
            _stop(proc)
        for ns in reversed(namespaces):
            system.run("ip", "netns", "del", ns, check=False)


@pytest.fixture
def shelter(system: Any, unique: str, tmp_path: Path) -> Iterator[Shelter]:
    with _build_shelter(system, unique, tmp_path) as built:
        yield built


def _join(shelter: Shelter, system: Any) -> dict[str, str]:
    script = shelter.tmp / "udhcpc.sh"
    script.write_text(UDHCPC_SCRIPT, encoding="utf-8")
    script.chmod(0o755)
    done = shelter.in_phone(
        system,
        "busybox", "udhcpc", "-i", shelter.phone_if, "-f", "-q", "-n",
        "-t", "5", "-T", "1", "-s", str(script), "-O", "114",
        check=False, timeout=30,
    )  # fmt: skip
    bound = shelter.tmp / "udhcpc-bound.env"
    assert done.returncode == 0 and bound.exists(), done.stdout + done.stderr
    lines = bound.read_text(encoding="utf-8").splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)


def test_phone_gets_lease_with_captive_portal_option(shelter: Shelter, system: Any) -> None:
    lease = _join(shelter, system)
    first, last = shelter.settings.dhcp_range()
    ip = lease["ip"]
    assert first <= ipaddress.IPv4Address(ip) <= last
    assert lease["router"] == "10.42.0.1"
    assert lease["dns"].split() == ["10.42.0.1"]
    assert lease["lease"] == str(shelter.settings.lease_seconds())
    # busybox exports option 114 as "opt114" in hex: the URL exactly, no trailing NUL
    url = bytes.fromhex(lease["opt114"]).decode("utf-8")
    assert url == "http://shelter.lan/api/captive-portal"
    # the node counts the phone from dnsmasq's lease file
    leases = active_leases(read_lease_file(shelter.settings.dhcp_lease_file), time.time())
    assert [str(lease.ip) for lease in leases] == [ip]


def test_every_name_resolves_to_the_portal(shelter: Shelter, system: Any) -> None:
    _join(shelter, system)
    for name in (
        "connectivitycheck.gstatic.com",
        "captive.apple.com",
        "example.org",
        "shelter.lan",
    ):
        answer = shelter.tool(system, "phone", "dns", name, "10.42.0.1")
        assert answer[:2] == ["rcode=0", "10.42.0.1"], name
    ncsi = shelter.tool(system, "phone", "dns", "dns.msftncsi.com", "10.42.0.1")
    assert ncsi[:2] == ["rcode=0", "131.107.255.255"]
    # AAAA gets an empty answer (NOERROR), not REFUSED: the phone goes on with the A answer
    aaaa = shelter.tool(system, "phone", "dns", "captive.apple.com", "10.42.0.1", "28")
    assert aaaa[:2] == ["rcode=0", ""]
    # a phone with a hard-coded resolver is answered by the node all the same
    hijacked = shelter.tool(system, "phone", "dns", "www.msftconnecttest.com", ELSEWHERE_DNS)
    assert hijacked[:2] == ["rcode=0", "10.42.0.1"]


def test_http_to_any_address_reaches_the_portal(shelter: Shelter, system: Any) -> None:
    _join(shelter, system)
    shelter.in_phone(system, "ip", "route", "replace", f"{ELSEWHERE}/32", "via", "10.42.0.1")
    out = shelter.tool(system, "phone", "http", ELSEWHERE, "80", "/generate_204")
    assert out[0] == "200"
    assert out[1] == "portal-standin host=connectivitycheck.gstatic.com path=/generate_204"
    direct = shelter.tool(system, "phone", "http", "10.42.0.1", "80", "/")
    assert direct[1].startswith("portal-standin")


def test_admin_port_unreachable_from_phone(shelter: Shelter, system: Any) -> None:
    _join(shelter, system)
    port = str(shelter.settings.admin_port)
    # the admin stand-in is up and answers on the node itself …
    inside = shelter.tool(system, "node", "http", "10.42.0.1", port, "/")
    assert inside[1].startswith("admin-standin")
    # … but never to a phone, whichever address it tries
    shelter.in_phone(system, "ip", "route", "replace", f"{ELSEWHERE}/32", "via", "10.42.0.1")
    assert shelter.tool(system, "phone", "connect", "10.42.0.1", port)[0] == "refused"
    assert shelter.tool(system, "phone", "connect", ELSEWHERE, port)[0] != "ok"
    # nothing else on the node is open to phones (ssh, for instance), and HTTPS is refused
    # at once rather than left to time out, so browsers fall back to plain HTTP quickly
    for other in ("22", "443"):
        assert shelter.tool(system, "phone", "connect", "10.42.0.1", other)[0] == "refused"


def test_per_client_connection_limit(shelter: Shelter, system: Any) -> None:
    _join(shelter, system)
    limit = shelter.settings.client_max_connections
    results = shelter.tool(system, "phone", "hold", "10.42.0.1", "80", str(limit + 2))
    assert results[: limit + 2] == ["ok"] * limit + ["refused", "refused"]


def test_sharing_gives_the_internet_and_keeps_the_portal_and_staff_apart(
    system: Any, unique: str, tmp_path: Path
) -> None:
    with _build_shelter(system, unique, tmp_path, internet=True) as shelter:
        lease = _join(shelter, system)
        url = bytes.fromhex(lease["opt114"]).decode("utf-8")
        assert url == "urn:ietf:params:capport:unrestricted"
        # the web is the web: 203.0.113.7 answers for itself, through the node's uplink
        out = shelter.tool(system, "phone", "http", ELSEWHERE, "80", "/generate_204")
        assert out[1].startswith("internet-standin")
        # the portal is still one name away, and the admin API still closed
        answer = shelter.tool(system, "phone", "dns", "shelter.lan", "10.42.0.1")
        assert answer[:2] == ["rcode=0", "10.42.0.1"]
        assert shelter.tool(system, "phone", "http", "10.42.0.1", "80", "/")[1].startswith(
            "portal-standin"
        )
        port = str(shelter.settings.admin_port)
        assert shelter.tool(system, "phone", "connect", "10.42.0.1", port)[0] == "refused"

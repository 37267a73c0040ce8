"""A real avahi-browse sees a running node's ``_shelterkit._tcp`` service and its TXT fields."""

from __future__ import annotations

import time

import pytest

from shelterkit.sync.limits import PROTOCOL_VERSION
from tests.discovery.conftest import Avahi, NodeStarter, stop

pytestmark = pytest.mark.system

# Seconds for avahi to see a service appear or go (probing takes about 1.2 s; a goodbye
# is acted on one second after it arrives, RFC 6762 §10.1).
BROWSE_DEADLINE_S = 20.0


def browse_until(avahi: Avahi, present: bool) -> list[list[str]]:
    end = time.monotonic() + BROWSE_DEADLINE_S
    while True:
        found = avahi.browse("_shelterkit._tcp")
        if bool(found) == present or time.monotonic() > end:
            return found
        time.sleep(0.3)


def txt_fields(raw: str) -> dict[str, str]:
    """``"a=1" "b=2"`` (avahi-browse -p) → {"a": "1", "b": "2"}."""
    items = [item.strip('"') for item in raw.split('" "')]
    return dict(item.split("=", 1) for item in items if "=" in item)


def test_avahi_browse_sees_node_with_txt_fields(avahi: Avahi, lan_node: NodeStarter) -> None:
    node = lan_node(1, "S07")
    found = browse_until(avahi, present=True)
    assert found, f"avahi-browse saw nothing; node log:\n{node.output()}"
    assert len(found) == 1, found
    # =;iface;proto;name;type;domain;host;address;port;txt
    _, iface, proto, name, stype, _domain, host, address, port, txt = found[0]
    assert (iface, proto, stype) == (avahi.lan.veth[0], "IPv4", "_shelterkit._tcp")
    assert name == f"shelterkit-S07-{node.key.hex()[:12]}"
    assert host == f"shelterkit-{node.key.hex()[:12]}.local"
    assert (address, port) == (avahi.lan.address[1], "8081")  # the peer listener, not :8080
    assert txt_fields(txt) == {
        "node": node.key.hex(),
        "shelter": "S07",
        "v": str(PROTOCOL_VERSION),
        "role": "node",
    }
    # A node that stops says goodbye: the service disappears without waiting for its TTL.
    assert stop(node.proc) == 0
    assert browse_until(avahi, present=False) == []


def test_discovery_false_advertises_nothing(avahi: Avahi, lan_node: NodeStarter) -> None:
    node = lan_node(1, "S08", discovery=False)
    time.sleep(3.0)  # longer than probing and announcing take
    assert avahi.browse("_shelterkit._tcp") == []
    assert "discovery: off ([node] discovery = false)" in node.output()

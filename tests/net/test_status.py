"""``shelterkit net status``: the pure report, and one real collection in a namespace."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any

import pytest

from shelterkit.net.backhaul import UplinkState
from shelterkit.net.clients import Lease
from shelterkit.net.settings import NetworkSettings
from shelterkit.net.status import collect_status, status_report


def test_report_counts_clients_and_uplinks() -> None:
    settings = NetworkSettings(uplink_interface="eth0", ssid="烏山公民館-S07")
    leases = [Lease(0, "aa:bb:cc:00:00:01", ipaddress.IPv4Address("10.42.0.10"), "")]
    states = (
        UplinkState("wlan0", True, True, True, False),
        UplinkState("eth0", True, False, False, False),
    )
    report = status_report(settings, leases, states, now=1_700_000_000.5)
    assert report["ssid"] == "烏山公民館-S07"
    assert report["wifi_up"] and report["wifi_has_address"]
    assert report["clients"] == 1 and report["client_limit"] == 20
    assert report["portal"] == "10.42.0.1:8080"
    assert report["uplinks"] == [
        {
            "interface": "eth0",
            "present": True,
            "carrier": False,
            "address": False,
            "default_route": False,
            "usable": False,
        }
    ]
    assert report["at"] == 1_700_000_000
    json.dumps(report, ensure_ascii=False)


@pytest.mark.system
async def test_collect_status_in_a_namespace(
    system: Any, netns: str, unique: str, tmp_path: Path
) -> None:
    wifi = f"skw{unique}"
    system.run(
        "ip", "-n", netns, "link", "add", wifi, "type", "veth", "peer", "name", f"skv{unique}"
    )
    system.run("ip", "-n", netns, "addr", "add", "10.42.0.1/22", "dev", wifi)
    leases = tmp_path / "leases"
    leases.write_text("0 aa:bb:cc:00:00:01 10.42.0.10 phone *\n", encoding="utf-8")
    settings = NetworkSettings(wifi_interface=wifi, dhcp_lease_file=str(leases))
    report = await collect_status(settings, now=1_700_000_000, netns=netns)
    assert report["clients"] == 1
    assert report["wifi_has_address"] and not report["wifi_up"]
    assert report["uplinks"] == []

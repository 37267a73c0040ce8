"""What ``shelterkit net status`` reports: the evacuee network at a glance.

``status_report`` is pure (settings, leases, interface states and ``now`` in, a JSON-ready
dict out); ``collect_status`` gathers its inputs from the lease file and one netlink dump.
"""

from __future__ import annotations

from typing import Any

from shelterkit.net.backhaul import UplinkState, snapshot_uplinks
from shelterkit.net.clients import Lease, active_leases, read_lease_file
from shelterkit.net.settings import NetworkSettings


def status_report(
    settings: NetworkSettings,
    leases: list[Lease],
    interfaces: tuple[UplinkState, ...],
    now: float,
) -> dict[str, Any]:
    """The Wi-Fi side (SSID, portal, clients) and each uplink, for people and scripts."""
    by_name = {state.interface: state for state in interfaces}
    wifi = by_name.get(settings.wifi_interface)
    first, last = settings.dhcp_range()
    return {
        "ssid": settings.ssid,
        "wifi_interface": settings.wifi_interface,
        "wifi_up": bool(wifi and wifi.carrier),
        "wifi_has_address": bool(wifi and wifi.has_address),
        "portal": f"{settings.portal_ip}:{settings.portal_port}",
        "captive_api": settings.captive_api_url(),
        "dhcp_range": f"{first}-{last}",
        "clients": len(leases),
        "client_limit": settings.max_clients,
        "internet_sharing": settings.internet_sharing,
        "uplinks": [
            {
                "interface": state.interface,
                "present": state.present,
                "carrier": state.carrier,
                "address": state.has_address,
                "default_route": state.default_route,
                "usable": state.usable,
            }
            for name, state in by_name.items()
            if name != settings.wifi_interface
        ],
        "at": int(now),
    }


async def collect_status(
    settings: NetworkSettings, now: float, netns: str | None = None
) -> dict[str, Any]:
    """Read the lease file and the interfaces, then build ``status_report``."""
    names = [settings.wifi_interface]
    if settings.uplink_interface:
        names.append(settings.uplink_interface)
    states = await snapshot_uplinks(names, netns)
    leases = active_leases(read_lease_file(settings.dhcp_lease_file), now)
    return status_report(settings, leases, states, now)

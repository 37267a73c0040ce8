"""Captive-portal networking: hostapd, dnsmasq and nftables for the evacuee Wi-Fi.

``render_all`` and ``write_rendered`` back ``shelterkit net render``; ``apply`` backs
``shelterkit net apply``. See docs/networking.md.
"""

from shelterkit.net.apply import ApplyError, ApplyTargets, apply
from shelterkit.net.backhaul import BackhaulMonitor, UplinkState
from shelterkit.net.clients import Lease, active_leases, read_lease_file
from shelterkit.net.render import RENDERED_FILES, render_all, write_rendered
from shelterkit.net.settings import NetworkSettings, ssid_for
from shelterkit.net.status import collect_status, status_report

__all__ = [
    "RENDERED_FILES",
    "ApplyError",
    "ApplyTargets",
    "BackhaulMonitor",
    "Lease",
    "NetworkSettings",
    "UplinkState",
    "active_leases",
    "apply",
    "collect_status",
    "read_lease_file",
    "render_all",
    "ssid_for",
    "status_report",
    "write_rendered",
]

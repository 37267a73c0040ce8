"""Captive-portal networking: hostapd, dnsmasq and nftables for the evacuee Wi-Fi.

``render_all`` and ``write_rendered`` back ``shelterkit net render``; ``apply`` backs
``shelterkit net apply``. See docs/networking.md.
"""

from shelterkit.net.apply import ApplyError, ApplyTargets, apply
from shelterkit.net.render import RENDERED_FILES, render_all, write_rendered
from shelterkit.net.settings import NetworkSettings, ssid_for

__all__ = [
    "RENDERED_FILES",
    "ApplyError",
    "ApplyTargets",
    "NetworkSettings",
    "apply",
    "render_all",
    "ssid_for",
    "write_rendered",
]

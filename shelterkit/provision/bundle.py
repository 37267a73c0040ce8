"""One shelter's bundle: the folder city hall copies to a node's boot partition.

Layout (docs/provisioning.md)::

    <id>/bundle.json     manifest: format, shelter, node key, plan, SHA-256 of every file
         node.key        the node's Ed25519 seed (hex), 0600         → /var/lib/shelterkit
         enrolment.rec   the node's enrolment, signed by city hall   → /var/lib/shelterkit
         admin.token     the staff-token secret (hex), 0600          → /var/lib/shelterkit
         node.toml       the node's configuration                    → /etc/shelterkit
         hostname        the node's host name (mDNS: <hostname>.local)→ /etc/hostname
         network/        hostapd.conf, dnsmasq.conf, nftables.conf  → /etc/…
         sheet.png, sheet.pdf   the entrance sheet (not copied to the node)

Everything here is pure apart from ``write_bundle_file``: text in, bytes out, so that a
bundle written twice from the same inputs is byte-identical.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shelterkit.config import Config, parse_config
from shelterkit.net.render import render_all, write_atomically
from shelterkit.net.settings import ssid_for
from shelterkit.provision.inventory import Backhaul, Shelter

BUNDLE_FORMAT = 1
MANIFEST_FILE = "bundle.json"
CONFIG_FILE = "node.toml"
HOSTNAME_FILE = "hostname"
NETWORK_DIR = "network"
SHEET_PNG = "sheet.png"
SHEET_PDF = "sheet.pdf"
# The node's files under these names in its data directory (shelterkit.paths.DataPaths).
NODE_KEY_FILE = "node.key"
ENROLMENT_FILE = "enrolment.rec"
ADMIN_TOKEN_FILE = "admin.token"
SECRET_FILES = (NODE_KEY_FILE, ADMIN_TOKEN_FILE)
SECRET_MODE = 0o600
PUBLIC_MODE = 0o644

# Where the image keeps things on the Pi (systemd/shelterkit-node.service).
PI_DATA_DIR = "/var/lib/shelterkit"
# The portal and the peer/staff listener on every address: phones reach the portal through
# the firewall's redirect on the Wi-Fi side, peers and staff the listener from the LAN, and
# nftables closes the staff port to the Wi-Fi (docs/networking.md).
PI_PORTAL_PORT = 8080
PI_PEER_PORT = 8081
PI_LISTEN_HOST = "0.0.0.0"
# Backhaul (fiber: the wired LAN; mobile: an LTE router's Ethernet port) is on eth0.
PI_UPLINK_INTERFACE = "eth0"
# Host names are ``shelterkit-<id>``; avahi publishes them as <name>.local on the LAN.
HOSTNAME_PREFIX = "shelterkit-"
# The radio of a shelter without backhaul and of its relays: the E220-900T22S(JP) on a USB
# serial adapter (docs/radio.md); its other settings keep the driver's defaults.
PI_RADIO_DRIVER = "e220"
PI_RADIO_PORT = "/dev/ttyUSB0"


def hostname_for(shelter_id: str) -> str:
    """A DNS label for the node of ``shelter_id`` (RFC 1123: letters, digits, hyphen)."""
    return HOSTNAME_PREFIX + shelter_id.lower().replace("_", "-")


@dataclass(frozen=True, slots=True)
class Neighbour:
    id: str
    km: float
    backhaul: Backhaul


@dataclass(frozen=True, slots=True)
class NodePlan:
    """What provisioning decided for one shelter beyond the inventory row."""

    shelter: Shelter
    hub_url: str  # empty without backhaul
    relays: tuple[str, ...]  # without backhaul: the nearest shelters with one, by radio
    radio: bool  # without backhaul, or a relay of a shelter without
    neighbours: tuple[Neighbour, ...]  # nearest shelters by distance, for radio planning
    authority_keys: tuple[str, ...]


def toml_document(sections: Mapping[str, Any], header: Sequence[str] = ()) -> str:
    """A TOML document of flat sections (a mapping, or a list of them: ``[[name]]`` tables)
    whose values are str, int, float, bool or lists of str."""
    lines = [f"# {line}" if line else "#" for line in header]
    for name, section in sections.items():
        tables = section if isinstance(section, list) else [section]
        for values in tables:
            if lines:
                lines.append("")
            lines.append(f"[[{name}]]" if isinstance(section, list) else f"[{name}]")
            for key, value in values.items():
                lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def node_config_sections(plan: NodePlan) -> dict[str, Any]:
    s = plan.shelter
    network: dict[str, Any] = {
        "ssid": ssid_for(s.name_ja, s.id),
        "portal_port": PI_PORTAL_PORT,
        "admin_port": PI_PEER_PORT,
    }
    if s.backhaul is not Backhaul.NONE:
        network["uplink_interface"] = PI_UPLINK_INTERFACE
    sections: dict[str, Any] = {
        "shelter": {"id": s.id, "name_ja": s.name_ja, "name_en": s.name_en, "capacity": s.capacity},
        "node": {
            "data_dir": PI_DATA_DIR,
            "listen": f"{PI_LISTEN_HOST}:{PI_PORTAL_PORT}",
            "peer_listen": f"{PI_LISTEN_HOST}:{PI_PEER_PORT}",
            "authority_keys": list(plan.authority_keys),
            "hub_url": plan.hub_url,
        },
        "network": network,
    }
    if plan.radio:
        sections["radio"] = [{"driver": PI_RADIO_DRIVER, "port": PI_RADIO_PORT}]
    return sections


def node_config_text(plan: NodePlan) -> str:
    s = plan.shelter
    header = [
        f"shelterkit node {s.id} {s.name_ja} ({s.name_en})",
        "Written by `shelterkit provision`; provision again rather than editing by hand.",
        f"Backhaul: {s.backhaul.value}.",
    ]
    if plan.relays:
        header.append("No backhaul: reaches city hall by radio, through its nearest shelters")
        header.append("with backhaul (" + ", ".join(plan.relays) + ") or other shelters between.")
    elif plan.radio:
        header.append("Radio relay for shelters without backhaul.")
    if plan.neighbours:
        near = ", ".join(f"{n.id} {n.km:.1f} km ({n.backhaul.value})" for n in plan.neighbours)
        header.append(f"Nearest shelters: {near}.")
    text = toml_document(node_config_sections(plan), header)
    parse_config(text, f"{s.id}/{CONFIG_FILE}")  # a bundle never carries a config a node refuses
    return text


def network_files(config_text: str) -> dict[str, str]:
    """``{network/<file>: text}`` rendered from the node's configuration."""
    config: Config = parse_config(config_text)
    return {
        f"{NETWORK_DIR}/{name}": text
        for name, text in render_all(config.network_settings()).items()
    }


def manifest_bytes(
    plan: NodePlan, node_key_hex: str, ssid: str, portal_url: str, files: Mapping[str, bytes]
) -> bytes:
    s = plan.shelter
    manifest = {
        "format": BUNDLE_FORMAT,
        "shelter": {
            "id": s.id,
            "name_ja": s.name_ja,
            "name_en": s.name_en,
            "capacity": s.capacity,
            "backhaul": s.backhaul.value,
            "lat": s.lat,
            "lon": s.lon,
        },
        "node_key": node_key_hex,
        "hostname": hostname_for(s.id),
        "ssid": ssid,
        "portal_url": portal_url,
        "hub_url": plan.hub_url,
        "relays": list(plan.relays),
        "radio": plan.radio,
        "neighbours": [
            {"id": n.id, "km": round(n.km, 2), "backhaul": n.backhaul.value}
            for n in plan.neighbours
        ],
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())},
    }
    return (json.dumps(manifest, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def file_mode(name: str) -> int:
    return SECRET_MODE if name in SECRET_FILES or name == ENROLMENT_FILE else PUBLIC_MODE


def write_bundle_file(folder: Path, name: str, data: bytes) -> bool:
    """Write ``folder/name`` atomically with its mode, unless it already holds ``data``.

    Returns whether the file changed, so that a re-run reports (and touches) nothing when
    nothing changed.
    """
    path = folder / name
    mode = file_mode(Path(name).name)
    try:
        if path.read_bytes() == data:
            if path.stat().st_mode & 0o777 != mode:
                os.chmod(path, mode)
            return False
    except FileNotFoundError:
        pass
    except OSError:
        pass  # unreadable: rewrite it
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, data, mode)
    return True

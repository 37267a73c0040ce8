"""What a node says about itself on the LAN, and what it believes of others' words. Pure.

A node advertises ``_shelterkit._tcp.local.`` for its peer listener with four TXT fields
(``node``, ``shelter``, ``v``, ``role``). Everything in an advertisement is a claim by
whoever sent it: it is parsed strictly here, and only tells us where to try a sync round,
where the peer must then prove its key and its enrolment (``links.auth``).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface

from shelterkit.errors import ProtocolError
from shelterkit.sync.limits import PROTOCOL_VERSION

SERVICE_TYPE = "_shelterkit._tcp.local."
ROLES = ("node", "hub")
KEY_BYTES = 32
# Shelter ids are short inventory codes (S01 …); a longer value is not one of ours.
MAX_SHELTER_ID_CHARS = 32
# A TXT string is at most 255 bytes (RFC 6763 §6.1); ours need four short ones.
MAX_TXT_VALUE_BYTES = 255
# A DNS label is at most 63 bytes (RFC 1035 §2.3.4); the instance name is one label.
MAX_INSTANCE_LABEL_BYTES = 63

_SHELTER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\Z")
_HEX_KEY = re.compile(r"[0-9a-f]{64}\Z")
_VERSION = re.compile(r"[0-9]{1,4}\Z")


class AdvertisementError(ProtocolError):
    """A ``_shelterkit._tcp`` advertisement's TXT fields or addresses are not usable."""


@dataclass(frozen=True, slots=True)
class PeerAd:
    """The TXT fields of one advertisement, validated."""

    node: bytes  # the peer's Ed25519 public key (it must prove it on connect)
    shelter: str
    version: int = PROTOCOL_VERSION
    role: str = "node"

    def __post_init__(self) -> None:
        if len(self.node) != KEY_BYTES:
            raise AdvertisementError("node key must be 32 bytes")
        if len(self.shelter) > MAX_SHELTER_ID_CHARS or not _SHELTER_ID.match(self.shelter):
            raise AdvertisementError(f"shelter id {self.shelter[:40]!r} is not a shelter id")
        if self.role not in ROLES:
            raise AdvertisementError(f"role {self.role[:20]!r} is not one of {ROLES}")

    def txt(self) -> dict[str, str]:
        return {
            "node": self.node.hex(),
            "shelter": self.shelter,
            "v": str(self.version),
            "role": self.role,
        }

    def instance_name(self) -> str:
        """The service instance label: readable in avahi-browse, unique per node key."""
        return f"shelterkit-{self.shelter}-{self.node.hex()[:12]}"[:MAX_INSTANCE_LABEL_BYTES]

    def host_name(self) -> str:
        """Our own mDNS host name, so that we never collide with the machine's (avahi's)."""
        return f"shelterkit-{self.node.hex()[:12]}.local."


def parse_txt(properties: Mapping[bytes, bytes | None]) -> PeerAd:
    """A ``PeerAd`` from TXT key/value pairs, or ``AdvertisementError`` saying what is wrong.

    Unknown keys are ignored (a later version may add some); the four known ones are
    required and strictly formed.
    """

    def field(name: str) -> str:
        raw = properties.get(name.encode())
        if raw is None:
            raise AdvertisementError(f"TXT field {name!r} is missing")
        if len(raw) > MAX_TXT_VALUE_BYTES:
            raise AdvertisementError(f"TXT field {name!r} is too long")
        try:
            return raw.decode("ascii")
        except UnicodeDecodeError:
            raise AdvertisementError(f"TXT field {name!r} is not ASCII") from None

    node = field("node")
    if not _HEX_KEY.match(node):
        raise AdvertisementError("TXT field 'node' is not a 64-hex-digit key")
    version = field("v")
    if not _VERSION.match(version):
        raise AdvertisementError(f"TXT field 'v' is not a version number: {version[:20]!r}")
    return PeerAd(bytes.fromhex(node), field("shelter"), int(version), field("role"))


# --- addresses ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LocalAddress:
    """One IPv4 address of this machine, with its prefix, on a named interface."""

    interface: str
    address: IPv4Interface

    @property
    def ip(self) -> IPv4Address:
        return self.address.ip


_WILDCARDS = ("", "0.0.0.0", "::", "*")


def listen_is_loopback(host: str) -> bool:
    """Whether a listener on ``host`` can be reached only from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def advertised_addresses(
    listen_host: str,
    local: Iterable[LocalAddress],
    interfaces: Sequence[str] = (),
    excluded: Sequence[str] = (),
) -> list[LocalAddress]:
    """The addresses to advertise for a listener bound to ``listen_host``.

    A wildcard listener is advertised on every IPv4 address except loopback (link-local
    addresses included: two Pis on a switch with no DHCP server have only those); a
    listener on one address only on that one. ``interfaces`` (if not empty) limits the
    choice to those interfaces, and ``excluded`` interfaces are never used.
    """
    chosen = []
    for entry in local:
        if interfaces and entry.interface not in interfaces:
            continue
        if entry.interface in excluded and entry.interface not in interfaces:
            continue
        if listen_host in _WILDCARDS:
            if entry.ip.is_loopback:
                continue
        elif str(entry.ip) != listen_host:
            continue
        if entry not in chosen:
            chosen.append(entry)
    return chosen


def peer_url(addresses: Iterable[str], port: int, ours: Sequence[LocalAddress]) -> str:
    """The URL to sync with an advertised peer, or ``AdvertisementError``.

    mDNS reaches only the links we are on, so a genuine peer has an address on one of our
    subnets; an advertisement pointing anywhere else (another network, the internet, our
    own loopback) is refused rather than dialled.
    """
    if not 0 < port < 65536:
        raise AdvertisementError(f"port {port} is not a TCP port")
    for text in addresses:
        try:
            ip = ipaddress.ip_address(text)
        except ValueError:
            continue
        if not isinstance(ip, IPv4Address) or ip.is_multicast or ip.is_unspecified:
            continue
        if any(ip in own.address.network for own in ours):
            return f"http://{ip}:{port}/"
    raise AdvertisementError("no advertised address is on a network this node is on")

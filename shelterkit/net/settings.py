"""The captive-portal network of one shelter node: one declared schema, validated once.

``NetworkSettings`` is the ``[network]`` section of a node's configuration. Every field has a
default and a one-line description in its metadata (``doc``), so an example configuration can
be printed from the class itself. ``validate()`` refuses, with one clear line, anything that
would break the evacuee network or expose staff functions before anything is written or
applied. Derived values (the DHCP pool and lease time) are computed here, purely.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import re
import typing
import unicodedata
from collections.abc import Mapping
from typing import Any

from shelterkit.errors import ConfigError

# 802.11 limits an SSID to 32 octets (IEEE 802.11-2020 §9.4.2.2, SSID element).
MAX_SSID_BYTES = 32
# Linux interface names are shorter than IFNAMSIZ = 16 bytes (include/uapi/linux/if.h).
MAX_IFNAME_CHARS = 15
# hostapd accepts max_num_sta up to MAX_STA_COUNT = 2007 (hostapd/hostapd.conf, ap_config.h).
MAX_HOSTAPD_STATIONS = 2007
# 2.4 GHz channels usable by an OFDM access point in Japan: 1–13 (14 is 802.11b only; MIC).
JP_24GHZ_CHANNELS = range(1, 14)
# Addresses right after the portal kept out of the DHCP pool for staff equipment (an
# external access point, a laptop): a local planning choice.
DHCP_RESERVED_AFTER_PORTAL_ADDRS = 8
# Devices per evacuee to plan for (a phone, sometimes a tablet): a planning assumption,
# not a measurement; it only sizes the pool.
DEVICES_PER_EVACUEE = 1.5
# The derived pool holds this many times the expected devices, so phones that left the
# shelter do not exhaust it before their leases expire: a planning choice.
DHCP_POOL_HEADROOM_FACTOR = 2
# Lease times: long when the pool has headroom, short when it had to be capped by the
# subnet so that addresses of departed phones come back sooner (dnsmasq accepts seconds).
DHCP_LEASE_LONG_S = 12 * 3600
DHCP_LEASE_SHORT_S = 3600
# dnsmasq silently raises shorter leases to two minutes (dnsmasq(8), --dhcp-range), so a
# shorter setting would not mean what it says.
DHCP_LEASE_MIN_S = 120
# Ports the evacuee side needs for DNS and DHCP (RFC 1035, RFC 2131) and the port that is
# redirected to the portal (HTTP, RFC 9110): none of them may carry the admin API.
DNS_PORT = 53
DHCP_SERVER_PORT = 67
DHCP_CLIENT_PORT = 68
HTTP_PORT = 80
HTTPS_PORT = 443
# A DNS name is at most 253 characters in text form, labels 1–63 (RFC 1035 §2.3.4).
MAX_HOSTNAME_CHARS = 253

_IFNAME_RE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,14}")
_LABEL_RE = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
_SHELTER_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,15}")
_COUNTRY_RE = re.compile(r"[A-Z]{2}")


def _setting(default: Any, doc: str) -> Any:
    """A dataclass field with a default and its one-line description (for the example config)."""
    return dataclasses.field(default=default, metadata={"doc": doc})


@dataclasses.dataclass(frozen=True, slots=True)
class NetworkSettings:
    """The evacuee Wi-Fi, DHCP, DNS and firewall of one shelter node."""

    wifi_interface: str = _setting("wlan0", "Interface of the evacuee access point (hostapd).")
    uplink_interface: str | None = _setting(
        None, "Backhaul interface (eth0, usb0 …); none when the node is alone."
    )
    ssid: str = _setting(
        "shelterkit", "Open SSID shown to evacuees, at most 32 bytes of UTF-8 (see ssid_for)."
    )
    country: str = _setting("JP", "Regulatory country (ISO 3166-1 alpha-2) for hostapd.")
    channel: int = _setting(6, "2.4 GHz channel, 1–13 in Japan.")
    client_isolation: bool = _setting(
        True, "Stop phones on the Wi-Fi from reaching each other (hostapd ap_isolate)."
    )
    max_clients: int = _setting(
        20, "Most phones associated at once (hostapd max_num_sta); Pi firmware allows ~8–20."
    )
    shelter_capacity: int = _setting(
        200, "People the shelter is planned for; sizes the DHCP pool and lease time."
    )
    portal_cidr: str = _setting(
        "10.42.0.1/22", "Portal address and prefix on the Wi-Fi interface (the subnet)."
    )
    dhcp_range_start: str | None = _setting(
        None, "First DHCP address; derived from shelter_capacity when empty."
    )
    dhcp_range_end: str | None = _setting(
        None, "Last DHCP address; derived from shelter_capacity when empty."
    )
    dhcp_lease_s: int | None = _setting(
        None, "DHCP lease time in seconds; derived from the pool's headroom when empty."
    )
    dhcp_lease_file: str = _setting(
        "/var/lib/misc/dnsmasq.leases", "Where dnsmasq keeps leases (read for client counts)."
    )
    portal_hostname: str = _setting(
        "shelter.lan", "Name of the portal; every other name also resolves to the portal."
    )
    portal_port: int = _setting(
        8080, "TCP port the portal listens on; every client's TCP/80 is redirected to it."
    )
    admin_address: str = _setting(
        "127.0.0.1", "Address of the staff admin API: loopback or a staff-network address."
    )
    admin_port: int = _setting(8081, "TCP port of the staff admin API; closed to evacuees.")
    captive_api_https: bool = _setting(
        False,
        "Announce the RFC 8908 API as https (needs a valid certificate); http works offline.",
    )
    internet_sharing: bool = _setting(
        False, "Let evacuees reach the internet through the uplink (off: backhaul is for sync)."
    )
    client_max_connections: int = _setting(
        64, "Concurrent TCP connections one phone may hold to the portal."
    )
    client_new_connections_per_s: int = _setting(
        30, "New TCP connections per second one phone may open to the portal."
    )

    # --- construction -------------------------------------------------------------------

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> NetworkSettings:
        """Build from a parsed config section; unknown keys and wrong types are errors."""
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - set(known))
        if unknown:
            raise ConfigError(f"network: unknown setting {unknown[0]!r}")
        values: dict[str, Any] = {}
        for name, value in raw.items():
            expected = _TYPES[name]
            if value is None and not _OPTIONAL[name]:
                raise ConfigError(f"network.{name}: a value is required")
            if value is not None and (
                not isinstance(value, expected) or (expected is int and isinstance(value, bool))
            ):
                raise ConfigError(f"network.{name}: expected {expected.__name__}")
            values[name] = value
        settings = cls(**values)
        settings.validate()
        return settings

    @classmethod
    def for_shelter(
        cls,
        raw: Mapping[str, Any],
        *,
        shelter_id: str,
        shelter_name_ja: str,
        shelter_capacity: int,
        portal_hostname: str,
    ) -> NetworkSettings:
        """The ``[network]`` section completed from the shelter's own settings.

        The SSID comes from the shelter's name (``ssid_for``), the capacity and the portal's
        host name from their sections; a key written in ``[network]`` wins.
        """
        derived = {
            "ssid": ssid_for(shelter_name_ja, shelter_id),
            "shelter_capacity": shelter_capacity,
            "portal_hostname": portal_hostname,
        }
        return cls.from_mapping({**derived, **raw})

    @classmethod
    def documentation(cls) -> list[tuple[str, Any, str]]:
        """``(name, default, description)`` for every setting, in declaration order."""
        return [(f.name, f.default, f.metadata["doc"]) for f in dataclasses.fields(cls)]

    # --- derived values -----------------------------------------------------------------

    @property
    def portal_interface(self) -> ipaddress.IPv4Interface:
        try:
            iface = ipaddress.IPv4Interface(self.portal_cidr)
        except ValueError:
            raise ConfigError(
                f"network.portal_cidr: {self.portal_cidr!r} is not an IPv4 address/prefix"
            ) from None
        return iface

    @property
    def portal_ip(self) -> ipaddress.IPv4Address:
        return self.portal_interface.ip

    @property
    def subnet(self) -> ipaddress.IPv4Network:
        return self.portal_interface.network

    @property
    def expected_devices(self) -> int:
        return math.ceil(self.shelter_capacity * DEVICES_PER_EVACUEE)

    def dhcp_range(self) -> tuple[ipaddress.IPv4Address, ipaddress.IPv4Address]:
        """The DHCP pool, as configured or derived from the shelter's capacity."""
        if self.dhcp_range_start is not None and self.dhcp_range_end is not None:
            return _ipv4("dhcp_range_start", self.dhcp_range_start), _ipv4(
                "dhcp_range_end", self.dhcp_range_end
            )
        if (self.dhcp_range_start is None) != (self.dhcp_range_end is None):
            raise ConfigError("network: set both dhcp_range_start and dhcp_range_end, or neither")
        # the pool sits above the portal and its reserved block, or below the portal when
        # that side is too small and the other is larger
        wanted = max(self.expected_devices * DHCP_POOL_HEADROOM_FACTOR, self.max_clients)
        above_first = self.portal_ip + 1 + DHCP_RESERVED_AFTER_PORTAL_ADDRS
        above_last = self.subnet.broadcast_address - 1
        below_first = self.subnet.network_address + 1
        below_last = self.portal_ip - 1
        above = int(above_last) - int(above_first) + 1 if above_first <= above_last else 0
        below = int(below_last) - int(below_first) + 1
        if above >= min(wanted, below) and above > 0:
            return above_first, min(above_first + wanted - 1, above_last)
        if below > 0:
            return max(below_last - wanted + 1, below_first), below_last
        return above_first, above_first

    def dhcp_pool_size(self) -> int:
        first, last = self.dhcp_range()
        return int(last) - int(first) + 1

    def lease_seconds(self) -> int:
        """The lease time, as configured or derived from the pool's headroom."""
        if self.dhcp_lease_s is not None:
            return self.dhcp_lease_s
        if self.dhcp_pool_size() >= self.expected_devices * DHCP_POOL_HEADROOM_FACTOR:
            return DHCP_LEASE_LONG_S
        return DHCP_LEASE_SHORT_S

    def captive_api_url(self) -> str:
        """The RFC 8910 option 114 URI: the RFC 8908 API on the portal's hostname."""
        scheme = "https" if self.captive_api_https else "http"
        return f"{scheme}://{self.portal_hostname}/api/captive-portal"

    # --- validation ---------------------------------------------------------------------

    def validate(self) -> None:
        """Raise ``ConfigError`` with one line naming the first problem found."""
        self._check_types()
        _check_ifname("wifi_interface", self.wifi_interface)
        if self.uplink_interface is not None:
            _check_ifname("uplink_interface", self.uplink_interface)
            if self.uplink_interface == self.wifi_interface:
                raise ConfigError("network.uplink_interface: must differ from wifi_interface")
        check_ssid(self.ssid)
        if not _COUNTRY_RE.fullmatch(self.country):
            raise ConfigError(f"network.country: {self.country!r} is not a two-letter code")
        if self.country == "JP" and self.channel not in JP_24GHZ_CHANNELS:
            raise ConfigError(f"network.channel: {self.channel} is not a 2.4 GHz channel 1–13")
        if not 1 <= self.channel <= 14:
            raise ConfigError(f"network.channel: {self.channel} is not a 2.4 GHz channel")
        if not 1 <= self.max_clients <= MAX_HOSTAPD_STATIONS:
            raise ConfigError(f"network.max_clients: must be 1–{MAX_HOSTAPD_STATIONS}")
        if self.shelter_capacity < 1:
            raise ConfigError("network.shelter_capacity: must be at least 1")
        self._check_addresses()
        self._check_dhcp()
        _check_hostname(self.portal_hostname)
        self._check_ports()
        if self.internet_sharing and self.uplink_interface is None:
            raise ConfigError("network.internet_sharing: needs an uplink_interface")
        if self.client_max_connections < 1 or self.client_new_connections_per_s < 1:
            raise ConfigError("network: per-client connection limits must be at least 1")
        for name in ("dhcp_lease_file",):
            value = getattr(self, name)
            if not value.startswith("/") or any(c in value for c in "\n\r\0 \"'#"):
                raise ConfigError(f"network.{name}: must be an absolute path without spaces")

    def _check_types(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None and _OPTIONAL[f.name]:
                continue
            expected = _TYPES[f.name]
            if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
                raise ConfigError(f"network.{f.name}: expected {expected.__name__}")

    def _check_addresses(self) -> None:
        iface = self.portal_interface
        if iface.network.prefixlen > 29:
            raise ConfigError("network.portal_cidr: prefix must be /29 or wider for DHCP")
        if iface.ip in (iface.network.network_address, iface.network.broadcast_address):
            raise ConfigError("network.portal_cidr: the portal cannot be the network or broadcast")
        if not iface.ip.is_private:
            raise ConfigError("network.portal_cidr: use a private (RFC 1918) subnet")
        admin = _ip("admin_address", self.admin_address)
        if admin.is_unspecified:
            raise ConfigError(
                "network.admin_address: a wildcard would expose the admin API to evacuees; "
                "use 127.0.0.1 or a staff-network address"
            )
        if admin.version == 4 and admin in self.subnet:
            raise ConfigError(
                f"network.admin_address: {admin} is on the evacuee subnet {self.subnet}"
            )

    def _check_dhcp(self) -> None:
        first, last = self.dhcp_range()
        subnet = self.subnet
        for name, addr in (("dhcp_range_start", first), ("dhcp_range_end", last)):
            if addr not in subnet or addr in (subnet.network_address, subnet.broadcast_address):
                raise ConfigError(f"network.{name}: {addr} is outside the usable subnet {subnet}")
        if int(last) < int(first):
            raise ConfigError("network.dhcp_range_end: comes before dhcp_range_start")
        if first <= self.portal_ip <= last:
            raise ConfigError(
                f"network: the DHCP range contains the portal address {self.portal_ip}"
            )
        size = int(last) - int(first) + 1
        if size < self.max_clients:
            raise ConfigError(
                f"network: the DHCP range has {size} addresses, fewer than max_clients "
                f"{self.max_clients}"
            )
        if self.dhcp_range_start is None and size < self.expected_devices:
            raise ConfigError(
                f"network.portal_cidr: {subnet} leaves {size} DHCP addresses but shelter_capacity "
                f"{self.shelter_capacity} needs {self.expected_devices}; use a wider prefix"
            )
        lease = self.lease_seconds()
        if lease < DHCP_LEASE_MIN_S:
            raise ConfigError(f"network.dhcp_lease_s: at least {DHCP_LEASE_MIN_S} seconds")

    def _check_ports(self) -> None:
        for name in ("portal_port", "admin_port"):
            port = getattr(self, name)
            if not 1 <= port <= 65535:
                raise ConfigError(f"network.{name}: {port} is not a TCP port")
        if self.portal_port == self.admin_port:
            raise ConfigError("network.admin_port: clashes with portal_port")
        reserved = {DNS_PORT, DHCP_SERVER_PORT, DHCP_CLIENT_PORT}
        if self.portal_port in reserved:
            raise ConfigError(f"network.portal_port: {self.portal_port} is used by DNS/DHCP")
        if self.admin_port in reserved | {HTTP_PORT}:
            raise ConfigError(
                f"network.admin_port: {self.admin_port} is a port the evacuee side must reach"
            )
        if self.captive_api_https and self.admin_port == HTTPS_PORT:
            raise ConfigError("network.admin_port: 443 is needed for the https captive API")


_HINTS = typing.get_type_hints(NetworkSettings)
_TYPES: dict[str, type] = {
    name: next(t for t in typing.get_args(hint) or (hint,) if t is not type(None))
    for name, hint in _HINTS.items()
}
_OPTIONAL: dict[str, bool] = {
    name: type(None) in typing.get_args(hint) for name, hint in _HINTS.items()
}


def check_ssid(ssid: str) -> bytes:
    """The SSID as UTF-8 bytes, or ``ConfigError`` if empty, too long or not displayable."""
    try:
        raw = ssid.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigError("network.ssid: not encodable as UTF-8") from None
    if not raw:
        raise ConfigError("network.ssid: must not be empty")
    if len(raw) > MAX_SSID_BYTES:
        raise ConfigError(
            f"network.ssid: {len(raw)} bytes of UTF-8, at most {MAX_SSID_BYTES} allowed"
        )
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in ssid):
        raise ConfigError("network.ssid: contains control characters")
    return raw


def ssid_for(shelter_name_ja: str, shelter_id: str) -> str:
    """An SSID of at most 32 UTF-8 bytes: the shelter's name, shortened, then ``-<id>``.

    The name is NFC-normalised (so a kana and its voicing mark are one character) and cut
    only between whole characters, never leaving a combining mark, variation selector or
    zero-width joiner without what it attaches to.
    """
    if not _SHELTER_ID_RE.fullmatch(shelter_id):
        raise ConfigError(f"shelter id {shelter_id!r}: use 1–16 letters, digits, '-' or '_'")
    suffix = f"-{shelter_id}"
    name = unicodedata.normalize("NFC", shelter_name_ja)
    # whitespace becomes single spaces; control, format (bidi overrides …) and unassigned
    # characters are dropped, except the zero-width joiner inside emoji sequences
    name = " ".join(name.split())
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C" or c == "\u200d")
    budget = MAX_SSID_BYTES - len(suffix.encode("utf-8"))
    kept: list[str] = []
    used = 0
    for cluster in _clusters(name):
        size = len(cluster.encode("utf-8"))
        if used + size > budget:
            break
        kept.append(cluster)
        used += size
    short = "".join(kept).rstrip()
    return f"{short}{suffix}" if short else shelter_id


def _clusters(text: str) -> list[str]:
    """Split into user-perceived characters, closely enough for shortening a name."""
    clusters: list[str] = []
    join_next = False
    for char in text:
        attaches = unicodedata.combining(char) != 0 or unicodedata.category(char) in ("Mn", "Me")
        attaches = attaches or 0xFE00 <= ord(char) <= 0xFE0F or 0x1F3FB <= ord(char) <= 0x1F3FF
        if clusters and (attaches or join_next or char == "\u200d"):
            clusters[-1] += char
        else:
            clusters.append(char)
        join_next = char == "\u200d"
    return clusters


def _check_ifname(name: str, value: str) -> None:
    if not _IFNAME_RE.fullmatch(value) or value in (".", ".."):
        raise ConfigError(
            f"network.{name}: {value!r} is not a valid interface name "
            f"(1–{MAX_IFNAME_CHARS} of A–Z a–z 0–9 _ . -)"
        )


def _check_hostname(value: str) -> None:
    labels = value.split(".")
    if (
        len(value) > MAX_HOSTNAME_CHARS
        or len(labels) < 2
        or not all(_LABEL_RE.fullmatch(label) for label in labels)
    ):
        raise ConfigError(
            f"network.portal_hostname: {value!r} is not a lower-case dotted host name"
        )


def _ip(name: str, value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        raise ConfigError(f"network.{name}: {value!r} is not an IP address") from None


def _ipv4(name: str, value: str) -> ipaddress.IPv4Address:
    try:
        return ipaddress.IPv4Address(value)
    except ValueError:
        raise ConfigError(f"network.{name}: {value!r} is not an IPv4 address") from None

"""The phones on the evacuee network, from dnsmasq's lease file (pure parsing).

dnsmasq writes one line per lease: ``<expiry epoch s> <mac> <ip> <hostname|*> <client-id|*>``
(dnsmasq ``src/lease.c``, ``lease_update_file``). ``active_leases`` keeps the leases that have
not expired at ``now``; the TUI's client count and the portal's client tracking read it.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from pathlib import Path

from shelterkit.errors import StorageError

# More lines than the largest pool a /22 can hand out (1022 hosts) means the file is not ours.
MAX_LEASE_LINES = 4096
# dnsmasq writes 0 as the expiry of an infinite lease (src/lease.c).
INFINITE_EXPIRY = 0

_MAC_RE = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}")


@dataclasses.dataclass(frozen=True, slots=True)
class Lease:
    """One DHCP lease as dnsmasq recorded it."""

    expires_at: int
    mac: str
    ip: ipaddress.IPv4Address
    hostname: str


def parse_leases(text: str) -> list[Lease]:
    """Every well-formed IPv4 lease in a dnsmasq lease file; other lines are skipped."""
    leases = []
    for line in text.splitlines()[:MAX_LEASE_LINES]:
        parts = line.split()
        if len(parts) < 4 or not parts[0].isdigit() or not _MAC_RE.fullmatch(parts[1].lower()):
            continue  # DHCPv6 "duid" lines and anything damaged
        try:
            ip = ipaddress.IPv4Address(parts[2])
        except ValueError:
            continue
        hostname = "" if parts[3] == "*" else parts[3]
        leases.append(Lease(int(parts[0]), parts[1].lower(), ip, hostname))
    return leases


def active_leases(text: str, now: float) -> list[Lease]:
    """The leases still valid at ``now`` (seconds since the epoch), newest first."""
    alive = [
        lease
        for lease in parse_leases(text)
        if lease.expires_at == INFINITE_EXPIRY or lease.expires_at > now
    ]
    return sorted(alive, key=lambda lease: lease.expires_at, reverse=True)


def read_lease_file(path: str | Path) -> str:
    """The lease file's text; an absent file is an empty network, not an error."""
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""
    except OSError as exc:
        raise StorageError(f"cannot read {path}: {exc.strerror}") from None

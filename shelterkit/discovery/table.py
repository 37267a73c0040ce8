"""The peers found on the LAN: a bounded table fed by advertisements, time passed in. Pure.

Service names come and go as the mDNS browser reports them; the table keeps what each one
advertised and where to sync with it, refuses our own advertisement and incompatible
versions, and never grows past ``MAX_DISCOVERED_PEERS``. The edge (``discovery.lan``) turns
``urls()`` into the scheduler's set of discovered peers.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from shelterkit.discovery.ads import PeerAd
from shelterkit.sync.limits import PROTOCOL_VERSION

# Anyone on the LAN can advertise, so discovered peers are capped at half of the scheduler's
# MAX_SYNC_PEERS (32): a flood of advertisements can never take the slots of the hub and
# the configured peers. 16 is also more than the shelters that share any one LAN.
MAX_DISCOVERED_PEERS = 16
# Lifetime of our records on the wire, in seconds. RFC 6762 §10 recommends 120 s for
# records that name a host's addresses; we use it for all of them so that a node that
# loses power leaves its peers' tables within about two minutes instead of 75.
ADVERTISE_TTL_S = 120
# An entry that the mDNS cache no longer holds for three lifetimes is dropped even if
# the browser never reported its removal (a lost goodbye, a restarted responder).
PEER_STALE_S = 3 * ADVERTISE_TTL_S


class Outcome(enum.Enum):
    """What ``PeerTable.offer`` did with an advertisement."""

    ADDED = "added"
    MOVED = "moved"  # known name, new address, port or fields
    UNCHANGED = "unchanged"
    OURS = "ours"
    INCOMPATIBLE = "incompatible"
    FULL = "full"


@dataclass(slots=True)
class DiscoveredPeer:
    name: str  # the mDNS service instance name
    ad: PeerAd
    url: str
    seen_s: float  # when the advertisement was last offered or confirmed


class PeerTable:
    """Discovered peers by service name, at most ``capacity`` of them."""

    def __init__(
        self,
        own_key: bytes,
        capacity: int = MAX_DISCOVERED_PEERS,
        version: int = PROTOCOL_VERSION,
    ) -> None:
        self.own_key = own_key
        self.capacity = capacity
        self.version = version
        self._peers: dict[str, DiscoveredPeer] = {}

    def __len__(self) -> int:
        return len(self._peers)

    def __contains__(self, name: object) -> bool:
        return name in self._peers

    def get(self, name: str) -> DiscoveredPeer | None:
        return self._peers.get(name)

    def offer(self, name: str, ad: PeerAd, url: str, now: float) -> Outcome:
        """Take in the advertisement of service ``name`` (new, or changed)."""
        if ad.node == self.own_key:
            return Outcome.OURS
        if ad.version != self.version:
            self._peers.pop(name, None)
            return Outcome.INCOMPATIBLE
        # One node, one entry: a node that came back under a new name replaces its old one.
        for other in [p for p in self._peers.values() if p.ad.node == ad.node and p.name != name]:
            del self._peers[other.name]
        known = self._peers.get(name)
        if known is None:
            if len(self._peers) >= self.capacity:
                return Outcome.FULL
            self._peers[name] = DiscoveredPeer(name, ad, url, now)
            return Outcome.ADDED
        known.seen_s = now
        if known.ad == ad and known.url == url:
            return Outcome.UNCHANGED
        known.ad, known.url = ad, url
        return Outcome.MOVED

    def confirm(self, name: str, now: float) -> None:
        """The advertisement of ``name`` is still current (seen in the mDNS cache)."""
        peer = self._peers.get(name)
        if peer is not None:
            peer.seen_s = max(peer.seen_s, now)

    def withdraw(self, name: str) -> DiscoveredPeer | None:
        """Service ``name`` has gone (goodbye, or its records expired)."""
        return self._peers.pop(name, None)

    def expire(self, now: float, stale_s: float = PEER_STALE_S) -> list[DiscoveredPeer]:
        """Drop the entries not confirmed for ``stale_s`` seconds; return them."""
        gone = [p for p in self._peers.values() if now - p.seen_s > stale_s]
        for peer in gone:
            del self._peers[peer.name]
        return gone

    def names(self) -> list[str]:
        return list(self._peers)

    def urls(self) -> list[str]:
        """Where to sync: one URL per discovered peer, in a stable order."""
        return sorted({p.url for p in self._peers.values()})

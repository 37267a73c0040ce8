"""Nodes found on the LAN by zeroconf, for the staff TUI's LAN screen.

``LanSource`` is what the app is handed (tests pass a fake): ``nodes()`` lists what the
LAN advertises right now, ``run(changed)`` keeps looking and calls ``changed`` when that
list changes. ``ZeroconfSource`` is the real one: the browsing half of the node's own
discovery (``discovery.lan.lan_browser``, with its TXT parser and bounded peer table), so
the TUI believes exactly what a node would. An advertisement is a claim: it only says
where to ask; the admin API there must still accept the staff token.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from shelterkit.discovery.lan import LanDiscovery, lan_browser
from shelterkit.model.trust import HUB_SHELTER_ID


@dataclass(frozen=True, slots=True)
class LanNode:
    """One advertisement: who it says it is and where its peer/staff listener is."""

    node: str  # the advertised node key, hex
    shelter: str
    role: str  # "node" or "hub"
    url: str  # http://ADDRESS:PORT/ of its peer/staff listener (the admin API)

    @property
    def address(self) -> str:
        return self.url.removeprefix("http://").rstrip("/")


class LanSource(Protocol):
    def nodes(self) -> list[LanNode]: ...

    async def run(self, changed: Callable[[], None]) -> None: ...


class _Changes:
    """The discovery sink: tell the app when the set of nodes (or what they say) changed."""

    def __init__(self, source: ZeroconfSource, changed: Callable[[], None]) -> None:
        self.source = source
        self.changed = changed
        self.last: list[LanNode] = []

    def _check(self) -> None:
        now = self.source.nodes()
        if now != self.last:
            self.last = now
            self.changed()

    def add_peer(self, url: str) -> None:
        self._check()

    def remove_peer(self, url: str) -> None:
        self._check()


class ZeroconfSource:
    """Browse ``_shelterkit._tcp`` with python-zeroconf (asyncio API), advertising nothing."""

    def __init__(self, interfaces: Sequence[str] = ()) -> None:
        self.interfaces = tuple(interfaces)
        self._discovery: LanDiscovery | None = None

    def nodes(self) -> list[LanNode]:
        if self._discovery is None:
            return []
        table = self._discovery.table
        found = [table.get(name) for name in table.names()]
        return sorted(
            (
                LanNode(p.ad.node.hex(), p.ad.shelter, p.ad.role, p.url)
                for p in found
                if p is not None
            ),
            key=lambda n: (n.role != "hub", n.shelter, n.node),
        )

    async def run(self, changed: Callable[[], None]) -> None:
        self._discovery = lan_browser(_Changes(self, changed), interfaces=self.interfaces)
        await self._discovery.run()


# Names a node gives its city-hall peer (``Node.note_sync``): the hub's enrolled shelter
# id, or this when the hub is known only as the authority.
HUB_PEER_NAMES = (HUB_SHELTER_ID, "city hall")


# Text from a node is shown in a table cell: never more than this.
MAX_CELL_CHARS = 40


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: Any) -> str:
    return value[:MAX_CELL_CHARS] if isinstance(value, str) else ""


def fleet_entry(
    found: LanNode, info: dict[str, Any], status: dict[str, Any] | None
) -> dict[str, Any]:
    """A row like the hub's ``/api/fleet`` ones, from a node's ``/api/node`` and its latest
    status record: last contact with city hall is its last sync with the hub. Pure.

    Whatever answers at an advertised address may send anything: only well-formed values
    are taken, the rest shows as unknown.
    """
    peers = info.get("peers")
    hub_contacts = [
        ms
        for p in (peers if isinstance(peers, list) else [])
        if isinstance(p, dict)
        and p.get("shelter") in HUB_PEER_NAMES
        and (ms := _count(p.get("last_ms")))
    ]
    s = status if isinstance(status, dict) else {}
    names = info.get("name")
    needs = s.get("needs")
    return {
        "shelter": found.shelter,
        "node": found.node,
        "names": {k: _text(v) for k, v in names.items() if k in ("ja", "en")}
        if isinstance(names, dict)
        else {},
        "last_contact_ms": max(hub_contacts, default=None),
        "headcount": _count(s.get("headcount")),
        "battery_pct": _count(s.get("battery_pct")),
        "clients": _count(s.get("clients")),
        "needs": {k: v for k, v in needs.items() if isinstance(v, str)}
        if isinstance(needs, dict)
        else None,
        "links": _text(s.get("links")) or _text(info.get("link_state")),
    }

"""Which uplink can carry sync right now, from netlink events rather than polling.

``uplink_state`` is pure: it takes plain snapshots of links, addresses and routes and says
whether an uplink is usable (present, carrier, an IPv4 address, a default route through it).
``BackhaulMonitor`` is the thin adapter: it subscribes to the kernel's link, address and
route notifications (pyroute2 ``AsyncIPRoute``, on a ``LoopThread``), and after each burst
of events takes a fresh snapshot and yields the new state if it changed, so a cable pulled or
an LTE stick that comes back is noticed within a fraction of a second. Whether the hub answers
is the sync layer's question; this module only says which interface can try.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
from collections.abc import AsyncIterator, Iterable
from typing import Any

from shelterkit.errors import LinkError
from shelterkit.net.loopthread import LoopThread

# Events arrive in bursts (link, then address, then routes); wait this long for quiet before
# taking one snapshot for the whole burst. A local choice, well under "within seconds".
BACKHAUL_SETTLE_S = 0.2
# Events read in one burst before a snapshot is taken anyway (a flapping link cannot stall it).
MAX_EVENTS_PER_BURST = 1000
# A fresh snapshot even without events, in case the kernel dropped notifications (netlink
# reports ENOBUFS when a listener falls behind; netlink(7)).
BACKHAUL_REFRESH_S = 60.0
# A netlink dump of links, addresses and routes must answer within this time.
NETLINK_DUMP_TIMEOUT_S = 5.0
# IFF_UP and IFF_LOWER_UP (include/uapi/linux/if.h): administratively up, and carrier.
IFF_UP = 0x1
IFF_LOWER_UP = 0x10000
# Main routing table id (include/uapi/linux/rtnetlink.h RT_TABLE_MAIN).
RT_TABLE_MAIN = 254


@dataclasses.dataclass(frozen=True, slots=True)
class LinkInfo:
    index: int
    ifname: str
    flags: int


@dataclasses.dataclass(frozen=True, slots=True)
class AddressInfo:
    index: int
    address: str


@dataclasses.dataclass(frozen=True, slots=True)
class RouteInfo:
    dst_len: int
    oif: int | None
    table: int


@dataclasses.dataclass(frozen=True, slots=True)
class UplinkState:
    """What one uplink can do now."""

    interface: str
    present: bool
    carrier: bool
    has_address: bool
    default_route: bool

    @property
    def usable(self) -> bool:
        return self.present and self.carrier and self.has_address and self.default_route


def uplink_state(
    interface: str,
    links: Iterable[LinkInfo],
    addresses: Iterable[AddressInfo],
    routes: Iterable[RouteInfo],
) -> UplinkState:
    """The state of ``interface`` in one snapshot of the kernel's tables."""
    link = next((link for link in links if link.ifname == interface), None)
    if link is None:
        return UplinkState(interface, False, False, False, False)
    carrier = link.flags & IFF_UP != 0 and link.flags & IFF_LOWER_UP != 0
    has_address = any(a.index == link.index for a in addresses)
    default = any(
        r.dst_len == 0 and r.oif == link.index and r.table == RT_TABLE_MAIN for r in routes
    )
    return UplinkState(interface, True, carrier, has_address, default)


class BackhaulMonitor:
    """Yields the states of the uplinks at start and whenever one of them changes."""

    def __init__(self, interfaces: Iterable[str], netns: str | None = None) -> None:
        self.interfaces = tuple(interfaces)
        self.netns = netns

    async def states(self) -> AsyncIterator[tuple[UplinkState, ...]]:
        async with (
            LoopThread("backhaul-netlink") as netlink,
            contextlib.aclosing(netlink.iterate(self._states())) as states,
        ):
            async for state in states:
                yield state

    async def _states(self) -> AsyncIterator[tuple[UplinkState, ...]]:
        from pyroute2 import AsyncIPRoute

        kwargs: dict[str, Any] = {"netns": self.netns} if self.netns else {}
        try:
            async with AsyncIPRoute(**kwargs) as events, AsyncIPRoute(**kwargs) as dumps:
                await events.bind()
                last = await self._snapshot(dumps)
                yield last
                while True:
                    await self._wait_for_burst(events)
                    current = await self._snapshot(dumps)
                    if current != last:
                        last = current
                        yield current
        except OSError as exc:
            raise LinkError(f"netlink: {exc}") from None

    async def _wait_for_burst(self, events: Any) -> None:
        """Return after a burst of events has gone quiet, or after the refresh interval."""
        try:
            await _next_event(events, BACKHAUL_REFRESH_S)
        except TimeoutError:
            return
        for _ in range(MAX_EVENTS_PER_BURST):
            try:
                await _next_event(events, BACKHAUL_SETTLE_S)
            except TimeoutError:
                return

    async def _snapshot(self, ipr: Any) -> tuple[UplinkState, ...]:
        async with asyncio.timeout(NETLINK_DUMP_TIMEOUT_S):
            links = [
                LinkInfo(msg["index"], msg.get("ifname") or "", msg["flags"])
                async for msg in await ipr.link("dump")
            ]
            addresses = [
                AddressInfo(msg["index"], msg.get("address") or "")
                async for msg in await ipr.addr("dump", family=socket.AF_INET)
            ]
            routes = [
                RouteInfo(msg["dst_len"], msg.get("oif"), msg.get("table") or msg["table"])
                async for msg in await ipr.route("dump", family=socket.AF_INET)
            ]
        return tuple(uplink_state(name, links, addresses, routes) for name in self.interfaces)


async def snapshot_uplinks(
    interfaces: Iterable[str], netns: str | None = None
) -> tuple[UplinkState, ...]:
    """The current state of each interface, from one netlink dump (no subscription)."""
    from pyroute2 import AsyncIPRoute

    monitor = BackhaulMonitor(interfaces, netns)
    kwargs: dict[str, Any] = {"netns": netns} if netns else {}

    async def dump() -> tuple[UplinkState, ...]:
        async with AsyncIPRoute(**kwargs) as ipr:
            return await monitor._snapshot(ipr)

    try:
        async with LoopThread("uplinks-netlink") as netlink:
            return await netlink.run(dump())
    except OSError as exc:
        raise LinkError(f"netlink: {exc}") from None


async def _next_event(events: Any, timeout_s: float) -> Any:
    stream = events.get()
    try:
        async with asyncio.timeout(timeout_s):
            return await anext(stream)
    finally:
        await stream.aclose()

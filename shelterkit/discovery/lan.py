"""Zeroconf at the edge: advertise this node's peer listener, browse for the others.

``LanDiscovery.run`` registers ``_shelterkit._tcp.local.`` on this machine's LAN
addresses, browses the same type, and keeps the scheduler's set of discovered peers equal
to the ``PeerTable``: ``add_peer`` when a peer appears, ``remove_peer`` when it says
goodbye or its records expire. ``lan_browser`` does the browsing half only, for tools
that look for nodes without being one (the staff TUI). Discovery grants nothing: a peer
found here is dialled like any other and must prove its key and enrolment on connect
(``links.auth``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from ipaddress import IPv4Interface
from typing import Protocol

from zeroconf import Error as ZeroconfError
from zeroconf import IPVersion, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from shelterkit.discovery.ads import (
    SERVICE_TYPE,
    AdvertisementError,
    LocalAddress,
    PeerAd,
    advertised_addresses,
    listen_is_loopback,
    parse_txt,
    peer_url,
)
from shelterkit.discovery.table import ADVERTISE_TTL_S, Outcome, PeerTable
from shelterkit.errors import LinkError
from shelterkit.model.keys import short_id
from shelterkit.net.loopthread import LoopThread

log = logging.getLogger(__name__)

# Seconds to wait for a peer's SRV/TXT/A records; zeroconf's own default lookup timeout
# (``AsyncZeroconf.async_get_service_info``, 3000 ms).
RESOLVE_TIMEOUT_S = 3.0
# Seconds between housekeeping passes (cache confirmation, expiry, scheduler reconcile);
# zeroconf's cache reaper runs every 10 s, so looking more often finds nothing new.
TICK_S = 10.0
# Seconds between looks at our own addresses (a late DHCP lease, a cable plugged in): a
# change restarts the responder with the new addresses.
ADDRESS_RESCAN_S = 30.0
# Browser events waiting to be resolved, coalesced per service name: four times the
# MAX_DISCOVERED_PEERS (16) that can be kept. A flood beyond this is dropped; a dropped
# goodbye is caught up by PEER_STALE_S expiry.
MAX_PENDING_NAMES = 64
# Distinct complaints (malformed or refused advertisements) remembered so that each is
# logged once: four per pending name. Beyond this the oldest is forgotten, so a long flood
# costs at most one line per 256 new complaints.
MAX_COMPLAINTS = 256
# Seconds allowed for probing and announcing our name (≈1.2 s measured, RFC 6762 §8).
REGISTER_TIMEOUT_S = 10.0
# Seconds allowed for the goodbye packets and socket teardown at shutdown.
CLOSE_TIMEOUT_S = 5.0
# Seconds allowed for one netlink dump of the interface addresses.
NETLINK_TIMEOUT_S = 5.0

IFF_UP = 0x1  # include/uapi/linux/if.h


class PeerSink(Protocol):
    """What discovery drives: the sync scheduler's set of peers."""

    def add_peer(self, url: str) -> None: ...

    def remove_peer(self, url: str) -> None: ...


AddressSource = Callable[[], Awaitable[list[LocalAddress]]]


async def interface_addresses() -> list[LocalAddress]:
    """The IPv4 addresses of the interfaces that are up, from one netlink dump."""
    from pyroute2 import AsyncIPRoute

    async def dump() -> list[LocalAddress]:
        async with asyncio.timeout(NETLINK_TIMEOUT_S), AsyncIPRoute() as ipr:
            names = {
                msg["index"]: msg.get("ifname") or ""
                async for msg in await ipr.link("dump")
                if msg["flags"] & IFF_UP
            }
            return [
                LocalAddress(names[msg["index"]], IPv4Interface(f"{address}/{msg['prefixlen']}"))
                async for msg in await ipr.addr("dump", family=socket.AF_INET)
                if msg["index"] in names and (address := msg.get("address"))
            ]

    try:
        async with LoopThread("discovery-netlink") as netlink:
            return await netlink.run(dump())
    except (OSError, TimeoutError) as exc:
        raise LinkError(f"cannot list interface addresses: {exc}") from None


def _url(url: str) -> str:
    return url.rstrip("/") + "/"


class LanDiscovery:
    """Advertise one peer listener and feed discovered peers to ``sink``.

    With ``ad`` None nothing is advertised: the LAN is only browsed.
    """

    def __init__(
        self,
        ad: PeerAd | None,
        listen: str,
        sink: PeerSink,
        *,
        interfaces: Sequence[str] = (),
        excluded: Sequence[str] = (),
        static_urls: Sequence[str] = (),
        addresses: AddressSource = interface_addresses,
        clock: Callable[[], float] = time.monotonic,
        rescan_s: float = ADDRESS_RESCAN_S,
    ) -> None:
        host, _, port = listen.rpartition(":")
        self.ad = ad
        self.listen_host = host.strip("[]")
        self.port = int(port)
        self.sink = sink
        self.interfaces = tuple(interfaces)
        self.excluded = tuple(excluded)
        self.static = {_url(u) for u in static_urls}
        self.addresses = addresses
        self.clock = clock
        self.rescan_s = rescan_s
        self.table = PeerTable(ad.node if ad is not None else b"")
        self.advertised: list[LocalAddress] = []
        self._active: set[str] = set()
        self._pending: dict[str, ServiceStateChange] = {}
        self._wakeup = asyncio.Event()
        self._complaints: dict[str, None] = {}

    # --- the long-lived task ------------------------------------------------------------

    async def run(self) -> None:
        """Advertise and browse until cancelled; start again when our addresses change.

        Nothing here may end the node: a failure of mDNS or netlink is logged once and
        tried again after ``rescan_s``.
        """
        try:
            while True:
                ours = await self._our_addresses()
                if not ours:
                    if ours is not None:
                        self._complain(
                            "no-address",
                            "discovery: no address to advertise %s on yet; looking every %ds",
                            self.listen_host or "*",
                            int(self.rescan_s),
                        )
                    await asyncio.sleep(self.rescan_s)
                    continue
                self._complaints.pop("no-address", None)
                try:
                    await self._serve(ours)
                except (ZeroconfError, OSError, TimeoutError) as exc:
                    self._complain(
                        f"mdns {type(exc).__name__}",
                        "discovery: mDNS failed (%s: %s); trying again every %ds",
                        type(exc).__name__,
                        exc,
                        int(self.rescan_s),
                    )
                    await asyncio.sleep(self.rescan_s)
        finally:
            self._withdraw_all()

    async def _our_addresses(self) -> list[LocalAddress] | None:
        """What to advertise now; None if the interfaces cannot be listed."""
        try:
            local = await self.addresses()
        except LinkError as exc:
            self._complain("netlink", "discovery: %s", exc)
            return None
        return advertised_addresses(self.listen_host, local, self.interfaces, self.excluded)

    async def _serve(self, ours: list[LocalAddress]) -> None:
        """One responder and browser on ``ours``; returns when our addresses change."""
        zc = AsyncZeroconf(interfaces=[str(a.ip) for a in ours], ip_version=IPVersion.V4Only)
        browser: AsyncServiceBrowser | None = None
        try:
            where = ", ".join(f"{a.interface} {a.ip}" for a in ours)
            if self.ad is not None:
                await self._register(zc, self.ad, ours)
                self.advertised = ours
                log.info(
                    "discovery: advertising %s (%s) on %s port %d",
                    self.ad.instance_name(),
                    self.ad.role,
                    where,
                    self.port,
                )
            else:
                log.info("discovery: looking for nodes on %s", where)
            browser = AsyncServiceBrowser(zc.zeroconf, [SERVICE_TYPE], handlers=[self._on_change])
            await self._browse(zc.zeroconf, ours)
        finally:
            self.advertised = []
            self._withdraw_all()
            self._pending.clear()
            await self._close(zc, browser)

    async def _close(self, zc: AsyncZeroconf, browser: AsyncServiceBrowser | None) -> None:
        """Say goodbye and close the sockets; if interrupted, at least close the sockets."""
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                if browser is not None:
                    await browser.async_cancel()
                await zc.async_close()
        except TimeoutError:
            log.warning("discovery: mDNS goodbye took longer than %ds", CLOSE_TIMEOUT_S)
            zc.zeroconf.close()
        except asyncio.CancelledError:  # cancelled again while closing: no goodbye, no leak
            zc.zeroconf.close()
            raise

    async def _register(self, zc: AsyncZeroconf, ad: PeerAd, ours: list[LocalAddress]) -> None:
        info = AsyncServiceInfo(
            SERVICE_TYPE,
            f"{ad.instance_name()}.{SERVICE_TYPE}",
            port=self.port,
            properties=ad.txt(),
            server=ad.host_name(),
            parsed_addresses=[str(a.ip) for a in ours],
            host_ttl=ADVERTISE_TTL_S,
            other_ttl=ADVERTISE_TTL_S,
        )
        async with asyncio.timeout(REGISTER_TIMEOUT_S):
            announced = await zc.async_register_service(info, allow_name_change=True)
            await announced

    async def _browse(self, zc: Zeroconf, ours: list[LocalAddress]) -> None:
        next_rescan = self.clock() + self.rescan_s
        next_sweep = self.clock() + TICK_S
        while True:
            with contextlib.suppress(TimeoutError):
                wait_s = min(next_sweep, next_rescan) - self.clock()
                async with asyncio.timeout(max(0.0, wait_s)):
                    await self._wakeup.wait()
            self._wakeup.clear()
            while self._pending:
                name = next(iter(self._pending))
                change = self._pending.pop(name)
                await self._apply(zc, name, change, ours)
            if self.clock() >= next_sweep:
                next_sweep = self.clock() + TICK_S
                await self._sweep(zc, ours)
            self._reconcile()
            if self.clock() >= next_rescan:
                next_rescan = self.clock() + self.rescan_s
                now_ours = await self._our_addresses()
                if now_ours is not None and now_ours != ours:
                    log.info("discovery: our addresses changed; advertising again")
                    return

    # --- browser events -----------------------------------------------------------------

    def _on_change(
        self, zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange
    ) -> None:
        """Called by the browser in the event loop: note the name, resolve it later."""
        if name not in self._pending and len(self._pending) >= MAX_PENDING_NAMES:
            self._complain("pending", "discovery: too many advertisements at once; dropping some")
            return
        self._pending[name] = state_change
        self._wakeup.set()

    async def _apply(
        self, zc: Zeroconf, name: str, change: ServiceStateChange, ours: list[LocalAddress]
    ) -> None:
        if change is ServiceStateChange.Removed:
            gone = self.table.withdraw(name)
            if gone is not None:
                log.info("discovery: %s (%s) has gone", gone.ad.shelter, short_id(gone.ad.node))
            return
        try:
            info = AsyncServiceInfo(SERVICE_TYPE, name)
            async with asyncio.timeout(RESOLVE_TIMEOUT_S + 1):
                found = await info.async_request(zc, RESOLVE_TIMEOUT_S * 1000)
        except (ZeroconfError, ValueError, TimeoutError) as exc:
            self._complain(name, "discovery: cannot resolve %r: %s", name, exc)
            return
        if not found:
            log.debug("discovery: %r did not answer", name)
            return
        self._offer(name, info, ours)

    def _offer(self, name: str, info: AsyncServiceInfo, ours: list[LocalAddress]) -> None:
        try:
            ad = parse_txt(info.properties)
            url = peer_url(info.parsed_addresses(IPVersion.V4Only), info.port or 0, ours)
        except AdvertisementError as exc:
            self.table.withdraw(name)
            self._complain(f"{name} {exc}", "discovery: ignoring %r: %s", name, exc)
            return
        outcome = self.table.offer(name, ad, url, self.clock())
        if outcome in (Outcome.ADDED, Outcome.MOVED):
            log.info("discovery: %s %s (%s) at %s", outcome.value, ad.shelter, ad.role, url)
        elif outcome is Outcome.INCOMPATIBLE:
            self._complain(
                f"{name} v{ad.version}",
                "discovery: ignoring %r: protocol version %d, ours is %d",
                name,
                ad.version,
                self.table.version,
            )
        elif outcome is Outcome.FULL:
            self._complain(
                f"{name} full",
                "discovery: ignoring %r: already %d discovered peers",
                name,
                self.table.capacity,
            )

    async def _sweep(self, zc: Zeroconf, ours: list[LocalAddress]) -> None:
        """Confirm entries still in the mDNS cache, ask again for old ones, drop stale ones."""
        now = self.clock()
        for name in self.table.names():
            info = AsyncServiceInfo(SERVICE_TYPE, name)
            if info.load_from_cache(zc):
                self.table.confirm(name, now)
                continue
            peer = self.table.get(name)
            if peer is not None and now - peer.seen_s > ADVERTISE_TTL_S:
                await self._apply(zc, name, ServiceStateChange.Updated, ours)
        for gone in self.table.expire(self.clock()):
            log.info("discovery: %s (%s) went silent", gone.ad.shelter, short_id(gone.ad.node))

    # --- the scheduler ------------------------------------------------------------------

    def _reconcile(self) -> None:
        """Make the scheduler's discovered peers those of the table.

        ``add_peer`` is idempotent, so every URL is offered again each time: one that the
        scheduler could not take earlier (not running yet, or full) is taken when it can.
        Peers from the config are never touched.
        """
        want = {_url(u) for u in self.table.urls()} - self.static
        for url in sorted(self._active - want):
            self.sink.remove_peer(url)
        for url in sorted(want):
            self.sink.add_peer(url)
        self._active = want

    def _withdraw_all(self) -> None:
        for url in sorted(self._active):
            self.sink.remove_peer(url)
        self._active = set()
        for name in self.table.names():
            self.table.withdraw(name)

    def _complain(self, key: str, message: str, *args: object) -> None:
        """Log ``message`` once per ``key`` (bounded by MAX_COMPLAINTS)."""
        if key in self._complaints:
            return
        if len(self._complaints) >= MAX_COMPLAINTS:
            del self._complaints[next(iter(self._complaints))]
        self._complaints[key] = None
        log.warning(message, *args)


def lan_browser(sink: PeerSink, *, interfaces: Sequence[str] = ()) -> LanDiscovery:
    """Browse ``_shelterkit._tcp`` on every LAN address (or ``interfaces``), advertising
    nothing: ``table`` holds the nodes found, ``sink`` hears of each change."""
    return LanDiscovery(None, "0.0.0.0:0", sink, interfaces=interfaces)


def discovery_for(
    node_key: bytes,
    shelter: str,
    role: str,
    listen: str,
    sink: PeerSink,
    *,
    enabled: bool,
    interfaces: Sequence[str],
    excluded: Sequence[str],
    static_urls: Sequence[str],
) -> LanDiscovery | None:
    """A ``LanDiscovery`` for a listener, or None when there is nothing to do.

    A listener on loopback is reachable from no other machine: advertising it would only
    invite failing connections, and a node on loopback (the demo, tests) stays off the LAN.
    """
    if not enabled:
        log.info("discovery: off ([node] discovery = false)")
        return None
    if listen_is_loopback(listen.rpartition(":")[0].strip("[]")):
        log.info("discovery: off (the peer listener %s is on loopback)", listen)
        return None
    try:
        ad = PeerAd(node_key, shelter, role=role)
    except AdvertisementError as exc:
        log.warning("discovery: off (cannot advertise this node: %s)", exc)
        return None
    return LanDiscovery(
        ad, listen, sink, interfaces=interfaces, excluded=excluded, static_urls=static_urls
    )

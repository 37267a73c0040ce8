"""When to sync with whom: a loop per peer, prompt on change, backing off while down.

The hub and static peers come from config; LAN peers from zeroconf join and leave at run
time. Each loop runs one round at a time; the pure ``Backoff`` decides the waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from dataclasses import dataclass, field

import aiohttp

from shelterkit.errors import LinkError, ProtocolError
from shelterkit.links.websocket import sync_with
from shelterkit.service.node import Node
from shelterkit.sync import Role

log = logging.getLogger(__name__)

# A converged round costs two small messages each way, so a round every few seconds is
# cheap on a LAN or backhaul and bounds how stale a portal can be while links are up.
SYNC_INTERVAL_S = 5.0
# While a peer is unreachable, wait 2, 4, 8 … seconds, capped at five minutes (with
# jitter so that 48 nodes do not hit a returning hub in the same second).
BACKOFF_FIRST_S = 2.0
BACKOFF_MAX_S = 300.0
# Peers a node keeps a loop for (hub + static + discovered); more are ignored.
MAX_SYNC_PEERS = 32


@dataclass(slots=True)
class Backoff:
    """Exponential backoff with full jitter; pure (``rng`` passed in)."""

    first_s: float = BACKOFF_FIRST_S
    max_s: float = BACKOFF_MAX_S
    failures: int = 0

    def next_wait(self, rng: random.Random) -> float:
        self.failures += 1
        ceiling = min(self.max_s, self.first_s * 2.0 ** (self.failures - 1))
        return ceiling / 2 + rng.random() * ceiling / 2

    def reset(self) -> None:
        self.failures = 0


@dataclass(slots=True)
class PeerState:
    url: str
    reachable: bool = False
    last_error: str = ""
    rounds: int = 0
    backoff: Backoff = field(default_factory=Backoff)
    wake: asyncio.Event = field(default_factory=asyncio.Event)


class SyncScheduler:
    def __init__(
        self,
        node: Node,
        roles: Role = Role.NODE,
        interval_s: float = SYNC_INTERVAL_S,
        rng: random.Random | None = None,
    ) -> None:
        self.node = node
        self.roles = roles
        self.interval_s = interval_s
        self.rng = rng or random.Random()
        self.peers: dict[str, PeerState] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._group: asyncio.TaskGroup | None = None
        self._http: aiohttp.ClientSession | None = None

    async def run(self, urls: list[str]) -> None:
        """Run loops for ``urls`` (and any added later) until cancelled."""
        async with aiohttp.ClientSession() as http, asyncio.TaskGroup() as group:
            self._http, self._group = http, group
            for url in urls:
                self.add_peer(url)
            await asyncio.Event().wait()  # the loops run until the group is cancelled

    def add_peer(self, url: str) -> None:
        url = url.rstrip("/") + "/"
        if url in self._tasks or self._group is None or len(self._tasks) >= MAX_SYNC_PEERS:
            return
        self.peers[url] = PeerState(url)
        self._tasks[url] = self._group.create_task(self._loop(self.peers[url]))

    def wake(self) -> None:
        """An uplink came up: retry every peer now instead of at the end of its backoff."""
        for peer in self.peers.values():
            peer.backoff.reset()
            peer.wake.set()

    async def _pause(self, peer: PeerState, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(peer.wake.wait(), seconds)
        peer.wake.clear()

    def remove_peer(self, url: str) -> None:
        url = url.rstrip("/") + "/"
        task = self._tasks.pop(url, None)
        if task is not None:
            task.cancel()
        self.peers.pop(url, None)

    async def _loop(self, peer: PeerState) -> None:
        assert self._http is not None
        while True:
            seen = self.node.changes
            try:
                result = await sync_with(self.node, peer.url, session=self._http, roles=self.roles)
            except (LinkError, ProtocolError) as exc:
                if peer.reachable or not peer.last_error:
                    log.warning("sync with %s failed: %s", peer.url, exc)
                peer.reachable, peer.last_error = False, str(exc)
                await self._pause(peer, peer.backoff.next_wait(self.rng))
                continue
            peer.rounds += 1
            if not peer.reachable:
                log.info("sync with %s is up", peer.url)
            peer.reachable, peer.last_error = result.ok, result.detail
            if not result.ok:  # the peer refused or broke off: not a reason to hammer it
                await self._pause(peer, peer.backoff.next_wait(self.rng))
                continue
            peer.backoff.reset()
            # Sync again promptly when something new arrives here, else after the interval.
            await self.node.wait_for_change(seen, self.interval_s)

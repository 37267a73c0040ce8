"""The node's own status records: what staff entered (headcount, needs) plus what the node
measures (battery, Wi-Fi clients, links), sent upstream when it changes and as a heartbeat.

A heartbeat matters most for shelters city hall only hears by radio: their status record is
how the fleet view knows they are alive (one signed record fits one radio frame).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from shelterkit.errors import StorageError
from shelterkit.model.kinds import MAX_STATUS_LINKS_CHARS, StatusBody, Stream
from shelterkit.service.node import Node

log = logging.getLogger(__name__)

# A status record at least this often, even when nothing changed (DESIGN §9: status upstream).
STATUS_HEARTBEAT_S = 30 * 60
# And at most this often when things change (a busy shelter must not flood the radio).
STATUS_MIN_INTERVAL_S = 60
# Measured values checked this often.
STATUS_POLL_S = 30.0
# Client counts change all the time; only steps this large are worth a record.
CLIENTS_STEP = 5


@dataclass
class StatusReporter:
    node: Node
    clients: Callable[[], int | None] = lambda: None  # Wi-Fi clients (DHCP leases), if known
    battery_pct: int = -1  # set by the power monitor; -1: unknown or on mains
    monotonic: Callable[[], float] = time.monotonic
    last_sent_at: float | None = None
    last_sent: StatusBody | None = None

    def current(self) -> StatusBody:
        """The latest own status (staff fields, also ones queued during the first-contact
        wait) with fresh measurements."""
        own = self.node.own_status()
        base = own[0] if own is not None else StatusBody(shelter=self.node.config.shelter.id)
        clients = self.clients()
        return dataclasses.replace(
            base,
            battery_pct=self.battery_pct,
            clients=base.clients if clients is None else min(clients, 100_000),
            links=_links(self.node),
        )

    def due(self, body: StatusBody) -> bool:
        now = self.monotonic()
        if self.last_sent is None or self.last_sent_at is None:
            return True
        before = self.last_sent
        if now - self.last_sent_at >= STATUS_HEARTBEAT_S:
            return True
        if body.battery_pct != before.battery_pct:
            return True  # the power monitor already reports only 5 % steps and level changes
        if now - self.last_sent_at < STATUS_MIN_INTERVAL_S:
            return False
        return abs(body.clients - before.clients) >= CLIENTS_STEP or body.links != before.links

    async def report(self) -> None:
        if self.node.awaiting_contact(Stream.STATUS):
            # not before the first contact: what staff entered meanwhile is queued, and a
            # record built now would be signed after it with the older staff fields
            return
        body = self.current()
        if not self.due(body):
            return
        await self.node.publish(body)
        self.last_sent, self.last_sent_at = body, self.monotonic()

    async def set_battery(self, pct: int) -> None:
        """The power monitor's report hook."""
        self.battery_pct = pct
        await self.report()

    async def run(self, poll_s: float = STATUS_POLL_S) -> None:
        while True:
            try:
                await self.report()
            except StorageError as exc:  # disk full, a hold: try again at the next poll
                log.warning("status record not stored: %s", exc)
            await asyncio.sleep(poll_s)


def _links(node: Node) -> str:
    """``kind:state`` words (StatusBody.links): backhaul/LAN by the last sync, radio ports by
    their state."""
    words = []
    cfg = node.config.node
    if cfg.hub_url or cfg.peers:
        last = node.last_sync_ms
        up = last is not None and node.wall_ms() - last <= 3 * 60_000
        words.append("http:up" if up else "http:down")
    for report in node.link_reports.values():
        state = report().get("state", "")
        words.append("radio:up" if state == "up" else "radio:down")
    out = ""
    for word in words:  # whole words only, within the record's limit
        candidate = f"{out} {word}".strip()
        if len(candidate) > MAX_STATUS_LINKS_CHARS:
            break
        out = candidate
    return out

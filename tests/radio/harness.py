"""Helpers for radio tests: realistic payloads and a virtual-clock driver for links."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from shelterkit.model.keys import Identity
from shelterkit.model.kinds import AlertBody, Severity, StatusBody, Urgency
from shelterkit.model.record import Record, sign_record
from shelterkit.radio.arq import Delivered, LinkEvent
from shelterkit.radio.link import RadioLink
from shelterkit.radio.medium import RadioMedium

AUTHORITY = Identity(bytes(range(32)))
NODE = Identity(bytes(range(32, 64)))
# 45 characters, the length of a typical evacuation headline.
HEADLINE_JA = (
    "那須烏山市全域に避難指示。那珂川が氾濫危険水位に到達。直ちに最寄りの避難所へ避難して下さい"
)


def alert_record(seq: int = 1, headline: str = HEADLINE_JA) -> Record:
    body = AlertBody(
        identifier=f"nasukarasuyama-2026-{seq:04d}",
        headline={"ja": headline},
        severity=Severity.SEVERE,
        urgency=Urgency.IMMEDIATE,
        sent_ms=1_790_000_000_000,
    )
    return sign_record(AUTHORITY, seq, 1_790_000_000_000 << 16, body)


def status_record(seq: int = 1) -> Record:
    body = StatusBody(shelter="S07", headcount=142, battery_pct=63, clients=37)
    return sign_record(NODE, seq, 1_790_000_000_000 << 16, body)


@dataclass
class Network:
    """Radio links on one emulated medium, run by a virtual clock (no sleeping)."""

    medium: RadioMedium
    links: dict[int, RadioLink]
    rng: random.Random
    now: float = 0.0
    events: dict[int, list[LinkEvent]] = field(default_factory=dict)
    carrier_sense: bool = True
    on_event: Callable[[Network, int, LinkEvent], None] | None = None

    def run(self, until: float, *, max_steps: int = 200_000) -> None:
        for _ in range(max_steps):
            if self.now > until:
                return
            for rx in self.medium.collect(self.now):
                self._record(rx.station, self.links[rx.station].receive_bytes(rx.data, rx.at_s))
            wakes: list[float] = []
            for station, link in self.links.items():
                # listen-before-talk: what the carrier sense would hear by its end
                heard_at = self.now + link.governor.profile.carrier_sense_s
                busy = self.medium.busy_until(station, heard_at) if self.carrier_sense else None
                if busy is not None and link.arq.has_frames(self.now):
                    # try again after the channel is free, with a random backoff
                    wakes.append(busy + 0.01 + 0.2 * self.rng.random())
                    self._record(station, link.arq.tick(self.now))
                    continue
                out = link.poll(self.now)
                self._record(station, out.events)
                if out.grant is not None:
                    self.medium.transmit(
                        station, out.data, out.grant.tx_start_us / 1e6, out.grant.airtime_s
                    )
                if out.wake_at is not None:
                    wakes.append(out.wake_at)
            nxt = self.medium.next_event_s()
            if nxt is not None:
                wakes.append(nxt)
            future = [w for w in wakes if w > self.now]
            ready_now = any(w <= self.now for w in wakes)
            if ready_now:
                # something can go now (e.g. an ACK just queued); the pause makes progress
                self.now += 0.001
            elif future:
                self.now = min(future)
            else:
                return
        raise AssertionError("simulation did not settle")

    def _record(self, station: int, events: list[LinkEvent] | tuple[LinkEvent, ...]) -> None:
        self.events.setdefault(station, []).extend(events)
        if self.on_event is not None:
            for event in events:
                self.on_event(self, station, event)

    def delivered(self, station: int) -> list[bytes]:
        return [e.payload for e in self.events.get(station, []) if isinstance(e, Delivered)]


def mutate(rng: random.Random, data: bytes) -> bytes:
    """Damage ``data`` by 1–8 flips, replacements, deletions, insertions, swaps, cuts."""
    out = bytearray(data)
    for _ in range(rng.choice((1, 1, 1, 2, 3, 8))):
        op = rng.randrange(6)
        pos = rng.randrange(len(out)) if out else 0
        if op == 0 and out:
            out[pos] ^= 1 << rng.randrange(8)
        elif op == 1 and out:
            out[pos] = rng.randrange(256)
        elif op == 2 and out:
            del out[pos]
        elif op == 3:
            out.insert(pos, rng.randrange(256))
        elif op == 4 and len(out) > 1:
            j = rng.randrange(len(out))
            out[pos], out[j] = out[j], out[pos]
        else:
            del out[rng.randrange(len(out) + 1) :]
    return bytes(out)

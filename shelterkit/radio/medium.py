"""An emulated radio channel shared by many stations, driven by a virtual clock.

Pure: the caller passes times and a ``random.Random``; nothing sleeps. A transmission
occupies the air of every station within ``PathLoss.max_m`` of the sender from its start
to its end. At a receiver it is lost when

* the receiver itself transmits during it (half duplex),
* another transmission audible there overlaps it in time (a collision: both are lost),
* the distance draws a loss (certain delivery up to ``reliable_m``, linear to none at
  ``max_m``);

otherwise it arrives ``latency_s`` after its end, with each bit flipped with probability
``bit_error_rate``.
"""

from __future__ import annotations

import math
import random
from collections import deque
from dataclasses import dataclass, field

# Defaults from published 920 MHz ranges (reference/anchors-tech.md §2.3): about 2 km in
# suburbs, some kilometres line of sight with a good antenna.
RELIABLE_RANGE_M = 2_000.0
MAX_RANGE_M = 5_000.0
# Transmissions kept for the log that tests inspect; older ones are forgotten.
MAX_TRANSMISSION_LOG = 10_000


@dataclass(frozen=True, slots=True)
class PathLoss:
    reliable_m: float = RELIABLE_RANGE_M
    max_m: float = MAX_RANGE_M

    def loss_probability(self, distance_m: float) -> float:
        if distance_m <= self.reliable_m:
            return 0.0
        if distance_m >= self.max_m:
            return 1.0
        return (distance_m - self.reliable_m) / (self.max_m - self.reliable_m)


@dataclass(frozen=True, slots=True)
class Transmission:
    src: int
    start_s: float
    end_s: float
    data: bytes


@dataclass(frozen=True, slots=True)
class Reception:
    station: int
    src: int
    at_s: float
    data: bytes


@dataclass(slots=True)
class MediumCounters:
    transmissions: int = 0
    delivered: int = 0
    lost_distance: int = 0
    lost_collision: int = 0
    lost_half_duplex: int = 0
    bits_flipped: int = 0


@dataclass(slots=True)
class RadioMedium:
    rng: random.Random
    path_loss: PathLoss = field(default_factory=PathLoss)
    bit_error_rate: float = 0.0
    latency_s: float = 0.0
    counters: MediumCounters = field(default_factory=MediumCounters, init=False)
    log: deque[Transmission] = field(
        default_factory=lambda: deque(maxlen=MAX_TRANSMISSION_LOG), init=False
    )
    _positions: dict[int, tuple[float, float]] = field(default_factory=dict, init=False)
    # per pair of stations (terrain between them, a failed link): overrides ``path_loss``
    _pair_loss: dict[frozenset[int], PathLoss] = field(default_factory=dict, init=False)
    # transmissions whose receptions are not decided yet, and decided ones that may still
    # overlap them
    _pending: list[Transmission] = field(default_factory=list, init=False)
    _recent: list[Transmission] = field(default_factory=list, init=False)
    _now: float = field(default=-math.inf, init=False)

    def add_station(self, station: int, x_m: float, y_m: float) -> None:
        self._positions[station] = (x_m, y_m)

    def distance_m(self, a: int, b: int) -> float:
        (ax, ay), (bx, by) = self._positions[a], self._positions[b]
        return math.hypot(ax - bx, ay - by)

    def set_path_loss(self, a: int, b: int, loss: PathLoss | None) -> None:
        """Loss between ``a`` and ``b`` from now on (None: back to ``path_loss``).

        ``PathLoss(0, 0)`` cuts the pair: neither hears (nor disturbs) the other.
        """
        if loss is None:
            self._pair_loss.pop(frozenset((a, b)), None)
        else:
            self._pair_loss[frozenset((a, b))] = loss

    def path_loss_between(self, a: int, b: int) -> PathLoss:
        return self._pair_loss.get(frozenset((a, b)), self.path_loss)

    def audible(self, src: int, station: int) -> bool:
        if src == station:
            return False
        return self.distance_m(src, station) < self.path_loss_between(src, station).max_m

    def transmit(self, src: int, data: bytes, start_s: float, airtime_s: float) -> None:
        """``src`` puts ``data`` on air from ``start_s`` for ``airtime_s``."""
        if src not in self._positions:
            raise KeyError(f"station {src} is not on this medium")
        if start_s < self._now:
            raise ValueError(f"transmission at {start_s} is before the medium's time {self._now}")
        tx = Transmission(src, start_s, start_s + airtime_s, bytes(data))
        self._pending.append(tx)
        self.log.append(tx)
        self.counters.transmissions += 1

    def busy_until(self, station: int, now: float) -> float | None:
        """End of the latest transmission ``station`` hears at ``now`` (carrier sense).

        Ask at the end of the sensing window (start + 5 ms on ``jp920``): a transmission
        that began during the window is heard, as a real carrier sense would.
        """
        ends = [
            tx.end_s
            for tx in self._pending + self._recent
            if tx.start_s <= now < tx.end_s and self.audible(tx.src, station)
        ]
        return max(ends) if ends else None

    def next_event_s(self) -> float | None:
        """When ``collect`` will next have something to resolve."""
        if not self._pending:
            return None
        return min(tx.end_s for tx in self._pending) + self.latency_s

    def collect(self, now: float) -> list[Reception]:
        """Receptions completed by ``now``, in time order. Time must not go backwards."""
        if now < self._now:
            raise ValueError(f"time went backwards: {now} < {self._now}")
        self._now = now
        out: list[Reception] = []
        due = [tx for tx in self._pending if tx.end_s + self.latency_s <= now]
        for tx in due:
            out.extend(self._receptions_of(tx))
        self._pending = [tx for tx in self._pending if tx.end_s + self.latency_s > now]
        self._recent.extend(due)
        self._forget(now)
        out.sort(key=lambda r: r.at_s)
        return out

    def _receptions_of(self, tx: Transmission) -> list[Reception]:
        out: list[Reception] = []
        for station in self._positions:
            if not self.audible(tx.src, station):
                continue
            overlapping = [
                other
                for other in self._pending + self._recent
                if other is not tx and other.start_s < tx.end_s and tx.start_s < other.end_s
            ]
            if any(other.src == station for other in overlapping):
                self.counters.lost_half_duplex += 1
                continue
            if any(self.audible(other.src, station) for other in overlapping):
                self.counters.lost_collision += 1
                continue
            distance = self.distance_m(tx.src, station)
            loss = self.path_loss_between(tx.src, station).loss_probability(distance)
            if self.rng.random() < loss:
                self.counters.lost_distance += 1
                continue
            data = self._flip_bits(tx.data)
            self.counters.delivered += 1
            out.append(Reception(station, tx.src, tx.end_s + self.latency_s, data))
        return out

    def _flip_bits(self, data: bytes) -> bytes:
        p = self.bit_error_rate
        if p <= 0.0 or not data:
            return data
        damaged = bytearray(data)
        bits = len(data) * 8
        position = -1
        log_q = math.log1p(-p) if p < 1.0 else -math.inf
        while True:  # geometric gaps between errors: O(errors), not O(bits)
            u = self.rng.random()
            gap = 0 if log_q == -math.inf else int(math.log(1.0 - u) / log_q)
            position += gap + 1
            if position >= bits:
                break
            damaged[position // 8] ^= 1 << (position % 8)
            self.counters.bits_flipped += 1
        return bytes(damaged)

    def _forget(self, now: float) -> None:
        """Drop decided transmissions that can no longer overlap an undecided one."""
        horizon = min([now, *(tx.start_s for tx in self._pending)])
        self._recent = [tx for tx in self._recent if tx.end_s > horizon]

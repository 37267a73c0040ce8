"""The best wall time a node knows, without a real-time clock (DESIGN §9). Pure.

A Pi boots with its clock wherever the last shutdown (or the image build) left it. Until
city hall, or a peer whose time is confirmed, tells it the time, the node uses the later
of its system clock and the last time it persisted (the HLC), and says that its time is
uncertain. Once told, it follows the trusted time (by an offset to the system clock) and
is certain, also when that means going back — record order is the HLC's job and the HLC
never goes back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

# No clock is plausible before this software existed: 2026-01-01T00:00:00Z.
PLAUSIBLE_AFTER_MS = 1_767_225_600_000
# Differences smaller than this are ordinary drift and network delay: not worth a jump.
ADOPT_THRESHOLD_MS = 2_000


@dataclass(slots=True)
class WallClock:
    system_ms: Callable[[], int]
    floor_ms: int = 0  # the last time known before this start (persisted HLC)
    offset_ms: int = 0
    confirmed: bool = False  # set from city hall or a confirmed peer in this run

    def now(self) -> int:
        system = self.system_ms()
        if self.confirmed:
            return system + self.offset_ms
        return max(system, self.floor_ms)

    @property
    def certain(self) -> bool:
        """True once confirmed, or while the system clock looks sane (after the floor and
        after this software existed); a clock far in the future is only caught by a peer."""
        if self.confirmed:
            return True
        system = self.system_ms()
        return system >= PLAUSIBLE_AFTER_MS and system >= self.floor_ms

    def adopt(self, trusted_ms: int) -> int:
        """Follow ``trusted_ms`` (city hall's time). Returns the jump in ms (0: none)."""
        jump = trusted_ms - self.now()
        self.confirmed = True
        if abs(jump) < ADOPT_THRESHOLD_MS and self.offset_ms == 0:
            return 0
        self.offset_ms = trusted_ms - self.system_ms()
        return jump

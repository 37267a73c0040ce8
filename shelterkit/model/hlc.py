"""Hybrid logical clock (Kulkarni et al., 2014) packed into one integer.

``hlc = wall_ms << 16 | counter``. It orders events without trusting any clock: it never
goes backwards, and it advances past every timestamp it has seen from a trusted peer. A
remote timestamp too far ahead of our own physical clock is not adopted (it is still
ordered correctly, but it does not drag our clock ten years into the future).
"""

from __future__ import annotations

from dataclasses import dataclass

COUNTER_BITS = 16
COUNTER_MAX = (1 << COUNTER_BITS) - 1
# How far a peer's clock may be ahead of ours before we refuse to follow it: one day.
# A node that booted at 1970 adopts real time through ``adopt_wall_time`` (a trusted source),
# not through ordinary record traffic.
MAX_FORWARD_DRIFT_MS = 24 * 3600 * 1000


def pack(wall_ms: int, counter: int) -> int:
    return (wall_ms << COUNTER_BITS) | counter


def wall_ms_of(hlc: int) -> int:
    return hlc >> COUNTER_BITS


def counter_of(hlc: int) -> int:
    return hlc & COUNTER_MAX


@dataclass(slots=True)
class HybridClock:
    """Mutable clock state; ``last`` is persisted by the node so restarts never go back."""

    last: int = 0

    def now(self, wall_ms: int) -> int:
        """A new timestamp for a local event at physical time ``wall_ms``."""
        last_wall, last_counter = wall_ms_of(self.last), counter_of(self.last)
        if wall_ms > last_wall:
            self.last = pack(wall_ms, 0)
        elif last_counter < COUNTER_MAX:
            self.last = pack(last_wall, last_counter + 1)
        else:  # counter exhausted within one millisecond: borrow the next millisecond
            self.last = pack(last_wall + 1, 0)
        return self.last

    def observe(self, remote: int, wall_ms: int) -> bool:
        """Merge a timestamp seen on a received record. Returns False if it was too far ahead."""
        if wall_ms_of(remote) > max(wall_ms, wall_ms_of(self.last)) + MAX_FORWARD_DRIFT_MS:
            return False
        if remote > self.last:
            self.last = remote
        return True

    def adopt_wall_time(self, trusted_wall_ms: int) -> None:
        """Move forward to a time learned from a trusted source (hub, GPS). Never back."""
        if trusted_wall_ms > wall_ms_of(self.last):
            self.last = pack(trusted_wall_ms, 0)

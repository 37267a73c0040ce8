"""Cutting a message into frame-sized fragments and putting it back together.

Reassembly state is bounded three ways: number of messages in progress, their total
bytes, and time since each last made progress. The oldest message is evicted first.
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from dataclasses import dataclass, field

from shelterkit.radio.framing import MAX_FRAGMENTS

# Messages being reassembled at once: a few neighbours, each with a message or two in flight.
MAX_REASSEMBLIES = 16
# Bytes held by partial messages: 16 messages of 64 full E220 fragments would be 188 KB;
# this bound keeps a hostile sender of many partial messages to a fixed cost.
MAX_REASSEMBLY_BYTES = 64 * 1024
# A message with no new fragment for this long is dropped; covers several retry rounds
# at SF10 (a 200-byte frame is 1.8 s on air, the ARQ backs off to 120 s).
REASSEMBLY_TIMEOUT_S = 300.0

MessageKey = tuple[int, int]  # (link source id, message seq)


def split_payload(payload: bytes, fragment_bytes: int) -> list[bytes]:
    """Cut ``payload`` into pieces of at most ``fragment_bytes`` (one piece if empty)."""
    if fragment_bytes <= 0:
        raise ValueError("fragment size must be positive")
    pieces = [payload[i : i + fragment_bytes] for i in range(0, len(payload), fragment_bytes)]
    if len(pieces) > MAX_FRAGMENTS:
        raise ValueError(
            f"a payload of {len(payload)} bytes needs {len(pieces)} fragments "
            f"(at most {MAX_FRAGMENTS})"
        )
    return pieces or [b""]


def bitmap_to_bytes(bits: int, count: int) -> bytes:
    """Fragment ``i`` received ⇔ bit ``i``; little-endian so byte 0 holds fragments 0–7."""
    return bits.to_bytes((count + 7) // 8, "little")


def bitmap_from_bytes(data: bytes, count: int) -> int:
    return int.from_bytes(data, "little") & ((1 << count) - 1)


def full_bitmap(count: int) -> int:
    return (1 << count) - 1


class Added(enum.Enum):
    NEW = "new"  # stored, message still incomplete
    COMPLETE = "complete"  # this fragment completed the message
    DUPLICATE = "duplicate"  # already had it
    MISMATCH = "mismatch"  # fragment count differs from earlier fragments: dropped
    REFUSED = "refused"  # over the byte bound even after evicting everything else


@dataclass(slots=True)
class _Partial:
    count: int
    pieces: dict[int, bytes]
    bits: int
    size: int
    updated: float


@dataclass(slots=True)
class ReassemblyTable:
    """Partial messages keyed by (source, seq), bounded in count, bytes and age."""

    max_messages: int = MAX_REASSEMBLIES
    max_bytes: int = MAX_REASSEMBLY_BYTES
    timeout_s: float = REASSEMBLY_TIMEOUT_S
    evicted: int = field(default=0, init=False)
    expired: int = field(default=0, init=False)
    _partials: OrderedDict[MessageKey, _Partial] = field(default_factory=OrderedDict, init=False)
    _bytes: int = field(default=0, init=False)

    def __len__(self) -> int:
        return len(self._partials)

    @property
    def held_bytes(self) -> int:
        return self._bytes

    def add(
        self, key: MessageKey, index: int, count: int, data: bytes, now: float
    ) -> tuple[Added, bytes]:
        """Store one fragment; on ``COMPLETE`` the second item is the whole message."""
        self.expire(now)
        partial = self._partials.get(key)
        if partial is None:
            if count == 1:
                return Added.COMPLETE, data
            partial = _Partial(count, {}, 0, 0, now)
            self._partials[key] = partial
        elif partial.count != count:
            return Added.MISMATCH, b""
        if partial.bits >> index & 1:
            return Added.DUPLICATE, b""
        while self._bytes + len(data) > self.max_bytes or len(self._partials) > self.max_messages:
            oldest = next(iter(self._partials))
            if oldest == key:
                self.discard(key)
                return Added.REFUSED, b""
            self.discard(oldest)
            self.evicted += 1
        partial.pieces[index] = data
        partial.bits |= 1 << index
        partial.size += len(data)
        partial.updated = now
        self._bytes += len(data)
        self._partials.move_to_end(key)
        if partial.bits == full_bitmap(count):
            self.discard(key)
            return Added.COMPLETE, b"".join(partial.pieces[i] for i in range(count))
        return Added.NEW, b""

    def bitmap(self, key: MessageKey) -> int:
        partial = self._partials.get(key)
        return partial.bits if partial is not None else 0

    def discard(self, key: MessageKey) -> None:
        partial = self._partials.pop(key, None)
        if partial is not None:
            self._bytes -= partial.size

    def expire(self, now: float) -> int:
        """Drop messages idle for ``timeout_s``; returns how many."""
        stale = [k for k, p in self._partials.items() if now - p.updated >= self.timeout_s]
        for key in stale:
            self.discard(key)
        self.expired += len(stale)
        return len(stale)

    def next_expiry(self) -> float | None:
        if not self._partials:
            return None
        return min(p.updated for p in self._partials.values()) + self.timeout_s

"""What a radio port has handed towards city hall, per (origin, stream): pure and bounded.

With a planned route a station hands status and safety records to its uplink by push
(docs/radio.md, "Pushes and routes"); the uplink's acknowledgement transfers custody. For
every (origin, stream) a port remembers the highest sequence number an uplink
acknowledged, whether records above it wait to be handed on, and which station handed
them to us last (they never go straight back there). ``HandoverTable`` holds that in
memory and answers every change with the entries to write (``HandoverChange``), so the
caller stores them (``Store.save_handovers``) before it lets the radio acknowledge what
it received: after a power loss the port loads the table and carries on where it was.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from shelterkit.model.kinds import Stream

HandoverKey = tuple[bytes, Stream]

# Keys per radio port: two routed streams for every origin, so 512 shelters and authorities
# (a city has about 50); beyond it the least recently changed key is forgotten, one with
# nothing left to hand on first.
MAX_HANDOVER_KEYS = 1024


@dataclass(frozen=True, slots=True)
class Handover:
    """One (origin, stream) of a radio port's hand-over state."""

    origin: bytes
    stream: Stream
    handed: int  # highest seq an uplink acknowledged; 0: none
    pending: bool  # records above ``handed`` wait to be handed on
    came_from: int  # station that handed us records of it last; 0: none (our own)
    touched: int  # order of the last change: the least recent is forgotten first

    @property
    def key(self) -> HandoverKey:
        return (self.origin, self.stream)


@dataclass(frozen=True, slots=True)
class HandoverChange:
    """What to write after a change: entries to store, keys to delete."""

    put: tuple[Handover, ...] = ()
    drop: tuple[HandoverKey, ...] = ()
    dropped_pending: int = 0  # forgotten keys that still had records to hand on

    def __bool__(self) -> bool:
        return bool(self.put or self.drop)

    def __add__(self, other: HandoverChange) -> HandoverChange:
        put = {e.key: e for e in self.put}
        for key in other.drop:
            put.pop(key, None)
        put.update((e.key, e) for e in other.put)
        drop = [k for k in self.drop if k not in put] + [k for k in other.drop if k not in put]
        return HandoverChange(
            tuple(put.values()),
            tuple(dict.fromkeys(drop)),
            self.dropped_pending + other.dropped_pending,
        )


class HandoverTable:
    """A radio port's hand-over state, at most ``max_keys`` keys.

    Keys of origins in ``keep`` (this node's own keys) are never forgotten: forgetting
    them would send every own record again.
    """

    def __init__(
        self,
        entries: Iterable[Handover] = (),
        *,
        keep: Iterable[bytes] = (),
        max_keys: int = MAX_HANDOVER_KEYS,
    ) -> None:
        self.max_keys = max_keys
        self.keep = frozenset(keep)
        self._entries: dict[HandoverKey, Handover] = {}
        self._pending: set[HandoverKey] = set()
        self._touched = 0
        for entry in sorted(entries, key=lambda e: e.touched):
            self._entries[entry.key] = entry
            if entry.pending:
                self._pending.add(entry.key)
            self._touched = max(self._touched, entry.touched)
        self._evicted = self._evict(0)

    def __len__(self) -> int:
        return len(self._entries)

    def entries(self) -> list[Handover]:
        return sorted(self._entries.values(), key=lambda e: e.touched)

    def handed(self, key: HandoverKey) -> int:
        entry = self._entries.get(key)
        return 0 if entry is None else entry.handed

    def came_from(self, key: HandoverKey) -> int:
        entry = self._entries.get(key)
        return 0 if entry is None else entry.came_from

    def pending(self) -> list[HandoverKey]:
        """Keys with records to hand on, in a stable order."""
        return sorted(self._pending)

    @property
    def has_pending(self) -> bool:
        return bool(self._pending)

    def take_evicted(self) -> HandoverChange:
        """Keys forgotten while loading more than ``max_keys`` (a lowered cap)."""
        change, self._evicted = self._evicted, HandoverChange()
        return change

    def mark_pending(self, key: HandoverKey, came_from: int = 0) -> HandoverChange:
        """Records of ``key`` above what was handed wait to be handed on; ``came_from``:
        the station that handed them to us (0: they are our own)."""
        entry = self._entries.get(key)
        if entry is not None and entry.pending and entry.came_from == came_from:
            return HandoverChange()
        handed = 0 if entry is None else entry.handed
        return self._put(key, handed, True, came_from)

    def revert(self, key: HandoverKey, previous: Handover | None) -> HandoverChange:
        """Put ``key`` back as it was (``previous``; None: not held) after a mark that
        turned out unfounded (the records it announced were refused)."""
        if previous is None:
            if key not in self._entries:
                return HandoverChange()
            del self._entries[key]
            self._pending.discard(key)
            return HandoverChange(drop=(key,))
        return self._put(key, previous.handed, previous.pending, previous.came_from)

    def entry(self, key: HandoverKey) -> Handover | None:
        return self._entries.get(key)

    def mark_handed(self, key: HandoverKey, seq: int) -> HandoverChange:
        """An uplink acknowledged the records of ``key`` up to ``seq``."""
        entry = self._entries.get(key)
        if entry is not None and entry.handed >= seq:
            return HandoverChange()
        if entry is None:
            return self._put(key, seq, False, 0)
        return self._put(key, seq, entry.pending, entry.came_from)

    def settle(self, key: HandoverKey) -> HandoverChange:
        """Nothing (more) of ``key`` to hand on."""
        entry = self._entries.get(key)
        if entry is None or not entry.pending:
            return HandoverChange()
        return self._put(key, entry.handed, False, entry.came_from)

    def settle_all(self) -> HandoverChange:
        change = HandoverChange()
        for key in self.pending():
            change += self.settle(key)
        return change

    def _put(self, key: HandoverKey, handed: int, pending: bool, came_from: int) -> HandoverChange:
        self._touched += 1
        entry = Handover(key[0], key[1], handed, pending, came_from, self._touched)
        new = key not in self._entries
        self._entries[key] = entry
        if pending:
            self._pending.add(key)
        else:
            self._pending.discard(key)
        evicted = self._evict(1) if new else HandoverChange()
        return HandoverChange((entry,)) + evicted

    def _evict(self, spare: int) -> HandoverChange:
        """Forget keys beyond ``max_keys``: first those with nothing to hand on, the
        least recently changed first; our own keys never. ``spare``: the newest entries
        never to forget (the one just added)."""
        excess = len(self._entries) - self.max_keys
        if excess <= 0:
            return HandoverChange()
        by_age = sorted(self._entries.values(), key=lambda e: e.touched)
        candidates = [e for e in by_age[: len(by_age) - spare] if e.origin not in self.keep]
        victims = [e for e in candidates if not e.pending][:excess]
        if len(victims) < excess:
            victims += [e for e in candidates if e.pending][: excess - len(victims)]
        for entry in victims:
            del self._entries[entry.key]
            self._pending.discard(entry.key)
        return HandoverChange(
            drop=tuple(e.key for e in victims), dropped_pending=sum(e.pending for e in victims)
        )


__all__ = ["MAX_HANDOVER_KEYS", "Handover", "HandoverChange", "HandoverKey", "HandoverTable"]

"""Version vectors: what a replica holds, as ``{(origin, stream): highest contiguous seq}``.

Each (origin, stream) is a gap-free sequence 1, 2, 3 … (DESIGN §2), so one integer per
key says exactly which records a replica holds. Two vectors give the records one side
lacks (``missing_from``) and one short digest says whether two replicas are converged.

Wire form (canonical CBOR): ``{origin: {stream: head}}``; heads of 0 are left out, so the
empty vector is the empty map. Unknown stream numbers from a newer peer are skipped.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from shelterkit.errors import ProtocolError
from shelterkit.model import codec
from shelterkit.model.keys import PUBLIC_KEY_BYTES
from shelterkit.model.kinds import Stream
from shelterkit.model.record import MAX_SEQ
from shelterkit.sync.limits import MAX_VECTOR_ENTRIES

Key = tuple[bytes, Stream]

# Order in which streams are synced. CONTROL (enrol/revoke) goes first although its enum
# value is last: a record from a node is only accepted once its enrolment is known, so the
# enrolment must arrive before the records that depend on it. Then the order:
# alerts > notices > anpi > status > board.
SYNC_PRIORITY: tuple[Stream, ...] = (
    Stream.CONTROL,
    Stream.ALERTS,
    Stream.NOTICES,
    Stream.ANPI,
    Stream.STATUS,
    Stream.BOARD,
)
_RANK = {stream: rank for rank, stream in enumerate(SYNC_PRIORITY)}
DIGEST_BYTES = 16
_DIGEST_PERSON = b"shelterkit/vv1"


def priority_rank(stream: Stream) -> int:
    """Position of ``stream`` in the sync order (0 is sent first)."""
    return _RANK[stream]


def sync_order(origin: bytes, stream: Stream, seq: int = 0) -> tuple[int, bytes, int]:
    """Sort key putting records and ranges in sync priority order."""
    return (_RANK[stream], origin, seq)


@dataclass(frozen=True, slots=True)
class SeqRange:
    """The records ``first..last`` (inclusive) of one (origin, stream)."""

    origin: bytes
    stream: Stream
    first: int
    last: int

    def __post_init__(self) -> None:
        if not 1 <= self.first <= self.last <= MAX_SEQ:
            raise ProtocolError(f"bad sequence range {self.first}..{self.last}")

    @property
    def key(self) -> Key:
        return (self.origin, self.stream)

    @property
    def count(self) -> int:
        return self.last - self.first + 1

    def to_wire(self) -> list[Any]:
        return [self.origin, int(self.stream), self.first, self.last]

    @classmethod
    def from_wire(cls, raw: Any) -> SeqRange:
        if not isinstance(raw, list) or len(raw) != 4:
            raise ProtocolError("a range is [origin, stream, first, last]")
        origin, stream, first, last = raw
        _check_origin(origin)
        return cls(origin, _stream(stream), _seq(first), _seq(last))


class VersionVector:
    """An immutable map ``(origin, stream) -> highest contiguous seq`` (0 when absent)."""

    __slots__ = ("_digest", "_heads")

    def __init__(self, heads: Mapping[Key, int] | None = None) -> None:
        clean: dict[Key, int] = {}
        for (origin, stream), seq in (heads or {}).items():
            _check_origin(origin)
            if not isinstance(seq, int) or isinstance(seq, bool) or not 0 <= seq <= MAX_SEQ:
                raise ProtocolError(f"bad head {seq!r}")
            if seq:
                clean[(origin, Stream(stream))] = seq
        if len(clean) > MAX_VECTOR_ENTRIES:
            raise ProtocolError(f"version vector of {len(clean)} entries exceeds the cap")
        self._heads = clean
        self._digest: bytes | None = None

    # -- reading ---------------------------------------------------------------------------

    def head(self, origin: bytes, stream: Stream) -> int:
        return self._heads.get((origin, stream), 0)

    def items(self) -> Iterator[tuple[Key, int]]:
        return iter(self._heads.items())

    def origins(self) -> frozenset[bytes]:
        return frozenset(origin for origin, _ in self._heads)

    def __len__(self) -> int:
        return len(self._heads)

    def __contains__(self, key: object) -> bool:
        return key in self._heads

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, VersionVector):
            return NotImplemented
        return self._heads == other._heads

    def __hash__(self) -> int:
        return hash(self.digest())

    def __repr__(self) -> str:
        return f"VersionVector({len(self._heads)} entries, digest={self.digest().hex()[:12]})"

    def covers(self, other: VersionVector) -> bool:
        """True if this vector holds everything ``other`` holds."""
        return all(self.head(o, s) >= seq for (o, s), seq in other._heads.items())

    # -- comparing and combining -----------------------------------------------------------

    def missing_from(self, other: VersionVector) -> list[SeqRange]:
        """Ranges that this vector holds and ``other`` lacks, in sync priority order."""
        out = [
            SeqRange(origin, stream, other.head(origin, stream) + 1, seq)
            for (origin, stream), seq in self._heads.items()
            if seq > other.head(origin, stream)
        ]
        out.sort(key=lambda r: sync_order(r.origin, r.stream))
        return out

    def merge(self, other: VersionVector) -> VersionVector:
        """The pointwise maximum of both vectors."""
        heads = dict(self._heads)
        for key, seq in other._heads.items():
            if seq > heads.get(key, 0):
                heads[key] = seq
        return VersionVector(heads)

    def with_head(self, origin: bytes, stream: Stream, seq: int) -> VersionVector:
        heads = dict(self._heads)
        heads[(origin, stream)] = seq
        return VersionVector(heads)

    def restrict(self, streams: Iterable[Stream]) -> VersionVector:
        """Only the entries of ``streams`` (what a link carries)."""
        keep = frozenset(streams)
        return VersionVector({k: v for k, v in self._heads.items() if k[1] in keep})

    def without_origins(self, origins: Iterable[bytes]) -> VersionVector:
        """Drop the entries of ``origins`` (e.g. revoked ones a replica no longer offers)."""
        drop = frozenset(origins)
        if not drop:
            return self
        return VersionVector({k: v for k, v in self._heads.items() if k[0] not in drop})

    # -- encoding --------------------------------------------------------------------------

    def to_wire(self) -> dict[bytes, dict[int, int]]:
        wire: dict[bytes, dict[int, int]] = {}
        for (origin, stream), seq in self._heads.items():
            wire.setdefault(origin, {})[int(stream)] = seq
        return wire

    @classmethod
    def from_wire(cls, raw: Any) -> VersionVector:
        if not isinstance(raw, dict):
            raise ProtocolError("a version vector is a map")
        heads: dict[Key, int] = {}
        for origin, streams in raw.items():
            _check_origin(origin)
            if not isinstance(streams, dict) or not streams:
                raise ProtocolError("a version vector entry is a non-empty map")
            for stream, seq in streams.items():
                if not isinstance(stream, int) or isinstance(stream, bool):
                    raise ProtocolError("stream must be an integer")
                if stream not in Stream._value2member_map_:
                    continue  # a stream added by a newer version: not ours to sync
                heads[(origin, Stream(stream))] = _seq(seq)
                if len(heads) > MAX_VECTOR_ENTRIES:
                    raise ProtocolError("version vector exceeds the entry cap")
        return cls(heads)

    def encode(self) -> bytes:
        """Canonical CBOR of ``to_wire()``."""
        return codec.encode(self.to_wire())

    @classmethod
    def decode(cls, data: bytes, *, max_bytes: int) -> VersionVector:
        return cls.from_wire(codec.decode(data, max_bytes=max_bytes))

    def digest(self) -> bytes:
        """BLAKE2b-128 of the canonical encoding: equal digests mean equal vectors."""
        if self._digest is None:
            self._digest = hashlib.blake2b(
                self.encode(), digest_size=DIGEST_BYTES, person=_DIGEST_PERSON
            ).digest()
        return self._digest

    def pages(self, max_bytes: int) -> list[VersionVector]:
        """Split by origin into vectors whose encoding is at most ``max_bytes`` each."""
        pages: list[VersionVector] = []
        current: dict[Key, int] = {}
        size = 1
        by_origin: dict[bytes, list[tuple[Stream, int]]] = {}
        for (origin, stream), seq in sorted(self._heads.items()):
            by_origin.setdefault(origin, []).append((stream, seq))
        for origin, entries in by_origin.items():
            # bstr header + key + map header + (stream, head) pairs, head up to 9 bytes
            cost = 2 + len(origin) + 1 + 10 * len(entries)
            if current and size + cost > max_bytes:
                pages.append(VersionVector(current))
                current, size = {}, 1
            for stream, seq in entries:
                current[(origin, stream)] = seq
            size += cost
        pages.append(VersionVector(current))
        return pages


EMPTY_VECTOR = VersionVector()


def _check_origin(origin: Any) -> None:
    if not isinstance(origin, bytes) or len(origin) != PUBLIC_KEY_BYTES:
        raise ProtocolError("an origin is a 32-byte public key")


def _stream(raw: Any) -> Stream:
    if not isinstance(raw, int) or isinstance(raw, bool):
        raise ProtocolError("stream must be an integer")
    try:
        return Stream(raw)
    except ValueError as exc:
        raise ProtocolError(f"unknown stream {raw}") from exc


def _seq(raw: Any) -> int:
    if not isinstance(raw, int) or isinstance(raw, bool) or not 1 <= raw <= MAX_SEQ:
        raise ProtocolError(f"bad sequence number {raw!r}")
    return raw

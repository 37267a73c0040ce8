"""Sync messages and their wire encoding (docs/protocol.md describes the same table).

A message is a canonical CBOR map with small integer keys; key 0 is the message type.
On a byte stream each message is framed by a 2-byte big-endian length. ``FIELDS`` is the
single declaration of every field key; a test compares it with docs/protocol.md.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

from shelterkit.errors import ProtocolError
from shelterkit.model import codec
from shelterkit.model.keys import PUBLIC_KEY_BYTES
from shelterkit.model.kinds import Stream
from shelterkit.model.record import MAX_RECORD_BYTES
from shelterkit.sync.limits import (
    FRAME_HEADER_BYTES,
    MAX_BYE_DETAIL_CHARS,
    MAX_MESSAGE_BYTES,
    MAX_RANGES_PER_WANT,
    PROTOCOL_VERSION,
)
from shelterkit.sync.vector import DIGEST_BYTES, SeqRange, VersionVector

TYPE_KEY: Final = 0
_MAX_REQUEST_ID = 2**32 - 1  # request ids count up within one session


class MessageType(enum.IntEnum):
    HELLO = 1
    SUMMARY = 2
    WANT = 3
    RECORDS = 4
    ACK = 5
    BYE = 6


class Role(enum.IntFlag):
    """What a peer is; informational, carried in HELLO."""

    NODE = 1
    HUB = 2
    RELAY = 4


_KNOWN_ROLES = Role.NODE | Role.HUB | Role.RELAY


class ByeReason(enum.IntEnum):
    DONE = 1  # our pull is complete (not an error)
    PROTOCOL_ERROR = 2
    INCOMPATIBLE = 3
    TIMEOUT = 4
    CANCELLED = 5
    REFUSED = 6  # unexpected or duplicate peer key


# Field name -> wire key, per message type. Never renumber; add new keys instead.
FIELDS: Final[dict[MessageType, dict[str, int]]] = {
    MessageType.HELLO: {"version": 1, "node": 2, "roles": 3, "streams": 4, "digest": 5},
    MessageType.SUMMARY: {"page": 1, "last": 2, "vector": 3},
    MessageType.WANT: {"request": 1, "ranges": 2},
    MessageType.RECORDS: {"request": 1, "records": 2},
    MessageType.ACK: {"request": 1, "heads": 2},
    MessageType.BYE: {"reason": 1, "detail": 2},
}


def streams_to_mask(streams: frozenset[Stream]) -> int:
    return sum(1 << (int(s) - 1) for s in streams)


def mask_to_streams(mask: int) -> frozenset[Stream]:
    return frozenset(s for s in Stream if mask & (1 << (int(s) - 1)))


@dataclass(frozen=True, slots=True)
class Hello:
    node: bytes
    roles: Role
    streams: frozenset[Stream]
    digest: bytes
    version: int = PROTOCOL_VERSION


@dataclass(frozen=True, slots=True)
class Summary:
    page: int
    last: bool
    vector: VersionVector


@dataclass(frozen=True, slots=True)
class Want:
    request: int
    ranges: tuple[SeqRange, ...]


@dataclass(frozen=True, slots=True)
class Records:
    request: int
    records: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class Ack:
    request: int
    heads: VersionVector


@dataclass(frozen=True, slots=True)
class Bye:
    reason: ByeReason
    detail: str = ""


Message = Hello | Summary | Want | Records | Ack | Bye

_TYPE_OF: dict[type[Any], MessageType] = {
    Hello: MessageType.HELLO,
    Summary: MessageType.SUMMARY,
    Want: MessageType.WANT,
    Records: MessageType.RECORDS,
    Ack: MessageType.ACK,
    Bye: MessageType.BYE,
}


def message_type(message: Message) -> MessageType:
    return _TYPE_OF[type(message)]


def _to_wire(message: Message) -> dict[int, Any]:
    if isinstance(message, Hello):
        values: dict[str, Any] = {
            "version": message.version,
            "node": message.node,
            "roles": int(message.roles),
            "streams": streams_to_mask(message.streams),
            "digest": message.digest,
        }
    elif isinstance(message, Summary):
        values = {"page": message.page, "last": message.last, "vector": message.vector.to_wire()}
    elif isinstance(message, Want):
        values = {"request": message.request, "ranges": [r.to_wire() for r in message.ranges]}
    elif isinstance(message, Records):
        values = {"request": message.request, "records": list(message.records)}
    elif isinstance(message, Ack):
        values = {"request": message.request, "heads": message.heads.to_wire()}
    else:
        values = {"reason": int(message.reason), "detail": message.detail}
    mtype = message_type(message)
    keys = FIELDS[mtype]
    wire = {keys[name]: value for name, value in values.items()}
    wire[TYPE_KEY] = int(mtype)
    return wire


def encode_payload(message: Message) -> bytes:
    """The canonical CBOR of ``message`` without the frame header."""
    return codec.encode(_to_wire(message))


def encode_frame(message: Message, *, max_bytes: int = MAX_MESSAGE_BYTES) -> bytes:
    payload = encode_payload(message)
    if len(payload) > max_bytes:
        raise ProtocolError(f"message of {len(payload)} bytes exceeds {max_bytes}")
    return struct.pack(">H", len(payload)) + payload


def records_overhead_bytes(request: int) -> int:
    """Bytes of a RECORDS message besides the records' own byte-string items."""
    return len(encode_payload(Records(request, ()))) + 4  # + the array header growing


def bstr_item_bytes(length: int) -> int:
    """Size of a CBOR byte string of ``length`` bytes, header included."""
    if length < 24:
        return 1 + length
    if length < 256:
        return 2 + length
    if length < 65536:
        return 3 + length
    return 5 + length


def decode_payload(payload: bytes, *, max_bytes: int = MAX_MESSAGE_BYTES) -> Message:
    """Parse and validate one message; any defect is a ``ProtocolError``."""
    raw = codec.decode(payload, max_bytes=max_bytes)
    if not isinstance(raw, dict):
        raise ProtocolError("a message is a map")
    mtype_raw = raw.get(TYPE_KEY)
    if not isinstance(mtype_raw, int) or isinstance(mtype_raw, bool):
        raise ProtocolError("message type missing")
    try:
        mtype = MessageType(mtype_raw)
    except ValueError as exc:
        raise ProtocolError(f"unknown message type {mtype_raw}") from exc
    keys = FIELDS[mtype]
    by_key = {v: k for k, v in keys.items()}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key == TYPE_KEY:
            continue
        name = by_key.get(key) if isinstance(key, int) else None
        if name is None:
            continue  # a field added by a newer version
        values[name] = value
    missing = set(keys) - set(values)
    if mtype is MessageType.BYE:
        missing.discard("detail")
    if missing:
        raise ProtocolError(f"{mtype.name} lacks {', '.join(sorted(missing))}")
    return _build(mtype, values)


def _build(mtype: MessageType, v: dict[str, Any]) -> Message:
    if mtype is MessageType.HELLO:
        node, digest = v["node"], v["digest"]
        if not isinstance(node, bytes) or len(node) != PUBLIC_KEY_BYTES:
            raise ProtocolError("HELLO node is a 32-byte key")
        if not isinstance(digest, bytes) or len(digest) != DIGEST_BYTES:
            raise ProtocolError("HELLO digest is 16 bytes")
        version = _uint(v["version"], "version", 2**16)
        roles = Role(_uint(v["roles"], "roles", 2**16) & _KNOWN_ROLES)  # newer roles dropped
        streams = mask_to_streams(_uint(v["streams"], "streams", 2**16))
        return Hello(node, roles, streams, digest, version)
    if mtype is MessageType.SUMMARY:
        last = v["last"]
        if not isinstance(last, bool):
            raise ProtocolError("SUMMARY last is a boolean")
        return Summary(_uint(v["page"], "page", 2**16), last, VersionVector.from_wire(v["vector"]))
    if mtype is MessageType.WANT:
        ranges = v["ranges"]
        if not isinstance(ranges, list) or len(ranges) > MAX_RANGES_PER_WANT:
            raise ProtocolError(f"WANT carries a list of at most {MAX_RANGES_PER_WANT} ranges")
        parsed = tuple(SeqRange.from_wire(r) for r in ranges)
        if len({r.key for r in parsed}) != len(parsed):
            raise ProtocolError("WANT names one (origin, stream) twice")
        return Want(_request(v["request"]), parsed)
    if mtype is MessageType.RECORDS:
        records = v["records"]
        if not isinstance(records, list):
            raise ProtocolError("RECORDS carries a list")
        for wire in records:
            if not isinstance(wire, bytes) or not 0 < len(wire) <= MAX_RECORD_BYTES:
                raise ProtocolError("a record is a byte string within the record size cap")
        return Records(_request(v["request"]), tuple(records))
    if mtype is MessageType.ACK:
        return Ack(_request(v["request"]), VersionVector.from_wire(v["heads"]))
    detail = v.get("detail", "")
    if not isinstance(detail, str) or len(detail) > MAX_BYE_DETAIL_CHARS:
        raise ProtocolError("BYE detail is short text")
    reason_raw = _uint(v["reason"], "reason", 2**16)
    try:
        reason = ByeReason(reason_raw)
    except ValueError:
        reason = ByeReason.PROTOCOL_ERROR  # a reason we do not know is still an ending
    return Bye(reason, detail)


def _uint(raw: Any, name: str, bound: int) -> int:
    if not isinstance(raw, int) or isinstance(raw, bool) or not 0 <= raw < bound:
        raise ProtocolError(f"{name} must be an integer in [0, {bound})")
    return raw


def _request(raw: Any) -> int:
    value = _uint(raw, "request", _MAX_REQUEST_ID + 1)
    if value == 0:
        raise ProtocolError("request ids start at 1")
    return value


class FrameBuffer:
    """Collects bytes from a stream and yields complete frame payloads."""

    __slots__ = ("_buf", "_max_bytes")

    def __init__(self, max_bytes: int) -> None:
        self._buf = bytearray()
        self._max_bytes = max_bytes

    def __len__(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> Iterator[bytes]:
        """Add ``data``; yield the payloads it completes. Raises on an oversize frame.

        Input is taken one frame's worth at a time, so however much ``data`` holds, the
        buffer never holds more than about two frames, and a consumer that stops at a bad
        message never makes the rest be buffered or split.
        """
        step = self._max_bytes + FRAME_HEADER_BYTES
        for start in range(0, max(len(data), 1), step):
            self._buf += data[start : start + step]
            while len(self._buf) >= FRAME_HEADER_BYTES:
                (length,) = struct.unpack_from(">H", self._buf)
                if length == 0 or length > self._max_bytes:
                    raise ProtocolError(f"frame of {length} bytes outside 1..{self._max_bytes}")
                end = FRAME_HEADER_BYTES + length
                if len(self._buf) < end:
                    break
                payload = bytes(self._buf[FRAME_HEADER_BYTES:end])
                del self._buf[:end]
                yield payload

    def clear(self) -> None:
        self._buf.clear()

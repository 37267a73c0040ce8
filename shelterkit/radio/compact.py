"""Compact radio forms of sync messages and records (pure; format in docs/radio.md).

A radio message (one ARQ message) is a *bundle*:

* ``BEACON``: ``0x51, streams(1), digest(8)`` — "this is what I hold", broadcast now and
  then; a neighbour whose own digest differs starts a sync session. A converged link
  costs one 26-byte frame per station per beacon interval and nothing else.
* ``PUSH``: ``0x53, flags(1), body`` — records sent unsolicited, outside any session:
  an alert flooded to every neighbour, or status and safety records handed to the next
  station towards city hall. ``body`` is ``uvarint length, wire`` per record, DEFLATEd with
  the preset dictionary when ``flags`` has ``FLAG_DEFLATED``. The receiver checks every
  record with ``accept_batch`` as any other.
* ``SYNC``: ``0x52, tag(1), item…`` — the messages of one sync session, in order; ``tag``
  names the session so that a late bundle of an earlier one is recognised. Each item is
  ``uvarint length, type(1), bytes``: a sync message as its own canonical CBOR (``PLAIN``),
  the same DEFLATE-compressed with the preset dictionary (``DEFLATED``), or a RECORDS
  message with every record in compact form (``RECORDS``).

A compact record leaves out what the receiver knows and rebuilds the exact canonical
wire, so the signature and the record id are unchanged::

    kind|flags(1)  range(1)  seq(uvarint)  hlc(8)  sig(64)  body(canonical CBOR, or DEFLATE)

``range`` is the index of the (origin, stream) range in the WANT that asked for the
record: both ends saw that WANT, so the 32-byte origin is one byte, without any table
that could differ between the two. The version (always 1) and the stream (implied by the
kind) are left out. A record that does not fit this form (another version, an origin not
asked for) travels whole (flag ``WIRE``). Whatever is rebuilt is checked again by the
receiver's ``accept_batch`` — signature and trust — so a damaged or forged compact
record can only be refused, never accepted.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from shelterkit.errors import ProtocolError
from shelterkit.model import codec
from shelterkit.model.keys import SIGNATURE_BYTES
from shelterkit.model.kinds import STREAM_OF, Kind, Stream
from shelterkit.model.record import MAX_RECORD_BYTES, RECORD_VERSION
from shelterkit.radio.zdict import ALERT_DICTIONARY
from shelterkit.sync.limits import MAX_RANGES_PER_WANT
from shelterkit.sync.messages import (
    Ack,
    Records,
    Summary,
    Want,
    decode_payload,
    encode_payload,
    mask_to_streams,
    streams_to_mask,
)
from shelterkit.sync.vector import SeqRange, VersionVector

BUNDLE_BEACON = 0x51  # radio format 1: beacon
BUNDLE_SYNC = 0x52  # radio format 1: sync bundle, dictionary zdict.DICTIONARY_SHA256
BUNDLE_PUSH = 0x53  # radio format 1: records pushed outside a session

ITEM_PLAIN = 0
ITEM_DEFLATED = 1
ITEM_RECORDS = 2
ITEM_KEYED = 3  # SUMMARY, WANT or ACK with every origin cut to KEY_PREFIX_BYTES
ITEM_KEYED_DEFLATED = 4  # the same, DEFLATEd

# An origin in a SUMMARY, WANT or ACK travels as its first 4 bytes; the receiver expands it
# from the keys it trusts (authorities, enrolled nodes, itself): records of any other
# origin would be refused anyway. A prefix it cannot expand, or that two of its keys share
# (about 2^-32 per pair), is left out of what it reads: it asks for that origin's records
# in a later round, once the enrolment arrived (CONTROL travels first). 32 -> 4 bytes per
# origin makes a 49-shelter SUMMARY about a quarter of its size (docs/radio.md).
KEY_PREFIX_BYTES = 4

FLAG_DEFLATED = 0x10  # the body (or the whole wire) is DEFLATE with the preset dictionary
FLAG_WIRE = 0x20  # the record travels whole
_KIND_MASK = 0x0F

# 8 bytes of the 16-byte vector digest: a false "converged" needs a 2^-64 coincidence,
# and the next change of either side sends a new beacon anyway.
BEACON_DIGEST_BYTES = 8
BEACON_BYTES = 2 + BEACON_DIGEST_BYTES
HLC_BYTES = 8  # the HLC is below 2^63 (model.record)
# A bundle never expands beyond a sync message of the radio's size (sync.limits: 8 KiB)
# plus its records' headers; anything larger from a peer is refused unparsed.
MAX_BUNDLE_BYTES = 16_384
MAX_ITEMS_PER_BUNDLE = 64  # a session emits a handful of messages per step
# Highest compression level: records are compressed once per send, on a tiny input.
_DEFLATE_LEVEL = 9
_WBITS_RAW = -15  # raw DEFLATE: no zlib header or Adler-32, the frame CRC covers it


@dataclass(frozen=True, slots=True)
class Beacon:
    streams: frozenset[Stream]
    digest: bytes  # BEACON_DIGEST_BYTES of VersionVector.digest()


@dataclass(frozen=True, slots=True)
class SyncBundle:
    tag: int
    items: tuple[bytes, ...]  # encoded items (see ``BundleCodec``)


@dataclass(frozen=True, slots=True)
class Push:
    records: tuple[bytes, ...]  # record wires, each checked by the receiver


def encode_push(push: Push) -> bytes:
    body = b"".join(_uvarint(len(w)) + w for w in push.records)
    packed = deflate(body)
    if len(packed) < len(body):
        return bytes([BUNDLE_PUSH, FLAG_DEFLATED]) + packed
    return bytes([BUNDLE_PUSH, 0]) + body


def _decode_push(data: bytes) -> Push:
    if len(data) < 2 or data[1] & ~FLAG_DEFLATED:
        raise ProtocolError("bad push flags")
    body = inflate(data[2:], MAX_BUNDLE_BYTES) if data[1] & FLAG_DEFLATED else data[2:]
    records: list[bytes] = []
    pos = 0
    while pos < len(body):
        if len(records) >= MAX_ITEMS_PER_BUNDLE:
            raise ProtocolError("too many records in a push")
        length, pos = _read_uvarint(body, pos)
        if length == 0 or length > MAX_RECORD_BYTES or pos + length > len(body):
            raise ProtocolError("truncated record in a push")
        records.append(bytes(body[pos : pos + length]))
        pos += length
    if not records:
        raise ProtocolError("empty push")
    return Push(tuple(records))


def beacon_for(have: VersionVector, streams: frozenset[Stream]) -> Beacon:
    return Beacon(streams, have.restrict(streams).digest()[:BEACON_DIGEST_BYTES])


def encode_beacon(beacon: Beacon) -> bytes:
    return bytes([BUNDLE_BEACON, streams_to_mask(beacon.streams)]) + beacon.digest


def encode_bundle(bundle: SyncBundle) -> bytes:
    if not 0 <= bundle.tag <= 0xFF:
        raise ProtocolError(f"bad session tag {bundle.tag}")
    out = bytearray([BUNDLE_SYNC, bundle.tag])
    for item in bundle.items:
        out += _uvarint(len(item)) + item
    return bytes(out)


def decode_bundle(data: bytes) -> Beacon | SyncBundle | Push:
    """Parse a radio message; a ``ProtocolError`` for anything else."""
    if len(data) > MAX_BUNDLE_BYTES:
        raise ProtocolError(f"radio message of {len(data)} bytes")
    if len(data) == BEACON_BYTES and data[0] == BUNDLE_BEACON:
        return Beacon(mask_to_streams(data[1]), bytes(data[2:]))
    if data[:1] == bytes([BUNDLE_PUSH]):
        return _decode_push(data)
    if len(data) < 2 or data[0] != BUNDLE_SYNC:
        raise ProtocolError("not a shelterkit radio message")
    items: list[bytes] = []
    pos = 2
    while pos < len(data):
        if len(items) >= MAX_ITEMS_PER_BUNDLE:
            raise ProtocolError("too many items in a bundle")
        length, pos = _read_uvarint(data, pos)
        if length == 0 or pos + length > len(data):
            raise ProtocolError("truncated item")
        items.append(bytes(data[pos : pos + length]))
        pos += length
    return SyncBundle(data[1], tuple(items))


def deflate(data: bytes) -> bytes:
    c = zlib.compressobj(_DEFLATE_LEVEL, zlib.DEFLATED, _WBITS_RAW, 9, zdict=ALERT_DICTIONARY)
    return c.compress(data) + c.flush()


def inflate(data: bytes, max_bytes: int) -> bytes:
    """Undo ``deflate``, refusing output beyond ``max_bytes`` (no decompression bomb)."""
    d = zlib.decompressobj(_WBITS_RAW, zdict=ALERT_DICTIONARY)
    try:
        out = d.decompress(data, max_bytes + 1)
    except zlib.error as exc:
        raise ProtocolError(f"bad compressed data: {exc}") from exc
    if len(out) > max_bytes or d.unconsumed_tail or not d.eof or d.unused_data:
        raise ProtocolError("compressed data too long or not complete")
    return out


def _smaller(data: bytes) -> tuple[bool, bytes]:
    packed = deflate(data)
    return (True, packed) if len(packed) < len(data) else (False, data)


# -- records ----------------------------------------------------------------------------------


def compact_record(wire: bytes, ranges: Sequence[SeqRange]) -> bytes:
    """The compact form of ``wire``, answering a WANT of ``ranges``."""
    try:
        value = codec.decode(wire, max_bytes=MAX_RECORD_BYTES)
    except ProtocolError:
        value = None
    compact = _compact_fields(value, ranges) if value is not None else None
    if compact is None:
        packed, data = _smaller(wire)
        return bytes([FLAG_WIRE | (FLAG_DEFLATED if packed else 0)]) + data
    kind, index, seq, hlc, body, sig = compact
    packed, data = _smaller(codec.encode(body))
    head = bytes([kind | (FLAG_DEFLATED if packed else 0), index])
    return head + _uvarint(seq) + hlc.to_bytes(HLC_BYTES, "big") + sig + data


def _compact_fields(
    value: Any, ranges: Sequence[SeqRange]
) -> tuple[int, int, int, int, Any, bytes] | None:
    if not isinstance(value, list) or len(value) != 8:
        return None
    v, origin, stream, seq, hlc, kind, body, sig = value
    try:
        kind_e = Kind(kind)
    except (ValueError, TypeError):
        return None
    if v != RECORD_VERSION or kind_e > _KIND_MASK or STREAM_OF[kind_e] != stream:
        return None
    if not (isinstance(seq, int) and isinstance(hlc, int) and 0 <= hlc < 2 ** (8 * HLC_BYTES)):
        return None
    if not isinstance(sig, bytes) or len(sig) != SIGNATURE_BYTES:
        return None
    index = next(
        (i for i, r in enumerate(ranges) if r.origin == origin and r.stream == stream), None
    )
    if index is None or seq < 0:
        return None
    rebuilt = codec.encode([RECORD_VERSION, origin, stream, seq, hlc, kind, body, sig])
    if rebuilt != codec.encode(value):  # cannot differ for canonical input; belt and braces
        return None
    return int(kind_e), index, seq, hlc, body, sig


def rebuild_record(data: bytes, ranges: Sequence[SeqRange]) -> bytes:
    """Rebuild the exact wire of a compact record (not yet verified: ``accept_batch`` does)."""
    if not data:
        raise ProtocolError("empty compact record")
    head = data[0]
    if head & ~(_KIND_MASK | FLAG_DEFLATED | FLAG_WIRE):
        raise ProtocolError(f"unknown record flags {head:#04x}")
    if head & FLAG_WIRE:
        rest = bytes(data[1:])
        return inflate(rest, MAX_RECORD_BYTES) if head & FLAG_DEFLATED else rest
    try:
        kind = Kind(head & _KIND_MASK)
    except ValueError as exc:
        raise ProtocolError(f"unknown kind {head & _KIND_MASK}") from exc
    if len(data) < 2 or data[1] >= len(ranges):
        raise ProtocolError("record refers to no range of the WANT")
    origin_range = ranges[data[1]]
    if STREAM_OF[kind] is not origin_range.stream:
        raise ProtocolError("record kind does not match the range's stream")
    seq, pos = _read_uvarint(data, 2)
    end = pos + HLC_BYTES + SIGNATURE_BYTES
    if end > len(data):
        raise ProtocolError("truncated compact record")
    hlc = int.from_bytes(data[pos : pos + HLC_BYTES], "big")
    sig = bytes(data[pos + HLC_BYTES : end])
    body_bytes = bytes(data[end:])
    if head & FLAG_DEFLATED:
        body_bytes = inflate(body_bytes, MAX_RECORD_BYTES)
    body = codec.decode(body_bytes, max_bytes=MAX_RECORD_BYTES)
    stream = int(origin_range.stream)
    wire = codec.encode(
        [RECORD_VERSION, origin_range.origin, stream, seq, hlc, int(kind), body, sig]
    )
    if len(wire) > MAX_RECORD_BYTES:
        raise ProtocolError("rebuilt record exceeds the record size cap")
    return wire


# -- sync messages ----------------------------------------------------------------------------


class BundleCodec:
    """Turns one session's sync messages into bundle items and back.

    It remembers the WANTs that pass through it, in either direction, so that records
    answering one can name their origin by range index. One codec per session.
    """

    __slots__ = ("_known", "_received_wants", "_sent_wants")

    def __init__(self, known_keys: Callable[[], Iterable[bytes]] | None = None) -> None:
        # Both ends number their WANTs from 1: a RECORDS we send answers a WANT we
        # received, one we receive answers a WANT we sent, so the two are kept apart.
        self._sent_wants: dict[int, tuple[SeqRange, ...]] = {}
        self._received_wants: dict[int, tuple[SeqRange, ...]] = {}
        # the origins this end can name by prefix (None: always send origins whole)
        self._known = known_keys

    @staticmethod
    def _note_want(wants: dict[int, tuple[SeqRange, ...]], want: Want) -> None:
        wants[want.request] = want.ranges
        while len(wants) > MAX_RANGES_PER_WANT:  # a session has one or few in flight
            del wants[next(iter(wants))]

    def encode(self, payload: bytes) -> bytes:
        """One item for the sync message ``payload`` (its canonical CBOR, no length prefix)."""
        message = decode_payload(payload)
        if isinstance(message, Want):
            self._note_want(self._sent_wants, message)
        if isinstance(message, Records) and message.request in self._received_wants:
            ranges = self._received_wants[message.request]
            out = bytearray([ITEM_RECORDS]) + _uvarint(message.request)
            for wire in message.records:
                compact = compact_record(wire, ranges)
                out += _uvarint(len(compact)) + compact
            return bytes(out)
        if self._known is not None and isinstance(message, Summary | Want | Ack):
            keyed = _shorten_origins(payload)
            if keyed is not None:
                packed, data = _smaller(keyed)
                return bytes([ITEM_KEYED_DEFLATED if packed else ITEM_KEYED]) + data
        packed, data = _smaller(payload)
        return bytes([ITEM_DEFLATED if packed else ITEM_PLAIN]) + data

    def decode(self, item: bytes, max_message_bytes: int) -> bytes:
        """The sync message payload of ``item``; a ``ProtocolError`` if it is malformed."""
        if not item:
            raise ProtocolError("empty item")
        kind, body = item[0], item[1:]
        if kind == ITEM_PLAIN:
            payload = bytes(body)
        elif kind == ITEM_DEFLATED:
            payload = inflate(bytes(body), max_message_bytes)
        elif kind == ITEM_RECORDS:
            payload = self._decode_records(bytes(body))
        elif kind in (ITEM_KEYED, ITEM_KEYED_DEFLATED):
            keyed = bytes(body) if kind == ITEM_KEYED else inflate(bytes(body), max_message_bytes)
            payload = self._expand_origins(keyed, max_message_bytes)
        else:
            raise ProtocolError(f"unknown item type {kind}")
        message = decode_payload(payload, max_bytes=max_message_bytes)
        if isinstance(message, Want):
            self._note_want(self._received_wants, message)
        return payload

    def _expand_origins(self, keyed: bytes, max_message_bytes: int) -> bytes:
        by_prefix: dict[bytes, bytes | None] = {}
        for key in self._known() if self._known is not None else ():
            prefix = key[:KEY_PREFIX_BYTES]
            by_prefix[prefix] = None if by_prefix.get(prefix, key) != key else key
        raw = codec.decode(keyed, max_bytes=max_message_bytes)
        if not isinstance(raw, dict):
            raise ProtocolError("a message is a map")
        expanded = _walk_origins(
            raw, lambda b: by_prefix.get(b) if len(b) == KEY_PREFIX_BYTES else None
        )
        if not isinstance(expanded, dict):
            raise ProtocolError("a message is a map")
        return codec.encode(expanded)

    def _decode_records(self, body: bytes) -> bytes:
        request, pos = _read_uvarint(body, 0)
        ranges = self._sent_wants.get(request)
        if ranges is None:
            raise ProtocolError(f"RECORDS for request {request}, which was not asked for")
        wires: list[bytes] = []
        for compact in _length_prefixed(body, pos):
            wires.append(rebuild_record(compact, ranges))
        return encode_payload(Records(request, tuple(wires)))


class _Unknown:
    """An origin prefix that did not expand: its entry is left out."""


_UNKNOWN = _Unknown()


def _shorten_origins(payload: bytes) -> bytes | None:
    """``payload`` (a SUMMARY, WANT or ACK, whose byte strings are all origins) with each
    origin cut to its prefix; None if two origins share a prefix."""
    raw = codec.decode(payload)
    seen: dict[bytes, bytes] = {}
    clash = False

    def shorten(b: bytes) -> bytes:
        nonlocal clash
        prefix = b[:KEY_PREFIX_BYTES]
        clash = clash or seen.setdefault(prefix, b) != b
        return prefix

    short = _walk_origins(raw, shorten)
    return None if clash else codec.encode(short)


def _walk_origins(value: Any, change: Callable[[bytes], bytes | None]) -> Any:
    """``value`` with every byte string passed through ``change``: a map entry whose key
    (or whose value's first element) comes back None is left out, as is a list whose
    element does (a range of an unknown origin)."""
    if isinstance(value, bytes):
        new = change(value)
        return _UNKNOWN if new is None else new
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        for k, v in value.items():
            k2, v2 = _walk_origins(k, change), _walk_origins(v, change)
            if k2 is not _UNKNOWN and v2 is not _UNKNOWN:
                out[k2] = v2
        return out
    if isinstance(value, list):
        items = [_walk_origins(v, change) for v in value]
        if any(i is _UNKNOWN and isinstance(v, bytes) for i, v in zip(items, value, strict=True)):
            return _UNKNOWN  # a range [origin, stream, first, last] of an unknown origin
        return [i for i in items if i is not _UNKNOWN]
    return value


def _length_prefixed(data: bytes, pos: int) -> Iterator[bytes]:
    while pos < len(data):
        length, pos = _read_uvarint(data, pos)
        if length == 0 or pos + length > len(data):
            raise ProtocolError("truncated compact record")
        yield data[pos : pos + length]
        pos += length


def _uvarint(value: int) -> bytes:
    """LEB128 unsigned integer (as in protobuf varints)."""
    if value < 0:
        raise ProtocolError("negative varint")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


_MAX_VARINT_BYTES = 8  # 56 bits: every seq (< 2^53) and length here


def _read_uvarint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    for i in range(_MAX_VARINT_BYTES):
        if pos + i >= len(data):
            raise ProtocolError("truncated varint")
        byte = data[pos + i]
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            if i and byte == 0:
                raise ProtocolError("non-minimal varint")
            return value, pos + i + 1
    raise ProtocolError("varint too long")

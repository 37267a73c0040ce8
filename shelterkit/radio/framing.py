"""Frames on a serial byte stream: header, payload and CRC, COBS-stuffed, 0x00-delimited.

Wire form of one frame (before stuffing), all integers big-endian::

    protocol(1) type(1) src(2) dst(2) seq(2) index(1) count(1) payload(0..) crc32c(4)

``protocol`` names this framing and its version; frames of anything else are dropped.
``type`` carries the frame type in its low nibble and flags in its high nibble.
``seq`` is the sender's message number; ``index``/``count`` place a fragment in it.
The CRC covers every byte before it. The stuffed frame is followed by one 0x00
delimiter, so a receiver that starts mid-stream or loses bytes resynchronises at the
next delimiter.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass, field

import crcmod.predefined
from cobs import cobs

from shelterkit.errors import ProtocolError

PROTOCOL_BYTE = 0xB1  # "shelterkit radio framing, version 1"; a new layout takes a new value
DELIMITER = b"\x00"
HEADER = struct.Struct(">BBHHHBB")
HEADER_BYTES = HEADER.size  # 10
CRC_BYTES = 4
# Largest unstuffed frame: one LoRa PHY payload, whose length register is 8 bits
# (SX126x/SX127x datasheets); a plain cable uses the same size for one code path.
MAX_FRAME_BYTES = 255
# COBS adds one code byte per started 254-byte block (Cheshire & Baker 1999), then the delimiter.
MAX_ENCODED_FRAME_BYTES = MAX_FRAME_BYTES + (MAX_FRAME_BYTES + 253) // 254 + 1
MAX_FRAME_PAYLOAD_BYTES = MAX_FRAME_BYTES - HEADER_BYTES - CRC_BYTES
# One message is cut into at most this many fragments: a 6 KiB record
# (model.record.MAX_RECORD_BYTES) needs 34 fragments of 184 bytes; the ACK bitmap is 8 bytes.
MAX_FRAGMENTS = 64
BROADCAST_ID = 0xFFFF  # link-level destination heard by every station
MAX_STATION_ID = 0xFFFE
MAX_SEQ = 0xFFFF
# Packet size of the E220-900T22S(JP) in its default sub-packet setting (REG1, vendor manual §9).
E220_PACKET_BYTES = 200

# CRC-32C (Castagnoli): Hamming distance 6 for data up to 5,243 bits (Koopman, "32-bit
# cyclic redundancy codes for Internet applications", DSN 2002), i.e. every frame here,
# where the IEEE CRC-32 keeps HD 6 only to 268 bits. CRC-16 would let one random
# corruption in 65,536 through; 32 bits make that 1 in 4.3e9 before signatures are checked.
_crc32c = crcmod.predefined.mkPredefinedCrcFun("crc-32c")


def crc32c(data: bytes) -> int:
    value: int = _crc32c(data)
    return value


class FrameType(enum.IntEnum):
    DATA = 1  # a fragment of a message
    ACK = 2  # selective acknowledgement: payload is a bitmap of received fragments


FLAG_POLL = 0x80  # on DATA: last frame of a burst, the receiver answers with an ACK now
_TYPE_MASK = 0x0F
_KNOWN_FLAGS = FLAG_POLL


@dataclass(frozen=True, slots=True)
class Frame:
    """One link-layer frame, already validated (built locally or decoded from the wire)."""

    type: FrameType
    src: int
    dst: int
    seq: int
    index: int
    count: int
    payload: bytes = b""
    poll: bool = False

    def __post_init__(self) -> None:
        _check(self)

    @property
    def wire_bytes(self) -> int:
        """Unstuffed size of this frame on the wire."""
        return HEADER_BYTES + len(self.payload) + CRC_BYTES


def ack_bitmap_bytes(count: int) -> int:
    return (count + 7) // 8


def _check(frame: Frame) -> None:
    if not 0 <= frame.src <= MAX_STATION_ID:
        raise ProtocolError(f"bad source id {frame.src}")
    if not 0 <= frame.dst <= BROADCAST_ID:
        raise ProtocolError(f"bad destination id {frame.dst}")
    if not 0 <= frame.seq <= MAX_SEQ:
        raise ProtocolError(f"bad sequence number {frame.seq}")
    if not 1 <= frame.count <= MAX_FRAGMENTS or not 0 <= frame.index < frame.count:
        raise ProtocolError(f"bad fragment {frame.index}/{frame.count}")
    if len(frame.payload) > MAX_FRAME_PAYLOAD_BYTES:
        raise ProtocolError(f"payload of {len(frame.payload)} bytes exceeds one frame")
    if frame.type is FrameType.ACK:
        if frame.index != 0 or frame.poll or frame.dst == BROADCAST_ID:
            raise ProtocolError("malformed ACK header")
        if len(frame.payload) != ack_bitmap_bytes(frame.count):
            raise ProtocolError("ACK bitmap does not match the fragment count")


def pack_frame(frame: Frame) -> bytes:
    """The unstuffed bytes of ``frame``: header, payload, CRC."""
    type_byte = int(frame.type) | (FLAG_POLL if frame.poll else 0)
    body = (
        HEADER.pack(
            PROTOCOL_BYTE, type_byte, frame.src, frame.dst, frame.seq, frame.index, frame.count
        )
        + frame.payload
    )
    return body + crc32c(body).to_bytes(CRC_BYTES, "big")


def encode_frame(frame: Frame) -> bytes:
    """Bytes to write to the port: COBS-stuffed frame and its delimiter."""
    stuffed: bytes = cobs.encode(pack_frame(frame))
    return stuffed + DELIMITER


def encoded_size(payload_bytes: int) -> int:
    """Bytes on the port for a frame carrying ``payload_bytes`` (stuffing and delimiter)."""
    raw = HEADER_BYTES + payload_bytes + CRC_BYTES
    return raw + (raw + 253) // 254 + 1


def payload_bytes_for_packet(packet_bytes: int) -> int:
    """Largest frame payload whose encoded frame fits in one module packet."""
    payload = packet_bytes
    while payload >= 0 and (
        payload > MAX_FRAME_PAYLOAD_BYTES or encoded_size(payload) > packet_bytes
    ):
        payload -= 1
    if payload <= 0:
        raise ValueError(f"a packet of {packet_bytes} bytes cannot carry a frame")
    return payload


class CorruptFrame(ProtocolError):
    """The CRC does not match: the bytes were damaged and are not looked at further."""


class ForeignFrame(ProtocolError):
    """A well-delimited frame of another protocol or another version of this one."""


def unpack_frame(raw: bytes) -> Frame:
    """Parse unstuffed bytes; raises ``CorruptFrame``, ``ForeignFrame`` or ``ProtocolError``."""
    if len(raw) < HEADER_BYTES + CRC_BYTES or len(raw) > MAX_FRAME_BYTES:
        raise CorruptFrame(f"frame of {len(raw)} bytes")
    body, crc = raw[:-CRC_BYTES], raw[-CRC_BYTES:]
    if crc32c(body) != int.from_bytes(crc, "big"):
        raise CorruptFrame("CRC mismatch")
    protocol, type_byte, src, dst, seq, index, count = HEADER.unpack_from(body)
    if protocol != PROTOCOL_BYTE:
        raise ForeignFrame(f"protocol byte {protocol:#04x}")
    if type_byte & ~(_TYPE_MASK | _KNOWN_FLAGS):
        raise ProtocolError(f"unknown flags {type_byte:#04x}")
    try:
        frame_type = FrameType(type_byte & _TYPE_MASK)
    except ValueError as exc:
        raise ProtocolError(f"unknown frame type {type_byte & _TYPE_MASK}") from exc
    return Frame(
        frame_type,
        src,
        dst,
        seq,
        index,
        count,
        bytes(body[HEADER_BYTES:]),
        bool(type_byte & FLAG_POLL),
    )


def decode_frame(encoded: bytes) -> Frame:
    """Parse one stuffed frame without its delimiter."""
    if not encoded or len(encoded) > MAX_ENCODED_FRAME_BYTES or 0 in encoded:
        raise CorruptFrame(f"stuffed frame of {len(encoded)} bytes")
    try:
        raw: bytes = cobs.decode(encoded)
    except cobs.DecodeError as exc:
        raise CorruptFrame(f"bad stuffing: {exc}") from exc
    return unpack_frame(raw)


@dataclass(slots=True)
class DeframerCounters:
    """What the deframer saw; health and the TUI show these."""

    frames: int = 0
    corrupt: int = 0  # bad stuffing, bad length or CRC mismatch
    foreign: int = 0  # intact but of another protocol or version
    malformed: int = 0  # intact, ours, but the header is invalid
    oversize: int = 0  # runs of bytes longer than any frame, discarded
    bytes_discarded: int = 0


@dataclass(slots=True)
class Deframer:
    """Streaming deframer: feed arbitrary chunks, get whole valid frames.

    Memory is bounded by ``MAX_ENCODED_FRAME_BYTES``: a run without a delimiter longer
    than any frame (a babbling transmitter, a wrong baud rate) is discarded up to the next
    delimiter. Damaged frames are counted and dropped, never parsed further.
    """

    counters: DeframerCounters = field(default_factory=DeframerCounters, init=False)
    _buffer: bytearray = field(default_factory=bytearray, init=False)
    _discarding: bool = field(default=False, init=False)

    @property
    def buffered_bytes(self) -> int:
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Frame]:
        frames: list[Frame] = []
        start = 0
        while start < len(data):
            end = data.find(DELIMITER, start)
            if end < 0:
                self._append(data[start:])
                break
            self._append(data[start:end])
            if self._discarding:
                self._discarding = False
            elif self._buffer:
                frame = self._parse(bytes(self._buffer))
                if frame is not None:
                    frames.append(frame)
            self._buffer.clear()
            start = end + 1
        return frames

    def _append(self, chunk: bytes) -> None:
        if self._discarding:
            self.counters.bytes_discarded += len(chunk)
            return
        if len(self._buffer) + len(chunk) > MAX_ENCODED_FRAME_BYTES - len(DELIMITER):
            self.counters.oversize += 1
            self.counters.bytes_discarded += len(self._buffer) + len(chunk)
            self._buffer.clear()
            self._discarding = True
            return
        self._buffer += chunk

    def _parse(self, encoded: bytes) -> Frame | None:
        try:
            frame = decode_frame(encoded)
        except CorruptFrame:
            self.counters.corrupt += 1
            return None
        except ForeignFrame:
            self.counters.foreign += 1
            return None
        except ProtocolError:
            self.counters.malformed += 1
            return None
        self.counters.frames += 1
        return frame

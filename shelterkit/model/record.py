"""The record envelope: an immutable, signed unit of replication (DESIGN §2).

Wire form (canonical CBOR array)::

    [v, origin, stream, seq, hlc, kind, body, sig]

``sig`` is Ed25519 by ``origin`` over ``SIGNING_DOMAIN`` + the canonical encoding of the
first seven elements, so it covers every field. ``id`` is BLAKE2b-128 of the whole wire
form and is the dedupe key everywhere.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from shelterkit.errors import ProtocolError
from shelterkit.model import codec
from shelterkit.model.fields import body_from_wire, body_to_wire
from shelterkit.model.keys import PUBLIC_KEY_BYTES, SIGNATURE_BYTES, Identity, verify
from shelterkit.model.kinds import BODY_TYPES, RECORD_ID_BYTES, STREAM_OF, AnyBody, Kind, Stream

RECORD_VERSION = 1
SIGNING_DOMAIN = b"shelterkit/record/v1\x00"
# Largest record accepted from anywhere: the biggest body (an alert in several languages)
# fits with room; anything larger is refused before its signature is checked.
MAX_RECORD_BYTES = 6144
MAX_SEQ = 2**53  # sequence numbers stay exact in JSON at the web edge


@dataclass(frozen=True, slots=True)
class Record:
    origin: bytes
    stream: Stream
    seq: int
    hlc: int
    kind: Kind
    body: AnyBody
    sig: bytes
    wire: bytes
    id: bytes

    @property
    def sort_key(self) -> tuple[int, bytes]:
        """Order of events: HLC, ties broken by origin (DESIGN §2)."""
        return (self.hlc, self.origin)


def _unsigned(
    origin: bytes, seq: int, hlc: int, kind: Kind, body_wire: dict[int, Any]
) -> list[Any]:
    return [RECORD_VERSION, origin, int(STREAM_OF[kind]), seq, hlc, int(kind), body_wire]


def record_id(wire: bytes) -> bytes:
    return hashlib.blake2b(wire, digest_size=RECORD_ID_BYTES).digest()


def sign_record(identity: Identity, seq: int, hlc: int, body: AnyBody) -> Record:
    """Create and sign a record of ``identity`` with the given sequence number and time."""
    if not 1 <= seq <= MAX_SEQ:
        raise ProtocolError(f"sequence number {seq} out of range")
    kind = body.KIND
    unsigned = _unsigned(identity.public, seq, hlc, kind, body_to_wire(body))
    sig = identity.sign(SIGNING_DOMAIN + codec.encode(unsigned))
    wire = codec.encode([*unsigned, sig])
    if len(wire) > MAX_RECORD_BYTES:
        raise ProtocolError(f"record of {len(wire)} bytes exceeds {MAX_RECORD_BYTES}")
    return Record(
        identity.public, STREAM_OF[kind], seq, hlc, kind, body, sig, wire, record_id(wire)
    )


def decode_record(wire: bytes, *, verify_signature: bool = True) -> Record:
    """Parse and verify a record from its wire form.

    Checks size, canonical form, every field's type, the body schema and the signature.
    Whether the origin may sign this kind is a separate question (``model.trust``).
    ``verify_signature=False`` is only for bytes read back from this node's own store,
    where they were verified before they were written.
    """
    if len(wire) > MAX_RECORD_BYTES:
        raise ProtocolError(f"record of {len(wire)} bytes exceeds {MAX_RECORD_BYTES}")
    value = codec.decode(wire, max_bytes=MAX_RECORD_BYTES)
    if not isinstance(value, list) or len(value) != 8:
        raise ProtocolError("record is not an 8-element array")
    v, origin, stream, seq, hlc, kind, body_wire, sig = value
    if v != RECORD_VERSION:
        raise ProtocolError(f"unsupported record version {v!r}")
    if not isinstance(origin, bytes) or len(origin) != PUBLIC_KEY_BYTES:
        raise ProtocolError("bad origin")
    if not isinstance(sig, bytes) or len(sig) != SIGNATURE_BYTES:
        raise ProtocolError("bad signature field")
    if not isinstance(seq, int) or isinstance(seq, bool) or not 1 <= seq <= MAX_SEQ:
        raise ProtocolError("bad sequence number")
    if not isinstance(hlc, int) or isinstance(hlc, bool) or not 0 <= hlc < 2**63:
        raise ProtocolError("bad hlc")
    try:
        kind_e = Kind(kind)
        stream_e = Stream(stream)
    except (ValueError, TypeError) as exc:
        raise ProtocolError(f"unknown kind or stream {kind!r}/{stream!r}") from exc
    if STREAM_OF[kind_e] is not stream_e:
        raise ProtocolError(f"kind {kind_e.name} does not belong to stream {stream_e.name}")
    body_type = BODY_TYPES.get(kind_e)
    if body_type is None:
        raise ProtocolError(f"kind {kind_e.name} is not supported by this version")
    if verify_signature:
        verify(origin, SIGNING_DOMAIN + codec.encode(value[:7]), sig)
    body = body_from_wire(body_type, body_wire)
    return Record(origin, stream_e, seq, hlc, kind_e, body, sig, wire, record_id(wire))

"""Redaction: wiping superseded, deleted and expired person records to placeholders.

A signed record cannot be edited and a sequence cannot have holes (sync serves gap-free
ranges per (origin, stream), docs/protocol.md), so a record is never dropped. Instead a
``REDACT`` record (``RedactBody``), signed by the record's own origin or by city hall,
names the record by ``(origin, ANPI, seq, id)``; every store that holds both replaces the
record by a **placeholder** that keeps its slot and nothing of its body, and sync sends
the placeholder in its place. Wire form of a placeholder (canonical CBOR)::

    [0, origin, stream, seq, kind, original id, redaction wire]

Element 0 is 0 where a record has its version (1), so the two never mix up, and elements
1–3 sit where a record has them (``sync.accept`` reads them the same way). The placeholder
carries the whole redaction record, so a receiver checks it on its own: the redaction's
signature, that its signer may sign (``model.trust``), and that it names this very slot.
Nothing has to arrive first, so a gap-free range can never wait on a record that comes
after it. A placeholder without a covering redaction is refused: a relay cannot erase
records it dislikes. Only safety records are redactable — persons, and the PFIF notes
about them once the person is deleted; alerts, notices, status, board and control records
never are.

Pure: no I/O.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from shelterkit.errors import ProtocolError
from shelterkit.model import codec
from shelterkit.model.keys import PUBLIC_KEY_BYTES
from shelterkit.model.kinds import RECORD_ID_BYTES, STREAM_OF, Kind, RedactBody, Stream
from shelterkit.model.record import MAX_RECORD_BYTES, MAX_SEQ, Record, decode_record

PLACEHOLDER_MARK = 0
# Kinds a redaction may wipe: person records hold names and details, notes what was said
# about a person (PFIF deletes both). Everything else (alerts above all) stays as signed.
REDACTABLE_KINDS = frozenset({Kind.PERSON, Kind.NOTE})
REDACTABLE_STREAM = Stream.ANPI
_PLACEHOLDER_DOMAIN = b"shelterkit/placeholder/v1\x00"
# A placeholder is about 60 bytes plus its redaction record (at most about 500 bytes with
# MAX_REDACT_TARGETS targets), so it travels wherever a record does.
MAX_PLACEHOLDER_BYTES = MAX_RECORD_BYTES

Slot = tuple[bytes, Stream, int]


@dataclass(frozen=True, slots=True)
class Placeholder:
    """What remains of a redacted record: its slot, its kind and the redaction."""

    origin: bytes
    stream: Stream
    seq: int
    kind: Kind
    original_id: bytes
    redaction: Record
    wire: bytes
    id: bytes


@dataclass(frozen=True, slots=True)
class Target:
    """One record a redaction names."""

    origin: bytes
    stream: Stream
    seq: int
    record_id: bytes

    @property
    def slot(self) -> Slot:
        return (self.origin, self.stream, self.seq)


def targets(redaction: Record) -> tuple[Target, ...]:
    """The records ``redaction`` names; ``ProtocolError`` if it is not a valid redaction."""
    body = redaction.body
    if not isinstance(body, RedactBody):
        raise ProtocolError("not a redaction record")
    if body.origin and len(body.origin) != PUBLIC_KEY_BYTES:
        raise ProtocolError("redaction origin must be empty or a 32-byte key")
    origin = body.origin or redaction.origin
    return tuple(Target(origin, REDACTABLE_STREAM, seq, rid) for seq, rid in body.targets)


def placeholder_id(original_id: bytes) -> bytes:
    """The id a placeholder is stored under: derived from the original id, so it cannot
    be chosen to collide with another record's id."""
    return hashlib.blake2b(_PLACEHOLDER_DOMAIN + original_id, digest_size=RECORD_ID_BYTES).digest()


def make_placeholder(original: Record, redaction: Record) -> Placeholder:
    """The placeholder of ``original`` under ``redaction`` (``ProtocolError`` if the
    redaction does not cover it or its kind is not redactable)."""
    if original.kind not in REDACTABLE_KINDS:
        raise ProtocolError(f"{original.kind.name.lower()} records are never redacted")
    target = Target(original.origin, original.stream, original.seq, original.id)
    if target not in targets(redaction):
        raise ProtocolError("the redaction does not name this record")
    return _build(target, original.kind, redaction)


def placeholder_for(target: Target, kind: Kind, redaction: Record) -> Placeholder:
    """The placeholder of a target known only by its slot (the original was never held)."""
    if kind not in REDACTABLE_KINDS:
        raise ProtocolError(f"{kind.name.lower()} records are never redacted")
    if target not in targets(redaction):
        raise ProtocolError("the redaction does not name this record")
    return _build(target, kind, redaction)


def _build(target: Target, kind: Kind, redaction: Record) -> Placeholder:
    wire = codec.encode(
        [
            PLACEHOLDER_MARK,
            target.origin,
            int(target.stream),
            target.seq,
            int(kind),
            target.record_id,
            redaction.wire,
        ]
    )
    return Placeholder(
        target.origin,
        target.stream,
        target.seq,
        kind,
        target.record_id,
        redaction,
        wire,
        placeholder_id(target.record_id),
    )


def is_placeholder(wire: bytes) -> bool:
    """Cheap test of the form (a 7-element array starting with 0); not a validation."""
    return len(wire) >= 2 and wire[0] == 0x87 and wire[1] == PLACEHOLDER_MARK


def decode_placeholder(wire: bytes, *, verify_signature: bool = True) -> Placeholder:
    """Parse a placeholder and check that its redaction covers it.

    Checks the form, the redaction's signature (unless read back from this node's own
    store) and that the redaction names this slot and id; whether the redaction's signer
    may sign it is ``TrustPolicy.check`` on ``placeholder.redaction``.
    """
    if len(wire) > MAX_PLACEHOLDER_BYTES:
        raise ProtocolError(f"placeholder of {len(wire)} bytes is too large")
    value = codec.decode(wire, max_bytes=MAX_PLACEHOLDER_BYTES)
    if not isinstance(value, list) or len(value) != 7 or value[0] != PLACEHOLDER_MARK:
        raise ProtocolError("not a placeholder")
    _, origin, stream, seq, kind, original_id, redaction_wire = value
    if not isinstance(origin, bytes) or len(origin) != PUBLIC_KEY_BYTES:
        raise ProtocolError("bad placeholder origin")
    if not isinstance(seq, int) or isinstance(seq, bool) or not 1 <= seq <= MAX_SEQ:
        raise ProtocolError("bad placeholder sequence number")
    if not isinstance(original_id, bytes) or len(original_id) != RECORD_ID_BYTES:
        raise ProtocolError("bad placeholder record id")
    if not isinstance(redaction_wire, bytes):
        raise ProtocolError("bad placeholder redaction")
    try:
        kind_e, stream_e = Kind(kind), Stream(stream)
    except (ValueError, TypeError) as exc:
        raise ProtocolError("unknown placeholder kind or stream") from exc
    if STREAM_OF[kind_e] is not stream_e:
        raise ProtocolError("placeholder kind does not belong to its stream")
    redaction = decode_record(redaction_wire, verify_signature=verify_signature)
    placeholder = placeholder_for(Target(origin, stream_e, seq, original_id), kind_e, redaction)
    if placeholder.wire != wire:
        raise ProtocolError("placeholder is not in canonical form")
    return placeholder


__all__ = [
    "MAX_PLACEHOLDER_BYTES",
    "PLACEHOLDER_MARK",
    "REDACTABLE_KINDS",
    "Placeholder",
    "Slot",
    "Target",
    "decode_placeholder",
    "is_placeholder",
    "make_placeholder",
    "placeholder_for",
    "placeholder_id",
    "targets",
]

"""Validation of a received batch before the caller stores it (pure; DESIGN §2, §10).

``accept_batch`` decodes every record (size, canonical form, schema, signature), checks
its signer's authority with ``TrustPolicy.check`` and enforces per-(origin, stream)
contiguity against what the caller already holds.

Records beyond the contiguous head are **dropped**, not held: the requester asks again
from its head in the next WANT, so nothing is lost, and no pending set needs a bound, an
eviction rule or a restart story. Within one batch, records are first put in sync order
(CONTROL first, then by origin and seq), so a batch that carries an enrolment and then the
enrolled node's records is accepted whole, whatever order the peer used.

Duplicates (seq at or below the head) and records of signers that may sign nothing (not
an authority, not enrolled, or revoked) are recognised from the record header alone, before
any signature check: a record already held or a noisy unknown origin costs a parse, not a
verification. Nothing is ever stored twice.

A slot may hold a **placeholder** instead of a record (``model.redaction``: a person
record wiped after a correction, deletion or expiry). It takes part in contiguity like a
record and is accepted only if the redaction it carries is valid, signed by someone who
may sign it (``TrustPolicy.check``) and names exactly that slot.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import cbor2

from shelterkit.errors import ProtocolError
from shelterkit.model.keys import PUBLIC_KEY_BYTES
from shelterkit.model.kinds import Stream
from shelterkit.model.record import MAX_RECORD_BYTES, Record, decode_record, record_id
from shelterkit.model.redaction import Placeholder, decode_placeholder, is_placeholder
from shelterkit.model.trust import TrustPolicy
from shelterkit.sync.limits import MAX_ACCEPT_BATCH_RECORDS, MAX_REJECTION_ORIGINS
from shelterkit.sync.vector import Key, VersionVector, sync_order


@dataclasses.dataclass(frozen=True, slots=True)
class Rejection:
    """A record that is not stored, and why. ``origin`` is None if it could not be read."""

    record_id: bytes
    origin: bytes | None
    reason: str


@dataclasses.dataclass(frozen=True, slots=True)
class BatchResult:
    accepted: tuple[Record, ...]  # in the order to store them
    rejected: tuple[Rejection, ...]  # invalid: bad form, signature or authority
    duplicates: int  # already held (seq at or below the head): a no-op
    beyond_head: int  # valid-looking but not contiguous with the head: dropped, asked again
    have: VersionVector  # the caller's vector once ``accepted`` is stored
    placeholders: tuple[Placeholder, ...] = ()  # redacted slots, stored with ``accepted``


@dataclasses.dataclass(slots=True)
class RejectionTally:
    """Rejections counted per origin, in a bounded table (log once per origin)."""

    max_origins: int = MAX_REJECTION_ORIGINS
    by_origin: dict[bytes, int] = dataclasses.field(default_factory=dict)
    unattributed: int = 0  # unreadable records, and origins beyond the table's cap

    def count(self, origin: bytes | None) -> bool:
        """Count one rejection; True the first time ``origin`` is seen (log it then)."""
        if origin is None:
            self.unattributed += 1
            return False
        if origin in self.by_origin:
            self.by_origin[origin] += 1
            return False
        if len(self.by_origin) >= self.max_origins:
            self.unattributed += 1
            return False
        self.by_origin[origin] = 1
        return True

    @property
    def total(self) -> int:
        return sum(self.by_origin.values()) + self.unattributed


def _peek(wire: bytes) -> tuple[bytes, Stream, int] | None:
    """(origin, stream, seq) read from an unverified record, or None if unreadable."""
    try:
        value = cbor2.loads(wire)
        origin, stream, seq = value[1], Stream(value[2]), value[3]
    except Exception:  # any malformed input: the full decode will say why
        return None
    if not isinstance(origin, bytes) or len(origin) != PUBLIC_KEY_BYTES:
        return None
    if not isinstance(seq, int) or isinstance(seq, bool):
        return None
    return origin, stream, seq


def _unknown_signer(trust: TrustPolicy, origin: bytes) -> str:
    """Why ``origin`` may sign nothing at all, or "" (same wording as ``TrustPolicy``)."""
    if trust.is_authority(origin):
        return ""
    if origin in trust.revoked:
        return "origin has been revoked"
    if trust.shelter_of(origin) is None:
        return "origin is not enrolled"
    return ""


def accept_batch(
    wires: Sequence[bytes],
    trust: TrustPolicy,
    have: VersionVector,
    *,
    tally: RejectionTally | None = None,
) -> BatchResult:
    """Split ``wires`` into records to store and records to refuse, with reasons.

    ``trust`` is not modified: enrolments and revocations accepted earlier in the batch
    are applied to a scratch copy so that later records in the same batch see them. The
    caller stores ``accepted`` in order, commits, and then calls ``trust.learn`` on each.
    """
    rejected: list[Rejection] = []

    def reject(wire: bytes, origin: bytes | None, reason: str) -> None:
        rejected.append(Rejection(record_id(wire), origin, reason))
        if tally is not None:
            tally.count(origin)

    if len(wires) > MAX_ACCEPT_BATCH_RECORDS:
        for wire in wires[MAX_ACCEPT_BATCH_RECORDS:]:
            reject(wire, None, "batch too large")
        wires = wires[:MAX_ACCEPT_BATCH_RECORDS]

    duplicates = 0
    seen: set[bytes] = set()
    pending: list[tuple[tuple[int, bytes, int], bytes, Stream, bytes]] = []
    for wire in wires:
        if not isinstance(wire, bytes) or len(wire) > MAX_RECORD_BYTES:
            reject(bytes(wire)[:MAX_RECORD_BYTES], None, "record too large")
            continue
        header = _peek(wire)
        if header is None and not is_placeholder(wire):
            try:
                record = decode_record(wire)
                header = (record.origin, record.stream, record.seq)
            except ProtocolError as exc:
                reject(wire, None, str(exc))
                continue
        if header is None:
            reject(wire, None, "unreadable placeholder")
            continue
        origin, stream, seq = header
        if seq <= have.head(origin, stream):
            duplicates += 1  # already held: never stored twice, no need to verify
            continue
        rid = record_id(wire)
        if rid in seen:
            duplicates += 1
            continue
        seen.add(rid)
        pending.append((sync_order(origin, stream, seq), rid, stream, wire))

    pending.sort()
    scratch = dataclasses.replace(trust, enrolled=dict(trust.enrolled), revoked=set(trust.revoked))
    heads: dict[Key, int] = {}
    accepted: list[Record] = []
    placeholders: list[Placeholder] = []
    beyond_head = 0
    for (_, origin, seq), _rid, stream, wire in pending:
        key = (origin, stream)
        head = heads.get(key, have.head(*key))
        if seq <= head:
            # a second record for a seq accepted just before: two versions of one slot
            reject(wire, origin, f"fork: a second record for seq {seq}")
            continue
        if seq > head + 1:
            beyond_head += 1
            continue
        refusal = _unknown_signer(scratch, origin)
        if refusal:  # refused before the (costly) signature check: a noisy origin is cheap
            reject(wire, origin, refusal)
            continue
        try:
            if is_placeholder(wire):
                placeholder = decode_placeholder(wire)
                if _unknown_signer(scratch, placeholder.redaction.origin):
                    raise ProtocolError("placeholder's redaction is not from a trusted signer")
                scratch.check(placeholder.redaction)
                placeholders.append(placeholder)
            else:
                record = decode_record(wire)
                scratch.check(record)
                if record.stream is Stream.CONTROL:
                    scratch.learn(record)
                accepted.append(record)
        except ProtocolError as exc:  # includes TrustError: bad signature or authority
            reject(wire, origin, str(exc))
            continue
        heads[key] = seq

    new_have = have
    if heads:
        merged = dict(have.items())
        merged.update(heads)
        new_have = VersionVector(merged)
    return BatchResult(
        tuple(accepted), tuple(rejected), duplicates, beyond_head, new_have, tuple(placeholders)
    )

"""Mutual authentication of two peers by their keys, before a sync session (pure).

Each side proves it holds its Ed25519 key by signing the other side's fresh challenge,
bound to both keys and a domain string, and shows why it may sync: an enrolment record
signed by a city-hall authority (a node), or being an authority key itself. The verifier
checks both against its own ``TrustPolicy``, so a fresh node that has never synced can
already authenticate its hub, and a revoked node is refused.

Messages are canonical CBOR maps with small integer keys (``model.codec``)::

    CHALLENGE  {1: nonce(32), 2: key(32), 3: enrolment record wire (optional)}
    PROOF      {1: sig(64), 2: wall_ms, 3: time_certain}
               sig over DOMAIN + peer_nonce + peer_key + own_key + wall_ms (8 bytes BE)
               + time_certain (1 byte)

The proof also carries the signer's wall time and whether it is confirmed, so a node
without a real-time clock learns the time from city hall (or a peer that has it) over an
authenticated channel (DESIGN §9).
"""

from __future__ import annotations

from dataclasses import dataclass

from shelterkit.errors import ProtocolError, TrustError
from shelterkit.model import codec
from shelterkit.model.keys import PUBLIC_KEY_BYTES, SIGNATURE_BYTES, Identity, verify
from shelterkit.model.kinds import EnrolBody
from shelterkit.model.record import MAX_RECORD_BYTES, Record, decode_record
from shelterkit.model.trust import TrustPolicy

AUTH_DOMAIN = b"shelterkit/peer-auth/v1\x00"
NONCE_BYTES = 32
# A challenge carries at most one record; anything bigger is not a challenge.
MAX_AUTH_MESSAGE_BYTES = MAX_RECORD_BYTES + 128


@dataclass(frozen=True, slots=True)
class Challenge:
    nonce: bytes
    key: bytes
    enrolment: bytes = b""

    def encode(self) -> bytes:
        value: dict[int, bytes] = {1: self.nonce, 2: self.key}
        if self.enrolment:
            value[3] = self.enrolment
        return codec.encode(value)

    @classmethod
    def decode(cls, data: bytes) -> Challenge:
        value = codec.decode(data, max_bytes=MAX_AUTH_MESSAGE_BYTES)
        if not isinstance(value, dict):
            raise ProtocolError("challenge is not a map")
        nonce, key, enrolment = value.get(1), value.get(2), value.get(3, b"")
        if not isinstance(nonce, bytes) or len(nonce) != NONCE_BYTES:
            raise ProtocolError("challenge: bad nonce")
        if not isinstance(key, bytes) or len(key) != PUBLIC_KEY_BYTES:
            raise ProtocolError("challenge: bad key")
        if not isinstance(enrolment, bytes):
            raise ProtocolError("challenge: bad enrolment")
        return cls(nonce, key, enrolment)


def _signed_part(
    peer_nonce: bytes, peer_key: bytes, own_key: bytes, wall_ms: int, certain: bool
) -> bytes:
    return (
        AUTH_DOMAIN
        + peer_nonce
        + peer_key
        + own_key
        + wall_ms.to_bytes(8, "big")
        + (b"\x01" if certain else b"\x00")
    )


@dataclass(frozen=True, slots=True)
class PeerTime:
    wall_ms: int
    certain: bool


def make_proof(identity: Identity, peer: Challenge, wall_ms: int, certain: bool) -> bytes:
    """Our answer to the peer's challenge, with our wall time."""
    part = _signed_part(peer.nonce, peer.key, identity.public, wall_ms, certain)
    return codec.encode({1: identity.sign(part), 2: wall_ms, 3: certain})


def check_proof(data: bytes, own: Challenge, peer: Challenge) -> PeerTime:
    """Raise ``TrustError`` unless ``data`` proves ``peer.key`` answered ``own.nonce``;
    return the time the peer signed."""
    value = codec.decode(data, max_bytes=MAX_AUTH_MESSAGE_BYTES)
    if not isinstance(value, dict):
        raise ProtocolError("proof is not a map")
    sig, wall_ms, certain = value.get(1), value.get(2), value.get(3)
    if not isinstance(sig, bytes) or len(sig) != SIGNATURE_BYTES:
        raise ProtocolError("proof: bad signature field")
    if not isinstance(wall_ms, int) or isinstance(wall_ms, bool) or not 0 <= wall_ms < 2**63:
        raise ProtocolError("proof: bad time")
    if not isinstance(certain, bool):
        raise ProtocolError("proof: bad time certainty")
    verify(peer.key, _signed_part(own.nonce, own.key, peer.key, wall_ms, certain), sig)
    return PeerTime(wall_ms, certain)


def admit(peer: Challenge, trust: TrustPolicy) -> Record | None:
    """Decide whether ``peer`` may sync with us. Returns its enrolment record, if any.

    Admitted: an authority key; a key we already know as enrolled; a key whose enrolment
    record (signed by an authority we trust) it presents. Never a revoked key.
    """
    if trust.is_authority(peer.key):
        return None
    if peer.key in trust.revoked:
        raise TrustError("peer has been revoked")
    if peer.enrolment:
        record = decode_record(peer.enrolment)
        body = record.body
        if not isinstance(body, EnrolBody) or body.node_key != peer.key:
            raise TrustError("peer's enrolment is for another key")
        trust.check(record)  # signed by an authority we trust
        return record
    if trust.shelter_of(peer.key) is not None and peer.key != trust.own_key:
        return None
    raise TrustError("peer is not enrolled")

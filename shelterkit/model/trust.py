"""Who may sign what (DESIGN §2, §10). Pure: the node feeds it enrol/revoke records.

- The city-hall authority keys come from provisioning and are trusted absolutely.
- ``enrol`` and ``revoke`` records are valid only from an authority.
- Alerts are valid only from an authority; city-wide notices likewise, while a node may
  publish notices for its own shelter.
- A redaction of another origin's records is valid only from an authority; a node may
  redact its own (``model.redaction``).
- Everything else is valid from an authority or from an enrolled, unrevoked node.
- A node always trusts its own key (a standalone node with no hub still works).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from shelterkit.errors import TrustError
from shelterkit.model.kinds import EnrolBody, Kind, NoticeBody, RedactBody, RevokeBody
from shelterkit.model.record import Record

# The shelter id city hall's own node is enrolled under (its time is authoritative).
HUB_SHELTER_ID = "CITY"
AUTHORITY_ONLY = frozenset({Kind.ALERT, Kind.ENROL, Kind.REVOKE})
# Bound on enrolments a node keeps: a city has tens of shelters; 4096 leaves room for
# staff keys and re-enrolments while keeping the table small.
MAX_ENROLLED = 4096


@dataclass(slots=True)
class TrustPolicy:
    authorities: frozenset[bytes]
    own_key: bytes | None = None
    own_shelter: str = ""
    enrolled: dict[bytes, str] = field(default_factory=dict)  # node key -> shelter id
    revoked: set[bytes] = field(default_factory=set)

    def is_authority(self, key: bytes) -> bool:
        return key in self.authorities

    def shelter_of(self, key: bytes) -> str | None:
        if key == self.own_key:
            return self.own_shelter
        return self.enrolled.get(key)

    def check(self, record: Record) -> None:
        """Raise ``TrustError`` unless ``record.origin`` may sign ``record``."""
        origin = record.origin
        if origin in self.authorities:
            return
        if record.kind in AUTHORITY_ONLY:
            raise TrustError(f"{record.kind.name.lower()} records must be signed by city hall")
        if origin in self.revoked:
            raise TrustError("origin has been revoked")
        shelter = self.shelter_of(origin)
        if shelter is None:
            raise TrustError("origin is not enrolled")
        if isinstance(record.body, RedactBody) and record.body.origin not in (b"", origin):
            raise TrustError("only city hall may redact another origin's records")
        if record.kind is Kind.NOTICE:
            assert isinstance(record.body, NoticeBody)
            if not record.body.shelter or record.body.shelter != shelter:
                raise TrustError("a node may only publish notices for its own shelter")

    def learn(self, record: Record) -> None:
        """Take an accepted enrol/revoke record into account."""
        if record.origin not in self.authorities:
            return
        if isinstance(record.body, EnrolBody):
            if record.body.node_key in self.revoked:
                return  # revocation is final; re-enrol a new key instead
            if len(self.enrolled) >= MAX_ENROLLED and record.body.node_key not in self.enrolled:
                raise TrustError("enrolment table full")
            self.enrolled[record.body.node_key] = record.body.shelter
        elif isinstance(record.body, RevokeBody):
            self.revoked.add(record.body.node_key)
            self.enrolled.pop(record.body.node_key, None)

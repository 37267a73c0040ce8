"""Safety registrations (安否): building person records, sealing what is private, and the
radio-safe and public views (issue 8, DESIGN §10, docs/anpi.md).

What is public is decided when the record is built, not when it is sent: the signed
``PersonBody`` carries in clear only what may be listed publicly. Contact details always,
and the names, age and district of a person who did not consent, go into
``contact_sealed``: a libsodium sealed box to city hall's X25519 key, derived from its
Ed25519 authority key (no second key to provision). A signature covers the whole record,
so a relay cannot strip fields from it; building records this way means every record the
portal makes may cross the radio as it is.

Pure: the caller passes times and random bytes; the sealed box draws its one-time key
inside libsodium.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass, replace

from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, PublicKey, SealedBox
from nacl.signing import SigningKey, VerifyKey

from shelterkit.errors import ProtocolError
from shelterkit.model import codec
from shelterkit.model.fields import Int, Text, body_from_wire, body_to_wire, wire
from shelterkit.model.hlc import wall_ms_of
from shelterkit.model.keys import Identity
from shelterkit.model.kinds import (
    MAX_AGE_YEARS,
    MAX_DISTRICT_CHARS,
    MAX_NAME_CHARS,
    MAX_SEALED_BYTES,
    NoteStatus,
    PersonBody,
    Sex,
)
from shelterkit.model.record import Record

# Google Person Finder keeps a record 40 days when no expiry is given
# (google/personfinder app/model.py DEFAULT_EXPIRATION_DAYS); we do the same.
DEFAULT_EXPIRY_DAYS = 40
DAY_MS = 24 * 3600 * 1000
# Local person ids: 12 characters of base32 = 60 random bits; with a million people the
# chance of any collision is below 1e-6.
PERSON_ID_RANDOM_BYTES = 8
PERSON_ID_CHARS = 12
# The self-service deletion code: 12 base32 characters (60 bits), shown once.
ERASE_CODE_CHARS = 12
MAX_CONTACT_CHARS = 200  # a phone number, an e-mail address and a line of text
_ERASE_DOMAIN = b"shelterkit/anpi/erase/v1\x00"
_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"


@dataclass(frozen=True, slots=True)
class SealedPart:
    """What only city hall may read, sealed inside ``PersonBody.contact_sealed``."""

    contact: str = wire(1, Text(max_chars=MAX_CONTACT_CHARS, multiline=True), "")
    full_name: str = wire(2, Text(max_chars=MAX_NAME_CHARS), "")
    family_name: str = wire(3, Text(max_chars=MAX_NAME_CHARS), "")
    given_name: str = wire(4, Text(max_chars=MAX_NAME_CHARS), "")
    alternate_names: str = wire(5, Text(max_chars=MAX_NAME_CHARS), "")
    age: int = wire(6, Int(-1, MAX_AGE_YEARS), -1)
    birth_year: int = wire(7, Int(0, 9999), 0)
    sex: int = wire(8, Int(0, 3), 0)
    home_district: str = wire(9, Text(max_chars=MAX_DISTRICT_CHARS), "")


def new_person_id(random_bytes: bytes) -> str:
    """A local person id from ``PERSON_ID_RANDOM_BYTES`` of caller-supplied randomness."""
    if len(random_bytes) < PERSON_ID_RANDOM_BYTES:
        raise ValueError("not enough random bytes for a person id")
    text = base64.b32encode(random_bytes[:PERSON_ID_RANDOM_BYTES]).decode().lower()
    return text[:PERSON_ID_CHARS]


def default_expiry_ms(now_ms: int) -> int:
    """PFIF expiry ``DEFAULT_EXPIRY_DAYS`` ahead, in whole seconds (PFIF carries seconds)."""
    return (now_ms + DEFAULT_EXPIRY_DAYS * DAY_MS) // 1000 * 1000


def city_hall_box_key(authority_key: bytes) -> bytes:
    """City hall's X25519 public key, derived from its Ed25519 authority key."""
    return bytes(VerifyKey(authority_key).to_curve25519_public_key())


def seal(part: SealedPart, authority_key: bytes) -> bytes:
    """Encrypt ``part`` so that only the holder of ``authority_key``'s private key reads it."""
    box = SealedBox(PublicKey(city_hall_box_key(authority_key)))
    sealed = bytes(box.encrypt(codec.encode(body_to_wire(part))))
    if len(sealed) > MAX_SEALED_BYTES:
        raise ProtocolError(f"sealed part of {len(sealed)} bytes exceeds {MAX_SEALED_BYTES}")
    return sealed


def unseal(sealed: bytes, authority: Identity) -> SealedPart:
    """City hall's side of ``seal``: raises ``ProtocolError`` for anything not sealed to it."""
    private = PrivateKey(bytes(SigningKey(authority.seed).to_curve25519_private_key()))
    try:
        plain = SealedBox(private).decrypt(sealed)
    except CryptoError as exc:
        raise ProtocolError("sealed part does not open with this key") from exc
    return body_from_wire(SealedPart, codec.decode(plain, max_bytes=MAX_SEALED_BYTES))


def new_person(
    *,
    person_id: str,
    family_name: str,
    given_name: str,
    reading: str,
    age: int = -1,
    birth_year: int = 0,
    sex: Sex = Sex.UNSPECIFIED,
    home_district: str = "",
    contact: str = "",
    shelter: str,
    consent: bool,
    authority_key: bytes | None,
    expiry_ms: int = 0,
) -> PersonBody:
    """Build a registration with only public fields in clear (see the module docstring).

    ``expiry_ms`` 0 means the default retention counted from the record's own time
    (``effective_expiry_ms``): it saves ten bytes, which keeps a typical registration
    within one 200-byte radio frame.

    Without an authority key there is nobody to seal to: such a node can register only a
    consenting person without contact details (``ValueError`` otherwise; the portal says
    so before calling).
    """
    private = SealedPart(
        contact=contact,
        family_name="" if consent else family_name,
        given_name="" if consent else given_name,
        alternate_names="" if consent else reading,
        age=-1 if consent else age,
        birth_year=0 if consent else birth_year,
        sex=0 if consent else int(sex),
        home_district="" if consent else home_district,
    )
    sealed = b""
    if private != SealedPart():
        if authority_key is None:
            raise ValueError("no city-hall key to seal private fields to")
        sealed = seal(private, authority_key)
    body = PersonBody(
        person_id=person_id,
        shelter=shelter,
        public=consent,
        expiry_ms=expiry_ms,
        contact_sealed=sealed,
    )
    if consent:
        body = replace(
            body,
            family_name=family_name,
            given_name=given_name,
            alternate_names=reading,
            age=age,
            birth_year=birth_year,
            sex=sex,
            home_district=home_district,
        )
    return body


def tombstone(current: PersonBody) -> PersonBody:
    """The deletion that replicates: the same person, deleted, every personal field empty.

    Publish it with ``Node.publish_person``, which also wipes the earlier records of the
    person on every node (``model.redaction``)."""
    return PersonBody(
        person_id=current.person_id,
        shelter=current.shelter,
        expiry_ms=current.expiry_ms,
        deleted=True,
    )


def _has_personal_fields(body: PersonBody) -> bool:
    return bool(
        body.full_name
        or body.family_name
        or body.given_name
        or body.alternate_names
        or body.home_district
        or body.age >= 0
        or body.birth_year
        or body.sex is not Sex.UNSPECIFIED
    )


def radio_form(record: Record) -> Record | None:
    """The form of ``record`` that may cross a radio link, or None if it must not.

    The public part of a person is what the public listing shows: names, reading, age or
    birth year, sex, district, shelter, expiry and the deleted flag, plus the contact
    details sealed to city hall (ciphertext, not in clear). Records built by
    ``new_person`` are already in this form and are returned unchanged; a record that
    carries a non-consenting person's name in clear (from an older or careless source) is
    held back for HTTP links, since a signed record cannot be trimmed. Notes are public
    statements (as in PFIF) and other kinds are not personal: they go as they are.
    """
    body = record.body
    if isinstance(body, PersonBody) and not body.public and not body.deleted:
        return None if _has_personal_fields(body) else record
    return record


def erase_code(identity: Identity, person_id: str) -> str:
    """The self-service deletion code of a registration made by ``identity``'s node.

    Derived from the node's key (an Ed25519 signature is deterministic), so nothing secret
    is stored or replicated: only the node where a person registered can check the code;
    elsewhere staff or city hall delete. Shown once, at registration.
    """
    sig = identity.sign(_ERASE_DOMAIN + person_id.encode())
    digest = hashlib.blake2b(sig, digest_size=10).digest()
    return base64.b32encode(digest).decode().lower()[:ERASE_CODE_CHARS]


def format_code(code: str) -> str:
    """``abcdefghijkl`` → ``ABCD-EFGH-IJKL`` for reading aloud and copying."""
    up = code.upper()
    return "-".join(up[i : i + 4] for i in range(0, len(up), 4))


def check_erase_code(identity: Identity, person_id: str, typed: str) -> bool:
    """Whether ``typed`` (any case, spaces or hyphens) is the code for ``person_id``."""
    cleaned = "".join(c for c in typed.lower() if c in _ALPHABET)
    expected = erase_code(identity, person_id)
    return hmac.compare_digest(cleaned.encode(), expected.encode())


@dataclass(frozen=True, slots=True)
class PublicPerson:
    """The permitted fields of a listed person, as search results show them."""

    person_id: str
    name: str
    reading: str
    age: int
    birth_year: int
    home_district: str
    shelter: str
    updated_ms: int
    status: NoteStatus


def display_name(body: PersonBody) -> str:
    if body.full_name:
        return body.full_name
    return " ".join(p for p in (body.family_name, body.given_name) if p)


def public_view(record: Record, status: NoteStatus = NoteStatus.NONE) -> PublicPerson | None:
    """The listing of a person record, or None if it must not be listed (no consent or
    deleted). Expiry is the caller's to check: it needs the time."""
    body = record.body
    if not isinstance(body, PersonBody):
        return None
    return listing_of(body, wall_ms_of(record.hlc), status)


def listing_of(
    body: PersonBody, updated_ms: int, status: NoteStatus = NoteStatus.NONE
) -> PublicPerson | None:
    """``public_view`` of a body and its time: also of a registration that is acknowledged
    but not signed yet (``Node.publish_or_queue``)."""
    if not body.public or body.deleted:
        return None
    return PublicPerson(
        person_id=body.person_id,
        name=display_name(body),
        reading=body.alternate_names,
        age=body.age,
        birth_year=body.birth_year,
        home_district=body.home_district,
        shelter=body.shelter,
        updated_ms=updated_ms,
        status=status,
    )


def effective_expiry_ms(record: Record) -> int:
    """When a person record stops being listed: its expiry, or the default retention
    counted from the record's own time when none was given."""
    body = record.body
    assert isinstance(body, PersonBody)
    return expiry_from(body, wall_ms_of(record.hlc))


def expiry_from(body: PersonBody, time_ms: int) -> int:
    """``effective_expiry_ms`` of ``body`` made at ``time_ms`` (a queued registration's
    acknowledgement; its record's own time is that or, rarely, a little later)."""
    return body.expiry_ms or time_ms + DEFAULT_EXPIRY_DAYS * DAY_MS


__all__ = [
    "DEFAULT_EXPIRY_DAYS",
    "PublicPerson",
    "SealedPart",
    "check_erase_code",
    "city_hall_box_key",
    "default_expiry_ms",
    "display_name",
    "effective_expiry_ms",
    "erase_code",
    "expiry_from",
    "format_code",
    "listing_of",
    "new_person",
    "new_person_id",
    "public_view",
    "radio_form",
    "seal",
    "tombstone",
    "unseal",
]

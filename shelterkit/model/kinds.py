"""Streams, kinds and the body of each kind.

Wire keys are small integers so that a record is compact enough for a radio frame. Keys
are never renumbered; new fields get new keys and older nodes ignore them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, ClassVar

from shelterkit.model.fields import Bool, Bytes, Enum, Int, LangText, Seq, Text, Tuple, wire

SHELTER_ID_CHARS = 16
RECORD_ID_BYTES = 16
MAX_POST_CHARS = 500  # a board post is a note on a wall, not an essay
MAX_NAME_CHARS = 40


class Stream(enum.IntEnum):
    """Replication streams, in sync priority order (lowest value first)."""

    ALERTS = 1
    NOTICES = 2
    ANPI = 3
    STATUS = 4
    BOARD = 5
    CONTROL = 6


class Kind(enum.IntEnum):
    ALERT = 1
    NOTICE = 2
    POST = 3
    MODERATION = 4
    PERSON = 5
    NOTE = 6
    STATUS = 7
    ENROL = 8
    REVOKE = 9
    REDACT = 10


class Severity(enum.IntEnum):
    """CAP 1.2 severity; lower value = more severe, so it sorts first."""

    EXTREME = 1
    SEVERE = 2
    MODERATE = 3
    MINOR = 4
    UNKNOWN = 5


class Urgency(enum.IntEnum):
    IMMEDIATE = 1
    EXPECTED = 2
    FUTURE = 3
    PAST = 4
    UNKNOWN = 5


class Certainty(enum.IntEnum):
    OBSERVED = 1
    LIKELY = 2
    POSSIBLE = 3
    UNLIKELY = 4
    UNKNOWN = 5


class MsgType(enum.IntEnum):
    """CAP 1.2 msgType (Ack/Error are not carried)."""

    ALERT = 1
    UPDATE = 2
    CANCEL = 3


class AlertStatus(enum.IntEnum):
    """CAP 1.2 status; only ACTUAL alerts are shown as real warnings."""

    ACTUAL = 1
    EXERCISE = 2
    SYSTEM = 3
    TEST = 4
    DRAFT = 5


class CapSignature(enum.IntEnum):
    """What the CAP importer found about an XML signature on the original alert."""

    NONE = 0  # no signature (the usual case)
    INTACT = 1  # valid for the certificate it carries, which the hub has not pinned
    VERIFIED = 2  # valid for a certificate pinned at the hub


class PostCategory(enum.IntEnum):
    NEEDS = 1
    OFFERS = 2
    INFO = 3
    LOOKING = 4


class ModerationAction(enum.IntEnum):
    HIDE = 1
    RESTORE = 2


_shelter = Text(max_chars=SHELTER_ID_CHARS)


class Sex(enum.IntEnum):
    """PFIF 1.4 ``sex``: female, male, other; optional."""

    UNSPECIFIED = 0
    FEMALE = 1
    MALE = 2
    OTHER = 3


class NoteStatus(enum.IntEnum):
    """PFIF 1.4 note ``status``."""

    NONE = 0
    INFORMATION_SOUGHT = 1
    IS_NOTE_AUTHOR = 2
    BELIEVED_ALIVE = 3
    BELIEVED_MISSING = 4
    BELIEVED_DEAD = 5


class RedactReason(enum.IntEnum):
    """Why records of a person were wiped to placeholders (docs/anpi.md, Redaction)."""

    SUPERSEDED = 1  # a newer record of the same person (a correction, a move)
    DELETED = 2  # deleted by the person, staff or city hall
    EXPIRED = 3  # past the PFIF expiry_date


class NeedLevel(enum.IntEnum):
    """How badly a shelter needs a supply, as staff judge it (0–3)."""

    NONE = 0
    LOW = 1
    HIGH = 2
    CRITICAL = 3


# Safety registrations (issue 8). A PFIF person_record_id is "domain/local-id"; ours are
# 12 characters, imported ones keep theirs whole, so leave room for a domain.
MAX_PERSON_ID_CHARS = 100
MAX_AGE_YEARS = 130  # oldest documented person: 122 years
MAX_DISTRICT_CHARS = 60  # a 町名 or 大字 with 丁目, with room
MAX_NOTE_CHARS = 500  # like a board post: a note, not an essay
# Contact details and (without consent) the identifying fields, sealed to city hall:
# five 40-character fields and a 200-character contact in 3-byte UTF-8, plus 48 bytes of
# sealed-box overhead, fit well within this.
MAX_SEALED_BYTES = 1024
# Records one redaction names: a person corrected this often is not usual; more go in
# further redaction records. Keeps a redaction (and a placeholder carrying it) small.
MAX_REDACT_TARGETS = 16
# A status record must fit one 200-byte radio frame (issue 8), so this stays short.
MAX_STATUS_LINKS_CHARS = 32

# CAP areas and shapes (issue 7). Coordinates are WGS 84 in integer micro-degrees (floats
# are not allowed in canonical records); 1 µ° is about 0.1 m, finer than any CAP polygon.
# The counts keep an alert within one record (MAX_RECORD_BYTES, model/record.py).
MAX_ALERT_AREAS = 32  # as many as ``areas`` held before shapes were carried
MAX_ALERT_POLYGONS = 8
MAX_POLYGON_POINTS = 256  # a municipal boundary simplified for CAP fits (~2.5 KB)
MAX_ALERT_CIRCLES = 8
MAX_ALERT_GEOCODES = 32  # one code per area
MAX_ALERT_PARAMETERS = 16
MAX_URL_CHARS = 512  # a web link, never a data: URL
_area = Int(0, MAX_ALERT_AREAS - 1)  # index into ``AlertBody.areas``
_micro_deg = Int(-180_000_000, 180_000_000)
_pair = Tuple((Text(max_chars=60), Text(max_chars=240)))


# やさしい日本語 (Easy Japanese) has no registered BCP 47 subtag; CAP producers use a
# private-use tag. Alert texts carry it under this key (cap/__init__.py maps the other spellings
# seen in the wild to it); the portal offers it wherever an alert has it.
EASY_JAPANESE = "ja-x-easy"


@dataclass(frozen=True, slots=True)
class AlertBody:
    """An official alert (CAP 1.2 ``alert`` + one logical ``info``); authority-signed only."""

    KIND: ClassVar[Kind] = Kind.ALERT
    identifier: str = wire(1, Text(max_chars=128, allow_empty=False))
    headline: dict[str, str] = wire(2, LangText(max_chars=160))
    severity: Severity = wire(3, Enum(Severity), Severity.UNKNOWN)
    urgency: Urgency = wire(4, Enum(Urgency), Urgency.UNKNOWN)
    certainty: Certainty = wire(5, Enum(Certainty), Certainty.UNKNOWN)
    sent_ms: int = wire(6, Int(), 0)
    expires_ms: int = wire(7, Int(), 0)  # 0: no expiry given
    description: dict[str, str] = wire(8, LangText(max_chars=4000, multiline=True), {})
    instruction: dict[str, str] = wire(9, LangText(max_chars=2000, multiline=True), {})
    event: dict[str, str] = wire(10, LangText(max_chars=120), {})
    msg_type: MsgType = wire(11, Enum(MsgType), MsgType.ALERT)
    references: tuple[str, ...] = wire(12, Seq(Text(max_chars=128), 16), ())
    status: AlertStatus = wire(13, Enum(AlertStatus), AlertStatus.ACTUAL)
    sender_name: str = wire(14, Text(max_chars=120), "")
    areas: tuple[str, ...] = wire(15, Seq(Text(max_chars=120), 32), ())
    targets: tuple[str, ...] = wire(16, Seq(_shelter, 64), ())  # shelter ids; empty: all
    effective_ms: int = wire(17, Int(), 0)
    # CAP 1.2 fields carried since issue 7 (cap/__init__.py maps them; docs/alerts.md).
    categories: tuple[str, ...] = wire(18, Seq(Text(max_chars=12), 12), ())
    onset_ms: int = wire(19, Int(), 0)
    web: str = wire(20, Text(max_chars=MAX_URL_CHARS), "")
    parameters: tuple[tuple[str, str], ...] = wire(21, Seq(_pair, MAX_ALERT_PARAMETERS), ())
    # (area index, (lat, lon, lat, lon, …)) closed rings in micro-degrees
    polygons: tuple[tuple[int, tuple[int, ...]], ...] = wire(
        22,
        Seq(Tuple((_area, Seq(_micro_deg, 2 * MAX_POLYGON_POINTS))), MAX_ALERT_POLYGONS),
        (),
    )
    # (area index, lat, lon in micro-degrees, radius in metres)
    circles: tuple[tuple[int, int, int, int], ...] = wire(
        23, Seq(Tuple((_area, _micro_deg, _micro_deg, Int(0, 20_000_000))), MAX_ALERT_CIRCLES), ()
    )
    # (area index, valueName, value), e.g. (0, "JIS", "09215")
    geocodes: tuple[tuple[int, str, str], ...] = wire(
        24,
        Seq(Tuple((_area, Text(max_chars=60), Text(max_chars=60))), MAX_ALERT_GEOCODES),
        (),
    )
    sender: str = wire(25, Text(max_chars=128), "")  # CAP sender id of the original alert
    note: str = wire(26, Text(max_chars=500, multiline=True), "")
    # the CAP references as given ("sender,identifier,sent"); ``references`` holds identifiers
    cap_references: tuple[str, ...] = wire(27, Seq(Text(max_chars=300), 16), ())
    response_types: tuple[str, ...] = wire(28, Seq(Text(max_chars=12), 9), ())
    event_codes: tuple[tuple[str, str], ...] = wire(29, Seq(_pair, MAX_ALERT_PARAMETERS), ())
    cap_signature: CapSignature = wire(30, Enum(CapSignature), CapSignature.NONE)
    cap_signer: str = wire(31, Text(max_chars=200), "")  # certificate subject, if signed


@dataclass(frozen=True, slots=True)
class NoticeBody:
    """A notice for one shelter (by its node) or for the whole city (by the authority)."""

    KIND: ClassVar[Kind] = Kind.NOTICE
    notice_id: str = wire(1, Text(max_chars=64, allow_empty=False))
    title: dict[str, str] = wire(2, LangText(max_chars=120))
    text: dict[str, str] = wire(3, LangText(max_chars=2000, multiline=True), {})
    shelter: str = wire(4, _shelter, "")  # "": city-wide
    expires_ms: int = wire(5, Int(), 0)
    withdrawn: bool = wire(6, Bool(), False)


@dataclass(frozen=True, slots=True)
class PostBody:
    """A message-board post written by an evacuee and signed by the shelter's node."""

    KIND: ClassVar[Kind] = Kind.POST
    text: str = wire(1, Text(max_chars=MAX_POST_CHARS, multiline=True, allow_empty=False))
    category: PostCategory = wire(2, Enum(PostCategory), PostCategory.INFO)
    author: str = wire(3, Text(max_chars=MAX_NAME_CHARS), "")
    shelter: str = wire(4, _shelter, "")


@dataclass(frozen=True, slots=True)
class ModerationBody:
    KIND: ClassVar[Kind] = Kind.MODERATION
    target: bytes = wire(1, Bytes(exact=RECORD_ID_BYTES))
    action: ModerationAction = wire(2, Enum(ModerationAction))
    reason: str = wire(3, Text(max_chars=200), "")


@dataclass(frozen=True, slots=True)
class StatusBody:
    """A shelter's periodic status; small enough for one radio frame."""

    KIND: ClassVar[Kind] = Kind.STATUS
    shelter: str = wire(1, _shelter)
    headcount: int = wire(2, Int(0, 100_000), 0)
    battery_pct: int = wire(3, Int(-1, 100), -1)  # -1: unknown / mains
    clients: int = wire(4, Int(0, 100_000), 0)
    # Since issue 8: the LGDIS shelter fields city hall asks for (anchors-mission §9b).
    households: int = wire(5, Int(0, 100_000), 0)
    needs_care: int = wire(6, Int(0, 100_000), 0)  # people needing care (要配慮者)
    need_water: NeedLevel = wire(7, Enum(NeedLevel), NeedLevel.NONE)
    need_food: NeedLevel = wire(8, Enum(NeedLevel), NeedLevel.NONE)
    need_medicine: NeedLevel = wire(9, Enum(NeedLevel), NeedLevel.NONE)
    need_blankets: NeedLevel = wire(10, Enum(NeedLevel), NeedLevel.NONE)
    need_power: NeedLevel = wire(11, Enum(NeedLevel), NeedLevel.NONE)
    # links as "kind:state" words, e.g. "http:up radio:down" (docs/anpi.md)
    links: str = wire(12, Text(max_chars=MAX_STATUS_LINKS_CHARS), "")


@dataclass(frozen=True, slots=True)
class EnrolBody:
    """Authority statement: ``node_key`` is the node of shelter ``shelter``."""

    KIND: ClassVar[Kind] = Kind.ENROL
    node_key: bytes = wire(1, Bytes(exact=32))
    shelter: str = wire(2, _shelter)
    name: str = wire(3, Text(max_chars=120), "")


@dataclass(frozen=True, slots=True)
class RevokeBody:
    KIND: ClassVar[Kind] = Kind.REVOKE
    node_key: bytes = wire(1, Bytes(exact=32))
    reason: str = wire(2, Text(max_chars=200), "")


@dataclass(frozen=True, slots=True)
class PersonBody:
    """A safety registration on the PFIF 1.4 person model (docs/anpi.md).

    Every field in clear is part of the public listing, so the record may travel anywhere,
    radio included: a person who did not consent has names, age and district only inside
    ``contact_sealed`` (see ``model.anpi.new_person``). A newer record of the same
    ``person_id`` supersedes an older one; ``deleted`` with empty fields is the deletion
    that replicates.
    """

    KIND: ClassVar[Kind] = Kind.PERSON
    person_id: str = wire(1, Text(max_chars=MAX_PERSON_ID_CHARS, allow_empty=False))
    full_name: str = wire(2, Text(max_chars=MAX_NAME_CHARS), "")  # "": family + given
    family_name: str = wire(3, Text(max_chars=MAX_NAME_CHARS), "")
    given_name: str = wire(4, Text(max_chars=MAX_NAME_CHARS), "")
    alternate_names: str = wire(5, Text(max_chars=MAX_NAME_CHARS), "")  # the kana reading
    age: int = wire(6, Int(-1, MAX_AGE_YEARS), -1)  # -1: not given
    birth_year: int = wire(7, Int(0, 9999), 0)  # 0: not given
    sex: Sex = wire(8, Enum(Sex), Sex.UNSPECIFIED)
    home_district: str = wire(9, Text(max_chars=MAX_DISTRICT_CHARS), "")
    shelter: str = wire(10, _shelter, "")
    public: bool = wire(11, Bool(), False)  # consent to public listing
    expiry_ms: int = wire(12, Int(), 0)  # PFIF expiry_date; 0: the default retention
    deleted: bool = wire(13, Bool(), False)
    contact_sealed: bytes = wire(14, Bytes(max_len=MAX_SEALED_BYTES), b"")


@dataclass(frozen=True, slots=True)
class NoteBody:
    """A PFIF 1.4 note about a person: a status and a short text. Its own entity."""

    KIND: ClassVar[Kind] = Kind.NOTE
    note_id: str = wire(1, Text(max_chars=MAX_PERSON_ID_CHARS, allow_empty=False))
    person_id: str = wire(2, Text(max_chars=MAX_PERSON_ID_CHARS, allow_empty=False))
    status: NoteStatus = wire(3, Enum(NoteStatus), NoteStatus.NONE)
    text: str = wire(4, Text(max_chars=MAX_NOTE_CHARS, multiline=True), "")
    author: str = wire(5, Text(max_chars=MAX_NAME_CHARS), "")
    author_made_contact: bool = wire(6, Bool(), False)
    last_known_location: str = wire(7, Text(max_chars=MAX_DISTRICT_CHARS), "")


@dataclass(frozen=True, slots=True)
class RedactBody:
    """Wipes earlier person records to placeholders wherever they are held (docs/anpi.md).

    ``targets`` are ``(seq, record id)`` in the ANPI stream of ``origin`` (empty: the
    signer's own). Only city hall may name another origin (``model.trust``); only person
    and note records are wiped (``model.redaction``). It carries no personal data, so it may
    travel anywhere and is itself never redacted.
    """

    KIND: ClassVar[Kind] = Kind.REDACT
    targets: tuple[tuple[int, bytes], ...] = wire(
        1, Seq(Tuple((Int(1, 2**53), Bytes(exact=RECORD_ID_BYTES))), MAX_REDACT_TARGETS)
    )
    origin: bytes = wire(2, Bytes(max_len=32), b"")
    reason: RedactReason = wire(3, Enum(RedactReason), RedactReason.SUPERSEDED)


AnyBody = (
    AlertBody
    | NoticeBody
    | PostBody
    | ModerationBody
    | StatusBody
    | EnrolBody
    | RevokeBody
    | PersonBody
    | NoteBody
    | RedactBody
)

BODY_TYPES: dict[Kind, type[Any]] = {
    cls.KIND: cls
    for cls in (
        AlertBody,
        NoticeBody,
        PostBody,
        ModerationBody,
        StatusBody,
        EnrolBody,
        RevokeBody,
        PersonBody,
        NoteBody,
        RedactBody,
    )
}

STREAM_OF: dict[Kind, Stream] = {
    Kind.ALERT: Stream.ALERTS,
    Kind.NOTICE: Stream.NOTICES,
    Kind.POST: Stream.BOARD,
    Kind.MODERATION: Stream.BOARD,
    Kind.PERSON: Stream.ANPI,
    Kind.NOTE: Stream.ANPI,
    Kind.REDACT: Stream.ANPI,
    Kind.STATUS: Stream.STATUS,
    Kind.ENROL: Stream.CONTROL,
    Kind.REVOKE: Stream.CONTROL,
}

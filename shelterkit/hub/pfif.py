"""PFIF 1.4 export and import: safety registrations ↔ People Finder Interchange Format.

PFIF (http://zesty.ca/pfif/1.4) is what Google Person Finder and the person finders built
on it exchange; city hall uses it to pass registrations on and to take them in (issue 8).
Pure: bytes in, bytes out; the hub signs what an import returns and stores it.

Mapping (docs/anpi.md has the table):

- ``person_record_id`` is ``<domain>/person.<person_id>`` for our own people; an id from
  another repository is kept whole, as PFIF requires when records are copied.
- Only listed people are exported (consent to public listing); a deleted person becomes
  the PFIF placeholder: the id, dates and an ``expiry_date`` equal to the time of deletion,
  with every personal field empty (as Person Finder does), so copies downstream expire it.
  A person past the expiry date (deleted by the expiry sweep, or not yet) becomes the same
  placeholder with the original ``expiry_date`` (PFIF 1.4: after expiry, everything but
  the placeholder fields is deleted).
- ``expiry_date`` is always written: a record without an explicit expiry gets the default
  retention counted from its own time. This is the one normalisation on re-import.
- ``source_name`` carries the shelter id; ``home_neighborhood`` the home district;
  ``date_of_birth`` the year of birth; ``alternate_names`` the kana reading.
- Contact details are never exported: they are sealed to city hall.

Import parses with ``defusedxml`` (no DTD, no entities, nothing fetched), after a byte cap,
and validates every field through the record body schema; anything invalid refuses the
whole file with an ``InputError`` that names the record.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from shelterkit.errors import InputError, ProtocolError
from shelterkit.model.anpi import display_name, effective_expiry_ms
from shelterkit.model.fields import body_from_wire
from shelterkit.model.hlc import wall_ms_of
from shelterkit.model.kinds import (
    SHELTER_ID_CHARS,
    NoteBody,
    NoteStatus,
    PersonBody,
    Sex,
)
from shelterkit.model.record import Record

PFIF_NS = "http://zesty.ca/pfif/1.4"
# A PFIF file accepted in one import: Person Finder exports in pages; 100,000 people of
# a few hundred bytes each fit comfortably.
MAX_PFIF_BYTES = 64 * 1024 * 1024
MAX_PFIF_RECORDS = 100_000

_SEX = {Sex.FEMALE: "female", Sex.MALE: "male", Sex.OTHER: "other"}
_SEX_OF = {v: k for k, v in _SEX.items()}
_STATUS = {
    NoteStatus.NONE: "",
    NoteStatus.INFORMATION_SOUGHT: "information_sought",
    NoteStatus.IS_NOTE_AUTHOR: "is_note_author",
    NoteStatus.BELIEVED_ALIVE: "believed_alive",
    NoteStatus.BELIEVED_MISSING: "believed_missing",
    NoteStatus.BELIEVED_DEAD: "believed_dead",
}
_STATUS_OF = {v: k for k, v in _STATUS.items()}
B = TypeVar("B", PersonBody, NoteBody)


@dataclass(frozen=True, slots=True)
class PfifData:
    """What an import found: bodies ready to be signed by the hub, in file order."""

    persons: tuple[PersonBody, ...]
    notes: tuple[NoteBody, ...]


def _q(name: str) -> str:
    return f"{{{PFIF_NS}}}{name}"


def _date(ms: int) -> str:
    return datetime.fromtimestamp(ms // 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _record_id(domain: str, kind: str, local: str) -> str:
    return local if "/" in local else f"{domain}/{kind}.{local}"


def _local_id(domain: str, kind: str, record_id: str) -> str:
    prefix = f"{domain}/{kind}."
    return record_id[len(prefix) :] if record_id.startswith(prefix) else record_id


def _add(parent: ET.Element, name: str, text: str) -> None:
    ET.SubElement(parent, _q(name)).text = text


def _person_element(
    root: ET.Element, record: Record, body: PersonBody, domain: str, now_ms: int | None
) -> None:
    el = ET.SubElement(root, _q("person"))
    when_ms = wall_ms_of(record.hlc)
    when = _date(when_ms)
    _add(el, "person_record_id", _record_id(domain, "person", body.person_id))
    _add(el, "entry_date", when)
    expiry_ms = effective_expiry_ms(record)
    expired = now_ms is not None and expiry_ms <= now_ms
    if body.deleted or expired:
        # the placeholder: deleted now (expiry_date = the deletion) or expired earlier
        _add(el, "expiry_date", _date(min(expiry_ms, when_ms) if body.deleted else expiry_ms))
        if body.shelter:
            _add(el, "source_name", body.shelter)
        _add(el, "source_date", when)
        _add(el, "full_name", "")
        return
    _add(el, "expiry_date", _date(effective_expiry_ms(record)))
    if body.shelter:
        _add(el, "source_name", body.shelter)
    _add(el, "source_date", when)
    _add(el, "full_name", display_name(body))
    for name, value in (
        ("given_name", body.given_name),
        ("family_name", body.family_name),
        ("alternate_names", body.alternate_names),
    ):
        if value:
            _add(el, name, value)
    if body.sex in _SEX:
        _add(el, "sex", _SEX[body.sex])
    if body.birth_year:
        _add(el, "date_of_birth", f"{body.birth_year:04d}")
    if body.age >= 0:
        _add(el, "age", str(body.age))
    if body.home_district:
        _add(el, "home_neighborhood", body.home_district)


def _note_element(root: ET.Element, record: Record, body: NoteBody, domain: str) -> None:
    el = ET.SubElement(root, _q("note"))
    when = _date(wall_ms_of(record.hlc))
    _add(el, "note_record_id", _record_id(domain, "note", body.note_id))
    _add(el, "person_record_id", _record_id(domain, "person", body.person_id))
    _add(el, "entry_date", when)
    _add(el, "author_name", body.author)
    _add(el, "source_date", when)
    _add(el, "author_made_contact", "true" if body.author_made_contact else "false")
    if body.status is not NoteStatus.NONE:
        _add(el, "status", _STATUS[body.status])
    if body.last_known_location:
        _add(el, "last_known_location", body.last_known_location)
    _add(el, "text", body.text)


def export_pfif(records: Iterable[Record], *, domain: str, now_ms: int | None = None) -> bytes:
    """A PFIF 1.4 document of the current person records and the notes in ``records``.

    Pass the heads of kind PERSON and the NOTE records (``Store.heads([Kind.PERSON,
    Kind.NOTE])``). People not listed publicly, and notes about them, are left out.
    """
    ET.register_namespace("pfif", PFIF_NS)
    root = ET.Element(_q("pfif"))
    persons: list[tuple[Record, PersonBody]] = []
    notes: list[tuple[Record, NoteBody]] = []
    for record in records:
        if isinstance(record.body, PersonBody):
            persons.append((record, record.body))
        elif isinstance(record.body, NoteBody):
            notes.append((record, record.body))
    exported: set[str] = set()
    for record, person in sorted(persons, key=lambda p: p[0].sort_key):
        if person.public or person.deleted:
            _person_element(root, record, person, domain, now_ms)
            if not person.deleted and not (
                now_ms is not None and effective_expiry_ms(record) <= now_ms
            ):
                exported.add(person.person_id)
    for record, note in sorted(notes, key=lambda n: n[0].sort_key):
        if note.person_id in exported:
            _note_element(root, record, note, domain)
    ET.indent(root)
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True)) + b"\n"


# -- import ---------------------------------------------------------------------------------


def _fields(el: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for child in el:
        if isinstance(child.tag, str) and child.tag.startswith(f"{{{PFIF_NS}}}"):
            out[child.tag.split("}", 1)[1]] = (child.text or "").strip()
    return out


def _parse_date(value: str, where: str) -> int:
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InputError("pfif_invalid", where, f"bad date {value[:40]!r}") from None
    if dt.tzinfo is None:
        raise InputError("pfif_invalid", where, "dates must be UTC")
    return int(dt.timestamp() * 1000)


def _int(value: str, where: str) -> int:
    if not value.isascii() or not value.isdigit():
        raise InputError("pfif_invalid", where, f"not a number: {value[:20]!r}")
    return int(value)


def _person_body(f: dict[str, str], domain: str, where: str) -> PersonBody:
    person_id = _local_id(domain, "person", f.get("person_record_id", ""))
    if not person_id:
        raise InputError("pfif_invalid", where, "person_record_id missing")
    family, given = f.get("family_name", ""), f.get("given_name", "")
    full = f.get("full_name", "")
    source = f.get("source_name", "")
    shelter = source if len(source) <= SHELTER_ID_CHARS else ""
    expiry = _parse_date(f["expiry_date"], where) if f.get("expiry_date") else 0
    names = (full, family, given, f.get("alternate_names", ""))
    when = f.get("source_date") or f.get("entry_date") or ""
    if not any(names) and expiry and when and expiry <= _parse_date(when, where):
        # a PFIF placeholder: the record was deleted at its home repository
        return _validated(PersonBody, {1: person_id, 10: shelter, 12: expiry, 13: True}, where)
    if full == " ".join(p for p in (family, given) if p):
        full = ""  # derived from the parts, as our own records keep it
    wire: dict[int, Any] = {1: person_id, 2: full, 3: family, 4: given}
    wire[5] = f.get("alternate_names", "")
    if f.get("age", "").isdigit():
        wire[6] = _int(f["age"], where)  # a range ("30-40") is not kept
    if f.get("date_of_birth"):
        wire[7] = _int(f["date_of_birth"][:4], where)
    if f.get("sex") in _SEX_OF:
        wire[8] = int(_SEX_OF[f["sex"]])
    wire[9] = f.get("home_neighborhood", "")
    wire[10] = shelter
    wire[11] = True  # published by another person finder: public by nature
    wire[12] = expiry
    return _validated(PersonBody, wire, where)


def _note_body(f: dict[str, str], domain: str, where: str) -> NoteBody:
    status = f.get("status", "")
    if status not in _STATUS_OF:
        raise InputError("pfif_invalid", where, f"unknown status {status[:40]!r}")
    wire: dict[int, Any] = {
        1: _local_id(domain, "note", f.get("note_record_id", "")),
        2: _local_id(domain, "person", f.get("person_record_id", "")),
        3: int(_STATUS_OF[status]),
        4: f.get("text", ""),
        5: f.get("author_name", ""),
        6: f.get("author_made_contact", "") in ("true", "1"),
        7: f.get("last_known_location", ""),
    }
    return _validated(NoteBody, wire, where)


def _validated(cls: type[B], wire: dict[int, Any], where: str) -> B:
    """The body schema's validation (lengths, characters) applies to imports too."""
    try:
        return body_from_wire(cls, wire)
    except ProtocolError as exc:
        raise InputError("pfif_invalid", where, str(exc)) from None


def import_pfif(data: bytes, *, domain: str) -> PfifData:
    """Parse a PFIF 1.4 document into person and note bodies, or raise ``InputError``.

    Notes may stand at the top level or inside their person; both are returned.
    """
    if len(data) > MAX_PFIF_BYTES:
        raise InputError("too_large", "pfif", f"{len(data)} > {MAX_PFIF_BYTES} bytes")
    try:
        root = SafeET.fromstring(data, forbid_dtd=True)
    except (DefusedXmlException, ET.ParseError, ValueError) as exc:
        raise InputError("pfif_invalid", "pfif", f"not XML: {exc}") from None
    if root.tag != _q("pfif"):
        raise InputError("pfif_invalid", "pfif", "not a PFIF 1.4 document")
    persons: list[PersonBody] = []
    notes: list[NoteBody] = []
    for el in root:
        if len(persons) + len(notes) >= MAX_PFIF_RECORDS:
            raise InputError("too_large", "pfif", f"more than {MAX_PFIF_RECORDS} records")
        where = f"record {len(persons) + len(notes) + 1}"
        if el.tag == _q("person"):
            fields = _fields(el)
            person = _person_body(fields, domain, where)
            persons.append(person)
            for inner in el.findall(_q("note")):
                inner_fields = _fields(inner)
                inner_fields.setdefault("person_record_id", fields["person_record_id"])
                notes.append(_note_body(inner_fields, domain, f"{where}, note"))
        elif el.tag == _q("note"):
            notes.append(_note_body(_fields(el), domain, where))
    return PfifData(tuple(persons), tuple(notes))


__all__ = ["MAX_PFIF_BYTES", "PFIF_NS", "PfifData", "export_pfif", "import_pfif"]

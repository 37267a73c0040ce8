"""PFIF 1.4 export conforms to the schema and re-imports without loss (issue 8)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest
import xmlschema

from shelterkit.errors import InputError
from shelterkit.hub.pfif import export_pfif, import_pfif
from shelterkit.model.anpi import effective_expiry_ms, new_person, tombstone
from shelterkit.model.hlc import pack
from shelterkit.model.kinds import NoteBody, NoteStatus, PersonBody, Sex
from shelterkit.model.record import Record, sign_record
from tests.conftest import CITY
from tests.helpers import identity

SCHEMA = Path(__file__).resolve().parent.parent / "data" / "pfif-1.4.xsd"
DOMAIN = "anpi.nasukarasuyama.example"
NODE = identity("node-s01")
NOW = 1_800_000_000_000


def records() -> list[Record]:
    people = [
        new_person(
            person_id="p1",
            family_name="山田",
            given_name="太郎",
            reading="やまだ たろう",
            age=72,
            sex=Sex.MALE,
            home_district="烏山",
            contact="090-1234-5678",
            shelter="S01",
            consent=True,
            authority_key=CITY.public,
            expiry_ms=NOW + 30 * 86_400_000,
        ),
        new_person(
            person_id="p2",
            family_name="Nguyễn",
            given_name="Thị Lan",
            reading="グエン ティ ラン",
            birth_year=1990,
            sex=Sex.FEMALE,
            shelter="S07",
            consent=True,
            authority_key=CITY.public,
            expiry_ms=NOW + 86_400_000,
        ),
        PersonBody(
            person_id="example.org/123",
            full_name="Maria & <Silva>",
            public=True,
            expiry_ms=NOW + 86_400_000,
        ),
        new_person(  # not listed: never exported
            person_id="p3",
            family_name="秘密",
            given_name="花子",
            reading="",
            shelter="S01",
            consent=False,
            authority_key=CITY.public,
        ),
    ]
    out = [sign_record(NODE, i + 1, pack(NOW + i * 1000, 0), b) for i, b in enumerate(people)]
    out.append(sign_record(NODE, 10, pack(NOW + 10_000, 0), tombstone(people[0])))
    out[0] = sign_record(NODE, 1, pack(NOW, 0), people[0])
    notes = [
        NoteBody(
            note_id="n1",
            person_id="p2",
            status=NoteStatus.BELIEVED_ALIVE,
            text="体育館で見かけました",
            author="田中",
            author_made_contact=True,
            last_known_location="烏山中学校",
        ),
        NoteBody(note_id="n2", person_id="p3", status=NoteStatus.IS_NOTE_AUTHOR),
    ]
    out += [sign_record(NODE, 20 + i, pack(NOW + 20_000 + i, 0), n) for i, n in enumerate(notes)]
    return out


def test_export_conforms_to_pfif_1_4() -> None:
    xml = export_pfif(records(), domain=DOMAIN)
    xmlschema.XMLSchema(SCHEMA).validate(xml.decode())
    ns = "{http://zesty.ca/pfif/1.4}"
    ids = [e.text for e in ET.fromstring(xml).iter(f"{ns}person_record_id")]
    assert f"{DOMAIN}/person.p1" in ids and "example.org/123" in ids
    assert f"{DOMAIN}/person.p3" not in ids


def test_export_carries_no_contact_and_no_unlisted_person() -> None:
    xml = export_pfif(records(), domain=DOMAIN).decode()
    assert "090" not in xml and "秘密" not in xml
    assert "n2" not in xml  # a note about someone not listed stays home
    assert "&lt;Silva&gt;" in xml


def test_export_reimports_without_loss() -> None:
    recs = records()
    listed = [r for r in recs[1:3] if isinstance(r.body, PersonBody)]
    data = import_pfif(export_pfif(recs[1:3] + recs[5:6], domain=DOMAIN), domain=DOMAIN)
    expected = [replace(r.body, contact_sealed=b"") for r in listed]  # type: ignore[type-var]
    assert list(data.persons) == expected
    assert list(data.notes) == [recs[5].body]
    for r, imported in zip(listed, data.persons, strict=True):
        assert imported.expiry_ms == effective_expiry_ms(r)


def test_implicit_expiry_becomes_explicit() -> None:
    body = new_person(
        person_id="p9",
        family_name="林",
        given_name="誠",
        reading="はやし まこと",
        shelter="S01",
        consent=True,
        authority_key=None,
    )
    record = sign_record(NODE, 1, pack(NOW + 123, 0), body)
    (back,) = import_pfif(export_pfif([record], domain=DOMAIN), domain=DOMAIN).persons
    assert back == replace(body, expiry_ms=(NOW + 40 * 86_400_000) // 1000 * 1000)


def test_deletion_exports_as_placeholder_and_reimports_as_deleted() -> None:
    recs = records()
    deleted = recs[4]
    xml = export_pfif([deleted], domain=DOMAIN)
    assert "山田" not in xml.decode()
    xmlschema.XMLSchema(SCHEMA).validate(xml.decode())
    (back,) = import_pfif(xml, domain=DOMAIN).persons
    assert back.deleted and back.person_id == "p1" and not back.family_name


def test_nested_notes_imported() -> None:
    xml = """<?xml version="1.0" encoding="UTF-8"?>
<pfif:pfif xmlns:pfif="http://zesty.ca/pfif/1.4">
<pfif:person><pfif:person_record_id>example.org/7</pfif:person_record_id>
<pfif:full_name>佐藤 花子</pfif:full_name><pfif:age>30-40</pfif:age>
<pfif:note><pfif:note_record_id>example.org/n7</pfif:note_record_id>
<pfif:author_name>x</pfif:author_name><pfif:source_date>2027-01-01T00:00:00Z</pfif:source_date>
<pfif:status>information_sought</pfif:status><pfif:text>探しています</pfif:text></pfif:note>
</pfif:person></pfif:pfif>""".encode()
    data = import_pfif(xml, domain=DOMAIN)
    assert data.persons[0].full_name == "佐藤 花子" and data.persons[0].age == -1
    assert data.notes[0].person_id == "example.org/7"
    assert data.notes[0].status is NoteStatus.INFORMATION_SOUGHT


@pytest.mark.parametrize(
    "xml",
    [
        b"not xml",
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>',
        b'<?xml version="1.0"?><pfif xmlns="http://zesty.ca/pfif/1.2"/>',
        b'<pfif:pfif xmlns:pfif="http://zesty.ca/pfif/1.4"><pfif:person>'
        b"<pfif:full_name>x</pfif:full_name></pfif:person></pfif:pfif>",
        b'<pfif:pfif xmlns:pfif="http://zesty.ca/pfif/1.4"><pfif:person>'
        b"<pfif:person_record_id>a/b</pfif:person_record_id>"
        b"<pfif:full_name>\xe2\x80\xae evil</pfif:full_name></pfif:person></pfif:pfif>",
        b'<pfif:pfif xmlns:pfif="http://zesty.ca/pfif/1.4"><pfif:note>'
        b"<pfif:note_record_id>a/n</pfif:note_record_id><pfif:person_record_id>a/b"
        b"</pfif:person_record_id><pfif:status>zombie</pfif:status></pfif:note></pfif:pfif>",
    ],
)
def test_bad_pfif_rejected(xml: bytes) -> None:
    with pytest.raises(InputError):
        import_pfif(xml, domain=DOMAIN)


def test_schema_is_strict_enough_to_catch_mistakes() -> None:
    """The shipped schema refuses what PFIF 1.4 forbids, so a pass above means something."""
    schema = xmlschema.XMLSchema(SCHEMA)
    good = export_pfif(records()[1:2], domain=DOMAIN).decode()
    schema.validate(good)
    for bad in (
        good.replace("<pfif:sex>female</pfif:sex>", "<pfif:sex>f</pfif:sex>"),
        good.replace("Z</pfif:entry_date>", "+09:00</pfif:entry_date>"),
        good.replace(f"{DOMAIN}/person.p2", "p2"),
        good.replace("<pfif:full_name>Nguyễn Thị Lan</pfif:full_name>", ""),
    ):
        assert bad != good
        assert not schema.is_valid(bad)

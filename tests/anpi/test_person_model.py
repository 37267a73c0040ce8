"""Person, note and status records: sizes, sealing, the radio-safe form, deletion codes."""

from __future__ import annotations

import pytest

from shelterkit.errors import ProtocolError
from shelterkit.model.anpi import (
    SealedPart,
    check_erase_code,
    effective_expiry_ms,
    erase_code,
    format_code,
    new_person,
    new_person_id,
    radio_form,
    seal,
    tombstone,
    unseal,
)
from shelterkit.model.fold import entity_key, fold
from shelterkit.model.hlc import pack
from shelterkit.model.kinds import NeedLevel, NoteBody, NoteStatus, PersonBody, StatusBody
from shelterkit.model.record import decode_record, sign_record
from tests.conftest import CITY
from tests.helpers import identity

NODE = identity("node-s01")
RADIO_FRAME_BYTES = 200  # E220-900T22S(JP) packet size (DESIGN §6)
NOW = 1_800_000_000_000
# A node that has run for weeks: sequence numbers in the thousands (3-byte CBOR).
SEQ = 4321


def person(family: str, given: str, reading: str, **kw: object) -> PersonBody:
    args: dict[str, object] = {
        "person_id": new_person_id(b"\x01\x02\x03\x04\x05\x06\x07\x08"),
        "family_name": family,
        "given_name": given,
        "reading": reading,
        "birth_year": 1950,
        "home_district": "烏山",
        "shelter": "S01",
        "consent": True,
        "authority_key": CITY.public,
    }
    args.update(kw)
    return new_person(**args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("family", "given", "reading"),
    [
        ("山田", "太郎", "やまだ たろう"),
        ("高橋", "健一", "たかはし けんいち"),
        ("佐々木", "美奈子", "ささき みなこ"),
    ],
)
def test_consented_person_fits_one_radio_frame(family: str, given: str, reading: str) -> None:
    record = sign_record(NODE, SEQ, pack(NOW, 0), person(family, given, reading))
    assert len(record.wire) <= RADIO_FRAME_BYTES, len(record.wire)
    assert decode_record(record.wire).body == record.body


def test_status_record_fits_one_radio_frame() -> None:
    body = StatusBody(
        shelter="S01",
        headcount=1234,
        battery_pct=87,
        clients=312,
        households=420,
        needs_care=35,
        need_water=NeedLevel.CRITICAL,
        need_food=NeedLevel.HIGH,
        need_medicine=NeedLevel.LOW,
        need_blankets=NeedLevel.HIGH,
        need_power=NeedLevel.CRITICAL,
        links="http:down lan:up radio:up",
    )
    record = sign_record(NODE, 70_000, pack(NOW, 0), body)
    assert len(record.wire) <= RADIO_FRAME_BYTES, len(record.wire)
    assert decode_record(record.wire).body == body


def test_old_status_records_still_decode() -> None:
    """A status from a node that knows only the first four fields reads as before."""
    record = sign_record(NODE, 1, pack(NOW, 0), StatusBody(shelter="S01", headcount=5))
    body = decode_record(record.wire).body
    assert isinstance(body, StatusBody)
    assert body.need_water is NeedLevel.NONE and body.links == ""


def test_contact_is_sealed_to_city_hall_only() -> None:
    body = person("山田", "太郎", "やまだ たろう", contact="090-1234-5678")
    assert b"090" not in body.contact_sealed
    assert unseal(body.contact_sealed, CITY).contact == "090-1234-5678"
    with pytest.raises(ProtocolError):
        unseal(body.contact_sealed, identity("someone else"))


def test_without_consent_names_travel_only_sealed() -> None:
    body = person("山田", "太郎", "やまだ たろう", consent=False)
    record = sign_record(NODE, SEQ, pack(NOW, 0), body)
    assert "山田".encode() not in record.wire and "やまだ".encode() not in record.wire
    private = unseal(body.contact_sealed, CITY)
    assert (private.family_name, private.given_name) == ("山田", "太郎")
    assert private.alternate_names == "やまだ たろう" and private.birth_year == 1950
    assert radio_form(record) is record


def test_names_in_clear_without_consent_kept_off_radio() -> None:
    careless = PersonBody(person_id="x1", family_name="山田", public=False)
    assert radio_form(sign_record(NODE, 1, pack(NOW, 0), careless)) is None
    listed = sign_record(NODE, 2, pack(NOW, 0), person("山田", "太郎", "やまだ たろう"))
    assert radio_form(listed) is listed


def test_no_city_hall_key_means_no_private_fields() -> None:
    with pytest.raises(ValueError):
        person("山田", "太郎", "", consent=False, authority_key=None)
    assert person("山田", "太郎", "", authority_key=None).contact_sealed == b""


def test_sealed_part_too_large_rejected() -> None:
    huge = SealedPart(
        contact="あ" * 200,
        full_name="い" * 40,
        family_name="う" * 40,
        given_name="え" * 40,
        alternate_names="お" * 40,
        home_district="か" * 60,
    )
    with pytest.raises(ProtocolError):
        seal(huge, CITY.public)


def test_person_entity_is_its_id_and_newest_wins() -> None:
    first = sign_record(NODE, 1, pack(NOW, 0), person("山田", "太郎", ""))
    gone = sign_record(identity("node-s02"), 1, pack(NOW + 1, 0), tombstone(first.body))  # type: ignore[arg-type]
    assert entity_key(first) == entity_key(gone) == b"P" + first.body.person_id.encode()  # type: ignore[union-attr]
    assert fold([gone, first]) == fold([first, gone]) == {entity_key(first): gone}
    body = gone.body
    assert isinstance(body, PersonBody) and body.deleted and not body.family_name
    note = sign_record(NODE, 2, pack(NOW, 1), NoteBody(note_id="n1", person_id="p"))
    assert entity_key(note) == b"R" + note.id


def test_default_expiry_counts_from_record_time() -> None:
    record = sign_record(NODE, 1, pack(NOW, 0), person("山田", "太郎", ""))
    assert effective_expiry_ms(record) == NOW + 40 * 24 * 3600 * 1000


def test_erase_code_belongs_to_node_and_person() -> None:
    code = erase_code(NODE, "abc")
    assert check_erase_code(NODE, "abc", format_code(code))
    assert check_erase_code(NODE, "abc", f" {code.upper()} ")
    assert not check_erase_code(NODE, "abd", code)
    assert not check_erase_code(identity("other node"), "abc", code)
    assert not check_erase_code(NODE, "abc", "")


def test_note_round_trips() -> None:
    body = NoteBody(
        note_id="n1", person_id="p1", status=NoteStatus.BELIEVED_ALIVE, text="体育館で見かけました"
    )
    assert decode_record(sign_record(NODE, 1, pack(NOW, 0), body).wire).body == body

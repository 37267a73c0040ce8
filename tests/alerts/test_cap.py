"""CAP 1.2 import and export (shelterkit.cap): the corpus, round trips, bad input."""

from __future__ import annotations

import dataclasses
import datetime
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shelterkit.cap import (
    EASY_JAPANESE,
    MAX_CAP_BYTES,
    MAX_INFO_BLOCKS,
    CapRefused,
    alert_to_cap,
    normalise_language,
    parse_cap,
    schema_errors,
)
from shelterkit.model import codec
from shelterkit.model.fields import body_to_wire
from shelterkit.model.kinds import (
    AlertBody,
    AlertStatus,
    CapSignature,
    MsgType,
    Severity,
    Urgency,
)
from shelterkit.model.record import MAX_RECORD_BYTES
from tests.alerts.corpus import BAD, CITY_CERT, GOOD, NODE_NOW_MS, SIGNED, bad, good
from tests.conftest import CITY
from tests.helpers import alert

CORPUS = GOOD + SIGNED


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.name)
def test_corpus_imports_round_trips_and_validates(path: Path) -> None:
    original = path.read_bytes()
    assert schema_errors(original) == []
    body = parse_cap(original, NODE_NOW_MS)
    exported = alert_to_cap(body)
    assert schema_errors(exported) == []
    again = parse_cap(exported, NODE_NOW_MS)
    # The export carries everything but the original's XML signature.
    assert again == dataclasses.replace(body, cap_signature=CapSignature.NONE, cap_signer="")
    wire = codec.encode(body_to_wire(body))
    assert len(wire) < MAX_RECORD_BYTES


def test_corpus_is_varied() -> None:
    bodies = [parse_cap(p.read_bytes(), NODE_NOW_MS) for p in CORPUS]
    languages = {lang for b in bodies for lang in b.headline}
    assert {"ja", "en", "pt", "vi", "zh-Hans", "tl", EASY_JAPANESE} <= languages
    assert {b.msg_type for b in bodies} == {MsgType.ALERT, MsgType.UPDATE, MsgType.CANCEL}
    assert AlertStatus.EXERCISE in {b.status for b in bodies}
    assert any(b.polygons for b in bodies) and any(b.circles for b in bodies)
    assert any((0, "JIS", "09215") in b.geocodes for b in bodies)
    assert {b.severity for b in bodies} >= {Severity.EXTREME, Severity.SEVERE, Severity.MINOR}


def test_every_info_field_is_mapped() -> None:
    body = parse_cap(good("01-"), NODE_NOW_MS)
    assert body.identifier == "JP-09215-20270115-0001"
    assert body.sender == "bousai@city.nasukarasuyama.lg.jp"
    assert body.headline["ja"].startswith("【警戒レベル5】")
    assert body.headline["en"].startswith("[Level 5]")
    assert body.event == {"ja": "緊急安全確保", "en": "Emergency safety measure"}
    assert set(body.description) == set(body.instruction) == {"ja", "en"}
    assert body.categories == ("Met", "Geo")
    assert body.response_types == ("Evacuate",)
    assert (body.severity, body.urgency) == (Severity.EXTREME, Urgency.IMMEDIATE)
    assert body.event_codes == (("JP-evac-level", "5"),)
    assert body.sent_ms == body.effective_ms == body.onset_ms == 1_799_962_200_000  # 06:30 in Japan
    assert body.expires_ms == body.sent_ms + 24 * 3600 * 1000
    assert body.sender_name == "那須烏山市 災害対策本部"
    assert body.web == "http://portal.shelter/"
    assert body.parameters == (("river", "那珂川"),)
    # The same area in two languages is one area; its shapes keep their coordinates.
    assert body.areas == ("那須烏山市 宮原・向田・下境地区",)
    ((area, ring),) = body.polygons
    assert area == 0 and ring[:2] == (36_610_500, 140_126_200) and ring[:2] == ring[-2:]
    circle = parse_cap(good("03-"), NODE_NOW_MS).circles
    assert circle == ((0, 36_667_200, 140_095_300, 500),)
    two_areas = parse_cap(good("07-"), NODE_NOW_MS)
    assert len(two_areas.areas) == 2 and two_areas.circles[0][0] == 1


def test_update_and_cancel_carry_identifiers_for_folding() -> None:
    update = parse_cap(good("04-"), NODE_NOW_MS)
    assert update.msg_type is MsgType.UPDATE
    assert update.references == ("JP-09215-20270115-0002",)
    assert update.cap_references[0].startswith("bousai@city.nasukarasuyama.lg.jp,")
    cancel = parse_cap(
        good("08-"), NODE_NOW_MS, known_identifiers={update.identifier, *update.references}
    )
    assert cancel.references == ("JP-09215-20270115-0002", "JP-09215-20270115-0004")
    bare = parse_cap(good("05-"), NODE_NOW_MS)
    assert bare.msg_type is MsgType.CANCEL and bare.headline == {}


def test_sent_with_utc_offset_is_converted() -> None:
    body = parse_cap(good("09-"), NODE_NOW_MS)
    assert body.sent_ms == 1_799_970_300_000  # 2027-01-14T23:45:00-00:00
    assert body.geocodes == ((0, "JIS", "09000"),)


def test_language_tags_are_normalised() -> None:
    assert normalise_language("ja-JP") == "ja"
    assert normalise_language("en-US") == "en"
    assert normalise_language("pt-BR") == "pt"
    assert normalise_language("zh-Hant-TW") == "zh-Hant"
    for easy in ("ja-x-easy", "ja-JP-x-easy", "ja-x-yasashii", "JA-X-EASY"):
        assert normalise_language(easy) == EASY_JAPANESE
    assert EASY_JAPANESE in parse_cap(good("04-"), NODE_NOW_MS).headline


def test_signed_alert_is_verified_against_a_pinned_certificate() -> None:
    xml = good("10-")
    unpinned = parse_cap(xml, NODE_NOW_MS)
    assert unpinned.cap_signature is CapSignature.INTACT
    assert "CN=bousai@city.nasukarasuyama.lg.jp" in unpinned.cap_signer
    pinned = parse_cap(xml, NODE_NOW_MS, pinned_certs=[CITY_CERT])
    assert pinned.cap_signature is CapSignature.VERIFIED


def test_hub_issued_alert_exports_valid_cap() -> None:
    """An alert issued at the hub (no CAP sender or sent time) still exports valid CAP."""
    record = alert(CITY, 1, NODE_NOW_MS << 16, "hub-1", severity=Severity.SEVERE)
    body = record.body
    assert isinstance(body, AlertBody)
    xml = alert_to_cap(body, sent_ms=NODE_NOW_MS, sender="shelterkit-city")
    assert schema_errors(xml) == []
    back = parse_cap(xml, NODE_NOW_MS)
    assert back.headline == body.headline and back.sender == "shelterkit-city"
    cancel = dataclasses.replace(
        body, identifier="hub-2", msg_type=MsgType.CANCEL, references=("hub-1",)
    )
    xml = alert_to_cap(cancel, sent_ms=NODE_NOW_MS, sender="shelterkit-city")
    assert schema_errors(xml) == []
    assert parse_cap(xml, NODE_NOW_MS).references == ("hub-1",)


# -- bad input: refused with one clear line, nothing returned -------------------------


def refusal(xml: bytes, **kw: object) -> str:
    with pytest.raises(CapRefused) as info:
        parse_cap(xml, NODE_NOW_MS, **kw)  # type: ignore[arg-type]
    reason = str(info.value)
    assert "\n" not in reason and reason.startswith("CAP alert refused: ")
    assert len(reason) < 400
    return reason


def test_schema_invalid_cap_rejected() -> None:
    assert "status" in refusal(bad("schema-invalid-status"))
    assert "sent" in refusal(bad("schema-invalid-sent-z"))
    assert "event" in refusal(bad("schema-invalid-missing-event"))
    assert "not a CAP 1.2 alert" in refusal(b"<alert><identifier>x</identifier></alert>")
    assert "not well-formed" in refusal(b"<alert xmlns='urn:oasis:names:tc:emergency:cap:1.2'>")


def test_broken_signature_rejected() -> None:
    reason = refusal(bad("broken-signature"))
    assert "signature is broken" in reason


def other_cert() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "someone else")])
    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def test_signature_without_certificate_rejected_when_no_pinned_one_verifies() -> None:
    xml = good("10-")
    start, end = xml.index(b"<ds:KeyInfo>"), xml.index(b"</ds:KeyInfo>") + len(b"</ds:KeyInfo>")
    stripped = xml[:start] + xml[end:]
    assert "does not verify with any pinned certificate" in refusal(
        stripped, pinned_certs=[other_cert()]
    )
    # Still verifiable with the right pinned certificate, and unsigned-equivalent without.
    assert parse_cap(stripped, NODE_NOW_MS, pinned_certs=[CITY_CERT]).cap_signature is (
        CapSignature.VERIFIED
    )
    assert parse_cap(stripped, NODE_NOW_MS).cap_signature is CapSignature.NONE


def test_signature_by_an_unpinned_certificate_is_only_intact() -> None:
    body = parse_cap(good("10-"), NODE_NOW_MS, pinned_certs=[other_cert()])
    assert body.cap_signature is CapSignature.INTACT


def test_update_with_unknown_reference_rejected() -> None:
    reason = refusal(bad("update-unknown-reference"), known_identifiers=set())
    assert "unknown alert 'JP-09215-19990101-9999'" in reason


def test_cancel_with_unknown_reference_rejected() -> None:
    reason = refusal(bad("cancel-unknown-reference"), known_identifiers={"JP-09215-20270115-0001"})
    assert "Cancel refers to unknown alert" in reason


def test_huge_description_rejected() -> None:
    assert "description has 20000 characters, limit 4000" in refusal(bad("huge-description"))
    assert "a record carries" in refusal(bad("too-large-for-a-record"))
    huge = b" " * (MAX_CAP_BYTES + 1)
    assert f"limit {MAX_CAP_BYTES}" in refusal(huge)


def test_dozens_of_info_blocks_rejected() -> None:
    assert f"40 info blocks, limit {MAX_INFO_BLOCKS}" in refusal(bad("dozens-of-infos"))


def test_billion_laughs_rejected() -> None:
    started = time.monotonic()
    assert "DTD" in refusal(bad("billion-laughs"))
    assert time.monotonic() - started < 1.0  # refused before any expansion


def test_external_entity_rejected() -> None:
    reason = refusal(bad("external-entity"))
    assert "DTD" in reason and "passwd" not in reason


def test_already_expired_rejected() -> None:
    assert "expired at 2026-08-01T23:59:00+09:00" in refusal(bad("already-expired"))


def test_restricted_scope_rejected() -> None:
    xml = good("03-").replace(b"<scope>Public</scope>", b"<scope>Restricted</scope>")
    assert "scope Restricted" in refusal(xml)


def test_malformed_reference_rejected() -> None:
    xml = good("04-").replace(b"lg.jp,JP-09215-20270115-0002,", b"lg.jp JP-09215-20270115-0002 ")
    assert "is not 'sender,identifier,sent'" in refusal(xml)


def test_invisible_characters_rejected() -> None:
    xml = good("03-").replace("土砂崩れ</event>".encode(), "土砂\u202e崩れ</event>".encode())
    assert "invisible_chars" in refusal(xml)


def test_bad_polygon_rejected() -> None:
    xml = good("01-").replace(
        b"36.6412,140.1655 36.6121,140.1604 36.6105,140.1262",
        b"36.6412,140.1655 36.6121,140.1604 36.6,140.1",
    )
    assert "first equal to the last" in refusal(xml)


def test_every_bad_corpus_file_is_refused() -> None:
    for path in sorted(BAD.glob("*.xml")):
        refusal(path.read_bytes(), known_identifiers=set())


def test_cap_module_is_pure() -> None:
    """cap/__init__.py is a pure module: importing it and parsing pulls in no I/O framework."""
    code = (
        "import sys; from shelterkit.cap import parse_cap; "
        "from pathlib import Path; "
        f"parse_cap(Path({str(SIGNED[0])!r}).read_bytes(), 1_800_000_000_000); "
        "print(sorted({'asyncio', 'aiohttp', 'aiosqlite'} & set(sys.modules)))"
    )
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root
    )
    assert out.stdout.strip() == "[]"


def test_shapes_with_infinite_coordinates_rejected() -> None:
    xml = good("03-").replace(b"36.6672,140.0953 0.5", b"Infinity,140.0953 0.5", 1)
    assert "latitude 'Infinity' is not a number" in refusal(xml)
    xml = good("03-").replace(b"36.6672,140.0953 0.5", b"36.6672,140.0953 NaN", 1)
    assert "radius 'NaN' is not a number" in refusal(xml)


def test_alert_without_headline_or_event_rejected() -> None:
    xml = good("06-")
    for tag in (b"event", b"headline"):
        start = 0
        while (i := xml.find(b"<" + tag + b">", start)) >= 0:
            j = xml.index(b"</" + tag + b">", i)
            xml = xml[: i + len(tag) + 2] + xml[j:]
            start = i + 1
    assert "no info block has a headline or an event name" in refusal(xml)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    source=st.sampled_from(CORPUS + sorted(BAD.glob("*.xml"))),
    cuts=st.lists(st.tuples(st.integers(0, 10**6), st.binary(max_size=8)), max_size=4),
)
def test_damaged_cap_never_crashes_attack(source: Path, cuts: list[tuple[int, bytes]]) -> None:
    """Any damage to a corpus file gives a body or a one-line refusal, nothing else."""
    xml = source.read_bytes()
    for at, junk in cuts:
        at %= len(xml)
        xml = xml[:at] + junk + xml[at + len(junk) :]
    try:
        body = parse_cap(xml, NODE_NOW_MS, pinned_certs=[CITY_CERT])
    except CapRefused as exc:
        assert "\n" not in str(exc)
    else:
        assert isinstance(body, AlertBody)
        assert len(codec.encode(body_to_wire(body))) <= MAX_RECORD_BYTES


def test_deeply_nested_elements_rejected() -> None:
    deep = b"<ds:Signature xmlns:ds='http://www.w3.org/2000/09/xmldsig#'>"
    deep += b"<ds:a>" * 3000 + b"</ds:a>" * 3000 + b"</ds:Signature>"
    xml = good("03-").replace(b"</alert>", deep + b"</alert>")
    assert "nested deeper than" in refusal(xml)


def test_malformed_signature_rejected() -> None:
    junk = b"<ds:Signature xmlns:ds='http://www.w3.org/2000/09/xmldsig#'><ds:x/></ds:Signature>"
    xml = good("03-").replace(b"</alert>", junk + b"</alert>")
    assert "the XML signature has no SignedInfo" in refusal(xml)


def test_update_referring_to_itself_rejected() -> None:
    xml = good("04-").replace(b"lg.jp,JP-09215-20270115-0002,", b"lg.jp,JP-09215-20270115-0004,")
    assert "refers to itself" in refusal(xml)

"""CAP 1.2 in and out: OASIS Common Alerting Protocol alerts ↔ ``AlertBody``.

Pure: no asyncio, no aiohttp, no clock (``now_ms`` is a parameter). Import runs, in order:

1. a byte cap before anything is parsed;
2. ``defusedxml``: a DTD is refused outright, which also refuses entity expansion
   ("billion laughs") and external entities (XXE); nothing is ever fetched;
3. validation against the OASIS CAP 1.2 schema shipped in ``cap/schema`` (``xmlschema``);
4. an enveloped XML signature, when present, is checked with ``signxml``: against the
   certificates pinned at the hub, else against the certificate it carries (integrity
   only); a signature that is present and does not verify refuses the alert;
5. every ``info`` block is mapped into one ``AlertBody`` (see ``docs/alerts.md``), and the
   result must fit in one record.

Every refusal is a ``CapRefused`` (an ``InputError``) whose text is one line a person can act
on; nothing is returned, so nothing partial can be stored.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Container, Iterable, Sequence
from datetime import datetime, timedelta, timezone, tzinfo
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from importlib import resources
from typing import Any
from urllib.parse import urljoin
from xml.etree import ElementTree as ET

import defusedxml
import defusedxml.ElementTree as DET

from shelterkit.errors import InputError, ProtocolError
from shelterkit.model import codec
from shelterkit.model.fields import MAX_LANG_TAG_CHARS, MAX_LANGS_PER_TEXT, body_from_wire
from shelterkit.model.fields import body_to_wire as _body_to_wire
from shelterkit.model.kinds import (
    EASY_JAPANESE,
    MAX_ALERT_AREAS,
    MAX_ALERT_CIRCLES,
    MAX_ALERT_GEOCODES,
    MAX_ALERT_PARAMETERS,
    MAX_ALERT_POLYGONS,
    MAX_POLYGON_POINTS,
    MAX_URL_CHARS,
    AlertBody,
    AlertStatus,
    CapSignature,
    Certainty,
    MsgType,
    Severity,
    Urgency,
)
from shelterkit.model.record import MAX_RECORD_BYTES

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
DSIG_NS = "http://www.w3.org/2000/09/xmldsig#"
CAP_MEDIA_TYPE = "application/cap+xml"

# Largest CAP document read, in bytes: an alert must fit one record (6 KiB of CBOR), and
# its XML, repeating the shared fields per language and with an enveloped signature, is a
# few times larger (the seven-language alert of tests/data/cap is 6 KB for 2 KB of CBOR).
MAX_CAP_BYTES = 64 * 1024
# info blocks per alert: one per language (a text holds at most MAX_LANGS_PER_TEXT) plus
# a few split blocks; "dozens" is an attack or a mistake, not an alert.
MAX_INFO_BLOCKS = 16
# Text limits in characters, equal to AlertBody's wire limits (model/kinds.py).
# Descriptions and instructions beyond them are refused (cutting could drop what to do);
# the short fields are cut with "…".
MAX_DESCRIPTION_CHARS = 4000  # per language
MAX_INSTRUCTION_CHARS = 2000  # per language
MAX_HEADLINE_CHARS = 160  # CAP 1.2 §3.2.2: headline "SHOULD be less than 160 characters"
MAX_EVENT_CHARS = 120
MAX_AREA_DESC_CHARS = 120
MAX_SENDER_NAME_CHARS = 120
MAX_NOTE_CHARS = 500
# Room left in a record for the envelope (origin 32 B, signature 64 B, header fields).
MAX_ALERT_BODY_BYTES = MAX_RECORD_BYTES - 256
# Deepest element nesting accepted: CAP goes 5 deep (alert/info/area/geocode/value), an
# XML signature 6 (Signature/SignedInfo/Reference/Transforms/Transform/XPath); deeper
# documents only exist to exhaust a validator's recursion.
MAX_XML_DEPTH = 12
# Longest reason text quoted from a foreign library, in characters: keeps refusals one line.
MAX_REASON_CHARS = 240

# Spellings of Easy Japanese seen in the wild, mapped to EASY_JAPANESE (model/kinds.py).
_EASY_PRIVATE_SUBTAGS = frozenset({"easy", "yasashii", "yasashi", "plain"})

_SEVERITY = {s.name.title(): s for s in Severity}
_URGENCY = {u.name.title(): u for u in Urgency}
_CERTAINTY = {c.name.title(): c for c in Certainty}
_STATUS = {s.name.title(): s for s in AlertStatus}
_MSG_TYPE = {m.name.title(): m for m in MsgType}
# CAP identifiers and senders: "MUST NOT include spaces, commas or restricted characters"
_FORBIDDEN_ID_CHARS = re.compile(r"[\s,<&]")
_TZ_JAPAN = timezone(timedelta(hours=9), "JST")


class CapRefused(InputError):
    """A CAP document that is not accepted; ``str()`` is the one-line reason."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(code, "cap", reason)
        self.reason = reason

    def __str__(self) -> str:
        return f"CAP alert refused: {self.reason}"


def _one_line(text: object) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= MAX_REASON_CHARS else line[: MAX_REASON_CHARS - 1] + "…"


def _q(name: str) -> str:
    return f"{{{CAP_NS}}}{name}"


# -- parsing -------------------------------------------------------------------------


def _parse_xml(xml: bytes) -> ET.Element:
    if len(xml) > MAX_CAP_BYTES:
        raise CapRefused("too_large", f"document is {len(xml)} bytes, limit {MAX_CAP_BYTES}")
    try:
        root: ET.Element = DET.fromstring(
            xml, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except defusedxml.DTDForbidden as exc:
        raise CapRefused(
            "dtd",
            "the document has a DTD (document type declaration); DTDs, entity expansion "
            f"and external entities are never processed ({exc.name or 'unnamed'})",
        ) from exc
    except defusedxml.EntitiesForbidden as exc:
        raise CapRefused("entities", f"the document declares XML entity {exc.name!r}") from exc
    except defusedxml.ExternalReferenceForbidden as exc:
        raise CapRefused("external", "the document refers to an external resource") from exc
    except defusedxml.DefusedXmlException as exc:
        raise CapRefused("unsafe_xml", _one_line(exc)) from exc
    except (ET.ParseError, ValueError, LookupError) as exc:  # LookupError: unknown encoding
        raise CapRefused("not_xml", f"not well-formed XML: {_one_line(exc)}") from exc
    if root.tag != _q("alert"):
        raise CapRefused("not_cap", f"root element is {root.tag}, not a CAP 1.2 alert ({CAP_NS})")
    stack = [(root, 1)]
    while stack:
        element, depth = stack.pop()
        if depth > MAX_XML_DEPTH:
            raise CapRefused("too_deep", f"elements nested deeper than {MAX_XML_DEPTH} levels")
        stack.extend((child, depth + 1) for child in element)
    return root


@functools.cache
def _schema() -> Any:
    import xmlschema  # imported on first use: loading it costs ~0.1 s at start

    source = (resources.files("shelterkit.cap") / "schema" / "CAP-v1.2.xsd").read_text("utf-8")
    # Given as text with no base URL and allow="none": the validator can fetch nothing.
    return xmlschema.XMLSchema10(source, allow="none")


def _path(path: str | None) -> str:
    return (path or "/").replace(f"{{{CAP_NS}}}", "")


def schema_errors(xml_or_root: bytes | ET.Element) -> list[str]:
    """Reasons why a document is not valid against the OASIS CAP 1.2 schema (empty: valid)."""
    root = _parse_xml(xml_or_root) if isinstance(xml_or_root, bytes) else xml_or_root
    return [f"{_path(e.path)}: {_path(_one_line(e.reason))}" for e in _schema().iter_errors(root)]


def _check_schema(root: ET.Element) -> None:
    for error in _schema().iter_errors(root):
        raise CapRefused(
            "schema", f"not valid CAP 1.2: {_path(error.path)}: {_path(_one_line(error.reason))}"
        )


def _check_signature(
    xml: bytes, root: ET.Element, pinned_certs: Sequence[str]
) -> tuple[CapSignature, str]:
    """(state, signer subject) of the enveloped signature, or refuse a broken one."""
    signatures = root.findall(f"{{{DSIG_NS}}}Signature")
    if not signatures:
        return CapSignature.NONE, ""
    if len(signatures) > 1:
        raise CapRefused("bad_signature", "more than one XML signature on the alert")
    for part in ("SignedInfo", "SignatureValue"):
        if signatures[0].find(f"{{{DSIG_NS}}}{part}") is None:
            raise CapRefused("bad_signature", f"the XML signature has no {part}")
    from cryptography import x509
    from lxml.etree import LxmlError
    from signxml.exceptions import SignXMLException
    from signxml.verifier import XMLVerifier

    # What signxml raises for a signature that does not verify or cannot be read.
    failures = (SignXMLException, LxmlError, ValueError)

    def verify(cert: str) -> str:
        result = XMLVerifier().verify(xml, x509_cert=cert)  # one reference expected
        signed = None if isinstance(result, list) else result.signed_xml
        if signed is None or signed.tag != _q("alert"):
            raise CapRefused("bad_signature", "the XML signature does not cover the whole alert")
        return str(x509.load_pem_x509_certificate(cert.encode()).subject.rfc4514_string())

    for cert in pinned_certs:
        try:
            return CapSignature.VERIFIED, verify(cert)
        except failures:
            continue
    embedded = signatures[0].find(f".//{{{DSIG_NS}}}X509Certificate")
    if embedded is None or not (embedded.text or "").strip():
        if pinned_certs:
            raise CapRefused(
                "bad_signature", "the XML signature does not verify with any pinned certificate"
            )
        return CapSignature.NONE, ""  # nothing to check it with: treated as unsigned
    b64 = "".join((embedded.text or "").split())
    pem = "-----BEGIN CERTIFICATE-----\n" + b64 + "\n-----END CERTIFICATE-----\n"
    try:
        return CapSignature.INTACT, verify(pem)
    except failures as exc:
        raise CapRefused("bad_signature", f"the XML signature is broken: {_one_line(exc)}") from exc


def _child_text(el: ET.Element, name: str) -> str:
    child = el.find(_q(name))
    return (child.text or "").strip() if child is not None else ""


def _single_line(text: str) -> str:
    return " ".join(text.split())


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _ms(value: str, field: str) -> int:
    if not value:
        return 0
    try:
        dt = datetime.fromisoformat(value)
    except ValueError as exc:
        raise CapRefused("bad_time", f"{field} {value!r} is not a CAP date and time") from exc
    if dt.tzinfo is None:
        raise CapRefused("bad_time", f"{field} {value!r} has no time zone")
    ms = int(dt.timestamp()) * 1000
    if ms <= 0:
        raise CapRefused("bad_time", f"{field} {value!r} is before 1970")
    return ms


def normalise_language(tag: str) -> str:
    """A CAP language tag as stored: primary language, script if any, private use kept;
    the region is dropped ("ja-JP" → "ja", "zh-Hant-TW" → "zh-Hant", "pt-BR" → "pt")."""
    parts = tag.strip().lower().split("-")
    if parts[0] == "x":  # private use only: nothing to normalise
        return "-".join(parts)
    out = [parts[0]]
    if len(parts) > 1 and len(parts[1]) == 4 and parts[1].isalpha():
        out.append(parts[1].title())
    if "x" in parts:
        private = parts[parts.index("x") + 1 :]
        if out[0] == "ja" and _EASY_PRIVATE_SUBTAGS.intersection(private):
            return EASY_JAPANESE
        out += ["x", *private]
    return "-".join(out)


def _micro(value: str, low: int, high: int, what: str) -> int:
    try:
        micro = int((Decimal(value) * 1_000_000).to_integral_value(ROUND_HALF_EVEN))
    except (InvalidOperation, ValueError, OverflowError) as exc:  # also NaN, Infinity
        raise CapRefused("bad_area", f"{what} {value!r} is not a number") from exc
    if not low * 1_000_000 <= micro <= high * 1_000_000:
        raise CapRefused("bad_area", f"{what} {value!r} is out of range")
    return micro


def _point(text: str) -> tuple[int, int]:
    lat, sep, lon = text.partition(",")
    if not sep:
        raise CapRefused("bad_area", f"point {text!r} is not 'latitude,longitude'")
    return _micro(lat, -90, 90, "latitude"), _micro(lon, -180, 180, "longitude")


def _polygon(text: str) -> tuple[int, ...]:
    points = [_point(p) for p in text.split()]
    if len(points) < 4 or points[0] != points[-1]:
        raise CapRefused(
            "bad_area", "a polygon needs at least 4 points, the first equal to the last"
        )
    if len(points) > MAX_POLYGON_POINTS:
        raise CapRefused(
            "bad_area", f"a polygon has {len(points)} points, limit {MAX_POLYGON_POINTS}"
        )
    return tuple(v for p in points for v in p)


def _circle(text: str) -> tuple[int, int, int]:
    centre, _, radius = text.strip().partition(" ")
    lat, lon = _point(centre)
    try:
        metres = int((Decimal(radius.strip()) * 1000).to_integral_value(ROUND_HALF_EVEN))
    except (InvalidOperation, ValueError, OverflowError) as exc:  # also NaN, Infinity
        raise CapRefused("bad_area", f"circle radius {radius!r} is not a number") from exc
    if not 0 <= metres <= 20_000_000:
        raise CapRefused("bad_area", f"circle radius {radius!r} km is out of range")
    return lat, lon, metres


def _pairs(el: ET.Element, name: str) -> list[tuple[str, str]]:
    return [
        (_single_line(_child_text(p, "valueName")), _single_line(_child_text(p, "value")))
        for p in el.findall(_q(name))
    ]


def _join(parts: list[str], sep: str) -> str:
    return sep.join(dict.fromkeys(p for p in parts if p))


class _Merged:
    """Fields gathered across info blocks; texts per language, the rest shared."""

    def __init__(self) -> None:
        self.texts: dict[str, dict[str, list[str]]] = {
            "headline": {},
            "event": {},
            "description": {},
            "instruction": {},
        }
        self.severity: list[Severity] = []
        self.urgency: list[Urgency] = []
        self.certainty: list[Certainty] = []
        self.categories: list[str] = []
        self.response_types: list[str] = []
        self.event_codes: list[tuple[str, str]] = []
        self.parameters: list[tuple[str, str]] = []
        self.effective: list[int] = []
        self.onset: list[int] = []
        self.expires: list[int] = []
        self.sender_name = ""
        self.web = ""
        self.areas: list[str] = []
        self.area_keys: dict[object, int] = {}
        self.polygons: list[tuple[int, tuple[int, ...]]] = []
        self.circles: list[tuple[int, int, int, int]] = []
        self.geocodes: list[tuple[int, str, str]] = []

    def add_text(self, field: str, lang: str, value: str) -> None:
        if value:
            self.texts[field].setdefault(lang, []).append(value)

    def add_area(self, area: ET.Element) -> None:
        desc = _cut(_single_line(_child_text(area, "areaDesc")), MAX_AREA_DESC_CHARS)
        polygons = tuple(_polygon(p.text or "") for p in area.findall(_q("polygon")))
        circles = tuple(_circle(c.text or "") for c in area.findall(_q("circle")))
        geocodes = tuple(_pairs(area, "geocode"))
        # The same area repeated in each language's info block is one area.
        key: object = (polygons, circles, geocodes) if polygons or circles or geocodes else desc
        if key in self.area_keys:
            return
        index = len(self.areas)
        if index >= MAX_ALERT_AREAS:
            raise CapRefused("too_many_areas", f"more than {MAX_ALERT_AREAS} distinct areas")
        self.area_keys[key] = index
        self.areas.append(desc)
        self.polygons += [(index, p) for p in polygons]
        self.circles += [(index, *c) for c in circles]
        self.geocodes += [(index, n, v) for n, v in geocodes]

    def add_info(self, info: ET.Element, number: int) -> None:
        lang = normalise_language(_child_text(info, "language") or "en-US")
        if len(lang) > MAX_LANG_TAG_CHARS:
            raise CapRefused("bad_language", f"info {number}: language tag {lang!r} is too long")
        event = _cut(_single_line(_child_text(info, "event")), MAX_EVENT_CHARS)
        headline = _single_line(_child_text(info, "headline")) or event
        description = _child_text(info, "description")
        instruction = _child_text(info, "instruction")
        if len(description) > MAX_DESCRIPTION_CHARS:
            raise CapRefused(
                "too_long",
                f"info {number} ({lang}): description has {len(description)} characters, "
                f"limit {MAX_DESCRIPTION_CHARS}",
            )
        if len(instruction) > MAX_INSTRUCTION_CHARS:
            raise CapRefused(
                "too_long",
                f"info {number} ({lang}): instruction has {len(instruction)} characters, "
                f"limit {MAX_INSTRUCTION_CHARS}",
            )
        self.add_text("event", lang, event)
        self.add_text("headline", lang, _cut(headline, MAX_HEADLINE_CHARS))
        self.add_text("description", lang, description)
        self.add_text("instruction", lang, instruction)
        self.categories += [c.text or "" for c in info.findall(_q("category"))]
        self.response_types += [r.text or "" for r in info.findall(_q("responseType"))]
        self.severity.append(_SEVERITY[_child_text(info, "severity")])
        self.urgency.append(_URGENCY[_child_text(info, "urgency")])
        self.certainty.append(_CERTAINTY[_child_text(info, "certainty")])
        self.event_codes += _pairs(info, "eventCode")
        self.parameters += _pairs(info, "parameter")
        self.effective.append(_ms(_child_text(info, "effective"), "effective"))
        self.onset.append(_ms(_child_text(info, "onset"), "onset"))
        self.expires.append(_ms(_child_text(info, "expires"), "expires"))
        self.sender_name = self.sender_name or _cut(
            _single_line(_child_text(info, "senderName")), MAX_SENDER_NAME_CHARS
        )
        web = _child_text(info, "web")
        if len(web) > MAX_URL_CHARS:
            raise CapRefused("too_long", f"info {number}: web address longer than {MAX_URL_CHARS}")
        self.web = self.web or web
        for area in info.findall(_q("area")):
            self.add_area(area)

    def lang_map(self, field: str) -> dict[str, str]:
        sep = "\n\n" if field in ("description", "instruction") else " / "
        return {lang: _join(parts, sep) for lang, parts in self.texts[field].items()}


def _earliest(values: Iterable[int]) -> int:
    given = [v for v in values if v]
    return min(given) if given else 0


def _references(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(identifiers, references as given) of CAP "sender,identifier,sent" triples."""
    triples = tuple(text.split())
    identifiers = []
    for triple in triples:
        parts = triple.split(",")
        if len(parts) != 3 or not all(parts):
            raise CapRefused(
                "bad_reference", f"reference {triple!r} is not 'sender,identifier,sent'"
            )
        identifiers.append(parts[1])
    return tuple(identifiers), triples


def parse_cap(
    xml: bytes,
    now_ms: int,
    *,
    known_identifiers: Container[str] | None = None,
    pinned_certs: Sequence[str] = (),
) -> AlertBody:
    """One CAP 1.2 alert → a validated ``AlertBody``, or ``CapRefused`` with the reason.

    ``known_identifiers``: identifiers of the alerts the caller holds; when given, an
    Update or Cancel must refer only to those. ``pinned_certs``: PEM certificates whose
    XML signatures make an alert ``CapSignature.VERIFIED``.
    """
    root = _parse_xml(xml)
    _check_schema(root)
    signature, signer = _check_signature(xml, root, pinned_certs)

    identifier = _child_text(root, "identifier")
    sender = _child_text(root, "sender")
    for name, value in (("identifier", identifier), ("sender", sender)):
        if not value or _FORBIDDEN_ID_CHARS.search(value):
            raise CapRefused("bad_" + name, f"{name} {value!r} is empty or has spaces or commas")
    msg_type_name = _child_text(root, "msgType")
    if msg_type_name not in _MSG_TYPE:
        raise CapRefused("not_alert", f"msgType {msg_type_name} is not shown to evacuees")
    msg_type = _MSG_TYPE[msg_type_name]
    scope = _child_text(root, "scope")
    if scope != "Public":
        raise CapRefused("not_public", f"scope {scope} is not for a public portal")
    references, cap_references = _references(_child_text(root, "references"))

    infos = root.findall(_q("info"))
    if len(infos) > MAX_INFO_BLOCKS:
        raise CapRefused("too_many_infos", f"{len(infos)} info blocks, limit {MAX_INFO_BLOCKS}")
    if not infos and msg_type is not MsgType.CANCEL:
        raise CapRefused("no_info", f"an {msg_type_name} needs at least one info block")
    merged = _Merged()
    for number, info in enumerate(infos, 1):
        merged.add_info(info, number)
    headline = merged.lang_map("headline")
    if not headline and msg_type is not MsgType.CANCEL:
        raise CapRefused("no_headline", "no info block has a headline or an event name")
    if len(headline) > MAX_LANGS_PER_TEXT:
        raise CapRefused("too_many_languages", f"more than {MAX_LANGS_PER_TEXT} languages")

    # Expiry: the alert ends when its last info block does; one without expiry never does.
    expires = 0 if not infos or 0 in merged.expires else max(merged.expires)
    body = AlertBody(
        identifier=identifier,
        headline=headline,
        severity=min(merged.severity, default=Severity.UNKNOWN),
        urgency=min(merged.urgency, default=Urgency.UNKNOWN),
        certainty=min(merged.certainty, default=Certainty.UNKNOWN),
        sent_ms=_ms(_child_text(root, "sent"), "sent"),
        expires_ms=expires,
        description=merged.lang_map("description"),
        instruction=merged.lang_map("instruction"),
        event=merged.lang_map("event"),
        msg_type=msg_type,
        references=references,
        status=_STATUS[_child_text(root, "status")],
        sender_name=merged.sender_name,
        areas=tuple(merged.areas),
        effective_ms=_earliest(merged.effective),
        categories=tuple(dict.fromkeys(merged.categories)),
        onset_ms=_earliest(merged.onset),
        web=merged.web,
        parameters=tuple(dict.fromkeys(merged.parameters)),
        polygons=tuple(merged.polygons),
        circles=tuple(merged.circles),
        geocodes=tuple(merged.geocodes),
        sender=sender,
        note=_cut(_child_text(root, "note"), MAX_NOTE_CHARS),
        cap_references=cap_references,
        response_types=tuple(dict.fromkeys(merged.response_types)),
        event_codes=tuple(dict.fromkeys(merged.event_codes)),
        cap_signature=signature,
        cap_signer=signer,
    )
    for name, count, limit in (
        ("polygons", len(body.polygons), MAX_ALERT_POLYGONS),
        ("circles", len(body.circles), MAX_ALERT_CIRCLES),
        ("geocodes", len(body.geocodes), MAX_ALERT_GEOCODES),
        ("parameters", len(body.parameters), MAX_ALERT_PARAMETERS),
        ("event codes", len(body.event_codes), MAX_ALERT_PARAMETERS),
        ("references", len(body.references), 16),
    ):
        if count > limit:
            raise CapRefused("too_many", f"{count} {name}, limit {limit}")
    body = _validated(body)

    if msg_type is not MsgType.CANCEL and body.expires_ms and body.expires_ms <= now_ms:
        raise CapRefused("expired", f"the alert expired at {cap_time(body.expires_ms, _TZ_JAPAN)}")
    if msg_type in (MsgType.UPDATE, MsgType.CANCEL):
        if not references:
            raise CapRefused("no_reference", f"an {msg_type_name} must give references")
        if identifier in references:  # it would supersede itself and never be shown
            raise CapRefused("self_reference", f"{msg_type_name} {identifier!r} refers to itself")
        if known_identifiers is not None:
            for ref in references:
                if ref not in known_identifiers:
                    raise CapRefused(
                        "unknown_reference", f"{msg_type_name} refers to unknown alert {ref!r}"
                    )
    return body


def _validated(body: AlertBody) -> AlertBody:
    """The body as a receiving node will decode it; refuse what a record cannot carry."""
    try:
        wire = _body_to_wire(body)
        size = len(codec.encode(wire))
        checked: AlertBody = body_from_wire(AlertBody, wire)
    except ProtocolError as exc:
        raise CapRefused("invalid_text", _one_line(exc)) from exc
    except InputError as exc:
        raise CapRefused("invalid_text", _one_line(exc)) from exc
    if size > MAX_ALERT_BODY_BYTES:
        raise CapRefused(
            "too_large",
            f"the alert needs {size} bytes, a record carries {MAX_ALERT_BODY_BYTES}; "
            "shorten descriptions or send fewer languages",
        )
    return checked


# -- feeds of CAP alerts (for polling a CAP source while backhaul is up) --------------

ATOM_NS = "http://www.w3.org/2005/Atom"
# An Atom feed of alerts, in bytes: a node's feed of 200 entries is about 150 KB.
MAX_ATOM_BYTES = 1024 * 1024
# CAP links taken from one feed: more alerts than a city has in force at once.
MAX_ATOM_CAP_LINKS = 200


def atom_cap_links(xml: bytes, base_url: str) -> list[str]:
    """Absolute URLs of the CAP documents an Atom feed links to (``type`` containing
    ``cap+xml``), in feed order; ``CapRefused`` for a feed that is not safe to read."""
    if len(xml) > MAX_ATOM_BYTES:
        raise CapRefused("too_large", f"feed is {len(xml)} bytes, limit {MAX_ATOM_BYTES}")
    try:
        root: ET.Element = DET.fromstring(
            xml, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except defusedxml.DefusedXmlException as exc:
        raise CapRefused(
            "dtd", "the feed has a DTD; DTDs and entities are never processed"
        ) from exc
    except (ET.ParseError, ValueError, LookupError) as exc:
        raise CapRefused("not_xml", f"feed is not well-formed XML: {_one_line(exc)}") from exc
    if root.tag != f"{{{ATOM_NS}}}feed":
        raise CapRefused("not_atom", f"root element is {root.tag}, not an Atom feed")
    links: list[str] = []
    for link in root.iter(f"{{{ATOM_NS}}}link"):
        href = (link.get("href") or "").strip()
        if "cap+xml" in (link.get("type") or "") and href:
            url = urljoin(base_url, href)
            if url.startswith(("http://", "https://")) and url not in links:
                links.append(url)
        if len(links) > MAX_ATOM_CAP_LINKS:
            raise CapRefused("too_many", f"feed links more than {MAX_ATOM_CAP_LINKS} alerts")
    return links


# -- export --------------------------------------------------------------------------


def cap_time(ms: int, tz: tzinfo) -> str:
    """CAP dateTime: seconds, explicit offset, never "Z" (CAP 1.2 §3.3.2)."""
    return datetime.fromtimestamp(ms // 1000, tz).isoformat()


def _deg(micro: int) -> str:
    return f"{Decimal(micro).scaleb(-6).normalize():f}"


def _sub(parent: ET.Element, name: str, text: str | None = None) -> ET.Element:
    el = ET.SubElement(parent, _q(name))
    if text is not None:
        el.text = text
    return el


def _pair_el(parent: ET.Element, name: str, pair: tuple[str, str]) -> None:
    el = _sub(parent, name)
    _sub(el, "valueName", pair[0])
    _sub(el, "value", pair[1])


def _languages(body: AlertBody) -> list[str]:
    langs: dict[str, None] = {}
    for texts in (body.headline, body.event, body.description, body.instruction):
        langs.update(dict.fromkeys(texts))
    return list(langs)


def _fallback(texts: dict[str, str], lang: str) -> str:
    if lang in texts:
        return texts[lang]
    return next(iter(texts.values()), "")


def alert_to_cap(
    body: AlertBody,
    *,
    sent_ms: int = 0,
    sender: str = "",
    tz: tzinfo = _TZ_JAPAN,
    reference_of: Callable[[str], str | None] | None = None,
) -> bytes:
    """An ``AlertBody`` as a CAP 1.2 document (UTF-8) that validates against the schema.

    ``sent_ms`` and ``sender`` are used when the body has none (alerts issued at the hub
    rather than imported): pass the record's time and a sender id for its signer.
    ``reference_of(identifier)`` gives the "sender,identifier,sent" triple of a referenced
    alert when the body holds only identifiers.
    """
    root = ET.Element(_q("alert"))
    _sub(root, "identifier", body.identifier)
    _sub(root, "sender", body.sender or sender or "unknown")
    _sub(root, "sent", cap_time(body.sent_ms or sent_ms, tz))
    _sub(root, "status", body.status.name.title())
    _sub(root, "msgType", body.msg_type.name.title())
    _sub(root, "scope", "Public")
    if body.note:
        _sub(root, "note", body.note)
    references = list(body.cap_references)
    if not references and body.references:
        own = f"{body.sender or sender or 'unknown'},{{}},{cap_time(body.sent_ms or sent_ms, tz)}"
        for ident in body.references:
            found = reference_of(ident) if reference_of is not None else None
            references.append(found or own.format(ident))
    if references:
        _sub(root, "references", " ".join(references))
    for lang in _languages(body):
        info = _sub(root, "info")
        _sub(info, "language", lang)
        for category in body.categories or ("Other",):
            _sub(info, "category", category)
        event = _fallback(body.event, lang) or _fallback(body.headline, lang) or body.identifier
        _sub(info, "event", event)
        for response in body.response_types:
            _sub(info, "responseType", response)
        _sub(info, "urgency", body.urgency.name.title())
        _sub(info, "severity", body.severity.name.title())
        _sub(info, "certainty", body.certainty.name.title())
        for pair in body.event_codes:
            _pair_el(info, "eventCode", pair)
        for name, ms in (
            ("effective", body.effective_ms),
            ("onset", body.onset_ms),
            ("expires", body.expires_ms),
        ):
            if ms:
                _sub(info, name, cap_time(ms, tz))
        if body.sender_name:
            _sub(info, "senderName", body.sender_name)
        if lang in body.headline:
            _sub(info, "headline", body.headline[lang])
        if lang in body.description:
            _sub(info, "description", body.description[lang])
        if lang in body.instruction:
            _sub(info, "instruction", body.instruction[lang])
        if body.web:
            _sub(info, "web", body.web)
        for pair in body.parameters:
            _pair_el(info, "parameter", pair)
        for index, desc in enumerate(body.areas):
            area = _sub(info, "area")
            _sub(area, "areaDesc", desc)
            for i, coords in body.polygons:
                if i == index:
                    points = zip(coords[0::2], coords[1::2], strict=True)
                    _sub(area, "polygon", " ".join(f"{_deg(a)},{_deg(b)}" for a, b in points))
            for i, lat, lon, metres in body.circles:
                if i == index:
                    km = f"{Decimal(metres).scaleb(-3).normalize():f}"
                    _sub(area, "circle", f"{_deg(lat)},{_deg(lon)} {km}")
            for i, name, value in body.geocodes:
                if i == index:
                    _pair_el(area, "geocode", (name, value))
    ET.indent(root)
    out: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True, default_namespace=CAP_NS)
    return out


__all__ = [
    "CAP_MEDIA_TYPE",
    "CAP_NS",
    "EASY_JAPANESE",
    "MAX_ALERT_BODY_BYTES",
    "MAX_CAP_BYTES",
    "MAX_DESCRIPTION_CHARS",
    "MAX_INFO_BLOCKS",
    "CapRefused",
    "alert_to_cap",
    "atom_cap_links",
    "cap_time",
    "normalise_language",
    "parse_cap",
    "schema_errors",
]

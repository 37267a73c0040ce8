"""Official alerts on a node for machines and walls (DESIGN §4.3, issue 7).

- ``GET /alerts.atom``: an Atom feed (RFC 4287) of the alerts in force, each entry linking
  to the alert's CAP 1.2 document and its page;
- ``GET /alerts/<identifier>.cap``: the alert as CAP 1.2 XML (``application/cap+xml``),
  valid against the OASIS schema, so signage and other apps can consume it offline;
- ``GET /alerts/<identifier>``: one alert for a phone, in the phone's language where the
  alert carries it, with やさしい日本語 and the other languages one tap away;
- ``GET /alerts/<identifier>/print``: an A4 poster in Japanese and English for the shelter
  wall, for people without phones.

Pages are rendered once per change (``Portal.cached``): the key holds the node's
generation and the next expiry among the alerts shown, so an alert leaves every page the
moment it expires, without a timer.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any
from xml.etree import ElementTree as ET

from aiohttp import web
from markupsafe import Markup

from shelterkit.cap import CAP_MEDIA_TYPE, alert_to_cap, cap_time
from shelterkit.model.fold import ActiveAlert, active_alerts
from shelterkit.model.hlc import wall_ms_of
from shelterkit.model.kinds import (
    EASY_JAPANESE,
    AlertBody,
    AlertStatus,
    CapSignature,
    Kind,
    Severity,
)
from shelterkit.portal.alert_text import alert_languages, alert_path, pick_language
from shelterkit.portal.app import PORTAL_KEY, Portal, _html, _lang_of
from shelterkit.portal.i18n import parse_accept_language, translations

ATOM_NS = "http://www.w3.org/2005/Atom"
ATOM_MEDIA_TYPE = "application/atom+xml"
# Entries in the feed: far more than the alerts a city has in force at once.
MAX_FEED_ENTRIES = 200
# Characters of an entry's summary: a signage line, not the whole description.
MAX_SUMMARY_CHARS = 280
_NEVER_MS = 2**62

_SEVERITY_ICON = {1: "‼", 2: "⚠", 3: "⚠", 4: "ℹ", 5: "ℹ"}
# Symbols that the phones' and the Pi's fonts have (no emoji font is assumed); they are
# decoration next to the words (aria-hidden), never the only sign.
_RESPONSE_ICON = {
    "Shelter": "⌂",
    "Evacuate": "➜",
    "Prepare": "☑",
    "Execute": "▶",
    "Avoid": "✕",
    "Monitor": "ℹ",
    "Assess": "?",
    "AllClear": "✓",
    "None": "–",
}


@dataclass(slots=True)
class _ActiveMemo:
    generation: int = -1
    clock_certain: bool = True
    until_ms: int = 0
    computed_at_ms: int = 0
    alerts: tuple[ActiveAlert, ...] = ()


_ACTIVE_KEY = web.AppKey("active_alerts", _ActiveMemo)


def _active(app: web.Application) -> tuple[tuple[ActiveAlert, ...], str]:
    """The alerts in force now, and a key that changes whenever that list can change."""
    portal = app[PORTAL_KEY]
    node = portal.node
    memo = app[_ACTIVE_KEY]
    now = node.wall_ms()
    certain = node.clock_certain
    if (
        memo.generation != node.generation
        or memo.clock_certain != certain
        or not memo.computed_at_ms <= now < memo.until_ms
    ):
        alerts = tuple(
            active_alerts(node.heads, now, clock_certain=certain, shelter=node.config.shelter.id)
        )
        memo.generation = node.generation
        memo.clock_certain = certain
        memo.computed_at_ms = now
        memo.until_ms = min(
            (a.body.expires_ms for a in alerts if a.body.expires_ms), default=_NEVER_MS
        )
        memo.alerts = alerts
    return memo.alerts, f"{memo.generation}.{memo.until_ms}.{int(certain)}"


def alerts_epoch(app: web.Application) -> str:
    """Part of a cache key for any page that lists alerts: changes with the node's state,
    its clock's certainty, and when the next listed alert expires."""
    return _active(app)[1]


def _find(app: web.Application, identifier: str) -> tuple[ActiveAlert, str]:
    alerts, epoch = _active(app)
    for a in alerts:
        if a.body.identifier == identifier:
            return a, epoch
    raise web.HTTPNotFound()


def _sender_id(origin: bytes) -> str:
    return f"shelterkit-{origin.hex()[:16]}"


def _severity_labels(lang: str) -> dict[Severity, str]:
    _ = translations(lang).gettext
    return {
        Severity.EXTREME: _("Extreme danger"),
        Severity.SEVERE: _("Severe"),
        Severity.MODERATE: _("Warning"),
        Severity.MINOR: _("Advisory"),
        Severity.UNKNOWN: _("Information"),
    }


def _response_labels(lang: str) -> dict[str, str]:
    _ = translations(lang).gettext
    return {
        "Shelter": _("Stay indoors"),
        "Evacuate": _("Evacuate"),
        "Prepare": _("Get ready"),
        "Execute": _("Act now as instructed"),
        "Avoid": _("Keep away"),
        "Monitor": _("Stay informed"),
        "Assess": _("Check the situation"),
        "AllClear": _("All clear"),
        "None": _("No action needed"),
    }


def _time(portal: Portal, ms: int, lang: str) -> str:
    return portal.fmt_time(ms, lang) if ms else ""


def _area_views(body: AlertBody, lang: str) -> list[dict[str, Any]]:
    _ = translations(lang).gettext
    out = []
    for index, name in enumerate(body.areas):
        shapes = []
        for i, coords in body.polygons:
            if i == index:
                shapes.append(_("Map outline with %(n)s points") % {"n": len(coords) // 2 - 1})
        for i, lat, lon, metres in body.circles:
            if i == index:
                shapes.append(
                    _("Within %(m)s m of %(lat)s, %(lon)s")
                    % {"m": metres, "lat": f"{lat / 1e6:.4f}", "lon": f"{lon / 1e6:.4f}"}
                )
        codes = [f"{n} {v}" for i, n, v in body.geocodes if i == index]
        out.append({"name": name, "shapes": shapes, "codes": codes})
    return out


def _provenance(portal: Portal, alert: ActiveAlert, lang: str) -> dict[str, Any]:
    _ = translations(lang).gettext
    body = alert.body
    signature = ""
    if body.cap_signature is CapSignature.VERIFIED:
        signature = _(
            "The original CAP alert was signed by %(who)s (a certificate the city trusts)."
        )
    elif body.cap_signature is CapSignature.INTACT:
        signature = _(
            "The original CAP alert carried an intact signature by %(who)s, "
            "a certificate the city has not confirmed."
        )
    return {
        "verified": portal.node.is_authority(alert.record.origin),
        "sender_name": body.sender_name,
        "signature": signature % {"who": body.cap_signer} if signature else "",
    }


def alert_view(portal: Portal, alert: ActiveAlert, lang: str, wanted: list[str]) -> dict[str, Any]:
    """Everything a page shows about one alert; texts in the best language for the phone."""
    body = alert.body
    text_lang = pick_language(body.headline, wanted)

    def text(d: dict[str, str]) -> str:
        return d.get(text_lang) or d.get(pick_language(d, [text_lang, *wanted]), "")

    issued = body.sent_ms or wall_ms_of(alert.record.hlc)
    responses = _response_labels(lang)
    easy = None
    if EASY_JAPANESE in body.headline and text_lang != EASY_JAPANESE:
        easy = {
            "headline": body.headline[EASY_JAPANESE],
            "description": body.description.get(EASY_JAPANESE, ""),
            "instruction": body.instruction.get(EASY_JAPANESE, ""),
        }
    return {
        "identifier": body.identifier,
        "url": alert_path(body.identifier),
        "severity": int(body.severity),
        "severity_label": _severity_labels(lang)[body.severity],
        "icon": _SEVERITY_ICON[int(body.severity)],
        "exercise": body.status is AlertStatus.EXERCISE,
        "text_lang": text_lang,
        "headline": text(body.headline),
        "event": text(body.event),
        "description": text(body.description),
        "instruction": text(body.instruction),
        "responses": [
            {"icon": _RESPONSE_ICON.get(r, "·"), "label": responses.get(r, r)}
            for r in body.response_types
        ],
        "issued": _time(portal, issued, lang),
        "effective": _time(portal, body.effective_ms, lang),
        "onset": _time(portal, body.onset_ms, lang),
        "expires": _time(portal, body.expires_ms, lang),
        "clock_uncertain": not portal.node.clock_certain,
        "areas": _area_views(body, lang),
        "web": body.web if body.web.startswith(("http://", "https://")) else "",
        "note": body.note,
        "easy": easy,
        "others": alert_languages(body, text_lang),
        **_provenance(portal, alert, lang),
    }


def _wanted_languages(request: web.Request, lang: str) -> list[str]:
    """Languages for an alert's text: ``?text=`` (a tag the alert carries), the phone's
    Accept-Language, then the portal language."""
    chosen = request.query.get("text", "")
    wanted = [chosen] if chosen and len(chosen) <= 16 else []
    wanted += parse_accept_language(request.headers.get("Accept-Language", ""))
    return [*wanted, lang]


# -- handlers ------------------------------------------------------------------------


async def alert_page(request: web.Request) -> web.StreamResponse:
    portal = request.app[PORTAL_KEY]
    lang = _lang_of(request)
    alert, epoch = _find(request.app, request.match_info["ident"])
    wanted = _wanted_languages(request, lang)
    text_lang = pick_language(alert.body.headline, wanted)
    _ = portal.gettext(lang)

    def build() -> bytes:
        view = alert_view(portal, alert, lang, wanted)
        return portal.render(
            "alert.html",
            lang,
            view["url"],
            page="alert",
            title=view["headline"] or _("Official alerts"),
            a=view,
        )

    page = portal.cached(("alert", alert.body.identifier, lang, text_lang, epoch), build)
    return _html(request, page.raw, etag=page.etag, gz=page.gz)


class _Poster:
    """The poster's own stylesheet, allowed by its hash like the portal's."""

    def __init__(self) -> None:
        self.css = (resources.files("shelterkit.portal") / "static" / "poster.css").read_text()
        digest = base64.b64encode(hashlib.sha256(self.css.encode()).digest()).decode()
        self.csp = (
            f"default-src 'none'; style-src 'sha256-{digest}'; img-src 'self' data:; "
            "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
        )


_POSTER_KEY = web.AppKey("poster", _Poster)


async def poster_page(request: web.Request) -> web.StreamResponse:
    portal = request.app[PORTAL_KEY]
    poster = request.app[_POSTER_KEY]
    alert, epoch = _find(request.app, request.match_info["ident"])

    def build() -> bytes:
        views = {lang: alert_view(portal, alert, lang, [lang]) for lang in ("ja", "en")}
        labels = {}
        for lang in ("ja", "en"):
            _ = translations(lang).gettext
            labels[lang] = {
                "what_to_do": _("What to do:"),
                "issued": _("Issued"),
                "expires": _("Expires"),
                "area": _("Area"),
                "verified": _("Verified: city hall"),
                "not_verified": _("Not verified"),
                "exercise": _("Exercise (not real)"),
                "clock": _("(the shelter's clock is not confirmed)"),
                "printed": _("Printed at the shelter from the official alert on the shelter Wi-Fi"),
            }
        ja = views["ja"]
        return portal.render(
            "poster.html",
            "ja",
            ja["url"] + "/print",
            page="poster",
            title=ja["headline"],
            poster_css=Markup(poster.css),
            ja=ja,
            en=views["en"] if views["en"]["text_lang"] != ja["text_lang"] else None,
            en_severity=views["en"]["severity_label"],
            labels=labels,
            printed=portal.fmt_time(portal.node.wall_ms(), "ja"),
        )

    page = portal.cached(("poster", alert.body.identifier, epoch), build)
    response = _html(request, page.raw, etag=page.etag, gz=page.gz)
    response.headers["Content-Security-Policy"] = poster.csp
    return response


def _xml_response(request: web.Request, body: bytes, media_type: str, etag: str) -> web.Response:
    headers = {
        "Content-Type": f"{media_type}; charset=utf-8",
        "Cache-Control": "no-cache",
        "ETag": etag,
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'",
    }
    if etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    return web.Response(body=body, headers=headers)


def _reference_lookup(portal: Portal) -> Any:
    def reference_of(identifier: str) -> str | None:
        record = portal.node.heads.get(b"A" + identifier.encode())
        if record is None or not isinstance(record.body, AlertBody):
            return None
        body = record.body
        sent = body.sent_ms or wall_ms_of(record.hlc)
        sender = body.sender or _sender_id(record.origin)
        return f"{sender},{identifier},{cap_time(sent, portal.tz)}"

    return reference_of


def cap_document(portal: Portal, alert: ActiveAlert) -> bytes:
    """The CAP 1.2 document a node serves for one of its alerts."""
    return alert_to_cap(
        alert.body,
        sent_ms=wall_ms_of(alert.record.hlc),
        sender=_sender_id(alert.record.origin),
        tz=portal.tz,
        reference_of=_reference_lookup(portal),
    )


async def cap_xml(request: web.Request) -> web.StreamResponse:
    portal = request.app[PORTAL_KEY]
    alert, epoch = _find(request.app, request.match_info["ident"])
    page = portal.cached(("cap", alert.body.identifier, epoch), lambda: cap_document(portal, alert))
    return _xml_response(request, page.raw, CAP_MEDIA_TYPE, page.etag)


def _rfc3339(ms: int) -> str:
    return datetime.fromtimestamp(ms // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def atom_document(portal: Portal, alerts: tuple[ActiveAlert, ...], lang: str) -> bytes:
    """RFC 4287 feed of ``alerts``: id, title, updated and author on the feed; id, title,
    updated, summary and links (CAP, page) on every entry."""
    _ = portal.gettext(lang)
    base = portal.public_url
    ET.register_namespace("", ATOM_NS)

    def sub(parent: ET.Element, name: str, text: str | None = None, **attrs: str) -> ET.Element:
        el = ET.SubElement(parent, f"{{{ATOM_NS}}}{name}", attrs)
        if text is not None:
            el.text = text
        return el

    feed = ET.Element(f"{{{ATOM_NS}}}feed", {"{http://www.w3.org/XML/1998/namespace}lang": lang})
    sub(feed, "id", base + "alerts.atom")
    sub(feed, "title", f"{_('Official alerts')} | {portal.shelter_name(lang)}")
    times = [a.body.sent_ms or wall_ms_of(a.record.hlc) for a in alerts]
    # The feed changed last when the newest alert record (a Cancel too) arrived.
    changed = [wall_ms_of(r.hlc) for r in portal.node.heads.values() if r.kind is Kind.ALERT]
    sub(feed, "updated", _rfc3339(max([*times, *changed], default=portal.node.wall_ms())))
    author = sub(feed, "author")
    sub(author, "name", portal.shelter_name(lang))
    sub(feed, "link", rel="self", type=ATOM_MEDIA_TYPE, href=base + "alerts.atom")
    sub(feed, "link", rel="alternate", type="text/html", href=base)
    sub(feed, "generator", "shelterkit")
    severity = _severity_labels(lang)
    for alert, issued in list(zip(alerts, times, strict=True))[:MAX_FEED_ENTRIES]:
        body = alert.body
        path = alert_path(body.identifier).lstrip("/")
        text_lang = pick_language(body.headline, [lang])
        entry = sub(feed, "entry")
        sub(entry, "id", base + path)
        sub(entry, "title", body.headline.get(text_lang, body.identifier))
        sub(entry, "updated", _rfc3339(issued))
        sub(entry, "published", _rfc3339(issued))
        entry_author = sub(entry, "author")
        sub(entry_author, "name", body.sender_name or _("City hall"))
        sub(entry, "category", term=body.severity.name.title(), label=severity[body.severity])
        summary = body.description.get(text_lang) or body.instruction.get(text_lang, "")
        if len(summary) > MAX_SUMMARY_CHARS:
            summary = summary[: MAX_SUMMARY_CHARS - 1] + "…"
        sub(entry, "summary", summary or body.headline.get(text_lang, ""))
        sub(entry, "link", rel="alternate", type=CAP_MEDIA_TYPE, href=base + path + ".cap")
        sub(entry, "link", rel="related", type="text/html", href=base + path)
    ET.indent(feed)
    out: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return out


async def atom_feed(request: web.Request) -> web.StreamResponse:
    portal = request.app[PORTAL_KEY]
    lang = _lang_of(request)
    alerts, epoch = _active(request.app)
    page = portal.cached(("atom", lang, epoch), lambda: atom_document(portal, alerts, lang))
    return _xml_response(request, page.raw, ATOM_MEDIA_TYPE, page.etag)


def add_feed_routes(app: web.Application) -> None:
    """Register the alert feed, CAP documents, alert pages and posters on the portal app."""
    app[_ACTIVE_KEY] = _ActiveMemo()
    app[_POSTER_KEY] = _Poster()
    app.router.add_get("/alerts.atom", atom_feed)
    app.router.add_get(r"/alerts/{ident:[^/]+}.cap", cap_xml)
    app.router.add_get(r"/alerts/{ident:[^/]+}/print", poster_page)
    app.router.add_get(r"/alerts/{ident:[^/]+}", alert_page)


__all__ = [
    "ATOM_MEDIA_TYPE",
    "add_feed_routes",
    "alert_view",
    "alerts_epoch",
    "atom_document",
    "cap_document",
]

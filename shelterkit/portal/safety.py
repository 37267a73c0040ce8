"""The safety pages (安否): "I am safe" registration, search, self-service deletion.

No account: a person registers with a name, its reading, age or year of birth, district,
optional contact details and a plain-words consent to public listing (docs/anpi.md). The
page then shows, once, a registration number and a deletion code derived from this
node's key (``model.anpi.erase_code``). Search takes a name in any script and shows only
permitted fields of consented, unexpired, undeleted people, with how fresh the data is.

Against floods and scraping every form carries a one-use token, each action has its own
per-phone rate limit (registration also a node-wide one, since addresses on open Wi-Fi are
cheap), a query must be at least two characters (a kanji counts two), results are capped
and there is no way to list everyone.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web

from shelterkit.errors import InputError
from shelterkit.model.anpi import (
    DEFAULT_EXPIRY_DAYS,
    MAX_CONTACT_CHARS,
    check_erase_code,
    effective_expiry_ms,
    erase_code,
    expiry_from,
    format_code,
    new_person,
    new_person_id,
)
from shelterkit.model.kinds import (
    MAX_AGE_YEARS,
    MAX_DISTRICT_CHARS,
    MAX_NAME_CHARS,
    MAX_PERSON_ID_CHARS,
    NoteStatus,
    PersonBody,
)
from shelterkit.model.names import query_keys
from shelterkit.model.text import check_text
from shelterkit.portal.app import (
    _ERROR_STATUS,
    CLIENT_KEY,
    PORTAL_KEY,
    Portal,
    _html,
    _lang_of,
    error_message,
)
from shelterkit.portal.forms import MAX_FORM_BYTES, parse_form
from shelterkit.portal.guard import RateLimiter
from shelterkit.portal.i18n import translations
from shelterkit.storage.store import PendingOwn

# Registrations one phone may make at once (a family on one phone), then one per 5 min.
REGISTER_BURST = 6
REGISTER_INTERVAL_S = 300
# Node-wide: a shelter of a few hundred people registers over hours, not seconds; this
# bounds what a client hopping addresses on the open Wi-Fi can add (one per 10 s).
REGISTER_NODE_BURST = 60
REGISTER_NODE_INTERVAL_S = 10
# Searches per phone: enough to look for a family, too few to walk the registry.
SEARCH_BURST = 10
SEARCH_INTERVAL_S = 6
# Deletion attempts per phone: the code has 60 bits; this makes guessing hopeless.
DELETE_BURST = 3
DELETE_INTERVAL_S = 120
# Results shown per search (the store caps at 20 whatever is asked).
SEARCH_RESULTS_SHOWN = 10
# A family and given name with their reading fit; anything longer is not a name.
MAX_QUERY_CHARS = 60
# Combining marks allowed in a row inside a name: Thai or Vietnamese stack up to three;
# more is "Zalgo" text meant to overflow lines.
MAX_COMBINING_RUN = 3
# The oldest year of birth accepted: the oldest documented person was born in 1875.
MIN_BIRTH_YEAR = 1875
_NAME_PUNCTUATION = frozenset(" ・'’-.ー々〆ヶ")
_READING_PUNCTUATION = frozenset(" ・'’-.ー")
_RETRY_MARGIN_S = 1


@dataclass(slots=True)
class SafetyGuards:
    register: RateLimiter
    register_node: RateLimiter
    search: RateLimiter
    delete: RateLimiter

    @classmethod
    def default(cls) -> SafetyGuards:
        return cls(
            RateLimiter(REGISTER_BURST, REGISTER_INTERVAL_S),
            RateLimiter(REGISTER_NODE_BURST, REGISTER_NODE_INTERVAL_S, max_clients=1),
            RateLimiter(SEARCH_BURST, SEARCH_INTERVAL_S),
            RateLimiter(DELETE_BURST, DELETE_INTERVAL_S),
        )


SAFETY_KEY = web.AppKey("safety", SafetyGuards)


class RateLimited(InputError):
    def __init__(self, wait_s: float) -> None:
        super().__init__("rate_limited")
        self.wait_s = wait_s


def _take(limiter: RateLimiter, key: str, now: float) -> None:
    wait = limiter.take(key, now)
    if wait > 0:
        raise RateLimited(wait)


# -- validation of the registration form ---------------------------------------------------


def _name(form: dict[str, str], field: str) -> str:
    text = " ".join(check_text(form.get(field, ""), field, max_chars=MAX_NAME_CHARS).split())
    run = 0
    for ch in text:
        cat = unicodedata.category(ch)
        run = run + 1 if cat[0] == "M" else 0
        if run > MAX_COMBINING_RUN:
            raise InputError("name_chars", field)
        if cat[0] not in "LM" and ch not in _NAME_PUNCTUATION:
            raise InputError("name_chars", field)
    if text and unicodedata.category(text[0])[0] == "M":
        raise InputError("name_chars", field)
    return text


def _reading(form: dict[str, str]) -> str:
    text = " ".join(
        check_text(form.get("reading", ""), "reading", max_chars=MAX_NAME_CHARS).split()
    )
    for ch in unicodedata.normalize("NFKC", text):
        name = unicodedata.name(ch, "")
        kana = name.startswith(("HIRAGANA", "KATAKANA")) or ch in "\u3099\u309a"
        latin = name.startswith("LATIN") or (unicodedata.category(ch) == "Mn" and ch.isascii())
        if not (kana or latin or ch in _READING_PUNCTUATION):
            raise InputError("reading_chars", "reading")
    return text


def _age_or_year(form: dict[str, str], this_year: int) -> tuple[int, int]:
    raw = unicodedata.normalize("NFKC", form.get("age", "")).strip()
    if not raw:
        return -1, 0
    if not raw.isascii() or not raw.isdigit() or len(raw) > 4:
        raise InputError("bad_age", "age")
    value = int(raw)
    if value <= MAX_AGE_YEARS:
        return value, 0
    if MIN_BIRTH_YEAR <= value <= this_year:
        return -1, value
    raise InputError("bad_age", "age")


@dataclass(frozen=True, slots=True)
class Registration:
    family_name: str
    given_name: str
    reading: str
    age: int
    birth_year: int
    district: str
    contact: str
    consent: bool


def registration_from_form(form: dict[str, str], this_year: int) -> Registration:
    """Validate the registration form, or raise ``InputError`` naming the field."""
    family = _name(form, "family")
    given = _name(form, "given")
    if not family and not given:
        raise InputError("name_missing", "family")
    reading = _reading(form)
    age, year = _age_or_year(form, this_year)
    district = " ".join(
        check_text(form.get("district", ""), "district", max_chars=MAX_DISTRICT_CHARS).split()
    )
    contact = check_text(form.get("contact", ""), "contact", max_chars=MAX_CONTACT_CHARS).strip()
    consent = form.get("consent", "") == "yes"
    return Registration(family, given, reading, age, year, district, contact, consent)


def person_from_registration(
    reg: Registration, person_id: str, shelter: str, authority_keys: Sequence[str]
) -> PersonBody:
    """The person record of a registration (portal and staff entry alike); contact details
    are sealed to city hall's key, so without one only a consenting entry can be made."""
    if not authority_keys and (reg.contact or not reg.consent):
        raise InputError(
            "needs_city_hall", "consent", "without city hall's key only a listed entry is possible"
        )
    return new_person(
        person_id=person_id,
        family_name=reg.family_name,
        given_name=reg.given_name,
        reading=reg.reading,
        age=reg.age,
        birth_year=reg.birth_year,
        home_district=reg.district,
        contact=reg.contact,
        shelter=shelter,
        consent=reg.consent,
        authority_key=bytes.fromhex(authority_keys[0]) if authority_keys else None,
    )


# -- messages ------------------------------------------------------------------------------


def safety_error(code: str, lang: str, field: str) -> str:
    """The message for an error on these pages, translated."""
    _ = translations(lang).gettext
    labels = {
        "family": _("Family name"),
        "given": _("Given name"),
        "reading": _("Reading in kana"),
        "age": _("Age or year of birth"),
        "district": _("Home district"),
        "contact": _("Contact details"),
        "q": _("Name to search"),
    }
    messages = {
        "name_missing": _("Please write a family name or a given name."),
        "name_chars": _("Please write the name in letters only, without symbols or emoji."),
        "reading_chars": _("Please write the reading in kana (or in Latin letters)."),
        "bad_age": _("Please write an age (for example 42) or a year of birth (for example 1982)."),
        "too_short": _("Please write at least two characters of the name (one kanji is enough)."),
        "not_yours": _(
            "The registration number and deletion code do not match. Nothing was deleted."
        ),
        "needs_city_hall": _(
            "This shelter cannot keep private details yet. Please tick public listing and "
            "leave the contact field empty, or ask the staff."
        ),
        "rate_limited": _("Too many requests from this phone. Please wait a little and try again."),
        "empty": _("Please fill in this field."),
    }
    message = messages.get(code)
    if message is None:
        return error_message(code, lang, "")[1]
    label = labels.get(field, "")
    return f"{label}: {message}" if label and code not in ("rate_limited",) else message


# -- handlers ------------------------------------------------------------------------------


def _status_labels(lang: str) -> dict[NoteStatus, str]:
    _ = translations(lang).gettext
    return {
        NoteStatus.NONE: _("Registered as safe"),
        NoteStatus.IS_NOTE_AUTHOR: _("Registered as safe"),
        NoteStatus.BELIEVED_ALIVE: _("Reported alive"),
        NoteStatus.INFORMATION_SOUGHT: _("Someone is looking for this person"),
        NoteStatus.BELIEVED_MISSING: _("Reported missing"),
        NoteStatus.BELIEVED_DEAD: _("Please ask the staff"),
    }


async def _read_form(request: web.Request) -> dict[str, str]:
    if request.content_length is not None and request.content_length > MAX_FORM_BYTES:
        raise InputError("too_large")
    return parse_form(await request.content.read(MAX_FORM_BYTES + 1))


def _page(
    request: web.Request, template: str, *, status: int = 200, error: str = "", **ctx: Any
) -> web.Response:
    portal = request.app[PORTAL_KEY]
    lang = _lang_of(request)
    _ = portal.gettext(lang)
    token = portal.csrf.issue(request[CLIENT_KEY], portal.clock(), os.urandom(8))
    body = portal.render(
        template,
        lang,
        "/safety" if request.path == "/safety/search" else request.path,
        page="safety",
        title=_("Safety registration"),
        csrf=token,
        error=error,
        **ctx,
    )
    response = _html(request, body, status)
    response.headers["Cache-Control"] = "no-store"
    return response


def _fail(request: web.Request, template: str, exc: InputError, **ctx: Any) -> web.Response:
    lang = _lang_of(request)
    status = _ERROR_STATUS.get(exc.code, 400)
    if exc.code == "not_yours":
        status = 403
    response = _page(
        request, template, status=status, error=safety_error(exc.code, lang, exc.field), **ctx
    )
    if isinstance(exc, RateLimited):
        response.headers["Retry-After"] = str(int(exc.wait_s) + _RETRY_MARGIN_S)
    return response


async def _freshness(portal: Portal, lang: str) -> dict[str, Any]:
    received = await portal.node.store.anpi_received_ms()
    last_sync = portal.node.last_sync_ms
    return {
        "data_until": portal.fmt_time(received, lang) if received else "",
        "last_sync": portal.fmt_time(last_sync, lang) if last_sync else "",
    }


async def safety_home(request: web.Request) -> web.StreamResponse:
    portal = request.app[PORTAL_KEY]
    fresh = await _freshness(portal, _lang_of(request))
    return _page(request, "safety.html", query="", results=None, **fresh)


async def safety_search(request: web.Request) -> web.StreamResponse:
    portal = request.app[PORTAL_KEY]
    guards = request.app[SAFETY_KEY]
    lang = _lang_of(request)
    client = request[CLIENT_KEY]
    form: dict[str, str] = {}
    try:
        form = await _read_form(request)
        now = portal.clock()
        portal.csrf.redeem(form.get("csrf", ""), client, now)
        _take(guards.search, client, now)
        text = check_text(form.get("q", ""), "q", max_chars=MAX_QUERY_CHARS)
        query = query_keys(text)
        found = await portal.node.search_persons(query, SEARCH_RESULTS_SHOWN)
    except InputError as exc:
        fresh = await _freshness(portal, lang)
        return _fail(request, "safety.html", exc, query=form.get("q", ""), results=None, **fresh)
    labels = _status_labels(lang)
    own = portal.node.config.shelter.id
    results = [
        {
            "name": p.name,
            "reading": p.reading,
            "age": p.age,
            "birth_year": p.birth_year,
            "district": p.home_district,
            "shelter": portal.shelter_name(lang) if p.shelter == own else p.shelter,
            "updated": portal.fmt_time(p.updated_ms, lang),
            "status": labels[p.status],
            "waiting": waiting,  # registered here, not sent to the others yet
        }
        for p, waiting in found
    ]
    fresh = await _freshness(portal, lang)
    return _page(
        request,
        "safety.html",
        query=text,
        results=results,
        capped=len(results) >= SEARCH_RESULTS_SHOWN,
        **fresh,
    )


def _register_ctx(portal: Portal, lang: str, form: dict[str, str] | None = None) -> dict[str, Any]:
    f = form or {}
    return {
        "form": {k: f.get(k, "") for k in ("family", "given", "reading", "age", "district")}
        | {"contact": f.get("contact", ""), "consent": f.get("consent", "") == "yes"},
        "max_name": MAX_NAME_CHARS,
        "max_district": MAX_DISTRICT_CHARS,
        "max_contact": MAX_CONTACT_CHARS,
        "expiry_days": DEFAULT_EXPIRY_DAYS,
        "can_seal": bool(portal.node.config.node.authority_keys),
        "done": None,
    }


async def safety_register_form(request: web.Request) -> web.StreamResponse:
    portal = request.app[PORTAL_KEY]
    return _page(request, "safety_register.html", **_register_ctx(portal, _lang_of(request)))


async def safety_register(request: web.Request) -> web.StreamResponse:
    portal = request.app[PORTAL_KEY]
    guards = request.app[SAFETY_KEY]
    node = portal.node
    lang = _lang_of(request)
    client = request[CLIENT_KEY]
    form: dict[str, str] = {}
    try:
        form = await _read_form(request)
        now = portal.clock()
        portal.csrf.redeem(form.get("csrf", ""), client, now)
        wall = node.wall_ms()
        this_year = datetime.fromtimestamp(wall / 1000, tz=portal.tz).year
        reg = registration_from_form(form, this_year)
        person_id = new_person_id(os.urandom(8))
        body = person_from_registration(
            reg, person_id, node.config.shelter.id, node.config.node.authority_keys
        )
        _take(guards.register, client, now)
        _take(guards.register_node, "*", now)
    except InputError as exc:
        return _fail(request, "safety_register.html", exc, **_register_ctx(portal, lang, form))
    # The number and the code depend on the person id and this node's key, not on the
    # record's sequence number: both are given before the record is signed if it waits.
    stored = await node.publish_or_queue(body)
    if isinstance(stored, PendingOwn):
        queued, expires = True, expiry_from(body, stored.wall_ms)
    else:
        queued, expires = False, effective_expiry_ms(stored)
    ctx = _register_ctx(portal, lang)
    ctx["done"] = {
        "number": body.person_id,
        "code": format_code(erase_code(node.identity, body.person_id)),
        "public": body.public,
        "queued": queued,
        "expires": portal.fmt_time(expires, lang),
    }
    return _page(request, "safety_register.html", **ctx)


async def safety_delete_form(request: web.Request) -> web.StreamResponse:
    return _page(request, "safety_delete.html", deleted=False, number="")


async def safety_delete(request: web.Request) -> web.StreamResponse:
    portal = request.app[PORTAL_KEY]
    guards = request.app[SAFETY_KEY]
    node = portal.node
    client = request[CLIENT_KEY]
    form: dict[str, str] = {}
    try:
        form = await _read_form(request)
        now = portal.clock()
        portal.csrf.redeem(form.get("csrf", ""), client, now)
        _take(guards.delete, client, now)
        number = check_text(form.get("number", ""), "number", max_chars=MAX_PERSON_ID_CHARS)
        number = "".join(number.split()).lower()
        known = bool(number) and (
            node.pending_person(number) is not None
            or await node.store.get_person(number) is not None
        )
        # Unknown number and wrong code get the same answer: nothing to learn by probing.
        if not known or not check_erase_code(node.identity, number, form.get("code", "")[:64]):
            raise InputError("not_yours", "code")
    except InputError as exc:
        return _fail(
            request, "safety_delete.html", exc, deleted=False, number=form.get("number", "")
        )
    # a queued registration is dropped unsent; a signed one gets a tombstone, which
    # replicates and wipes the old records
    await node.delete_person(number)
    return _page(request, "safety_delete.html", deleted=True, number="")


def add_safety_routes(app: web.Application) -> None:
    """Add the /safety pages to a portal app made by ``create_portal_app``."""
    app[SAFETY_KEY] = SafetyGuards.default()
    app.router.add_get("/safety", safety_home)
    app.router.add_post("/safety/search", safety_search)
    app.router.add_get("/safety/register", safety_register_form)
    app.router.add_post("/safety/register", safety_register)
    app.router.add_get("/safety/delete", safety_delete_form)
    app.router.add_post("/safety/delete", safety_delete)


__all__ = ["SafetyGuards", "add_safety_routes", "registration_from_form"]

"""The evacuee portal: aiohttp, server-rendered, no JavaScript (DESIGN §4.3, §7).

Hot pages are rendered once per change of the node's state (``Node.generation``), per
language and variant, compressed once, and served from memory with an ETag. Every error a
person can cause becomes a 4xx page in their language, in one place (``_errors``).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import logging
import os
import re
import time
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from aiohttp import web
from babel.dates import format_datetime
from markupsafe import Markup
from multidict import CIMultiDict

from shelterkit.errors import InputError, StorageError
from shelterkit.model.fold import active_alerts, visible_notices, visible_posts
from shelterkit.model.hlc import wall_ms_of
from shelterkit.model.kinds import (
    EASY_JAPANESE,
    MAX_NAME_CHARS,
    MAX_POST_CHARS,
    AlertBody,
    AlertStatus,
    NoticeBody,
    PostBody,
    Severity,
)
from shelterkit.portal import captive
from shelterkit.portal.alert_text import alert_languages, alert_path
from shelterkit.portal.forms import (
    CATEGORY_NAMES,
    CATEGORY_SLUGS,
    MAX_FORM_BYTES,
    parse_form,
    post_from_form,
)
from shelterkit.portal.guard import CsrfTokens, RateLimiter
from shelterkit.portal.i18n import BABEL_LOCALES, LANGUAGES, negotiate, translations
from shelterkit.service.node import Node
from shelterkit.storage.store import PendingOwn

log = logging.getLogger(__name__)

# Posts shown on the board page, newest first: one screenful of scrolling on a phone
# keeps the page within a few round trips.
MAX_BOARD_POSTS_SHOWN = 100
# Cached page variants kept (pages × languages × variants); all small.
MAX_CACHED_PAGES = 256
LANG_COOKIE = "lang"
LANG_COOKIE_MAX_AGE_S = 365 * 24 * 3600
_CSRF_MARK = "__CSRF_TOKEN__"
# Valid Host headers remembered: the portal's own names and the probe hosts of a few OSes.
MAX_REMEMBERED_HOSTS = 256
_HOST_RE = re.compile(
    r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,62})(?:\.[A-Za-z0-9-]{1,63})*\.?|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?$"
)
MAX_HOST_CHARS = 260

_SEVERITY_ICON = {1: "‼", 2: "⚠", 3: "⚠", 4: "ℹ", 5: "ℹ"}

CLIENT_KEY = web.RequestKey("client", str)
LANG_KEY = web.RequestKey("lang", str)
RETRY_KEY = web.RequestKey("retry_after", float)


@dataclass(slots=True)
class CachedPage:
    generation: int
    raw: bytes
    gz: bytes
    etag: str


def _gzip(data: bytes, level: int) -> bytes:
    comp = zlib.compressobj(level, zlib.DEFLATED, 31)
    return comp.compress(data) + comp.flush()


class Portal:
    """Per-process portal state: templates, page cache, guards, accepted clients."""

    def __init__(self, node: Node, clock: Callable[[], float] = time.monotonic) -> None:
        self.node = node
        self.clock = clock
        cfg = node.config
        self.public_url = cfg.portal.public_url or f"http://{cfg.portal.hostname}/"
        if not self.public_url.endswith("/"):
            self.public_url += "/"
        listen_host = cfg.node.listen.rpartition(":")[0].strip("[]")
        self.known_hosts = {
            cfg.portal.hostname.lower(),
            "localhost",
            "127.0.0.1",
            "::1",
            listen_host.lower(),
            *(h.lower() for h in cfg.portal.extra_hosts),
        }
        public_host = self.public_url.split("//", 1)[1].split("/", 1)[0]
        self.known_hosts.add(_strip_port(public_host))
        self.accepted = captive.AcceptedClients()
        self.csrf = CsrfTokens(os.urandom(32))
        self.post_limit = RateLimiter(cfg.portal.post_burst, cfg.portal.post_interval_s)
        self.css = (resources.files("shelterkit.portal") / "static" / "portal.css").read_text()
        digest = base64.b64encode(hashlib.sha256(self.css.encode()).digest()).decode()
        self.csp = (
            f"default-src 'none'; style-src 'sha256-{digest}'; img-src 'self' data:; "
            "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
        )
        self.html_headers = CIMultiDict(
            {
                "Content-Type": "text/html; charset=utf-8",
                "Cache-Control": "no-cache, private",
                "Vary": "Accept-Encoding, Accept-Language, Cookie",
                "Content-Security-Policy": self.csp,
                "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer",
            }
        )
        self.tz = ZoneInfo(cfg.shelter.timezone)
        self._envs = {lang: self._make_env(lang) for lang in LANGUAGES}
        self._cache: dict[tuple[str, ...], CachedPage] = {}
        self._hosts: dict[str, str] = {}

    def checked_host(self, raw_host: str) -> str:
        """The Host header without its port, lower case; ``InputError`` if malformed.
        Hosts already seen are remembered (bounded), so the check is paid once per name."""
        host = self._hosts.get(raw_host)
        if host is not None:
            return host
        if len(raw_host) > MAX_HOST_CHARS or (raw_host and not _HOST_RE.match(raw_host)):
            raise InputError("bad_host")
        host = _strip_port(raw_host)
        if len(self._hosts) >= MAX_REMEMBERED_HOSTS:
            self._hosts.clear()
        self._hosts[raw_host] = host
        return host

    def _make_env(self, lang: str) -> jinja2.Environment:
        env = jinja2.Environment(
            loader=jinja2.PackageLoader("shelterkit.portal", "templates"),
            autoescape=True,
            extensions=["jinja2.ext.i18n"],
            trim_blocks=True,
            lstrip_blocks=True,
            undefined=jinja2.StrictUndefined,
        )
        env.install_gettext_translations(translations(lang), newstyle=True)  # type: ignore[attr-defined]
        return env

    # -- helpers ---------------------------------------------------------------------

    def gettext(self, lang: str) -> Callable[[str], str]:
        return translations(lang).gettext

    def fmt_time(self, ms: int, lang: str) -> str:
        dt = datetime.fromtimestamp(ms / 1000, tz=self.tz)
        return format_datetime(dt, "medium", tzinfo=self.tz, locale=BABEL_LOCALES[lang])

    def shelter_name(self, lang: str) -> str:
        s = self.node.config.shelter
        return s.name_ja if lang == "ja" or not s.name_en else s.name_en

    def render(self, template: str, lang: str, path: str, **context: Any) -> bytes:
        s = self.node.config.shelter
        html = (
            self._envs[lang]
            .get_template(template)
            .render(
                lang=lang,
                css=Markup(self.css),
                shelter_name=self.shelter_name(lang),
                address=s.address,
                capacity=s.capacity,
                languages=list(LANGUAGES.items()),
                path=path,
                **context,
            )
        )
        return html.encode()

    def cached(self, key: tuple[str, ...], build: Callable[[], bytes]) -> CachedPage:
        page = self.fresh(key)
        if page is None:
            raw = build()
            etag = '"' + hashlib.blake2b(raw, digest_size=12).hexdigest() + '"'
            page = CachedPage(self.node.generation, raw, _gzip(raw, 9), etag)
            if len(self._cache) >= MAX_CACHED_PAGES:
                self._cache.clear()
            self._cache[key] = page
        return page

    def fresh(self, key: tuple[str, ...]) -> CachedPage | None:
        """The cached page under ``key`` if it is of the node's current state."""
        page = self._cache.get(key)
        return page if page is not None and page.generation == self.node.generation else None

    def localise(self, d: dict[str, str], lang: str) -> str:
        if not d:
            return ""
        for candidate in (lang, "ja", "en"):
            if candidate in d:
                return d[candidate]
        return next(iter(d.values()))

    # -- page models -----------------------------------------------------------------

    def alert_views(self, lang: str) -> list[dict[str, Any]]:
        _ = self.gettext(lang)
        labels = {
            Severity.EXTREME: _("Extreme danger"),
            Severity.SEVERE: _("Severe"),
            Severity.MODERATE: _("Warning"),
            Severity.MINOR: _("Advisory"),
            Severity.UNKNOWN: _("Information"),
        }
        out = []
        clock_certain = self.node.clock_certain
        shelter = self.node.config.shelter.id
        now = self.node.wall_ms()
        for a in active_alerts(self.node.heads, now, clock_certain=clock_certain, shelter=shelter):
            body: AlertBody = a.body
            issued = body.sent_ms or wall_ms_of(a.record.hlc)
            out.append(
                {
                    "severity": int(body.severity),
                    "severity_label": labels[body.severity],
                    "icon": _SEVERITY_ICON[int(body.severity)],
                    "headline": self.localise(body.headline, lang),
                    "event": self.localise(body.event, lang),
                    "description": self.localise(body.description, lang),
                    "instruction": self.localise(body.instruction, lang),
                    "issued": self.fmt_time(issued, lang),
                    "expires": self.fmt_time(body.expires_ms, lang) if body.expires_ms else "",
                    "verified": self.node.is_authority(a.record.origin),
                    "url": alert_path(body.identifier),
                    "easy": EASY_JAPANESE in body.headline,
                    "languages": alert_languages(body, ""),
                    "exercise": body.status is AlertStatus.EXERCISE,
                    "clock_uncertain": not clock_certain,
                }
            )
        return out

    def notice_views(self, lang: str) -> list[dict[str, Any]]:
        out = []
        now = self.node.wall_ms()
        for r in visible_notices(self.node.heads, now, self.node.config.shelter.id):
            body = r.body
            assert isinstance(body, NoticeBody)
            out.append(
                {
                    "title": self.localise(body.title, lang),
                    "text": self.localise(body.text, lang),
                    "time": self.fmt_time(wall_ms_of(r.hlc), lang),
                    "city": not body.shelter,
                }
            )
        return out

    def category_labels(self, lang: str) -> list[tuple[str, str]]:
        _ = self.gettext(lang)
        names = {
            "needs": _("Needs"),
            "offers": _("Offers"),
            "info": _("Information"),
            "looking": _("Looking for someone"),
        }
        return [(slug, names[slug]) for slug in CATEGORY_NAMES]

    def post_views(self, lang: str, category: str) -> list[dict[str, Any]]:
        labels = dict(self.category_labels(lang))
        wanted = CATEGORY_NAMES.get(category)
        # this shelter's posts waiting for a first peer contact (newest first, marked), then
        # the signed ones
        posts = itertools.chain(
            (
                (item.body, item.wall_ms, True)
                for item in reversed(self.node.pending)
                if isinstance(item.body, PostBody)
            ),
            ((r.body, wall_ms_of(r.hlc), False) for r in visible_posts(self.node.heads)),
        )
        out = []
        for body, wall_ms, pending in posts:
            assert isinstance(body, PostBody)
            if wanted is not None and body.category is not wanted:
                continue
            out.append(
                {
                    "category": labels[CATEGORY_SLUGS[body.category]],
                    "text": body.text,
                    "author": body.author,
                    "time": self.fmt_time(wall_ms, lang),
                    "pending": pending,
                }
            )
            if len(out) >= MAX_BOARD_POSTS_SHOWN:
                break
        return out

    def board_html(
        self,
        lang: str,
        category: str,
        *,
        posted: bool,
        pending: bool = False,
        error: str = "",
        form: dict[str, str] | None = None,
    ) -> bytes:
        _ = self.gettext(lang)
        form = form or {}
        return self.render(
            "board.html",
            lang,
            "/board",
            page="board",
            title=_("Message board"),
            posts=self.post_views(lang, category),
            categories=self.category_labels(lang),
            category=category,
            posted=posted,
            pending=pending,
            error=error,
            csrf=_CSRF_MARK,
            max_chars=MAX_POST_CHARS,
            max_name=MAX_NAME_CHARS,
            form_text=form.get("text", ""),
            form_name=form.get("name", ""),
            form_category=form.get("category", "info"),
        )


def _strip_port(host: str) -> str:
    if host.startswith("["):
        return host[1 : host.find("]")].lower() if "]" in host else host.lower()
    return host.rsplit(":", 1)[0].lower() if host.count(":") == 1 else host.lower()


PORTAL_KEY = web.AppKey("portal", Portal)

_ERROR_STATUS = {
    "too_large": 413,
    "rate_limited": 429,
    "csrf": 403,
    "csrf_expired": 403,
    "csrf_replayed": 403,
    "not_found": 404,
    "method": 405,
    "unavailable": 503,
}


def error_message(code: str, lang: str, field: str = "") -> tuple[str, str]:
    """(heading, message) for an error code, translated."""
    _ = translations(lang).gettext
    fields = {"text": _("Message"), "name": _("Your name (optional)"), "category": _("Category")}
    label = fields.get(field, "")
    messages = {
        "empty": _("Please write a message."),
        "too_long": _("This is too long. Please shorten it."),
        "control_chars": _("This contains control characters that cannot be posted."),
        "invisible_chars": _("This contains invisible characters. Please type it again."),
        "invalid_chars": _("This contains characters that cannot be shown."),
        "bad_encoding": _("The form was not sent as UTF-8 text. Please try again."),
        "bad_form": _("The form could not be read. Please try again."),
        "bad_choice": _("Please choose one of the options."),
        "too_large": _("What you sent is too large."),
        "rate_limited": _("You are posting too quickly. Please wait a little and try again."),
        "csrf": _("This form has expired. Please try again."),
        "csrf_expired": _("This form has expired. Please try again."),
        "csrf_replayed": _("This form was already sent. Your message was posted only once."),
        "bad_language": _("This language is not available. Please choose one below."),
        "bad_host": _("The address of this request is not valid."),
        "not_found": _("This page does not exist."),
        "method": _("This action is not possible here."),
        "unavailable": _("The shelter system cannot save right now. Please try again later."),
    }
    message = messages.get(code, _("The request could not be handled."))
    if label and code in ("empty", "too_long", "control_chars", "invisible_chars", "invalid_chars"):
        message = f"{label}: {message}"
    heading = _("Sorry") if code != "not_found" else _("Page not found")
    return heading, message


def _lang_of(request: web.Request) -> str:
    portal = request.app[PORTAL_KEY]
    lang: str | None = request.get(LANG_KEY)
    if lang is not None:
        return lang
    return negotiate(
        request.headers.get("Accept-Language", ""),
        request.cookies.get(LANG_COOKIE),
        portal.node.config.portal.default_language,
    )


def _html(
    request: web.Request,
    body: bytes,
    status: int = 200,
    etag: str | None = None,
    gz: bytes | None = None,
) -> web.Response:
    """An HTML response with the portal's headers; cached pages pass their ETag and their
    gzip bytes, so a hot page costs a dictionary copy and no compression."""
    portal = request.app[PORTAL_KEY]
    headers = CIMultiDict(portal.html_headers)
    if etag is not None:
        headers["ETag"] = etag
        if status == 200 and etag in request.headers.get("If-None-Match", ""):
            return web.Response(status=304, headers=headers)
    if "gzip" in request.headers.get("Accept-Encoding", ""):
        body = gz if gz is not None else _gzip(body, 6)
        headers["Content-Encoding"] = "gzip"
    return web.Response(body=body, status=status, headers=headers)


def error_page(
    request: web.Request, code: str, field: str = "", status: int | None = None
) -> web.Response:
    portal = request.app[PORTAL_KEY]
    lang = _lang_of(request)
    heading, message = error_message(code, lang, field)
    path = request.path if request.path in ("/", "/board") else "/"
    body = portal.render(
        "error.html",
        lang,
        path,
        page="error",
        title=heading,
        heading=heading,
        message=message,
        back=path,
    )
    response = _html(request, body, status or _ERROR_STATUS.get(code, 400))
    if code == "rate_limited":
        response.headers["Retry-After"] = str(int(request.get(RETRY_KEY, 30.0)))
    return response


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The one place that turns errors into responses."""
    try:
        return await handler(request)
    except InputError as exc:
        return error_page(request, exc.code, exc.field)
    except web.HTTPNotFound:
        return error_page(request, "not_found")
    except web.HTTPMethodNotAllowed:
        return error_page(request, "method")
    except StorageError as exc:
        log.error("storage failure while serving %s: %s", request.path, exc)
        return error_page(request, "unavailable")


@web.middleware
async def _captive(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Host check, OS probes, and sending unknown hosts to the portal."""
    portal = request.app[PORTAL_KEY]
    raw_host = request.headers.get("Host", "")
    host = portal.checked_host(raw_host)
    client = request.remote or ""
    request[CLIENT_KEY] = client
    if request.path in captive.PROBES:
        return await handler(request)  # answered on any host (``probe``)
    answer = captive.HOST_PROBES.get(host) if request.path == "/" else None
    if answer is not None:
        return probe_response(portal, client, answer)
    if request.path == captive.WINDOWS_REDIRECT_PATH or (host and host not in portal.known_hosts):
        raise web.HTTPFound(portal.public_url)
    lang_param = request.query.get("lang")
    if lang_param is not None:
        if lang_param not in LANGUAGES:
            raise InputError("bad_language")
        request[LANG_KEY] = lang_param
        response = await handler(request)
        response.set_cookie(
            LANG_COOKIE, lang_param, max_age=LANG_COOKIE_MAX_AGE_S, samesite="Lax", path="/"
        )
        return response
    return await handler(request)


def probe_response(portal: Portal, client: str, answer: captive.ProbeAnswer) -> web.Response:
    """Before acceptance the portal (the OS shows its sign-in sheet); after, the answer the
    OS expects from the internet (docs/portal.md)."""
    if not portal.accepted.is_accepted(client, portal.clock()):
        raise web.HTTPFound(portal.public_url + "welcome")
    return web.Response(
        status=answer.status, body=answer.body or None, headers=_PROBE_HEADERS[id(answer)]
    )


_PROBE_HEADERS = {
    id(a): CIMultiDict(
        {"Content-Type": a.content_type, "Cache-Control": "no-store", **dict(a.headers)}
    )
    for a in (*captive.PROBES.values(), *captive.HOST_PROBES.values())
}


async def probe(request: web.Request) -> web.StreamResponse:
    """An OS connectivity probe (a route of its own, so the router answers it directly)."""
    portal = request.app[PORTAL_KEY]
    return probe_response(portal, request[CLIENT_KEY], captive.PROBES[request.path])


def home_key(app: web.Application, lang: str, accepted: bool) -> tuple[str, ...]:
    """The page-cache key of home (and welcome) in ``lang``; portal/front.py serves the
    cached page under the same key."""
    from shelterkit.portal.feeds import alerts_epoch  # changes when an alert expires

    return ("home", lang, "a" if accepted else "w", alerts_epoch(app))


async def home(request: web.Request) -> web.StreamResponse:
    portal = request.app[PORTAL_KEY]
    lang = _lang_of(request)
    accepted = portal.accepted.is_accepted(request[CLIENT_KEY], portal.clock())
    _ = portal.gettext(lang)

    def build() -> bytes:
        return portal.render(
            "home.html",
            lang,
            "/",
            page="home",
            title=_("Shelter information"),
            accepted=accepted,
            alerts=portal.alert_views(lang),
            notices=portal.notice_views(lang),
        )

    page = portal.cached(home_key(request.app, lang, accepted), build)
    return _html(request, page.raw, etag=page.etag, gz=page.gz)


async def welcome(request: web.Request) -> web.StreamResponse:
    return await home(request)


async def accept(request: web.Request) -> web.StreamResponse:
    portal = request.app[PORTAL_KEY]
    portal.accepted.accept(request[CLIENT_KEY], portal.clock())
    raise web.HTTPSeeOther("/")


async def board(request: web.Request) -> web.StreamResponse:
    portal = request.app[PORTAL_KEY]
    lang = _lang_of(request)
    category = request.query.get("c", "")
    if category and category not in CATEGORY_NAMES:
        raise InputError("bad_choice", "category")
    posted = request.query.get("posted", "")
    posted = posted if posted in ("1", "pending") else ""
    page = portal.cached(
        ("board", lang, category, posted),
        lambda: portal.board_html(
            lang, category, posted=posted == "1", pending=posted == "pending"
        ),
    )
    token = portal.csrf.issue(request[CLIENT_KEY], portal.clock(), os.urandom(8))
    return _html(request, page.raw.replace(_CSRF_MARK.encode(), token.encode()))


async def board_post(request: web.Request) -> web.StreamResponse:
    portal = request.app[PORTAL_KEY]
    client = request[CLIENT_KEY]
    if request.content_length is not None and request.content_length > MAX_FORM_BYTES:
        raise InputError("too_large")
    body = await request.content.read(MAX_FORM_BYTES + 1)
    form = parse_form(body)
    lang = _lang_of(request)
    now = portal.clock()
    try:
        portal.csrf.redeem(form.get("csrf", ""), client, now)
        post = post_from_form(form, portal.node.config.shelter.id)
        wait = portal.post_limit.take(client, now)
        if wait > 0:
            request[RETRY_KEY] = wait
            raise InputError("rate_limited")
    except InputError as exc:
        # Show the form again with what the person wrote, so nothing typed is lost.
        _, message = error_message(exc.code, lang, exc.field)
        html = portal.board_html(lang, "", posted=False, error=message, form=form)
        token = portal.csrf.issue(client, now, os.urandom(8))
        response = _html(
            request,
            html.replace(_CSRF_MARK.encode(), token.encode()),
            _ERROR_STATUS.get(exc.code, 400),
        )
        if exc.code == "rate_limited":
            response.headers["Retry-After"] = str(int(request.get(RETRY_KEY, 30.0)) + 1)
        return response
    if isinstance(await portal.node.publish_or_queue(post), PendingOwn):  # signed later
        raise web.HTTPSeeOther("/board?posted=pending#posts")
    raise web.HTTPSeeOther("/board?posted=1#posts")


async def capport_api(request: web.Request) -> web.StreamResponse:
    portal = request.app[PORTAL_KEY]
    captive_now = not portal.accepted.is_accepted(request[CLIENT_KEY], portal.clock())
    return web.Response(
        body=json.dumps(captive.capport_json(captive_now, portal.public_url)).encode(),
        headers={
            "Content-Type": "application/captive+json",
            "Cache-Control": "private, no-store",
        },
    )


async def healthz(request: web.Request) -> web.StreamResponse:
    node = request.app[PORTAL_KEY].node
    return web.json_response(
        {
            "status": "ok",
            "node": node.identity.public.hex(),
            "shelter": node.config.shelter.id,
            "records": node.record_count,
            "last_sync": node.last_sync_ms,
        },
        headers={"Cache-Control": "no-store"},
    )


def create_portal_app(node: Node, clock: Callable[[], float] = time.monotonic) -> web.Application:
    app = web.Application(middlewares=[_errors, _captive], client_max_size=MAX_FORM_BYTES)
    app[PORTAL_KEY] = Portal(node, clock)
    app.router.add_get("/", home)
    app.router.add_get("/welcome", welcome)
    app.router.add_post("/accept", accept)
    app.router.add_get("/board", board)
    app.router.add_post("/board", board_post)
    app.router.add_get("/api/captive-portal", capport_api)
    app.router.add_get("/healthz", healthz)
    for path in captive.PROBES:
        app.router.add_get(path, probe)
    from shelterkit.portal.feeds import add_feed_routes  # feeds builds on this module

    add_feed_routes(app)
    from shelterkit.portal.safety import add_safety_routes  # safety builds on this module

    add_safety_routes(app)
    return app

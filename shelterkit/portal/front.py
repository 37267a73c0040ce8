"""The front of the portal listener: connectivity probes answered from prebuilt bytes.

Every phone on the shelter Wi-Fi asks its OS's probe URL when it joins, wakes or roams, and
asks again every few minutes; apps' background HTTP to hosts that are not the portal comes
on top. Those answers depend only on the path, the Host and whether this phone has passed
the welcome page (``captive``), so the front writes them from prebuilt bytes instead of
building an aiohttp request for each: a fraction of the CPU per answer (docs/benchmarks.md).

The front answers only what it recognises exactly: GET or HEAD, HTTP/1.1, a plain path, one
valid Host, no body and no upgrade. At the first request it does not answer, the connection
goes to aiohttp with every byte read so far and stays there, so every page, every
malformed request and every error page is aiohttp's, as it would be without the front.
Request heads are parsed by llhttp (``httptools``, the parser aiohttp's own C parser is
built on); the front itself only finds where a head ends, to feed it whole. The answers are
the ones aiohttp gives for the same request (tests/portal/test_front.py compares them).
"""

from __future__ import annotations

import asyncio
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formatdate
from typing import cast

import httptools
from aiohttp import web
from aiohttp.http import SERVER_SOFTWARE

from shelterkit.errors import InputError
from shelterkit.portal import captive
from shelterkit.portal.app import PORTAL_KEY, CachedPage, home_key
from shelterkit.portal.i18n import negotiate

# A head longer than this, or with more headers, goes to aiohttp, whose own limits
# answer it (8190-byte lines and fields, 128 headers).
MAX_HEAD_BYTES = 8192
MAX_HEADERS = 100
# Idle connections are closed after aiohttp's own keep-alive time, so holding a
# connection open costs the same in front of aiohttp as behind it.
KEEPALIVE_S = 75.0
# Host headers remembered with their checked form, like Portal.checked_host does.
MAX_REMEMBERED_HOSTS = 256

# Paths the front may match byte for byte: no percent-escapes, fragments, dot segments or
# doubled slashes, whose meaning aiohttp (yarl) would first normalise.
_PLAIN_PATH = re.compile(rb"/[A-Za-z0-9_~!$&'()*+,;=:@/.-]*")
# Headers that give a request a body, or ask for something other than a plain answer.
_NOT_PLAIN = frozenset({b"content-length", b"transfer-encoding", b"expect", b"upgrade"})
# Headers after which aiohttp may send another page than the cached one (the language
# cookie, a conditional request): those requests go to aiohttp.
_PAGE_CHANGING = frozenset(
    {b"cookie", b"if-none-match", b"if-modified-since", b"if-match", b"if-range", b"range"}
)
_GET_OR_HEAD = (b"GET ", b"HEAD ")
_REASONS = {200: "OK", 204: "No Content", 302: "Found"}
# Prebuilt home responses kept (languages × variants × gzip); rebuilt when a page changes.
MAX_PREBUILT_PAGES = 64


def _may_be_get(buffer: bytes) -> bool:
    """Whether ``buffer`` starts, or may yet start once more arrives, with GET or HEAD."""
    start = buffer[:5]
    return start.startswith(_GET_OR_HEAD) or any(m.startswith(start) for m in _GET_OR_HEAD)


class Prebuilt:
    """One answer's bytes, with the Date header left open (it changes every second)."""

    __slots__ = ("_after", "_before")

    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes, head: bool):
        lines = [f"HTTP/1.1 {status} {_REASONS[status]}"]
        lines += [f"{name}: {value}" for name, value in headers]
        if status != 204:
            lines.append(f"Content-Length: {len(body)}")
        lines.append("Date: ")
        self._before = "\r\n".join(lines).encode("latin-1")
        after = f"\r\nServer: {SERVER_SOFTWARE}\r\n".encode("latin-1")
        payload = b"" if head else body
        self._after = (after + b"\r\n" + payload, after + b"Connection: close\r\n\r\n" + payload)

    def bytes(self, date: bytes, close: bool) -> bytes:
        return self._before + date + self._after[close]


def _redirect(location: str) -> tuple[Prebuilt, Prebuilt]:
    """aiohttp's ``HTTPFound(location)``, for GET and for HEAD."""
    headers = [("Content-Type", "text/plain; charset=utf-8"), ("Location", location)]
    return tuple(Prebuilt(302, headers, b"302: Found", head) for head in (False, True))  # type: ignore[return-value]


def _probe(answer: captive.ProbeAnswer) -> tuple[Prebuilt, Prebuilt]:
    """``app.probe_response`` after acceptance, for GET and for HEAD."""
    headers = [("Content-Type", answer.content_type), ("Cache-Control", "no-store")]
    headers += list(answer.headers)
    return tuple(Prebuilt(answer.status, headers, answer.body, head) for head in (False, True))  # type: ignore[return-value]


@dataclass(slots=True)
class Head:
    """What the front reads of one plain GET/HEAD request head."""

    head_only: bool = False
    target: bytes = b""
    host: bytes = b""
    accept_language: bytes = b""
    gzip: bool = False
    # no Cookie, conditional or repeated header that would change which page is sent
    page_ok: bool = True


@dataclass(frozen=True, slots=True)
class PortalView:
    """The portal state the front reads: names, acceptance and the page cache."""

    public_url: str
    known_hosts: set[str]
    default_language: str
    html_headers: list[tuple[str, str]]
    checked_host: Callable[[str], str]
    is_accepted: Callable[[str], bool]
    home_page: Callable[[str, bool], CachedPage | None]  # (language, accepted): if cached


class Answers:
    """What the front may answer, decided from the portal's state (time passed in)."""

    def __init__(self, view: PortalView, wall: Callable[[], float] = time.time) -> None:
        self._view = view
        self._wall = wall
        self._hosts: dict[bytes, str | None] = {}
        self._languages: dict[bytes, str] = {}
        self._pages: dict[tuple[int, bool], tuple[CachedPage, tuple[Prebuilt, Prebuilt]]] = {}
        self._probes = {path.encode(): _probe(a) for path, a in captive.PROBES.items()}
        self._host_probes = {host: _probe(a) for host, a in captive.HOST_PROBES.items()}
        self._welcome = _redirect(view.public_url + "welcome")
        self._portal = _redirect(view.public_url)
        self._redirect_path = captive.WINDOWS_REDIRECT_PATH.encode()
        self._second = -1
        self._date = b""

    def respond(self, head: Head, client: str, close: bool) -> bytes | None:
        """The whole response for one plain GET/HEAD, or None when aiohttp must answer.
        The order of the checks is the order of ``app._captive`` and the home handler."""
        path, query, _ = head.target.partition(b"?")  # no query changes a probe or redirect
        if b"#" in path or b"/." in path or b"//" in path or not _PLAIN_PATH.fullmatch(path):
            return None
        host = self._host(head.host)
        if host is None:
            return None
        probe = self._probes.get(path)
        if probe is None and path == b"/":
            probe = self._host_probes.get(host)
        if probe is not None:
            chosen = probe if self._view.is_accepted(client) else self._welcome
        elif path == self._redirect_path or (host and host not in self._view.known_hosts):
            chosen = self._portal
        elif path in (b"/", b"/welcome") and not query and head.page_ok:
            page = self._home(head, client)
            if page is None:
                return None
            chosen = page
        else:
            return None
        return chosen[head.head_only].bytes(self._date_now(), close)

    def _home(self, head: Head, client: str) -> tuple[Prebuilt, Prebuilt] | None:
        """Home as ``app.home`` sends it, if the page is in the portal's cache."""
        lang = self._language(head.accept_language)
        page = self._view.home_page(lang, self._view.is_accepted(client))
        if page is None:
            return None
        key = (id(page), head.gzip)
        known = self._pages.get(key)
        if known is not None and known[0] is page:
            return known[1]
        headers = [*self._view.html_headers, ("ETag", page.etag)]
        if head.gzip:
            headers.append(("Content-Encoding", "gzip"))
        body = page.gz if head.gzip else page.raw
        built = (Prebuilt(200, headers, body, False), Prebuilt(200, headers, body, True))
        if len(self._pages) >= MAX_PREBUILT_PAGES:
            self._pages.clear()
        self._pages[key] = (page, built)
        return built

    def _language(self, accept_language: bytes) -> str:
        lang = self._languages.get(accept_language)
        if lang is None:
            text = accept_language.decode("utf-8", "surrogateescape")
            lang = negotiate(text, None, self._view.default_language)
            if len(self._languages) >= MAX_REMEMBERED_HOSTS:
                self._languages.clear()
            self._languages[accept_language] = lang
        return lang

    def _host(self, raw: bytes) -> str | None:
        """The checked Host (port stripped, lower case), None when it is not valid."""
        try:
            return self._hosts[raw]
        except KeyError:
            pass
        host: str | None
        try:
            host = self._view.checked_host(raw.decode("ascii"))
        except (UnicodeDecodeError, InputError):
            host = None
        if len(self._hosts) >= MAX_REMEMBERED_HOSTS:
            self._hosts.clear()
        self._hosts[raw] = host
        return host

    def _date_now(self) -> bytes:
        now = self._wall()
        second = int(now)
        if second != self._second:
            self._second = second
            self._date = formatdate(now, usegmt=True).encode("ascii")
        return self._date


class Front:
    """The answers and the open connections of one listener."""

    def __init__(self, answers: Answers, handler_factory: Callable[[], asyncio.Protocol]) -> None:
        self.answers = answers
        self.handler_factory = handler_factory  # aiohttp's web.Server: a RequestHandler each
        self.connections: set[FrontProtocol] = set()
        self.answered = 0  # requests answered in front (for tests and benchmarks)

    def protocol(self) -> FrontProtocol:
        return FrontProtocol(self)

    def close_all(self) -> None:
        for connection in list(self.connections):
            connection.close()


class FrontProtocol(asyncio.Protocol):
    """One connection, answered in front until its first request the front does not know."""

    def __init__(self, front: Front) -> None:
        self._front = front
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpRequestParser(self)
        self._client = ""
        self._buffer = b""
        self._paused = False
        self._last = 0.0
        self._timer: asyncio.TimerHandle | None = None
        # what the parser saw of the current head
        self._head = Head()
        self._hosts = 0
        self._headers = 0
        self._plain = True
        self._get = False
        self._keep_alive = True
        self._complete = False

    # -- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses
        self._transport = transport
        peer = transport.get_extra_info("peername")
        self._client = str(peer[0]) if isinstance(peer, tuple) else ""  # as request.remote
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as aiohttp does
        self._front.connections.add(self)
        self._last = self._loop.time()
        self._timer = self._loop.call_later(KEEPALIVE_S, self._idle)

    def data_received(self, data: bytes) -> None:
        self._last = self._loop.time()
        buffer = self._buffer + data if self._buffer else data
        self._buffer = b""
        transport = self._transport
        assert transport is not None
        while buffer and not self._paused:
            if not _may_be_get(buffer):
                self._hand_over(buffer)
                return
            end = buffer.find(b"\r\n\r\n", 0, MAX_HEAD_BYTES)
            if end < 0:
                if len(buffer) >= MAX_HEAD_BYTES:
                    self._hand_over(buffer)
                    return
                break
            response, close = self._answer(buffer[: end + 4])
            if response is None:
                self._hand_over(buffer)
                return
            transport.write(response)
            self._front.answered += 1
            if close:
                transport.close()
                return
            buffer = buffer[end + 4 :]
        self._buffer = buffer

    def pause_writing(self) -> None:
        """The phone is not reading: stop reading its requests until it does."""
        self._paused = True
        if self._transport is not None:
            self._transport.pause_reading()

    def resume_writing(self) -> None:
        self._paused = False
        if self._transport is not None and not self._transport.is_closing():
            self._transport.resume_reading()
            if self._buffer:
                self.data_received(b"")

    def connection_lost(self, exc: Exception | None) -> None:
        self._forget()

    # -- httptools callbacks -------------------------------------------------------------

    def on_url(self, url: bytes) -> None:
        self._head.target += url

    def on_header(self, name: bytes, value: bytes) -> None:
        head, lower = self._head, name.lower()
        self._headers += 1
        if lower == b"host":
            head.host = value
            self._hosts += 1
        elif lower == b"accept-encoding":
            head.page_ok &= not head.gzip  # a second one: aiohttp would read the first
            head.gzip = b"gzip" in value  # as app._html tests it
        elif lower == b"accept-language":
            head.page_ok &= not head.accept_language
            head.accept_language = value
        elif lower in _NOT_PLAIN:
            self._plain = False
        elif lower in _PAGE_CHANGING:
            head.page_ok = False

    def on_headers_complete(self) -> None:
        # read here: llhttp forgets them once the message is complete
        parser = self._parser
        method = parser.get_method()
        self._get = method in (b"GET", b"HEAD") and parser.get_http_version() == "1.1"
        self._head.head_only = method == b"HEAD"
        self._keep_alive = parser.should_keep_alive()

    def on_message_complete(self) -> None:
        self._complete = True

    # -- the rest ------------------------------------------------------------------------

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
        self._forget()

    def _answer(self, data: bytes) -> tuple[bytes | None, bool]:
        """Parse one head; the response and whether to close, or None for aiohttp."""
        self._head, self._hosts, self._headers, self._plain = Head(), 0, 0, True
        self._get = self._complete = False
        try:
            self._parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade):
            return None, False
        if not (self._complete and self._get and self._plain and self._hosts == 1):
            return None, False
        if self._headers > MAX_HEADERS:
            return None, False
        close = not self._keep_alive
        return self._front.answers.respond(self._head, self._client, close), close

    def _hand_over(self, buffer: bytes) -> None:
        """From here on aiohttp owns the connection, starting with ``buffer``."""
        transport = self._transport
        assert transport is not None
        self._forget()
        handler = self._front.handler_factory()
        transport.set_protocol(handler)
        handler.connection_made(transport)
        handler.data_received(buffer)

    def _idle(self) -> None:
        idle = self._loop.time() - self._last
        if idle >= KEEPALIVE_S:
            self.close()
        else:
            self._timer = self._loop.call_later(KEEPALIVE_S - idle, self._idle)

    def _forget(self) -> None:
        self._front.connections.discard(self)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class FrontSite(web.BaseSite):
    """A TCP listener of an aiohttp runner whose connections meet the front first."""

    __slots__ = ("_front", "_host", "_port")

    def __init__(
        self, runner: web.BaseRunner, front: Front, host: str, port: int, backlog: int = 128
    ) -> None:
        super().__init__(runner, backlog=backlog)
        self._front = front
        self._host = host
        self._port = port

    @property
    def front(self) -> Front:
        return self._front

    @property
    def name(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._front.protocol,
            self._host,
            self._port,
            backlog=self._backlog,
            reuse_address=True,
        )

    async def stop(self) -> None:
        await super().stop()
        self._front.close_all()


def portal_front(app: web.Application, handler_factory: Callable[[], asyncio.Protocol]) -> Front:
    """The front of a portal application (``create_portal_app``), sharing its state."""
    portal = app[PORTAL_KEY]
    view = PortalView(
        public_url=portal.public_url,
        known_hosts=portal.known_hosts,
        default_language=portal.node.config.portal.default_language,
        html_headers=list(portal.html_headers.items()),
        checked_host=portal.checked_host,
        is_accepted=lambda client: portal.accepted.is_accepted(client, portal.clock()),
        home_page=lambda lang, accepted: portal.fresh(home_key(app, lang, accepted)),
    )
    return Front(Answers(view), handler_factory)

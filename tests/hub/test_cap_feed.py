"""Polling a CAP source: an Atom feed of CAP documents and a single CAP document, served by
a real aiohttp server on loopback; conditional GET, bounds, timeouts and logged failures."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from shelterkit.cap import MAX_CAP_BYTES
from shelterkit.config import Config, HubSettings, NodeSettings
from shelterkit.hub.feed import CapFeed
from shelterkit.hub.service import Hub
from shelterkit.model.kinds import AlertBody, CapSignature
from tests.alerts.corpus import BAD, DATA, GOOD, NODE_NOW_MS
from tests.conftest import free_port

CERT = DATA / "signed" / "city-test-cert.pem"
SIGNED = DATA / "signed" / "10-landslide-signed.xml"


@dataclass
class Source:
    """A city's CAP server: documents by name, an Atom feed linking a chosen list of them."""

    docs: dict[str, bytes] = field(default_factory=dict)
    linked: list[str] = field(default_factory=list)
    hits: list[tuple[str, int]] = field(default_factory=list)  # (path, status)
    feed_status: int = 200
    delay_s: float = 0.0

    def feed(self) -> bytes:
        entries = "".join(
            f"<entry><id>urn:x:{n}</id><title>{n}</title><updated>2027-01-15T00:00:00Z</updated>"
            f'<link rel="alternate" type="application/cap+xml" href="cap/{n}"/></entry>'
            for n in self.linked
        )
        return (
            '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            f"<id>urn:x:feed</id><title>City alerts</title>"
            f"<updated>2027-01-15T00:00:00Z</updated>{entries}</feed>"
        ).encode()

    def answer(self, request: web.Request, body: bytes, status: int = 200) -> web.Response:
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        if status == 200 and request.headers.get("If-None-Match") == etag:
            status = 304
        self.hits.append((request.path, status))
        if status == 304:
            return web.Response(status=304, headers={"ETag": etag})
        return web.Response(status=status, body=body, headers={"ETag": etag})

    def app(self) -> web.Application:
        async def feed(request: web.Request) -> web.Response:
            await asyncio.sleep(self.delay_s)
            return self.answer(request, self.feed(), self.feed_status)

        async def doc(request: web.Request) -> web.Response:
            name = request.match_info["name"]
            if name not in self.docs:
                raise web.HTTPNotFound()
            return self.answer(request, self.docs[name])

        async def huge(request: web.Request) -> web.StreamResponse:
            # No Content-Length: the size is only found out while reading.
            resp = web.StreamResponse()
            await resp.prepare(request)
            for _ in range(40):
                await resp.write(b"<!-- " + b"x" * 60_000 + b" -->")
            return resp

        app = web.Application()
        app.router.add_get("/feed.atom", feed)
        app.router.add_get("/cap/{name}", doc)
        app.router.add_get("/huge", huge)
        return app


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Hub]:
    config = Config(
        node=NodeSettings(data_dir=str(tmp_path / "hub")),
        hub=HubSettings(cap_certificates=[str(CERT)]),
    )
    hub = await Hub.open(config, lambda: NODE_NOW_MS)
    yield hub
    await hub.close()


@pytest.fixture
async def source() -> AsyncIterator[tuple[Source, str]]:
    src = Source()
    server = TestServer(src.app(), host="127.0.0.1")
    await server.start_server()
    yield src, str(server.make_url("/"))
    await server.close()


def alerts(hub: Hub) -> dict[str, AlertBody]:
    return {
        r.body.identifier: r.body for r in hub.node.heads.values() if isinstance(r.body, AlertBody)
    }


async def test_feed_imports_each_alert_once_with_conditional_gets(hub: Hub, source) -> None:
    src, base = source
    names = [p.name for p in GOOD[:5]]
    src.docs = {p.name: p.read_bytes() for p in GOOD[:5]} | {"signed.xml": SIGNED.read_bytes()}
    # Most severe first, as a node's feed lists them: the Update (04) before its original.
    src.linked = [names[3], names[0], names[1], names[2], names[4], "signed.xml"]
    feed = CapFeed(hub, base + "feed.atom", 60)
    async with aiohttp.ClientSession(timeout=feed.timeout) as session:
        first = await feed.poll(session)
        assert len(first.imported) == 6 and not first.failed, first.failed
        assert all(i.new for i in first.imported.values())
        held = alerts(hub)
        assert held["JP-09215-20270115-0103"].cap_signature is CapSignature.VERIFIED
        count = await hub.node.store.count()

        src.hits.clear()
        second = await feed.poll(session)
        assert src.hits == [("/feed.atom", 304)] and second.not_modified == [base + "feed.atom"]

        # One more alert in the feed: the feed and the new document are fetched; the
        # documents already imported answer 304 to their own conditional GET.
        src.docs[GOOD[5].name] = GOOD[5].read_bytes()
        src.linked.append(GOOD[5].name)
        src.hits.clear()
        third = await feed.poll(session)
        assert [u.rsplit("/", 1)[1] for u in third.imported] == [GOOD[5].name]
        statuses = dict(src.hits)
        assert statuses.pop("/feed.atom") == 200 and statuses.pop(f"/cap/{GOOD[5].name}") == 200
        assert set(statuses.values()) == {304} and len(statuses) == 6
        assert await hub.node.store.count() == count + 1

        # A restarted hub remembers no validators: everything is fetched once more, and
        # nothing is signed again.
        restarted = CapFeed(hub, base + "feed.atom", 60)
        again = await restarted.poll(session)
        assert len(again.imported) == 7 and not any(i.new for i in again.imported.values())
        assert await hub.node.store.count() == count + 1
    assert alerts(hub).keys() == held.keys() | {parse_id(GOOD[5].read_bytes())}


def parse_id(xml: bytes) -> str:
    return xml.split(b"<identifier>")[1].split(b"</identifier>")[0].decode()


async def test_a_single_cap_document_url(hub: Hub, source) -> None:
    src, base = source
    src.docs = {"now.xml": GOOD[0].read_bytes()}
    feed = CapFeed(hub, base + "cap/now.xml", 60)
    async with aiohttp.ClientSession(timeout=feed.timeout) as session:
        result = await feed.poll(session)
        assert [i.identifier for i in result.imported.values()] == [parse_id(GOOD[0].read_bytes())]
        again = await feed.poll(session)
        assert again.not_modified == [base + "cap/now.xml"] and not again.imported
        # The city replaces the document by a broken one: refused with the reason, once.
        src.docs["now.xml"] = (BAD / "broken-signature.xml").read_bytes()
        broken = await feed.poll(session)
        (reason,) = broken.failed.values()
        assert reason.startswith("CAP alert refused: ") and "signature" in reason
        assert (await feed.poll(session)).not_modified  # not fetched in full again
    assert len(alerts(hub)) == 1


async def test_failures_are_bounded_and_logged_once(
    hub: Hub, source, caplog: pytest.LogCaptureFixture
) -> None:
    src, base = source
    caplog.set_level(logging.INFO, "shelterkit.hub.feed")
    cases = [
        ("feed.atom", {"feed_status": 500}, "HTTP 500 Internal Server Error"),
        ("feed.atom", {"delay_s": 1.0}, "no answer within 0.3 s"),
        ("huge", {}, f"more than {1024 * 1024} bytes"),
        ("cap/missing.xml", {}, "HTTP 404 Not Found"),
    ]
    for path, settings, reason in cases:
        caplog.clear()
        for name, value in settings.items():
            setattr(src, name, value)
        feed = CapFeed(hub, base + path, 60, timeout_s=0.3)
        async with aiohttp.ClientSession(timeout=feed.timeout) as session:
            for _ in range(3):
                result = await feed.poll(session)
                assert list(result.failed.values()) == [reason]
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert warnings == [f"CAP feed {base + path}: {reason}"]
        src.feed_status, src.delay_s = 200, 0.0
    # Backhaul down: nothing listens; logged once, and once more when it is back.
    caplog.clear()
    url = f"http://127.0.0.1:{free_port()}/feed.atom"
    feed = CapFeed(hub, url, 60, timeout_s=1.0)
    async with aiohttp.ClientSession(timeout=feed.timeout) as session:
        for _ in range(2):
            (reason,) = (await feed.poll(session)).failed.values()
            assert reason.startswith("cannot connect")
        feed.url = base + "feed.atom"
        feed.trouble[feed.url] = feed.trouble.pop(url)
        assert not (await feed.poll(session)).failed
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [f"CAP feed {url}: {reason}", f"CAP feed {base}feed.atom: reachable again"]
    assert alerts(hub) == {}


async def test_a_cap_document_over_the_limit_is_not_read_to_the_end(hub: Hub, source) -> None:
    src, base = source
    src.docs = {"big.xml": b"<alert>" + b" " * MAX_CAP_BYTES + b"</alert>"}
    src.linked = ["big.xml"]
    feed = CapFeed(hub, base + "feed.atom", 60)
    async with aiohttp.ClientSession(timeout=feed.timeout) as session:
        result = await feed.poll(session)
    assert result.failed == {
        base + "cap/big.xml": f"{len(src.docs['big.xml'])} bytes, limit {MAX_CAP_BYTES}"
    }
    assert alerts(hub) == {}


async def test_last_modified_of_a_static_file_server(hub: Hub, tmp_path: Path) -> None:
    """Python's own file server sends Last-Modified, no ETag: If-Modified-Since is used."""
    import functools
    import http.server
    import threading

    (tmp_path / "alert.xml").write_bytes(GOOD[0].read_bytes())
    codes: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            codes.append(str(getattr(code, "value", code)))

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(tmp_path))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        feed = CapFeed(hub, f"http://127.0.0.1:{server.server_address[1]}/alert.xml", 60)
        async with aiohttp.ClientSession(timeout=feed.timeout) as session:
            assert len((await feed.poll(session)).imported) == 1
            assert (await feed.poll(session)).not_modified
    finally:
        server.shutdown()
        server.server_close()
    assert codes == ["200", "304"]

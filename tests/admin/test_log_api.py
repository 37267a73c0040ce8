"""The node's recent log lines: the bounded ring, and ``GET /api/admin/log`` through a real
HTTP server (staff side only, credentials required, no token ever in a line)."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from shelterkit.admin.logring import MAX_LINE_CHARS, REDACTED, LogRing, redact
from shelterkit.admin.tokens import mint_token
from shelterkit.portal.app import create_portal_app
from shelterkit.service.node import Node
from shelterkit.service.run import peer_app
from shelterkit.sync import Role

SECRET = b"l" * 32


def record(name: str, level: int, msg: str, *args: object, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ConnectionResetError("peer went away")
        except ConnectionResetError:
            import sys

            exc_info = sys.exc_info()
    rec = logging.LogRecord(name, level, __file__, 1, msg, args, exc_info)
    rec.created = 1_800_000_000.5
    return rec


def test_keeps_warnings_from_anyone_and_info_only_from_shelterkit() -> None:
    ring = LogRing()
    ring.handle(record("shelterkit.discovery.lan", logging.INFO, "found %s", "S02"))
    ring.handle(record("aiohttp.access", logging.INFO, "GET / 200"))
    ring.handle(record("shelterkit.sync", logging.DEBUG, "frame"))
    ring.handle(record("aiohttp.server", logging.ERROR, "handler failed"))
    ring.handle(record("shelterkitx", logging.INFO, "not ours"))
    lines, lost = ring.since(0)
    assert [(ln.level, ln.source, ln.text) for ln in lines] == [
        ("info", "discovery.lan", "found S02"),
        ("error", "aiohttp.server", "handler failed"),
    ]
    assert [ln.seq for ln in lines] == [1, 2]
    assert lines[0].time_ms == 1_800_000_000_500
    assert not lost
    assert ring.last == 2


def test_is_bounded_and_says_what_was_lost() -> None:
    ring = LogRing(capacity=5)
    for i in range(12):
        ring.handle(record("shelterkit.x", logging.WARNING, "line %d", i))
    lines, lost = ring.since(0)
    assert [ln.text for ln in lines] == [f"line {i}" for i in range(7, 12)]
    assert lost
    lines, lost = ring.since(9)
    assert [ln.seq for ln in lines] == [10, 11, 12] and not lost
    assert ring.since(12) == ([], False)
    # a number from before a restart (beyond the newest) gets everything again
    lines, _ = ring.since(500)
    assert len(lines) == 5


def test_lines_are_one_line_bounded_and_name_the_exception() -> None:
    ring = LogRing()
    ring.handle(record("shelterkit.x", logging.WARNING, "a\nmultiline\tmessage " + "x" * 1000))
    ring.handle(record("shelterkit.x", logging.ERROR, "sync with %s failed", "S03", exc=True))
    ring.handle(record("shelterkit.x", logging.WARNING, "bad format %d", "not a number"))
    lines, _ = ring.since(0)
    assert lines[0].text.startswith("a multiline message xxx")
    assert len(lines[0].text) == MAX_LINE_CHARS and lines[0].text.endswith("…")
    assert lines[1].text == "sync with S03 failed (ConnectionResetError)"
    assert lines[2].text == "bad format %d"


def test_tokens_and_authorization_values_are_blanked() -> None:
    token = mint_token(SECRET, time.time())
    assert token not in redact(f"got {token} from 10.0.0.5")
    assert redact(f"got {token}.") == f"got {REDACTED}."
    assert redact("Authorization: Bearer abc.def-123") == f"Authorization: Bearer {REDACTED}"
    assert redact("nothing secret here: S01 sk1 node") == "nothing secret here: S01 sk1 node"
    ring = LogRing()
    ring.handle(record("shelterkit.admin", logging.WARNING, "header was %r", f"Bearer {token}"))
    assert token not in ring.since(0)[0][0].text


def test_attach_and_detach_follow_the_logger() -> None:
    logger = logging.getLogger("shelterkit.test_logring")
    ring = LogRing()
    ring.attach(logger)
    logger.warning("seen")
    ring.detach()
    logger.warning("not seen")
    assert [ln.text for ln in ring.since(0)[0]] == ["seen"]


@pytest.fixture
async def ring() -> AsyncIterator[LogRing]:
    ring = LogRing()
    ring.attach()  # the root logger, as a running node does
    yield ring
    ring.detach()


@pytest.fixture
async def api(node: Node, ring: LogRing) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(peer_app(node, SECRET, Role.NODE, ring))) as client:
        yield client


async def test_the_log_needs_credentials(api: TestClient) -> None:
    for headers in ({}, {"Authorization": "Bearer sk1.1.wrong"}):
        resp = await api.get("/api/admin/log", headers=headers)
        assert resp.status == 401
    expired = mint_token(SECRET, time.time() - 3600, ttl_s=60)
    resp = await api.get("/api/admin/log", headers={"Authorization": f"Bearer {expired}"})
    assert resp.status == 401 and (await resp.json())["error"] == "expired"


async def test_staff_see_new_lines_and_never_a_token(
    api: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="shelterkit")
    good = mint_token(SECRET, time.time())
    wrong = "sk1.9999999999.AAAAAAAAAAAAAAAAAAAAAAAA"
    auth = {"Authorization": f"Bearer {good}"}
    assert (await api.get("/api/node", headers={"Authorization": f"Bearer {wrong}"})).status == 401
    post = {"title": {"ja": "給水"}, "text": {"ja": "10時から"}}
    assert (await api.post("/api/shelter/notices", json=post, headers=auth)).status == 201

    resp = await api.get("/api/admin/log", headers=auth)
    assert resp.status == 200
    body = await resp.json()
    texts = [(ln["level"], ln["source"], ln["text"]) for ln in body["lines"]]
    assert ("warning", "admin.api", "admin API: unauthorized credentials from 127.0.0.1") in texts
    assert any(
        level == "info" and source == "admin.node_api" and "notice" in text and "issued" in text
        for level, source, text in texts
    )
    raw = await api.get("/api/admin/log", headers=auth)
    assert good not in await raw.text() and wrong not in await raw.text()
    assert body["last"] == body["lines"][-1]["seq"] and body["lost"] is False

    # since=last: nothing new until something happens
    resp = await api.get(f"/api/admin/log?since={body['last']}", headers=auth)
    assert (await resp.json())["lines"] == []
    logging.getLogger("shelterkit.service.scheduler").warning("sync with S02 failed")
    resp = await api.get(f"/api/admin/log?since={body['last']}", headers=auth)
    new = (await resp.json())["lines"]
    assert [ln["text"] for ln in new] == ["sync with S02 failed"]


async def test_a_bad_since_is_refused(api: TestClient) -> None:
    auth = {"Authorization": f"Bearer {mint_token(SECRET, time.time())}"}
    for since in ("-1", "abc", "1e3", "9" * 40):
        resp = await api.get(f"/api/admin/log?since={since}", headers=auth)
        assert resp.status == 400
        assert (await resp.json())["error"] == "invalid"


async def test_the_evacuee_portal_does_not_serve_the_log(node: Node, ring: LogRing) -> None:
    logging.getLogger("shelterkit.admin.api").warning("a line staff may see")
    auth = {"Authorization": f"Bearer {mint_token(SECRET, time.time())}"}
    async with TestClient(TestServer(create_portal_app(node))) as portal:
        resp = await portal.get("/api/admin/log", headers=auth, allow_redirects=False)
        assert resp.status != 200
        assert "a line staff may see" not in await resp.text()

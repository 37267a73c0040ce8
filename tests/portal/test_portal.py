"""The evacuee portal in-process: pages, languages, posting, caching."""

from __future__ import annotations

import re

from aiohttp.test_utils import TestClient

from shelterkit.model.kinds import ModerationAction, ModerationBody
from shelterkit.service.node import Node
from tests.conftest import CITY
from tests.helpers import alert


async def csrf_token(client: TestClient, **headers: str) -> str:
    html = await (await client.get("/board", headers=headers)).text()
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


async def submit(client: TestClient, text: str, category: str = "needs", **extra: str):
    token = await csrf_token(client)
    data = {"csrf": token, "text": text, "category": category, **extra}
    return await client.post("/board", data=data, allow_redirects=False)


async def test_home_is_japanese_by_default(client: TestClient) -> None:
    for accept in ("", "ko-KR,ko;q=0.9", "xx"):
        html = await (await client.get("/", headers={"Accept-Language": accept})).text()
        assert '<html lang="ja">' in html
        assert "緊急情報" in html


async def test_english_by_header_and_by_switch(client: TestClient) -> None:
    html = await (await client.get("/", headers={"Accept-Language": "en-GB,en;q=0.8"})).text()
    assert '<html lang="en">' in html and "Official alerts" in html
    resp = await client.get("/?lang=en")
    assert resp.cookies["lang"].value == "en"
    html = await (await client.get("/board")).text()  # the cookie sticks
    assert '<html lang="en">' in html


async def test_unknown_language_rejected(client: TestClient) -> None:
    resp = await client.get("/?lang=tlh")
    assert resp.status == 400
    assert "この言語は利用できません" in await resp.text()


async def test_alert_shown_verified_with_severity(node: Node, client: TestClient) -> None:
    await node.ingest([alert(CITY, 1, node.clock.now(node.wall_ms()), "x").wire])
    html = await (await client.get("/")).text()
    assert "避難指示" in html
    assert "確認済み：市役所が発表" in html


async def test_post_appears_escaped(client: TestClient) -> None:
    resp = await submit(client, "<script>alert(1)</script> 水が必要です", name="<b>山田</b>")
    assert resp.status == 303
    assert resp.headers["Location"].startswith("/board?posted=1")
    html = await (await client.get("/board?posted=1")).text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt; 水が必要です" in html
    assert "&lt;b&gt;山田&lt;/b&gt;" in html
    assert "<script>" not in html
    assert "メッセージを投稿しました" in html


async def test_category_filter(client: TestClient) -> None:
    await submit(client, "毛布がほしい", "needs")
    await submit(client, "水を配れます", "offers")
    html = await (await client.get("/board?c=offers")).text()
    assert "水を配れます" in html and "毛布がほしい" not in html


async def test_hidden_posts_stay_hidden(node: Node, client: TestClient) -> None:
    await submit(client, "不適切な投稿")
    (post_id,) = [k[1:] for k, r in node.heads.items() if k.startswith(b"R")]
    await node.publish(ModerationBody(target=post_id, action=ModerationAction.HIDE, reason="spam"))
    html = await (await client.get("/board")).text()
    assert "不適切な投稿" not in html


async def test_home_cached_with_etag_and_gzip(node: Node, client: TestClient) -> None:
    resp = await client.get("/", headers={"Accept-Encoding": "gzip"})
    assert resp.headers["Content-Encoding"] == "gzip"
    etag = resp.headers["ETag"]
    again = await client.get("/", headers={"If-None-Match": etag})
    assert again.status == 304
    await node.ingest([alert(CITY, 1, node.clock.now(node.wall_ms()), "new").wire])
    changed = await client.get("/", headers={"If-None-Match": etag})
    assert changed.status == 200 and changed.headers["ETag"] != etag


async def test_security_headers(client: TestClient) -> None:
    resp = await client.get("/")
    csp = resp.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp
    assert resp.headers["X-Content-Type-Options"] == "nosniff"


async def test_healthz(node: Node, client: TestClient) -> None:
    body = await (await client.get("/healthz")).json()
    assert body["status"] == "ok"
    assert body["node"] == node.identity.public.hex()
    assert body["shelter"] == "S01"
    assert body["records"] == 0
    assert "last_sync" in body


async def test_capport_api(client: TestClient) -> None:
    resp = await client.get("/api/captive-portal")
    assert resp.headers["Content-Type"] == "application/captive+json"
    assert "private" in resp.headers["Cache-Control"]
    body = await resp.json(content_type=None)
    assert body["captive"] is True
    assert body["user-portal-url"].endswith("/welcome")
    await client.post("/accept", allow_redirects=False)
    body = await (await client.get("/api/captive-portal")).json(content_type=None)
    assert body["captive"] is False


async def test_unknown_host_goes_to_portal(client: TestClient) -> None:
    resp = await client.get("/some/page", headers={"Host": "example.com"}, allow_redirects=False)
    assert resp.status == 302
    assert resp.headers["Location"] == "http://shelter.lan/"

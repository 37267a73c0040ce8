"""Hostile and broken input from the open Wi-Fi: a clear 4xx, nothing wrong stored."""

from __future__ import annotations

import asyncio
import re
import socket

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shelterkit.model.kinds import PostBody
from shelterkit.service.node import Node
from tests.conftest import FakeClock
from tests.portal.test_portal import csrf_token, submit


def posts(node: Node) -> list[str]:
    return [r.body.text for r in node.heads.values() if isinstance(r.body, PostBody)]


async def test_oversized_post_rejected(node: Node, client: TestClient) -> None:
    resp = await submit(client, "あ" * 501)
    assert resp.status == 400
    html = await resp.text()
    assert "長すぎます" in html
    assert "あ" * 501 in html  # what they typed comes back in the form: nothing lost
    big = await client.post("/board", data=b"text=" + b"a" * 20000, allow_redirects=False)
    assert big.status == 413
    assert posts(node) == []


async def test_empty_post_rejected(node: Node, client: TestClient) -> None:
    for text in ("", "   ", "\n\n"):
        resp = await submit(client, text)
        assert resp.status == 400
        assert "メッセージを入力してください" in await resp.text()
    assert posts(node) == []


async def test_invalid_utf8_rejected(node: Node, client: TestClient) -> None:
    token = await csrf_token(client)
    for body in (f"csrf={token}&text=%FF%FE".encode(), b"text=\xff\xfe", b"text=%C3%28"):
        resp = await client.post(
            "/board",
            data=body,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            allow_redirects=False,
        )
        assert resp.status == 400
        assert "文字コード" in await resp.text()
    assert posts(node) == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("bell\x07", "制御文字"),
        ("esc\x1b[31m", "制御文字"),
        ("zero\u200bwidth", "見えない文字"),
        ("bidi\u202eevil", "見えない文字"),
    ],
)
async def test_control_and_zero_width_characters_rejected(
    node: Node, client: TestClient, text: str, message: str
) -> None:
    resp = await submit(client, text)
    assert resp.status == 400
    assert message in await resp.text()
    resp = await submit(client, "ok", name=text)
    assert resp.status == 400
    assert posts(node) == []


async def test_html_in_every_field_rejected_or_escaped(node: Node, client: TestClient) -> None:
    evil = '"><script>alert(1)</script><img src=x onerror=alert(2)>'
    resp = await submit(client, evil, category=evil)
    assert resp.status == 400  # unknown category
    html = await resp.text()
    assert "<script>alert(1)" not in html and "onerror=alert(2)>" not in html
    resp = await submit(client, evil, name="<b onclick=alert(3)>x</b>")
    assert resp.status == 303
    html = await (await client.get("/board")).text()
    assert "<script>alert(1)" not in html and "<img src=x" not in html
    assert "<b onclick" not in html and "&lt;b onclick=alert(3)&gt;x&lt;/b&gt;" in html
    assert posts(node) == [evil]  # stored as the text it is, shown escaped


async def test_missing_csrf_token_rejected(node: Node, client: TestClient) -> None:
    resp = await client.post(
        "/board", data={"text": "hi", "category": "info"}, allow_redirects=False
    )
    assert resp.status == 403
    assert "期限切れ" in await resp.text()
    resp = await client.post(
        "/board", data={"text": "hi", "csrf": "Zm9vYmFy" * 4}, allow_redirects=False
    )
    assert resp.status == 403
    assert posts(node) == []


async def test_replayed_csrf_token_rejected(node: Node, client: TestClient) -> None:
    token = await csrf_token(client)
    data = {"csrf": token, "text": "一度だけ", "category": "info"}
    first = await client.post("/board", data=data, allow_redirects=False)
    second = await client.post("/board", data=data, allow_redirects=False)
    assert (first.status, second.status) == (303, 403)
    assert "一度だけ投稿されました" in await second.text()
    assert posts(node) == ["一度だけ"]


async def test_expired_csrf_token_rejected(
    node: Node, client: TestClient, clock: FakeClock
) -> None:
    token = await csrf_token(client)
    clock.now += 3 * 3600
    resp = await client.post("/board", data={"csrf": token, "text": "遅い"}, allow_redirects=False)
    assert resp.status == 403
    assert posts(node) == []


async def test_post_flood_rejected(node: Node, client: TestClient, clock: FakeClock) -> None:
    statuses = [(await submit(client, f"flood {i}")).status for i in range(12)]
    assert statuses[:5] == [303] * 5
    assert set(statuses[5:]) == {429}
    resp = await submit(client, "still flooding")
    assert resp.headers["Retry-After"].isdigit()
    assert "少し待って" in await resp.text()
    clock.now += 31
    assert (await submit(client, "later")).status == 303
    assert len(posts(node)) == 6


async def test_duplicate_fields_rejected(node: Node, client: TestClient) -> None:
    token = await csrf_token(client)
    resp = await client.post(
        "/board",
        data=f"csrf={token}&text=a&text=b".encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        allow_redirects=False,
    )
    assert resp.status == 400
    assert posts(node) == []


async def test_unknown_category_filter_rejected(client: TestClient) -> None:
    resp = await client.get("/board?c=<script>")
    assert resp.status == 400
    assert "<script>" not in await resp.text()


async def test_english_error_pages_for_english_phones(client: TestClient) -> None:
    resp = await client.get("/nope", headers={"Accept-Language": "en"})
    assert resp.status == 404
    assert "This page does not exist." in await resp.text()


async def _raw_request(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(65536), 10)
    writer.close()
    await writer.wait_closed()
    return data


@pytest.mark.parametrize(
    "host",
    [
        b"<script>",
        b"a b",
        b"x" * 300,
        b"evil.com/../../",
        b"host:port:extra",
        b"\xff\xfe",
        b"[::1",
    ],
)
async def test_malformed_host_rejected(client: TestClient, host: bytes) -> None:
    port = client.server.port
    assert port is not None
    raw = b"GET / HTTP/1.1\r\nHost: " + host + b"\r\nConnection: close\r\n\r\n"
    response = await _raw_request(port, raw)
    status = int(response.split(b" ", 2)[1])
    assert 400 <= status < 500, response[:200]


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    path=st.sampled_from(
        ["/", "/board", "/welcome", "/accept", "/healthz", "/x", "/api/captive-portal"]
    ),
    query=st.text(max_size=40),
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE"]),
    body=st.binary(max_size=600),
    lang=st.text(max_size=60),
)
async def test_no_input_produces_a_server_error(
    client: TestClient, path: str, query: str, method: str, body: bytes, lang: str
) -> None:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if lang.isascii() and lang.isprintable():
        headers["Accept-Language"] = lang
    resp = await client.request(
        method,
        path,
        params={"q": query, "lang": query[:5], "c": query[5:10]},
        data=body,
        headers=headers,
        allow_redirects=False,
    )
    assert resp.status < 500, await resp.text()


def _bind_free(addr: str) -> bool:
    try:
        with socket.socket() as s:
            s.bind((addr, 0))
        return True
    except OSError:
        return False


async def test_flood_from_one_phone_leaves_others_unaffected_rejected(start_node) -> None:
    """A real node: one address floods, another posts normally at the same time."""
    node = start_node()
    assert _bind_free("127.0.0.2") and _bind_free("127.0.0.3")

    async def phone(addr: str, count: int) -> list[int]:
        conn = aiohttp.TCPConnector(local_addr=(addr, 0))
        async with aiohttp.ClientSession(node.url, connector=conn) as s:
            statuses = []
            for i in range(count):
                html = await (await s.get("/board")).text()
                token = re.search(r'name="csrf" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]
                r = await s.post(
                    "/board", data={"csrf": token, "text": f"{addr} {i}"}, allow_redirects=False
                )
                statuses.append(r.status)
            return statuses

    flood, calm = await asyncio.gather(phone("127.0.0.2", 40), phone("127.0.0.3", 3))
    assert flood.count(303) == 5 and flood.count(429) == 35
    assert calm == [303, 303, 303]

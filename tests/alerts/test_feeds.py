"""Alerts on a node: Atom feed, CAP documents, alert pages and posters (issue 7)."""

from __future__ import annotations

from urllib.parse import urlsplit
from xml.etree import ElementTree as ET

import pytest
from aiohttp.test_utils import TestClient

from shelterkit.cap import CapRefused, atom_cap_links, parse_cap, schema_errors
from shelterkit.model.kinds import AlertBody
from shelterkit.model.wallclock import PLAUSIBLE_AFTER_MS
from shelterkit.service.node import Node
from tests.alerts.corpus import GOOD, CitySigner, bad, good, import_cap

ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture
def signer() -> CitySigner:
    return CitySigner()


async def import_all(node: Node, signer: CitySigner, *prefixes: str) -> None:
    for prefix in prefixes:
        await import_cap(node, signer, good(prefix))


async def feed(client: TestClient, **headers: str) -> ET.Element:
    resp = await client.get("/alerts.atom", headers=headers)
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("application/atom+xml")
    return ET.fromstring(await resp.read())


def entry_ids(root: ET.Element) -> list[str]:
    return [e.findtext(f"{ATOM}id", "").rsplit("/", 1)[-1] for e in root.iter(f"{ATOM}entry")]


async def test_atom_feed_is_valid_and_its_links_resolve(
    node: Node, client: TestClient, signer: CitySigner
) -> None:
    await import_all(node, signer, "01-", "02-", "03-", "06-", "07-", "09-")
    root = await feed(client)
    assert root.tag == f"{ATOM}feed"
    # RFC 4287 §4.1.1: a feed has exactly one id, title and updated, and an author.
    for name in ("id", "title", "updated", "author"):
        assert len(root.findall(f"{ATOM}{name}")) == 1, name
    assert root.find(f"{ATOM}link[@rel='self']") is not None
    entries = root.findall(f"{ATOM}entry")
    assert len(entries) == 6
    for entry in entries:
        for name in ("id", "title", "updated", "summary"):
            assert len(entry.findall(f"{ATOM}{name}")) == 1, name
        cap_link = entry.find(f"{ATOM}link[@rel='alternate']")
        assert cap_link is not None and cap_link.get("type") == "application/cap+xml"
        cap = await client.get(urlsplit(cap_link.get("href", "")).path)
        assert cap.status == 200
        assert cap.headers["Content-Type"].startswith("application/cap+xml")
        xml = await cap.read()
        assert schema_errors(xml) == []
        served = parse_cap(xml, node.wall_ms())
        page_link = entry.find(f"{ATOM}link[@rel='related']")
        assert page_link is not None
        page = await client.get(urlsplit(page_link.get("href", "")).path)
        assert page.status == 200
        assert served.headline["ja"] in await page.text()
    # Most severe first: the Level 5 emergency leads, the minor ones come last.
    assert entry_ids(root)[0] == "JP-09215-20270115-0001"


async def test_node_export_round_trips_the_corpus(
    node: Node, client: TestClient, signer: CitySigner
) -> None:
    """Every corpus alert that is in force comes back out of a node as equal CAP."""
    for path in GOOD:
        body = parse_cap(path.read_bytes(), node.wall_ms())
        if body.msg_type.name != "ALERT":
            continue
        await import_cap(node, signer, path.read_bytes())
        resp = await client.get(f"/alerts/{body.identifier}.cap")
        assert resp.status == 200, path.name
        xml = await resp.read()
        assert schema_errors(xml) == []
        assert parse_cap(xml, node.wall_ms()) == body


async def test_update_supersedes_and_cancel_removes_everywhere(
    node: Node, client: TestClient, signer: CitySigner
) -> None:
    await import_all(node, signer, "02-", "03-")
    home = await (await client.get("/")).text()
    assert "【警戒レベル3】" in home and "県道で土砂崩れ" in home
    await import_all(node, signer, "04-")  # Update of 02
    home = await (await client.get("/")).text()
    assert "【警戒レベル4】" in home and "【警戒レベル3】" not in home
    assert (await client.get("/alerts/JP-09215-20270115-0002")).status == 404
    await import_all(node, signer, "05-")  # Cancel of 03
    home = await (await client.get("/")).text()
    assert "県道で土砂崩れ" not in home
    assert entry_ids(await feed(client)) == ["JP-09215-20270115-0004"]
    for suffix in ("", ".cap", "/print"):
        assert (await client.get(f"/alerts/JP-09215-20270115-0003{suffix}")).status == 404
    updated = (await feed(client)).findtext(f"{ATOM}updated")
    await import_all(node, signer, "08-")  # Cancel of 02 and 04
    assert (await feed(client)).findtext(f"{ATOM}updated", "") > (updated or "")
    home = await (await client.get("/")).text()
    assert "【警戒レベル4】" not in home
    assert "現在、発表中の緊急情報はありません。" in home
    assert entry_ids(await feed(client)) == []


async def test_expired_alert_is_never_listed_as_active(
    node: Node, client: TestClient, signer: CitySigner
) -> None:
    await import_all(node, signer, "03-", "07-")  # 03 expires 19:00 the same day
    assert len(entry_ids(await feed(client))) == 2
    assert "県道で土砂崩れ" in await (await client.get("/")).text()  # cached from here on
    assert (await client.get("/alerts/JP-09215-20270115-0003")).status == 200
    expiry = parse_cap(good("03-"), node.wall_ms()).expires_ms
    node.wall_ms = lambda: expiry  # type: ignore[method-assign]
    assert entry_ids(await feed(client)) == ["JP-09215-20270115-0007"]
    assert (await client.get("/alerts/JP-09215-20270115-0003")).status == 404
    assert (await client.get("/alerts/JP-09215-20270115-0003.cap")).status == 404
    assert "県道で土砂崩れ" not in await (await client.get("/")).text()


async def test_alert_page_in_the_phones_language_with_easy_japanese(
    node: Node, client: TestClient, signer: CitySigner
) -> None:
    await import_all(node, signer, "02-")
    url = "/alerts/JP-09215-20270115-0002"
    ja = await (await client.get(url)).text()
    assert "【警戒レベル3】市内全域に高齢者等避難" in ja
    assert 'id="easy"' in ja and "やさしい にほんご" in ja
    assert "Português" in ja and "Tiếng Việt" in ja and "Tagalog" in ja
    assert "確認済み" in ja or "市役所" in ja
    pt = await (await client.get(url, headers={"Accept-Language": "pt-BR,pt;q=0.9"})).text()
    assert "[Nível 3]" in pt and 'lang="pt"' in pt
    vi = await (await client.get(url + "?text=vi")).text()
    assert "[Cấp 3]" in vi
    en = await (await client.get(url + "?lang=en")).text()
    assert "[Level 3]" in en and "Verified: city hall" in en
    home = await (await client.get("/")).text()
    assert f'href="{url}#easy"' in home
    # The home page offers every language of the alert, one tap from a foreign phone.
    assert f'href="{url}?text=vi" lang="vi"' in home and "Tagalog" in home


async def test_poster_is_bilingual_and_has_print_css(
    node: Node, client: TestClient, signer: CitySigner
) -> None:
    await import_all(node, signer, "01-")
    resp = await client.get("/alerts/JP-09215-20270115-0001/print")
    assert resp.status == 200
    html = await resp.text()
    assert "【警戒レベル5】" in html and "[Level 5]" in html
    assert "@page{size:A4" in html
    assert "sha256-" in resp.headers["Content-Security-Policy"]
    assert "極めて危険" in html and "Extreme danger" in html


async def test_uncertain_clock_is_shown(node: Node, client: TestClient, signer: CitySigner) -> None:
    await import_all(node, signer, "03-")
    # A Pi that booted with its clock before 2026 and has not heard from city hall yet.
    node.wallclock.system_ms = lambda: PLAUSIBLE_AFTER_MS - 1
    assert not node.clock_certain
    html = await (await client.get("/alerts/JP-09215-20270115-0003")).text()
    assert "時計はまだ確認されていません" in html
    assert "未確認です" in await (await client.get("/")).text()


async def test_unknown_alert_rejected(client: TestClient) -> None:
    for path in ("/alerts/nope", "/alerts/nope.cap", "/alerts/nope/print", "/alerts/%00"):
        resp = await client.get(path)
        assert resp.status == 404, path


async def test_bad_cap_import_stores_nothing_rejected(
    node: Node, client: TestClient, signer: CitySigner
) -> None:
    await import_all(node, signer, "01-")
    before = (node.record_count, dict(node.heads))
    for name in (
        "schema-invalid-status",
        "broken-signature",
        "update-unknown-reference",
        "cancel-unknown-reference",
        "huge-description",
        "dozens-of-infos",
        "billion-laughs",
        "external-entity",
        "already-expired",
        "too-large-for-a-record",
    ):
        with pytest.raises(CapRefused):
            await import_cap(node, signer, bad(name))
    assert (node.record_count, dict(node.heads)) == before
    assert entry_ids(await feed(client)) == ["JP-09215-20270115-0001"]
    assert all(
        r.body.identifier == "JP-09215-20270115-0001"
        for r in node.heads.values()
        if isinstance(r.body, AlertBody)
    )


async def test_a_nodes_feed_can_be_polled_for_cap(
    node: Node, client: TestClient, signer: CitySigner
) -> None:
    """What the hub's poller does with an Atom feed of CAP alerts (here: a node's own)."""
    await import_all(node, signer, "01-", "03-")
    resp = await client.get("/alerts.atom")
    links = atom_cap_links(await resp.read(), "http://shelter.lan/")
    assert [urlsplit(u).path for u in links] == [
        "/alerts/JP-09215-20270115-0001.cap",
        "/alerts/JP-09215-20270115-0003.cap",
    ]
    for url in links:
        xml = await (await client.get(urlsplit(url).path)).read()
        assert parse_cap(xml, node.wall_ms()).identifier in url


def test_hostile_atom_feed_rejected() -> None:
    with pytest.raises(CapRefused, match="DTD"):
        atom_cap_links(bad("billion-laughs").replace(b"<alert ", b"<feed ", 1), "http://x/")
    with pytest.raises(CapRefused, match="not an Atom feed"):
        atom_cap_links(good("01-"), "http://x/")
    feed = (
        b"<feed xmlns='http://www.w3.org/2005/Atom'>"
        + b"".join(
            b"<entry><link type='application/cap+xml' href='/a/%d.cap'/></entry>" % i
            for i in range(300)
        )
        + b"</feed>"
    )
    with pytest.raises(CapRefused, match="more than 200"):
        atom_cap_links(feed, "http://x/")
    local = b"<feed xmlns='http://www.w3.org/2005/Atom'><link type='application/cap+xml' href='file:///etc/passwd'/></feed>"
    assert atom_cap_links(local, "http://x/") == []

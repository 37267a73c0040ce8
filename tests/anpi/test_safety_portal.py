"""The /safety pages in-process: register, search, delete, and what they refuse."""

from __future__ import annotations

import re
from pathlib import Path

from aiohttp.test_utils import TestClient

from shelterkit.model.anpi import unseal
from shelterkit.model.kinds import PersonBody
from shelterkit.portal.safety import REGISTER_BURST, SEARCH_BURST
from shelterkit.service.node import Node
from tests.conftest import CITY, FakeClock


async def token(client: TestClient, path: str = "/safety") -> str:
    html = await (await client.get(path)).text()
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, html
    return match.group(1)


async def register(client: TestClient, **fields: str):
    data = {"csrf": await token(client, "/safety/register"), "consent": "yes", **fields}
    if data["consent"] == "":
        del data["consent"]
    return await client.post("/safety/register", data=data)


async def search(client: TestClient, q: str):
    return await client.post("/safety/search", data={"csrf": await token(client), "q": q})


def codes(html: str) -> tuple[str, str]:
    number = re.search(r"登録番号: <strong><code>([a-z2-7]+)</code>", html)
    code = re.search(r"削除コード: <strong><code>([A-Z2-7-]+)</code>", html)
    assert number and code, html
    return number.group(1), code.group(1)


async def test_register_then_find_by_kana_kanji_and_half_width(client: TestClient) -> None:
    resp = await register(
        client, family="山田", given="太郎", reading="やまだ たろう", age="72", district="烏山"
    )
    assert resp.status == 200
    assert resp.headers["Cache-Control"] == "no-store"
    html = await resp.text()
    assert "登録しました" in html
    codes(html)
    for q in ("やまだ たろう", "山田", "山田太郎", "ﾔﾏﾀﾞ ﾀﾛｳ", "ヤマダ"):
        html = await (await search(client, q)).text()
        assert "山田 太郎" in html, q
        assert "72 歳" in html and "烏山" in html and "烏山公民館" in html
        assert "登録が届いています" in html  # how fresh the data is


async def test_contact_is_never_shown_and_is_sealed(node: Node, client: TestClient) -> None:
    await register(client, family="佐藤", given="花子", contact="090-1234-5678")
    html = await (await search(client, "佐藤")).text()
    assert "佐藤 花子" in html and "090" not in html
    heads = await node.store.heads()
    (body,) = [r.body for r in heads.values() if isinstance(r.body, PersonBody)]
    assert unseal(body.contact_sealed, CITY).contact == "090-1234-5678"


async def test_without_consent_not_found(client: TestClient) -> None:
    html = await (await register(client, family="鈴木", given="一郎", consent="")).text()
    assert "公開していない" in html
    html = await (await search(client, "鈴木")).text()
    assert "鈴木 一郎" not in html and "見つかりませんでした" in html


async def test_english_pages(client: TestClient) -> None:
    html = await (await client.get("/safety?lang=en")).text()
    assert "Search for a person" in html and "Register: I am safe" in html
    html = await (await client.get("/safety/register")).text()
    assert "Yes, anyone may find me by name" in html


async def test_nav_and_home_link_to_safety(client: TestClient) -> None:
    html = await (await client.get("/")).text()
    assert 'href="/safety"' in html and "安否登録" in html


async def test_names_with_emoji_zero_width_and_combining_rejected(client: TestClient) -> None:
    bad = {
        "family": "山田🙂",
        "given": "太\u200b郎",
        "reading": "やまだ\u202e",
    }
    for field, value in bad.items():
        resp = await register(client, **{"family": "山田", field: value})
        assert resp.status == 400, field
        html = await resp.text()
        assert 'role="alert"' in html
    zalgo = "Ma" + "\u0301\u0302\u0303\u0304\u0305" + "ria"
    resp = await register(client, family=zalgo)
    assert resp.status == 400
    assert "記号や絵文字は使えません" in await resp.text()
    for q in ("山\u200b田", "山田\u0000"):
        assert (await search(client, q)).status == 400


async def test_names_in_any_script_accepted(client: TestClient) -> None:
    for family, given in (
        ("Nguyễn", "Thị Lan"),
        ("Silva", "José"),
        ("김", "민준"),
        ("ราม", "สมชาย"),
    ):
        resp = await register(client, family=family, given=given)
        assert resp.status == 200, family
    assert "Nguyễn Thị Lan" in await (await search(client, "nguyen")).text()


async def test_bad_age_and_missing_name_rejected(client: TestClient) -> None:
    assert (await register(client, family="山田", age="200")).status == 400
    assert (await register(client, family="山田", age="-3")).status == 400
    assert (await register(client, family="山田", age="1800")).status == 400
    resp = await register(client, family="", given="")
    assert resp.status == 400 and "姓か名を入力してください" in await resp.text()
    assert (await register(client, family="山田", age="１９５０")).status == 200


async def test_registration_flood_rejected(client: TestClient, clock: FakeClock) -> None:
    for i in range(REGISTER_BURST):
        assert (await register(client, family=f"偽名{'一二三四五六七八'[i]}")).status == 200
    resp = await register(client, family="偽名九")
    assert resp.status == 429 and "Retry-After" in resp.headers
    clock.now += 301
    assert (await register(client, family="本名")).status == 200


async def test_registration_without_token_rejected(client: TestClient) -> None:
    resp = await client.post("/safety/register", data={"family": "山田", "consent": "yes"})
    assert resp.status == 403
    t = await token(client, "/safety/register")
    assert (await client.post("/safety/register", data={"csrf": t, "family": "山田"})).status == 200
    replay = await client.post("/safety/register", data={"csrf": t, "family": "山田"})
    assert replay.status == 403


async def test_enumeration_attempts_rejected(client: TestClient, clock: FakeClock) -> None:
    for i in range(25):
        await register(client, family="佐藤", given=f"花子{'一二三四五六七八九十'[i % 10]}")
        clock.now += 301
    for q in ("", "*", "%", "さ", "_", "?", "a"):
        resp = await search(client, q)
        assert resp.status == 400, q
        assert "2文字以上" in await resp.text()
    html = await (await search(client, "佐藤")).text()
    assert html.count('<article class="card">') == 10  # capped
    assert "新しいものだけを表示" in html
    assert (await client.post("/safety/search", data={"q": "佐藤"})).status == 403  # no token


async def test_search_flood_rejected(client: TestClient) -> None:
    statuses = [(await search(client, "山田")).status for _ in range(SEARCH_BURST + 1)]
    assert statuses[:SEARCH_BURST] == [200] * SEARCH_BURST
    assert statuses[-1] == 429


async def test_deleting_someone_elses_record_rejected(client: TestClient) -> None:
    number, _ = codes(await (await register(client, family="山田", given="太郎")).text())
    _, other_code = codes(await (await register(client, family="田中", given="次郎")).text())
    t = await token(client, "/safety/delete")
    resp = await client.post(
        "/safety/delete", data={"csrf": t, "number": number, "code": other_code}
    )
    assert resp.status == 403
    assert "何も消していません" in await resp.text()
    t = await token(client, "/safety/delete")
    resp = await client.post(
        "/safety/delete", data={"csrf": t, "number": "nosuchperson", "code": other_code}
    )
    assert resp.status == 403  # the same answer: no way to probe which numbers exist
    assert "山田 太郎" in await (await search(client, "山田")).text()


async def test_delete_own_registration(node: Node, client: TestClient) -> None:
    number, code = codes(await (await register(client, family="山田", given="太郎")).text())
    t = await token(client, "/safety/delete")
    resp = await client.post("/safety/delete", data={"csrf": t, "number": number, "code": code})
    assert resp.status == 200 and "登録を消しました" in await resp.text()
    assert "山田 太郎" not in await (await search(client, "山田")).text()
    current = await node.store.get_person(number)
    assert current is not None and isinstance(current.body, PersonBody)
    assert current.body.deleted and not current.body.family_name
    # the registration itself is wiped to a placeholder: the name is nowhere on disk
    path = node.store.path
    on_disk = b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())
    assert "太郎".encode() not in on_disk and "山田".encode() not in on_disk

"""The node's staff API through a real HTTP server: credentials, and one signed record per
staff action (moderation, notices, status)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from shelterkit.admin.tokens import mint_token
from shelterkit.model.fold import is_hidden, visible_notices
from shelterkit.model.kinds import (
    Kind,
    ModerationAction,
    ModerationBody,
    NeedLevel,
    NoticeBody,
    PersonBody,
    PostBody,
    StatusBody,
)
from shelterkit.model.record import decode_record
from shelterkit.service.node import Node
from shelterkit.service.run import peer_app
from shelterkit.sync import Role

SECRET = b"n" * 32


@pytest.fixture
async def api(node: Node) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(peer_app(node, SECRET, Role.NODE))) as client:
        yield client


def auth(token: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token or mint_token(SECRET, time.time())}"}


async def latest(node: Node, kind: Kind):
    """The newest record of ``kind`` in the store, signed by the node (decoding verifies)."""
    records = [r for r in (await node.store.heads([kind])).values()]
    record = max(records, key=lambda r: r.sort_key)
    assert record.origin == node.identity.public
    stored = await node.store.get(record.id)
    assert stored is not None and decode_record(stored.wire) == record
    return record


ENDPOINTS = [
    ("GET", "/api/node"),
    ("GET", "/api/board"),
    ("POST", "/api/board/" + "00" * 16 + "/hide"),
    ("POST", "/api/board/" + "00" * 16 + "/restore"),
    ("GET", "/api/shelter/notices"),
    ("POST", "/api/shelter/notices"),
    ("POST", "/api/shelter/notices/n1/withdraw"),
    ("GET", "/api/shelter/status"),
    ("POST", "/api/shelter/status"),
    ("GET", "/api/anpi/search?q=x"),
    ("POST", "/api/anpi/persons"),
    ("POST", "/api/anpi/persons/p1"),
    ("POST", "/api/anpi/persons/p1/consent"),
]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
async def test_missing_wrong_and_expired_credentials_rejected(
    api: TestClient, node: Node, method: str, path: str
) -> None:
    before = node.record_count
    expired = mint_token(SECRET, time.time() - 3600, ttl_s=60)
    other_secret = mint_token(b"x" * 32, time.time())
    for headers in ({}, {"Authorization": "Basic abc"}, auth("sk1.1.AAAA"), auth(other_secret)):
        resp = await api.request(method, path, headers=headers, json={})
        assert resp.status == 401, (headers, await resp.text())
        assert (await resp.json())["error"] == "unauthorized"
    resp = await api.request(method, path, headers=auth(expired), json={})
    assert resp.status == 401 and (await resp.json())["error"] == "expired"
    assert node.record_count == before


async def test_failed_logins_are_rate_limited_attack(api: TestClient) -> None:
    statuses = [(await api.get("/api/node", headers=auth("bad"))).status for _ in range(14)]
    assert statuses[:10] == [401] * 10 and 429 in statuses[10:]


async def test_node_health(api: TestClient, node: Node) -> None:
    resp = await api.get("/api/node", headers=auth())
    assert resp.status == 200
    data = await resp.json()
    assert data["shelter"] == "S01" and data["name"]["ja"] == "烏山公民館"
    assert data["node"] == node.identity.public.hex()
    assert data["records"] == node.record_count
    assert data["db_bytes"] > 0
    assert data["clock"]["wall_ms"] == 1_800_000_000_000
    assert data["peers"] == [] and data["links"] == [] and data["radio"] == []


async def test_node_health_reports_radio_links(api: TestClient, node: Node) -> None:
    node.link_reports["radio1"] = lambda: {"state": "up", "budget_fraction": 0.25}
    data = await (await api.get("/api/node", headers=auth())).json()
    assert data["radio"] == [{"name": "radio1", "state": "up", "budget_fraction": 0.25}]


async def test_hide_and_restore_post_with_reason(api: TestClient, node: Node) -> None:
    post = await node.publish(PostBody(text="電話番号 090-…"))
    board = await (await api.get("/api/board", headers=auth())).json()
    assert [(p["id"], p["hidden"]) for p in board["posts"]] == [(post.id.hex(), False)]

    resp = await api.post(
        f"/api/board/{post.id.hex()}/hide", headers=auth(), json={"reason": "個人情報"}
    )
    assert resp.status == 201, await resp.text()
    record = await latest(node, Kind.MODERATION)
    assert record.body == ModerationBody(post.id, ModerationAction.HIDE, "個人情報")
    assert is_hidden(node.heads, post.id)
    board = await (await api.get("/api/board", headers=auth())).json()
    assert board["posts"][0]["hidden"] and board["posts"][0]["reason"] == "個人情報"

    resp = await api.post(
        f"/api/board/{post.id.hex()}/restore", headers=auth(), json={"reason": "確認済み"}
    )
    assert resp.status == 201
    record = await latest(node, Kind.MODERATION)
    assert record.body.action is ModerationAction.RESTORE
    assert not is_hidden(node.heads, post.id)


@pytest.mark.parametrize("payload", [{}, {"reason": ""}, {"reason": "  "}, {"reason": 5}])
async def test_moderation_without_reason_rejected(
    api: TestClient, node: Node, payload: dict
) -> None:
    post = await node.publish(PostBody(text="x"))
    resp = await api.post(f"/api/board/{post.id.hex()}/hide", headers=auth(), json=payload)
    assert resp.status == 400 and (await resp.json())["detail"]
    assert not is_hidden(node.heads, post.id)


async def test_moderation_of_unknown_post_rejected(api: TestClient) -> None:
    for post_id in ("zz", "00" * 16, "00" * 99):
        resp = await api.post(f"/api/board/{post_id}/hide", headers=auth(), json={"reason": "x"})
        assert resp.status == 404


async def test_notice_create_and_withdraw(api: TestClient, node: Node) -> None:
    resp = await api.post(
        "/api/shelter/notices",
        headers=auth(),
        json={"title": {"ja": "給水", "en": "Water"}, "text": {"ja": "10時に配ります"}},
    )
    assert resp.status == 201, await resp.text()
    notice_id = (await resp.json())["notice_id"]
    record = await latest(node, Kind.NOTICE)
    assert isinstance(record.body, NoticeBody)
    assert record.body.shelter == "S01" and record.body.title == {"ja": "給水", "en": "Water"}
    assert [r.id for r in visible_notices(node.heads, 0, "S01")] == [record.id]

    listed = await (await api.get("/api/shelter/notices", headers=auth())).json()
    assert [(n["notice_id"], n["withdrawn"]) for n in listed["notices"]] == [(notice_id, False)]

    resp = await api.post(f"/api/shelter/notices/{notice_id}/withdraw", headers=auth())
    assert resp.status == 201
    record = await latest(node, Kind.NOTICE)
    assert record.body.withdrawn and record.body.notice_id == notice_id
    assert visible_notices(node.heads, 0, "S01") == []
    resp = await api.post("/api/shelter/notices/nope/withdraw", headers=auth())
    assert resp.status == 404


@pytest.mark.parametrize("payload", [{}, {"title": ""}, {"title": 5}, {"title": "bell\x07"}])
async def test_bad_notice_rejected(api: TestClient, node: Node, payload: dict) -> None:
    resp = await api.post("/api/shelter/notices", headers=auth(), json=payload)
    assert resp.status == 400
    assert not [r for r in node.heads.values() if isinstance(r.body, NoticeBody)]


async def test_status_record_from_headcount_and_needs(api: TestClient, node: Node) -> None:
    assert (await (await api.get("/api/shelter/status", headers=auth())).json())["status"] is None
    resp = await api.post(
        "/api/shelter/status",
        headers=auth(),
        json={
            "headcount": 87,
            "households": 30,
            "needs_care": 4,
            "needs": {"water": "high", "blankets": 3},
        },
    )
    assert resp.status == 201, await resp.text()
    record = await latest(node, Kind.STATUS)
    body = record.body
    assert isinstance(body, StatusBody)
    assert (body.shelter, body.headcount, body.households, body.needs_care) == ("S01", 87, 30, 4)
    assert body.need_water is NeedLevel.HIGH and body.need_blankets is NeedLevel.CRITICAL
    assert body.need_food is NeedLevel.NONE

    # A later form that only changes the headcount keeps the rest.
    resp = await api.post("/api/shelter/status", headers=auth(), json={"headcount": 90})
    assert resp.status == 201
    body = (await latest(node, Kind.STATUS)).body
    assert body.headcount == 90 and body.need_water is NeedLevel.HIGH and body.households == 30
    current = await (await api.get("/api/shelter/status", headers=auth())).json()
    assert current["status"]["needs"]["water"] == "high" and current["status"]["headcount"] == 90


@pytest.mark.parametrize(
    "payload",
    [
        {"headcount": -1},
        {"headcount": "87"},
        {"headcount": True},
        {"headcount": 10**9},
        {"needs": {"water": "lots"}},
        {"needs": {"water": 7}},
        {"needs": {"beer": "high"}},
        {"needs": ["water"]},
    ],
)
async def test_bad_status_rejected(api: TestClient, node: Node, payload: dict) -> None:
    resp = await api.post("/api/shelter/status", headers=auth(), json=payload)
    assert resp.status == 400 and (await resp.json())["detail"]
    assert b"S" + node.identity.public not in node.heads


# -- safety registrations ------------------------------------------------------------------


async def search(api: TestClient, q: str) -> list[dict]:
    resp = await api.get("/api/anpi/search", params={"q": q}, headers=auth())
    assert resp.status == 200, await resp.text()
    return (await resp.json())["persons"]


LISTED = {
    "family": "山田",
    "given": "花子",
    "reading": "やまだ はなこ",
    "age": 82,
    "district": "中央二丁目",
    "consent": True,
}


async def test_staff_enter_a_listed_person(api: TestClient, node: Node) -> None:
    resp = await api.post("/api/anpi/persons", headers=auth(), json=LISTED)
    assert resp.status == 201, await resp.text()
    answer = await resp.json()
    assert answer["public"] and len(answer["erase_code"]) >= 12
    record = await latest(node, Kind.PERSON)
    body = record.body
    assert isinstance(body, PersonBody)
    assert (body.family_name, body.given_name, body.age, body.shelter) == (
        "山田",
        "花子",
        82,
        "S01",
    )
    (found,) = await search(api, "やまだ")
    assert found["person_id"] == answer["person_id"] and found["own"] and found["age"] == 82


async def test_staff_enter_an_unlisted_person_sealed(api: TestClient, node: Node) -> None:
    payload = {**LISTED, "consent": False, "contact": "090-0000-0000"}
    resp = await api.post("/api/anpi/persons", headers=auth(), json=payload)
    assert resp.status == 201
    body = (await latest(node, Kind.PERSON)).body
    assert not body.public and body.family_name == "" and body.contact_sealed
    assert await search(api, "山田") == []


async def test_staff_correct_a_registration(api: TestClient, node: Node) -> None:
    person_id = (await (await api.post("/api/anpi/persons", headers=auth(), json=LISTED)).json())[
        "person_id"
    ]
    resp = await api.post(
        f"/api/anpi/persons/{person_id}", headers=auth(), json={**LISTED, "age": 83}
    )
    assert resp.status == 201, await resp.text()
    body = (await latest(node, Kind.PERSON)).body
    assert body.person_id == person_id and body.age == 83
    (found,) = await search(api, "山田")
    assert found["age"] == 83
    resp = await api.post("/api/anpi/persons/nobody", headers=auth(), json=LISTED)
    assert resp.status == 404


async def test_staff_withdraw_consent(api: TestClient, node: Node) -> None:
    person_id = (await (await api.post("/api/anpi/persons", headers=auth(), json=LISTED)).json())[
        "person_id"
    ]
    resp = await api.post(
        f"/api/anpi/persons/{person_id}/consent", headers=auth(), json={"public": True}
    )
    assert resp.status == 400  # listing a sealed person needs the details again
    resp = await api.post(
        f"/api/anpi/persons/{person_id}/consent", headers=auth(), json={"public": False}
    )
    assert resp.status == 201, await resp.text()
    body = (await latest(node, Kind.PERSON)).body
    assert body.person_id == person_id and not body.public
    assert body.family_name == "" and body.contact_sealed
    assert await search(api, "山田") == []
    # the listed record is wiped, not only superseded: the name is nowhere on disk
    path = node.store.path
    on_disk = b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())
    for word in ("花子", "はなこ", "ハナコ", "中央二丁目"):
        assert word.encode() not in on_disk, word


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"family": "", "given": ""},
        {"family": "山田", "age": "old"},
        {"family": "山田", "age": 500},
        {"family": "山田", "reading": "山田"},
        {"family": "<script>"},
    ],
)
async def test_bad_registration_rejected(api: TestClient, node: Node, payload: dict) -> None:
    resp = await api.post("/api/anpi/persons", headers=auth(), json=payload)
    assert resp.status == 400, await resp.text()
    assert not await node.store.heads([Kind.PERSON])


async def test_moderating_another_shelters_post_is_forbidden(api: TestClient, node: Node) -> None:
    from shelterkit.model.kinds import EnrolBody
    from shelterkit.model.record import sign_record
    from tests.conftest import CITY
    from tests.helpers import identity, post

    other = identity("another-shelter")
    enrol = sign_record(CITY, 1, 1, EnrolBody(node_key=other.public, shelter="S02"))
    theirs = post(other, 1, 2, "from S02")
    assert not (await node.ingest([enrol.wire, theirs.wire])).rejected
    resp = await api.post(
        f"/api/board/{theirs.id.hex()}/hide", headers=auth(), json={"reason": "spam"}
    )
    assert resp.status == 403 and (await resp.json())["error"] == "forbidden"
    assert not is_hidden(node.heads, theirs.id)

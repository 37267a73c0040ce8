"""A fake admin API for the TUI tests: fixed data, a fixed clock, every call recorded.

It answers in the same JSON shapes as the real endpoints (``admin.node_api``,
``hub.api``); the admin API tests prove those shapes against a real server.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from typing import Any

from shelterkit.tui.app import StaffApp, create_app
from shelterkit.tui.client import AdminError
from shelterkit.tui.lan import LanNode

NOW_MS = 1_800_000_000_000  # 2027-01-15 17:00 JST
MIN = 60_000

FLEET = [
    {
        "shelter": "S01",
        "name": "烏山公民館",
        "node": "a1" * 32,
        "revoked": False,
        "last_contact_ms": NOW_MS - 20_000,
        "headcount": 87,
        "battery_pct": 80,
        "clients": 34,
        "status_ms": NOW_MS - 3 * MIN,
        "links": "http:up",
        "needs": {
            "water": "high",
            "food": "none",
            "medicine": "none",
            "blankets": "critical",
            "power": "none",
        },
    },
    {
        "shelter": "S02",
        "name": "境公民館",
        "node": "b2" * 32,
        "revoked": False,
        "last_contact_ms": NOW_MS - 25 * MIN,
        "headcount": 12,
        "battery_pct": 15,
        "clients": 3,
        "status_ms": NOW_MS - 30 * MIN,
        "needs": {
            "water": "none",
            "food": "low",
            "medicine": "none",
            "blankets": "none",
            "power": "high",
        },
    },
    {
        "shelter": "S03",
        "name": "旧向田小学校",
        "node": "c3" * 32,
        "revoked": False,
        "last_contact_ms": NOW_MS - 5_000,
        "headcount": 140,
        "battery_pct": -1,
        "clients": 51,
        "status_ms": NOW_MS - MIN,
    },
    {
        "shelter": "S48",
        "name": "野上公民館",
        "node": "d4" * 32,
        "revoked": False,
        "last_contact_ms": None,
        "headcount": 40,
        "battery_pct": 55,
        "clients": 9,
        "status_ms": NOW_MS - 12 * MIN,
        "links": "radio:up",
    },
]

NODE = {
    "node": "a1" * 32,
    "shelter": "S01",
    "name": {"ja": "烏山公民館", "en": "Karasuyama Community Hall"},
    "enrolled": True,
    "records": 1234,
    "db_bytes": 3_456_789,
    "clock": {"wall_ms": NOW_MS, "hlc_ms": NOW_MS, "certain": True},
    "last_sync_ms": NOW_MS - 4_000,
    "links": [{"kind": "hub", "url": "http://10.0.0.1:8080/"}],
    "link_state": "http:up",
    "peers": [
        {"node": "cc" * 32, "shelter": "city hall", "last_ms": NOW_MS - 4_000},
        {"node": "d4" * 32, "shelter": "S48", "last_ms": NOW_MS - 7 * MIN},
    ],
    "rejected_origins": 0,
    "radio": [
        {
            "name": "radio1",
            "state": "up",
            "airtime_hour_s": 41.2,
            "budget_fraction": 0.114,
            "queue_depth": 3,
            "last_contact_s": 42.0,
            "neighbours": [{"station": 48, "node": "d4d4d4d4"}],
        }
    ],
}

POSTS = [
    {
        "id": "01" * 16,
        "time_ms": NOW_MS - 2 * MIN,
        "category": "needs",
        "author": "",
        "text": "毛布が足りません。2枚お願いします。",
        "shelter": "S01",
        "own": True,
        "hidden": False,
        "reason": "",
    },
    {
        "id": "02" * 16,
        "time_ms": NOW_MS - 9 * MIN,
        "category": "offers",
        "author": "佐藤",
        "text": "充電器（USB-C）を貸せます。受付横にいます。",
        "shelter": "S01",
        "own": True,
        "hidden": False,
        "reason": "",
    },
    {
        "id": "03" * 16,
        "time_ms": NOW_MS - 40 * MIN,
        "category": "info",
        "author": "匿名",
        "text": "電話番号 090-xxxx-xxxx に連絡ください",
        "shelter": "S01",
        "own": True,
        "hidden": True,
        "reason": "個人情報",
    },
    {
        "id": "04" * 16,
        "time_ms": NOW_MS - 50 * MIN,
        "category": "looking",
        "author": "田中",
        "text": "境公民館の田中花子さんを探しています",
        "shelter": "S02",
        "own": False,
        "hidden": False,
        "reason": "",
    },
]

NOTICES = [
    {
        "notice_id": "meals",
        "title": {"ja": "食事の時間", "en": "Meal times"},
        "text": {"ja": "朝 7 時、昼 12 時、夜 18 時に体育館で配ります。"},
        "time_ms": NOW_MS - 3 * 3600_000,
        "expires_ms": 0,
        "withdrawn": False,
    },
    {
        "notice_id": "bath",
        "title": {"ja": "入浴支援は中止", "en": "No bath service"},
        "text": {},
        "time_ms": NOW_MS - 26 * 3600_000,
        "expires_ms": 0,
        "withdrawn": True,
    },
]

PERSONS = [
    {
        "person_id": "p7k2mq4xhw3a",
        "public": True,
        "family_name": "山田",
        "given_name": "花子",
        "reading": "やまだ はなこ",
        "age": 82,
        "birth_year": 0,
        "district": "中央二丁目",
        "shelter": "S01",
        "name": "山田 花子",
        "time_ms": NOW_MS - 12 * MIN,
        "own": True,
        "status": "none",
    },
    {
        "person_id": "q9r3st5uvw6b",
        "public": True,
        "family_name": "山田",
        "given_name": "太郎",
        "reading": "やまだ たろう",
        "age": -1,
        "birth_year": 1950,
        "district": "境",
        "shelter": "S02",
        "name": "山田 太郎",
        "time_ms": NOW_MS - 2 * 3600_000,
        "own": False,
        "status": "believed_alive",
    },
]

LOG = [
    {
        "seq": 1,
        "time_ms": NOW_MS - 50 * MIN,
        "level": "info",
        "source": "discovery.lan",
        "text": "discovery: added S02 (node) at http://10.0.0.12:8081/",
    },
    {
        "seq": 2,
        "time_ms": NOW_MS - 20 * MIN,
        "level": "warning",
        "source": "service.scheduler",
        "text": "sync with http://10.0.0.1:8080/ failed: connection refused",
    },
    {
        "seq": 3,
        "time_ms": NOW_MS - 3 * MIN,
        "level": "info",
        "source": "admin.node_api",
        "text": "staff at 127.0.0.1: status headcount 87",
    },
]

STATUS = {
    "shelter": "S01",
    "status": {
        "headcount": 87,
        "households": 31,
        "needs_care": 5,
        "battery_pct": 80,
        "clients": 34,
        "links": "http:up",
        "needs": {
            "water": "high",
            "food": "none",
            "medicine": "low",
            "blankets": "critical",
            "power": "none",
        },
    },
    "time_ms": NOW_MS - 3 * MIN,
}


# Calls that make a record: answered as queued while ``FakeAdmin.queued`` is set.
_ACTIONS = frozenset(
    {"moderate", "add_notice", "withdraw_notice", "send_status", "add_person", "correct_person"}
    | {"withdraw_consent"}
)


class FakeAdmin:
    """One node (``role="node"``) or the hub (``role="hub"``)."""

    def __init__(self, url: str, role: str = "node") -> None:
        self.url = url
        self.role = role
        self.calls: list[tuple[str, Any]] = []
        self.error: AdminError | None = None  # raised by every call while set
        self.shelters = copy.deepcopy(FLEET)
        self.posts = copy.deepcopy(POSTS)
        self.notice_list = copy.deepcopy(NOTICES)
        self.current_status = copy.deepcopy(STATUS)
        self.persons = copy.deepcopy(PERSONS)
        self.log_lines = copy.deepcopy(LOG)
        self.node_key = NODE["node"]
        self.closed = False
        # the node waits for its first peer contact: actions are queued (202)
        self.queued = False

    async def _answer(self, name: str, arg: Any, value: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((name, arg))
        if self.error is not None:
            raise self.error
        if self.queued and name in _ACTIONS:
            value = {**value, "queued": True, "pending": len(self.calls)}
        return copy.deepcopy(value)

    def called(self, name: str) -> list[Any]:
        return [arg for n, arg in self.calls if n == name]

    async def prove(self, node_hex: str, nonce: bytes) -> None:
        """Signs with ``node_key`` (asked without the token, so a refusal of the token does
        not apply; a silent node stays silent)."""
        from shelterkit.tui.client import Refused, Unreachable

        self.calls.append(("prove", node_hex))
        if isinstance(self.error, Unreachable):
            raise self.error
        if node_hex != self.node_key:
            raise Refused("mismatch", "not the advertised key")

    async def status(self) -> dict[str, Any]:
        shelter = "CITY" if self.role == "hub" else "S01"
        return await self._answer("status", None, {"shelter": shelter, "records": 1234})

    async def node(self) -> dict[str, Any]:
        node = {**NODE, "node": self.node_key}
        if self.role == "hub":
            node.update(shelter="CITY", name={"ja": "市役所", "en": "City hall"}, links=[])
        return await self._answer("node", None, node)

    async def fleet(self) -> dict[str, Any]:
        return await self._answer("fleet", None, {"shelters": self.shelters, "now_ms": NOW_MS})

    async def board(self) -> dict[str, Any]:
        return await self._answer("board", None, {"posts": self.posts, "now_ms": NOW_MS})

    async def moderate(self, post_id: str, action: str, reason: str) -> dict[str, Any]:
        for p in self.posts:
            if p["id"] == post_id:
                p["hidden"], p["reason"] = action == "hide", reason
        return await self._answer("moderate", (post_id, action, reason), {"id": "ff" * 16})

    async def notices(self) -> dict[str, Any]:
        return await self._answer("notices", None, {"notices": self.notice_list, "now_ms": NOW_MS})

    async def add_notice(self, title: dict[str, str], text: dict[str, str]) -> dict[str, Any]:
        self.notice_list.insert(
            0,
            {
                "notice_id": "n1",
                "title": title,
                "text": text,
                "time_ms": NOW_MS,
                "expires_ms": 0,
                "withdrawn": False,
            },
        )
        return await self._answer("add_notice", (title, text), {"notice_id": "n1"})

    async def withdraw_notice(self, notice_id: str) -> dict[str, Any]:
        for n in self.notice_list:
            if n["notice_id"] == notice_id:
                n["withdrawn"] = True
        return await self._answer("withdraw_notice", notice_id, {"id": "ee" * 16})

    async def shelter_status(self) -> dict[str, Any]:
        return await self._answer("shelter_status", None, self.current_status)

    async def send_status(self, status: dict[str, Any]) -> dict[str, Any]:
        return await self._answer("send_status", status, {"id": "dd" * 16})

    async def preview_alert(self, alert: dict[str, Any]) -> dict[str, Any]:
        preview = {
            "identifier": "urn:shelterkit:test:1",
            "headline": alert["headline"],
            "description": {},
            "instruction": alert.get("instruction", {}),
            "event": {},
            "severity": alert.get("severity", "severe"),
            "urgency": "immediate",
            "certainty": "likely",
            "sent_ms": NOW_MS,
            "expires_ms": NOW_MS + alert.get("expires_in_s", 86400) * 1000,
            "targets": alert.get("targets", []),
        }
        return await self._answer("preview_alert", alert, preview)

    async def issue_alert(self, alert: dict[str, Any]) -> dict[str, Any]:
        return await self._answer("issue_alert", alert, {"identifier": "urn:shelterkit:test:1"})

    async def search_persons(self, query: str) -> dict[str, Any]:
        found = [p for p in self.persons if query in p["name"] + p["reading"] and p["public"]]
        return await self._answer("search_persons", query, {"persons": found, "now_ms": NOW_MS})

    async def add_person(self, fields: dict[str, Any]) -> dict[str, Any]:
        answer = {
            "person_id": "n3w4p5e6r7s8",
            "public": fields["consent"],
            "erase_code": "abcd-efgh-ijkl",
        }
        return await self._answer("add_person", fields, answer)

    async def correct_person(self, person_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        return await self._answer("correct_person", (person_id, fields), {"person_id": person_id})

    async def withdraw_consent(self, person_id: str) -> dict[str, Any]:
        for p in self.persons:
            if p["person_id"] == person_id:
                p["public"] = False
        return await self._answer("withdraw_consent", person_id, {"person_id": person_id})

    async def recent_log(self, since: int) -> dict[str, Any]:
        last = max((x["seq"] for x in self.log_lines), default=0)
        lines = [x for x in self.log_lines if x["seq"] > (0 if since > last else since)]
        answer = {"lines": lines, "last": last, "lost": False}
        return await self._answer("recent_log", since, answer)

    async def close(self) -> None:
        self.closed = True


def fake_app(role: str = "node", lang: str = "ja", targets: int = 1) -> tuple[StaffApp, FakeAdmin]:
    """An app against a fake node or hub, fixed clock, no background polling."""
    clients: dict[str, FakeAdmin] = {}

    def factory(url: str) -> FakeAdmin:
        clients[url] = clients.get(url) or FakeAdmin(url, role)
        return clients[url]

    urls = [f"http://127.0.0.1:{8090 + i}/" for i in range(targets)]
    app = create_app(
        urls, client_factory=factory, now_ms=lambda: NOW_MS, poll_interval_s=3600, lang=lang
    )
    return app, clients[urls[0]]


class FakeLan:
    """What zeroconf found: a list the test changes, and the app's callback to call."""

    def __init__(self, nodes: list[LanNode]) -> None:
        self.found = list(nodes)
        self.changed: Callable[[], None] | None = None

    def nodes(self) -> list[LanNode]:
        return list(self.found)

    async def run(self, changed: Callable[[], None]) -> None:
        self.changed = changed
        await asyncio.Event().wait()  # until the app ends

    def set(self, nodes: list[LanNode]) -> None:
        self.found = list(nodes)
        assert self.changed is not None, "the app is not looking yet"
        self.changed()


LAN_NODES = [
    LanNode("cc" * 32, "CITY", "hub", "http://10.0.0.1:8080/"),
    LanNode("a1" * 32, "S01", "node", "http://10.0.0.11:8081/"),
    LanNode("b2" * 32, "S02", "node", "http://10.0.0.12:8081/"),
    LanNode("e5" * 32, "S05", "node", "http://10.0.0.15:8081/"),
]


def fake_lan_app(
    lang: str = "ja", token: str = ""
) -> tuple[StaffApp, FakeLan, dict[str, FakeAdmin]]:
    """The app on the LAN screen: S01 opens with the token, S02 refuses it, S05 is silent."""
    from shelterkit.tui.client import Refused, Unreachable

    clients: dict[str, FakeAdmin] = {}

    def factory(url: str) -> FakeAdmin:
        if url not in clients:
            found = next(n for n in LAN_NODES if n.url == url) if url in URLS else None
            fake = FakeAdmin(url, found.role if found else "node")
            fake.node_key = found.node if found else "00" * 32
            if found and found.shelter == "S02":
                fake.error = Refused("unauthorized", "missing or wrong token", 401)
            if found and found.shelter == "S05":
                fake.error = Unreachable("unreachable", "no answer in time")
            clients[url] = fake
        return clients[url]

    lan = FakeLan(LAN_NODES)
    app = create_app(
        [],
        token,
        client_factory=factory,
        now_ms=lambda: NOW_MS,
        poll_interval_s=3600,
        lang=lang,
        lan=lan,
    )
    return app, lan, clients


URLS = {n.url for n in LAN_NODES}

"""The staff TUI: one app, one main screen of panes, a client handed in by the factory.

``create_app`` builds the app with an ``Admin`` client per target URL (tests pass a fake).
The app polls the admin API every few seconds and on every key that asks for it; polls
coalesce (one in flight at a time, a request during one runs once after it), and a pane
repaints only when its data changed. When the node or hub cannot be reached, or the token
is wrong or expired, a banner says so in plain words and the last data stays on screen.

Given a ``LanSource`` instead of (or besides) URLs, the app starts on the LAN screen: every
node that zeroconf finds, with the fleet's columns for each whose admin API accepts the
token; Enter opens the selected node's own screens, ``0`` comes back.
"""

from __future__ import annotations

import asyncio
import collections
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any, ClassVar

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.reactive import reactive
from textual.widgets import ContentSwitcher, Footer, Input, Select, Static
from textual.widgets._footer import FooterKey

from shelterkit.admin.tokens import PROOF_NONCE_BYTES, token_node
from shelterkit.model.trust import HUB_SHELTER_ID
from shelterkit.tui.client import Admin, AdminClient, AdminError, Refused, Unreachable
from shelterkit.tui.formatting import age_text
from shelterkit.tui.labels import label, other_language
from shelterkit.tui.lan import LanNode, LanSource, fleet_entry
from shelterkit.tui.messages import (
    AlertConfirmed,
    AlertDrafted,
    ConsentWithdrawn,
    LanNodeChosen,
    ModerationChosen,
    NoticeComposed,
    NoticeWithdrawalConfirmed,
    PersonEntered,
    PersonSearched,
    StatusEntered,
)
from shelterkit.tui.panes import (
    AlertsPane,
    BoardPane,
    FleetPane,
    IncrementalTable,
    LanPane,
    NodePane,
    NoticesPane,
    Pane,
    SafetyPane,
    StatusPane,
)

# Poll the node or hub this often (a status record or a new post shows within seconds;
# one small JSON request per poll is nothing for a Pi).
POLL_INTERVAL_S = 3.0
# A node on the LAN that refused the token is asked again only this often (each refusal
# counts towards its failed-login limit, admin.api: 10 at once, then one per 6 s).
LAN_REFUSED_RETRY_MS = 60_000
LAN_REFUSALS = ("unauthorized", "expired", "rate_limited", "mismatch", "other")
# Recent log lines kept for the node screen (the node keeps as many, admin.logring).
MAX_LOG_LINES = 200
# What a log line may hold (admin.logring sends less; anything else is not a node's log).
LOG_LEVELS = ("info", "warning", "error", "critical")
MAX_LOG_SOURCE_CHARS = 60
MAX_LOG_TEXT_CHARS = 400
HUB_PANES = ("fleet", "node", "alerts")
NODE_PANES = ("node", "board", "status", "notices", "safety")


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


class LabelledFooter(Footer):
    """The footer, with key hints looked up in the label catalog in the app's language."""

    def compose(self) -> ComposeResult:
        lang = getattr(self.app, "lang", "ja")
        for widget in super().compose():
            if isinstance(widget, FooterKey):
                widget.description = label(widget.description, lang)
            yield widget


class StaffApp(App[None]):
    """Thin client of one node's or the hub's admin API."""

    CSS_PATH = "staff.tcss"
    ENABLE_COMMAND_PALETTE = False
    AUTO_FOCUS = None  # each pane says what takes the keys (Pane.FOCUS)
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("0", "show('lan')", "key.lan"),
        Binding("1", "show('fleet')", "key.fleet"),
        Binding("2", "show('node')", "key.node"),
        Binding("3", "show('board')", "key.board"),
        Binding("4", "show('status')", "key.status"),
        Binding("5", "show('notices')", "key.notices"),
        Binding("6", "show('alerts')", "key.alerts"),
        Binding("7", "show('safety')", "key.safety"),
        Binding("l", "language", "key.lang"),
        Binding("r", "poll", "key.refresh", show=False),
        Binding("t", "next_target", "key.target"),
        Binding("q", "quit", "key.quit"),
        # Keys typed in a field go to the field; Esc leaves it so the keys above work again.
        Binding("escape", "leave_field", "key.leave"),
    ]

    lang: reactive[str] = reactive("ja", init=False)

    def __init__(
        self,
        targets: Sequence[str],
        client_factory: Callable[[str], Admin],
        *,
        now_ms: Callable[[], int] = wall_ms,
        poll_interval_s: float = POLL_INTERVAL_S,
        lang: str = "ja",
        lan: LanSource | None = None,
        token_node: str | None = None,
        random_bytes: Callable[[int], bytes] = os.urandom,
    ) -> None:
        super().__init__()
        if not targets and lan is None:
            raise ValueError("at least one target URL, or a LAN to look on")
        self.targets = list(targets)
        self.client_factory = client_factory
        self.now_ms = now_ms
        self.poll_interval_s = poll_interval_s
        self.target_index = 0
        self.client: Admin | None = client_factory(self.targets[0]) if self.targets else None
        self.lan = lan
        self.token_node = token_node  # the node key prefix the staff token names, if any
        self.random_bytes = random_bytes
        self.lan_proven: set[tuple[str, str]] = set()  # (url, key) that proved the key
        self.lan_clients: dict[str, Admin] = {}  # by URL, one per node found
        self.lan_results: dict[str, dict[str, Any]] = {}  # what each one answered last
        self.role: str | None = None  # "hub" or "node", from the first answer
        self.identity: dict[str, Any] = {}
        self.error: AdminError | None = None
        self.last_ok_ms: int | None = None
        self._poll_wanted = False
        self._polling = False
        self.log_lines: collections.deque[dict[str, Any]] = collections.deque(maxlen=MAX_LOG_LINES)
        self.log_since = 0
        self.set_reactive(StaffApp.lang, lang)

    # -- layout ------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static("", id="bar")
        yield Static("", id="banner")
        with ContentSwitcher(initial="node" if self.lan is None else "lan", id="panes"):
            yield LanPane(id="lan").data_bind(StaffApp.lang)
            yield FleetPane(id="fleet").data_bind(StaffApp.lang)
            yield NodePane(id="node").data_bind(StaffApp.lang)
            yield BoardPane(id="board").data_bind(StaffApp.lang)
            yield StatusPane(id="status").data_bind(StaffApp.lang)
            yield NoticesPane(id="notices").data_bind(StaffApp.lang)
            yield AlertsPane(id="alerts").data_bind(StaffApp.lang)
            yield SafetyPane(id="safety").data_bind(StaffApp.lang)
        yield LabelledFooter(compact=True)

    def on_mount(self) -> None:
        self.title = label("app.title", self.lang)
        self.render_bar()
        self.set_interval(self.poll_interval_s, self.action_poll)
        if self.lan is not None:
            self.run_worker(self.lan.run(self.action_poll), group="lan")
            self.query_one(LanPane).query_one(IncrementalTable).focus()
        self.action_poll()

    async def on_unmount(self) -> None:
        if self.client is not None:
            await self.client.close()
        for client in self.lan_clients.values():
            await client.close()

    @property
    def pane(self) -> str:
        return self.query_one(ContentSwitcher).current or "node"

    @property
    def admin(self) -> Admin:
        """The node or hub whose screens are open (staff act only on those)."""
        assert self.client is not None, "no node is open"
        return self.client

    def panes_for_role(self) -> tuple[str, ...]:
        own: tuple[str, ...] = ()
        if self.role == "hub":
            own = HUB_PANES
        elif self.role == "node":
            own = NODE_PANES
        elif self.client is not None:
            own = ("node",)
        return ("lan", *own) if self.lan is not None else own

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "show":
            return parameters[0] in self.panes_for_role()
        if action == "next_target":
            return len(self.targets) > 1
        if action == "leave_field":
            return isinstance(self.focused, Input | Select)
        return True

    def on_descendant_focus(self) -> None:
        self.refresh_bindings()

    def on_descendant_blur(self) -> None:
        self.refresh_bindings()

    def action_leave_field(self) -> None:
        """Out of a field: to the screen's table (its keys work there), or to nothing."""
        tables = self.query_one(f"#{self.pane}", Pane).query(IncrementalTable)
        self.set_focus(tables.first() if tables else None)

    def action_show(self, pane: str) -> None:
        if pane not in self.panes_for_role():
            return
        self.query_one(ContentSwitcher).current = pane
        widget = self.query_one(f"#{pane}", Pane)
        if widget.FOCUS:
            widget.query_one(widget.FOCUS).focus()
        self.action_poll()

    def action_language(self) -> None:
        self.lang = other_language(self.lang)

    def watch_lang(self) -> None:
        self.title = label("app.title", self.lang)
        self.render_bar()
        self.refresh_bindings()

    async def action_next_target(self) -> None:
        self.target_index = (self.target_index + 1) % len(self.targets)
        await self._open(self.targets[self.target_index])

    async def _open(self, url: str) -> None:
        """Make ``url`` the node or hub whose screens are shown (from its first answer)."""
        if self.client is not None:
            await self.client.close()
        self.client = self.client_factory(url)
        self.role = None
        self.identity = {}
        self.error = None
        self.last_ok_ms = None
        self._forget_log()
        for pane in self.query(Pane):
            if not isinstance(pane, LanPane):
                pane.data = None
        self.query_one(ContentSwitcher).current = "node"
        self.refresh_bindings()
        self.render_bar()
        self.action_poll()

    # -- the title bar and the banner ---------------------------------------------------------

    def render_bar(self) -> None:
        lang = self.lang
        if self.client is None or self.pane == "lan":
            found = len(self.lan.nodes()) if self.lan is not None else 0
            where = f"{label('lan.where', lang)} │ {label('lan.count', lang, n=found)}"
            self.query_one("#bar", Static).update(f" {label('app.title', lang)} │ {where}")
            self.query_one("#banner", Static).display = False
            return
        where = self.client.url
        if self.role == "hub":
            where = f"{label('app.hub', lang)}  {self.client.url}"
        elif self.identity:
            where = f"{self.identity.get('shelter', '')}  {self.client.url}"
        if self.error is None and self.last_ok_ms is not None:
            state = label("conn.ok", lang)
        elif self.last_ok_ms is None and self.error is None:
            state = label("conn.connecting", lang)
        else:
            state = "✕"
        self.query_one("#bar", Static).update(f" {label('app.title', lang)} │ {where} │ {state}")
        banner = self.query_one("#banner", Static)
        banner.display = self.error is not None
        if self.error is not None:
            banner.update(self.error_text(self.error))

    def error_text(self, error: AdminError) -> str:
        lang = self.lang
        url = self.client.url if self.client is not None else ""
        if isinstance(error, Unreachable):
            age = age_text(self.last_ok_ms, self.now_ms(), lang)
            return label("conn.unreachable", lang, url=url, detail=error.detail, age=age)
        if error.code in ("unauthorized", "expired", "rate_limited"):
            return label(f"conn.{error.code}", lang)
        if error.code == "not_found" and self.role is None:  # e.g. the evacuee portal
            return label("conn.not_admin", lang, url=url)
        return label("conn.refused", lang, detail=error.detail or error.code)

    # -- polling -------------------------------------------------------------------------------

    def action_poll(self) -> None:
        """Ask for fresh data; coalesces with a poll already running."""
        self._poll_wanted = True
        if not self._polling:
            self._polling = True
            self.run_worker(self._poll_loop(), group="poll")

    async def _poll_loop(self) -> None:
        try:
            while self._poll_wanted:
                self._poll_wanted = False
                await self._poll_once()
        finally:
            self._polling = False

    async def _poll_once(self) -> None:
        client = self.client
        if client is None or self.pane == "lan":
            await self._poll_lan()
            self.render_bar()
            return
        try:
            status = await client.status()
            if client is not self.client:
                return  # the target changed while we waited
            self.identity = status
            if self.role is None:
                self.role = "hub" if status.get("shelter") == HUB_SHELTER_ID else "node"
                self.refresh_bindings()
                self.action_show("fleet" if self.role == "hub" else "node")
            pane = self.pane
            fetch: Callable[[], Awaitable[dict[str, Any]]] | None = {
                "fleet": client.fleet,
                "node": client.node,
                "board": client.board,
                "status": client.shelter_status,
                "notices": client.notices,
            }.get(pane)
            if pane == "safety":
                query = self.query_one(SafetyPane).query_text
                if query:
                    fetch = partial(client.search_persons, query)
            if fetch is not None:
                data = await fetch()
                if pane == "node":
                    data = {**data, "log": await self._recent_log(client)}
                if client is self.client:
                    self.query_one(f"#{pane}", Pane).data = data
            self.error = None
            self.last_ok_ms = self.now_ms()
        except AdminError as exc:
            self.error = exc
        self.render_bar()

    # -- the LAN screen -------------------------------------------------------------------------

    async def _poll_lan(self) -> None:
        """Ask every node found on the LAN for its health, all at once; show what is known."""
        if self.lan is None:
            return
        found = self.lan.nodes()
        here = {n.url for n in found}
        for url in [u for u in self.lan_clients if u not in here]:
            self.lan_results.pop(url, None)
            await self.lan_clients.pop(url).close()
        self._show_lan(found)  # who is there shows at once; what they say follows
        await asyncio.gather(*(self._ask_lan(n) for n in found))
        now_found = self.lan.nodes()
        self._show_lan([n for n in now_found if n.url in self.lan_results])

    async def _ask_lan(self, found: LanNode) -> None:
        last = self.lan_results.get(found.url, {})
        if (
            last.get("admin") in LAN_REFUSALS
            and self.now_ms() - int(last.get("asked_ms", 0)) < LAN_REFUSED_RETRY_MS
        ):
            return
        if self.token_node is not None and not found.node.startswith(self.token_node):
            # The token names another node: it would not open this one, so it is not sent.
            self.lan_results[found.url] = {"admin": "other", "asked_ms": self.now_ms()}
            return
        client = self.lan_clients.get(found.url)
        if client is None:
            client = self.lan_clients[found.url] = self.client_factory(found.url)
        result: dict[str, Any]
        try:
            if (found.url, found.node) not in self.lan_proven:
                # An advertisement is a claim: the token goes only to a node that has
                # just signed a fresh nonce with the key it advertises.
                await client.prove(found.node, self.random_bytes(PROOF_NONCE_BYTES))
                self.lan_proven.add((found.url, found.node))
            info = await client.node()
            status = None
            if found.role == "node":
                status = (await client.shelter_status()).get("status")
            if info.get("node") != found.node:  # the advertisement named another key
                result = {"admin": "mismatch"}
            else:
                result = {"admin": "ok", "fleet": fleet_entry(found, info, status)}
        except Unreachable:
            result = {"admin": "unreachable"}
        except Refused as exc:
            result = {"admin": exc.code if exc.code in LAN_REFUSALS else "refused"}
        if found.url in self.lan_clients:  # still there
            self.lan_results[found.url] = {**result, "asked_ms": self.now_ms()}

    def _show_lan(self, found: list[LanNode]) -> None:
        nodes = [
            {
                "node": n.node,
                "shelter": n.shelter,
                "role": n.role,
                "url": n.url,
                "address": n.address,
                **self.lan_results.get(n.url, {"admin": "checking"}),
            }
            for n in found
        ]
        self.query_one(LanPane).data = {"nodes": nodes, "now_ms": self.now_ms()}

    async def on_lan_node_chosen(self, message: LanNodeChosen) -> None:
        if self.client is None or self.client.url != message.url:
            self.targets = [message.url]
            self.target_index = 0
            await self._open(message.url)
        else:
            self.action_show("fleet" if self.role == "hub" else "node")

    def _forget_log(self) -> None:
        self.log_lines.clear()
        self.log_since = 0

    async def _recent_log(self, client: Admin) -> list[dict[str, Any]] | None:
        """The node's log lines, asking only for the new ones; None if it has no log."""
        try:
            answer = await client.recent_log(self.log_since)
            if _line_number(answer) < self.log_since:  # the node restarted
                self._forget_log()
                answer = await client.recent_log(0)
            last = _line_number(answer)
        except Refused as exc:
            if exc.code != "not_found":
                raise
            return None
        if client is not self.client:
            return None
        lines = answer.get("lines")
        self.log_lines.extend(
            {
                "time_ms": x["time_ms"],
                "level": x.get("level") if x.get("level") in LOG_LEVELS else "info",
                "source": str(x.get("source", ""))[:MAX_LOG_SOURCE_CHARS],
                "text": str(x.get("text", ""))[:MAX_LOG_TEXT_CHARS],
            }
            for x in (lines if isinstance(lines, list) else [])
            if isinstance(x, dict) and isinstance(x.get("time_ms"), int)
        )
        self.log_since = last
        return list(self.log_lines)

    # -- what staff decided (messages up) -------------------------------------------------------

    async def _act(self, call: Any, ok_key: str, **fields: Any) -> dict[str, Any] | None:
        try:
            result: dict[str, Any] = await call
        except Unreachable as exc:
            self.error = exc
            self.render_bar()
            self.notify(self.error_text(exc), severity="error")
            return None
        except Refused as exc:
            self.notify(self.error_text(exc), severity="error")
            return None
        self.notify(_done_text(result, label(ok_key, self.lang, **fields), self.lang))
        self.action_poll()
        return result

    @work(group="act")
    async def on_moderation_chosen(self, message: ModerationChosen) -> None:
        ok = "board.hidden_ok" if message.action == "hide" else "board.restored_ok"
        await self._act(self.admin.moderate(message.post_id, message.action, message.reason), ok)

    @work(group="act")
    async def on_status_entered(self, message: StatusEntered) -> None:
        await self._act(self.admin.send_status(message.status), "status.sent_ok")

    @work(group="act")
    async def on_notice_composed(self, message: NoticeComposed) -> None:
        await self._act(self.admin.add_notice(message.title, message.text), "notices.added_ok")

    @work(group="act")
    async def on_notice_withdrawal_confirmed(self, message: NoticeWithdrawalConfirmed) -> None:
        await self._act(self.admin.withdraw_notice(message.notice_id), "notices.withdrawn_ok")

    def on_person_searched(self, message: PersonSearched) -> None:
        self.action_poll()

    @work(group="act")
    async def on_person_entered(self, message: PersonEntered) -> None:
        if message.person_id:
            call = self.admin.correct_person(message.person_id, message.fields)
            await self._act(call, "safety.corrected_ok")
            return
        try:
            result = await self.admin.add_person(message.fields)
        except AdminError as exc:
            self.notify(self.error_text(exc), severity="error")
            return
        text = label(
            "safety.added_ok",
            self.lang,
            person_id=result.get("person_id", ""),
            code=result.get("erase_code", ""),
        )
        self.notify(_done_text(result, text, self.lang), timeout=60)  # to copy onto paper

    @work(group="act")
    async def on_consent_withdrawn(self, message: ConsentWithdrawn) -> None:
        await self._act(self.admin.withdraw_consent(message.person_id), "safety.unlisted_ok")

    @work(group="act")
    async def on_alert_drafted(self, message: AlertDrafted) -> None:
        try:
            preview = await self.admin.preview_alert(message.alert)
        except AdminError as exc:
            self.notify(self.error_text(exc), severity="error")
            return
        self.query_one(AlertsPane).show_preview(message.alert, preview)

    @work(group="act")
    async def on_alert_confirmed(self, message: AlertConfirmed) -> None:
        try:
            result = await self.admin.issue_alert(message.alert)
        except AdminError as exc:
            self.notify(self.error_text(exc), severity="error")
            return
        self.notify(label("alerts.issued_ok", self.lang, identifier=result.get("identifier", "")))
        self.query_one(AlertsPane).clear_form()


def _done_text(result: dict[str, Any], text: str, lang: str) -> str:
    """What staff are told after an action; one the node queued until its first peer
    contact (202, ``"queued": true``) says that it is saved and waits to be sent."""
    return f"{text} {label('queued', lang)}" if result.get("queued") is True else text


def _line_number(answer: dict[str, Any]) -> int:
    last = answer.get("last")
    if not isinstance(last, int) or isinstance(last, bool) or last < 0:
        raise Refused("bad_answer", "the log answer has no line number")
    return last


def create_app(
    targets: Sequence[str],
    token: str = "",
    *,
    client_factory: Callable[[str], Admin] | None = None,
    now_ms: Callable[[], int] = wall_ms,
    poll_interval_s: float = POLL_INTERVAL_S,
    lang: str = "ja",
    lan: LanSource | None = None,
) -> StaffApp:
    """The staff TUI for ``targets`` (node or hub URLs) and/or the nodes ``lan`` finds;
    tests pass ``client_factory`` and a fake ``lan``."""

    def real_client(url: str) -> Admin:
        return AdminClient(url, token)

    return StaffApp(
        targets,
        client_factory or real_client,
        now_ms=now_ms,
        poll_interval_s=poll_interval_s,
        lang=lang,
        lan=lan,
        token_node=token_node(token),
    )

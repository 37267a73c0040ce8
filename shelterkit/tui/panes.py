"""The TUI's screens, as panes of one main screen.

Each pane gets ``data`` (the admin API's JSON, set by the app) and ``lang`` from above and
renders them; it sends what staff decide up as messages (``tui.messages``). ``data`` is
reactive and compared by value, so a poll that brings nothing new repaints nothing, and a
table updates only the cells that changed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Button, DataTable, Input, Select, Static

from shelterkit.model.trust import HUB_SHELTER_ID
from shelterkit.tui.dialogs import ConfirmDialog, NoticeDialog, PersonDialog, ReasonDialog
from shelterkit.tui.formatting import (
    NEED_LEVELS,
    NEED_NAMES,
    ContactState,
    age_text,
    battery_bar,
    bytes_text,
    clip,
    clock_text,
    contact_state,
    need_text,
    needs_summary,
    radio_text,
    severity_text,
    state_text,
    time_of_day_text,
    until_text,
)
from shelterkit.tui.labels import label
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

Row = tuple[Any, ...]

STATE_STYLE = {
    ContactState.OK: "green",
    ContactState.STALE: "bold yellow",
    ContactState.UNCOVERED: "bold red",
    ContactState.REVOKED: "red",
}


def labelled(widget: Widget, key: str) -> Widget:
    """Mark ``widget`` as showing catalog ``key`` (see ``relabel``)."""
    widget.label_key = key  # type: ignore[attr-defined]
    return widget


def caption(key: str, lang: str, classes: str = "") -> Static:
    return labelled(Static(label(key, lang), classes=classes), key)  # type: ignore[return-value]


def relabel(root: Widget, lang: str) -> None:
    """Show every marked widget under ``root`` in ``lang``."""
    for widget in root.query("*"):
        key = getattr(widget, "label_key", None)
        if key is None:
            continue
        text = label(key, lang)
        if isinstance(widget, Button):
            widget.label = text
        elif isinstance(widget, Input):
            widget.placeholder = text
        elif isinstance(widget, Static):
            widget.update(text)


class Pane(Vertical):
    """One screen's worth: ``data`` and ``lang`` come down from the app."""

    data: reactive[dict[str, Any] | None] = reactive(None, init=False)
    lang: reactive[str] = reactive("ja", init=False)
    FOCUS: ClassVar[str] = ""  # selector of the widget that takes the keys when shown

    def on_mount(self) -> None:
        self.render_data()

    def watch_lang(self) -> None:
        relabel(self, self.lang)
        self.render_data()

    def watch_data(self) -> None:
        self.render_data()

    def render_data(self) -> None:
        """Show ``data``; called on mount, on new data and on a language switch."""

    def now_ms(self) -> int:
        now = (self.data or {}).get("now_ms")
        return int(now) if isinstance(now, int) else self.app.now_ms()  # type: ignore[attr-defined]


class IncrementalTable(DataTable[Any]):
    """A table that is told whole rows and touches only the cells that changed."""

    def __init__(self, columns: tuple[str, ...], **kw: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kw)
        self.column_keys = columns
        self._shown: dict[str, Row] = {}
        self._order: list[str] = []
        self._header_lang = ""

    def show_rows(
        self, rows: list[tuple[str, Row]], lang: str, headers: Callable[[str], str]
    ) -> None:
        keys = [k for k, _ in rows]
        if lang != self._header_lang:
            cursor = self.cursor_row
            self.clear(columns=True)
            for col in self.column_keys:
                self.add_column(headers(col), key=col)
            self._header_lang = lang
            self._order = []
            self._shown = {}
            self._rebuild(rows)
            self.move_cursor(row=cursor)
            return
        if keys != self._order:
            cursor = self.cursor_row
            self.clear()
            self._rebuild(rows)
            self.move_cursor(row=min(cursor, max(0, len(rows) - 1)))
            return
        for key, cells in rows:
            old = self._shown[key]
            for col, before, after in zip(self.column_keys, old, cells, strict=True):
                if before != after:
                    self.update_cell(key, col, after, update_width=True)
            self._shown[key] = cells

    def _rebuild(self, rows: list[tuple[str, Row]]) -> None:
        for key, cells in rows:
            self.add_row(*cells, key=key)
        self._order = [k for k, _ in rows]
        self._shown = dict(rows)

    def selected_key(self) -> str | None:
        if not self.row_count:
            return None
        return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value


# -- fleet ---------------------------------------------------------------------------------

# Links come last: at 80 columns they are one scroll to the right, the rest fits.
FLEET_COLUMNS = (
    "id",
    "name",
    "state",
    "battery",
    "headcount",
    "clients",
    "contact",
    "needs",
    "links",
)
FLEET_SORTS = ("shelter", "contact", "headcount", "battery")


def fleet_sort_key(order: str, now_ms: int) -> Callable[[dict[str, Any]], Any]:
    def key(s: dict[str, Any]) -> Any:
        if order == "contact":  # never heard from first, then the longest silence
            last = s.get("last_contact_ms")
            return (last is not None, last or 0, s["shelter"])
        if order == "headcount":
            return (-(s.get("headcount") or 0), s["shelter"])
        if order == "battery":
            pct = s.get("battery_pct")
            return (pct is None or pct < 0, pct if pct is not None else 0, s["shelter"])
        return (s["shelter"], s["node"])

    return key


def fleet_row(s: dict[str, Any], now_ms: int, lang: str) -> Row:
    state = contact_state(s.get("last_contact_ms"), now_ms, revoked=bool(s.get("revoked")))
    contact = (
        label("age.never", lang)
        if s.get("last_contact_ms") is None
        else age_text(s["last_contact_ms"], now_ms, lang)
    )
    return (
        s["shelter"],
        clip(s.get("name") or "", 14),
        Text(state_text(state, lang), style=STATE_STYLE[state]),
        battery_bar(s.get("battery_pct")),
        "—" if s.get("headcount") is None else str(s["headcount"]),
        "—" if s.get("clients") is None else str(s["clients"]),
        Text(contact, style=STATE_STYLE[state] if state is not ContactState.OK else ""),
        needs_summary(s.get("needs"), lang),
        s.get("links") or "—",
    )


class FleetPane(Pane):
    """Every shelter at a glance (at the hub); ``s`` changes the order."""

    FOCUS = "IncrementalTable"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("s", "sort", "key.sort")]
    sort_by: reactive[str] = reactive("shelter", init=False)

    def compose(self) -> ComposeResult:
        yield Static("", id="fleet-title", classes="pane-title")
        yield IncrementalTable(FLEET_COLUMNS, id="fleet-table")
        yield Static("", id="fleet-summary")

    def watch_sort_by(self) -> None:
        self.render_data()

    def action_sort(self) -> None:
        i = FLEET_SORTS.index(self.sort_by)
        self.sort_by = FLEET_SORTS[(i + 1) % len(FLEET_SORTS)]

    def render_data(self) -> None:
        lang = self.lang
        sort = label(f"fleet.sort.{self.sort_by}", lang)
        self.query_one("#fleet-title", Static).update(label("fleet.title", lang, sort=sort))
        if self.data is None:
            return
        now = self.now_ms()
        shelters = sorted(self.data.get("shelters", []), key=fleet_sort_key(self.sort_by, now))
        rows = [(s["node"], fleet_row(s, now, lang)) for s in shelters]
        self.query_one(IncrementalTable).show_rows(
            rows, lang, lambda col: label(f"fleet.col.{col}", lang)
        )
        states: dict[ContactState, list[str]] = {}
        for s in shelters:
            state = contact_state(s.get("last_contact_ms"), now, revoked=bool(s.get("revoked")))
            states.setdefault(state, []).append(s["shelter"])
        problems = [
            label(f"fleet.{state.value}_list", lang, list=" ".join(sorted(states[state])))
            for state in (ContactState.UNCOVERED, ContactState.STALE)
            if states.get(state)
        ]
        summary = self.query_one("#fleet-summary", Static)
        summary.set_class(bool(problems), "warning")
        if not shelters:
            summary.update(label("fleet.empty", lang))
        elif problems:
            summary.update("\n".join(problems))
        else:
            summary.update(label("fleet.all_covered", lang))


# -- nodes found on the LAN -----------------------------------------------------------------

# The fleet's columns, after who the node says it is; address and name at the right.
LAN_COLUMNS = (
    "id",
    "node",
    "role",
    "state",
    "battery",
    "headcount",
    "clients",
    "contact",
    "needs",
    "address",
    "name",
    "links",
)
LAN_PROBLEM_STYLE = {"checking": "dim"}


def lan_row(found: dict[str, Any], now_ms: int, lang: str) -> Row:
    """One node found on the LAN: its advertisement, then the fleet columns if it answered."""
    role = found.get("role", "node")
    admin = found.get("admin", "checking")
    entry = found.get("fleet")
    head = (
        found["shelter"],
        found["node"][:8],
        label(f"lan.role.{role}", lang),
    )
    tail = (found.get("address", ""),)
    if admin != "ok" or not isinstance(entry, dict):
        state = Text(label(f"lan.admin.{admin}", lang), style=LAN_PROBLEM_STYLE.get(admin, "red"))
        return (*head, state, "—", "—", "—", "—", "—", *tail, "—", "—")
    names = entry.get("names") or {}
    cells = fleet_row({**entry, "name": names.get(lang) or names.get("ja", "")}, now_ms, lang)
    _, name, state, battery, headcount, clients, contact, needs, links = cells
    if role == "hub":  # city hall itself: no contact with itself, no status record
        state, contact = Text(label("lan.hub_ok", lang), style="green"), "—"
    return (*head, state, battery, headcount, clients, contact, needs, *tail, name, links)


class LanPane(Pane):
    """Every node found on the LAN by zeroconf; Enter opens the selected one."""

    FOCUS = "IncrementalTable"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("enter", "open", "key.open")]

    def compose(self) -> ComposeResult:
        yield caption("lan.title", self.lang, "pane-title")
        yield IncrementalTable(LAN_COLUMNS, id="lan-table")
        yield Static("", id="lan-summary")

    def render_data(self) -> None:
        if self.data is None:
            return
        lang = self.lang
        now = self.now_ms()
        nodes = self.data.get("nodes", [])
        rows = [(n["node"], lan_row(n, now, lang)) for n in nodes]
        self.query_one(IncrementalTable).show_rows(
            rows, lang, lambda col: label(f"lan.col.{col}", lang)
        )
        closed = [
            n["shelter"]
            for n in nodes
            if n.get("admin") in ("unauthorized", "expired", "rate_limited", "mismatch")
        ]
        silent = [n["shelter"] for n in nodes if n.get("admin") in ("unreachable", "refused")]
        problems = [
            label(key, lang, list=" ".join(names))
            for key, names in (("lan.silent_list", silent), ("lan.closed_list", closed))
            if names
        ]
        answering = [n for n in nodes if n.get("admin") == "ok" and n.get("role") == "node"]
        for state in (ContactState.UNCOVERED, ContactState.STALE):
            names = [
                n["shelter"]
                for n in answering
                if contact_state(n["fleet"].get("last_contact_ms"), now) is state
            ]
            if names:
                problems.append(label(f"fleet.{state.value}_list", lang, list=" ".join(names)))
        summary = self.query_one("#lan-summary", Static)
        summary.set_class(bool(problems), "warning")
        if not nodes:
            summary.update(label("lan.empty", lang))
        elif problems:
            summary.update("\n".join(problems))
        else:
            summary.update(label("lan.all_ok", lang))

    def on_data_table_row_selected(self, event: IncrementalTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def action_open(self) -> None:
        key = self.query_one(IncrementalTable).selected_key()
        found = next((n for n in (self.data or {}).get("nodes", []) if n["node"] == key), None)
        if found is not None:
            self.post_message(LanNodeChosen(found["url"]))


# -- node detail ----------------------------------------------------------------------------


def _grid(rows: list[tuple[str, Any]]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    for name, value in rows:
        table.add_row(name, value)
    return table


# Levels are marked by a word ([警告] / [WARN]) as well as by colour.
LOG_STYLE = {"warning": "bold yellow", "error": "bold red", "critical": "bold reverse red"}


def log_text(lines: list[dict[str, Any]], lang: str) -> Text:
    """Log lines, oldest first: time, level word, where from, what."""
    text = Text()
    for i, line in enumerate(lines):
        if i:
            text.append("\n")
        level = str(line.get("level", "info"))
        text.append(f"{time_of_day_text(line.get('time_ms'))} ", style="dim")
        text.append(label(f"log.level.{level}", lang), style=LOG_STYLE.get(level, ""))
        text.append(f" {line.get('source', '')}: {line.get('text', '')}")
    return text


class NodePane(Pane):
    """This node's health: records, storage, clock, links, recent peers and log lines."""

    FOCUS = "VerticalScroll"

    def compose(self) -> ComposeResult:
        yield caption("node.title", self.lang, "pane-title")
        with VerticalScroll():
            yield Static("", id="node-health")
            yield caption("node.peers", self.lang, "section-title")
            yield Static("", id="node-peers")
            yield caption("node.log", self.lang, "section-title")
            yield Static("", id="node-log")

    def render_data(self) -> None:
        d = self.data
        if d is None:
            return
        lang = self.lang
        clock = d.get("clock", {})
        now = int(clock.get("wall_ms") or self.app.now_ms())  # type: ignore[attr-defined]
        certain = "node.clock.certain" if clock.get("certain") else "node.clock.uncertain"
        name = d.get("name", {})
        links = d.get("links", [])
        link_text = (
            ", ".join(f"{label('node.link.' + x['kind'], lang)} {x['url']}" for x in links)
            if links
            else label("node.link.none", lang)
        )
        if d.get("link_state"):
            link_text += f"  ({d['link_state']})"
        rows = [
            (
                label("node.shelter", lang),
                label("app.hub", lang)
                if d.get("shelter") == HUB_SHELTER_ID
                else f"{d.get('shelter', '')} {name.get(lang) or name.get('ja', '')}",
            ),
            (label("node.records", lang), str(d.get("records", 0))),
            (label("node.storage", lang), bytes_text(int(d.get("db_bytes", 0)))),
            (label("node.clock", lang), f"{clock_text(now)} JST  {label(certain, lang)}"),
            (
                label("node.enrolled", lang),
                label("node.yes" if d.get("enrolled") else "node.no", lang),
            ),
            (label("node.last_sync", lang), age_text(d.get("last_sync_ms"), now, lang)),
            (label("node.links", lang), link_text),
            (label("node.rejected", lang), str(d.get("rejected_origins", 0))),
        ]
        rows += [
            (f"{label('node.radio', lang)} {r.get('name', '')}", radio_text(r, lang))
            for r in d.get("radio", [])
        ]
        self.query_one("#node-health", Static).update(_grid(rows))
        peers = d.get("peers", [])
        peer_rows = [
            (f"{p['shelter']} {p['node'][:8]}", age_text(p.get("last_ms"), now, lang))
            for p in peers
        ]
        self.query_one("#node-peers", Static).update(
            _grid(peer_rows) if peer_rows else label("node.peers.none", lang)
        )
        lines = d.get("log")
        self.query_one("#node-log", Static).update(
            label("node.log.unavailable", lang)
            if lines is None
            else log_text(lines, lang)
            if lines
            else label("node.log.none", lang)
        )


# -- board moderation -----------------------------------------------------------------------

BOARD_COLUMNS = ("time", "shelter", "category", "author", "text", "state")


class BoardPane(Pane):
    """Recent posts, hidden ones marked; ``h`` hides and ``u`` restores, with a reason."""

    FOCUS = "IncrementalTable"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("h", "moderate('hide')", "key.hide"),
        Binding("u", "moderate('restore')", "key.restore"),
    ]

    def compose(self) -> ComposeResult:
        yield caption("board.title", self.lang, "pane-title")
        yield IncrementalTable(BOARD_COLUMNS, id="board-table")
        yield Static("", id="board-empty")

    def _post(self, post_id: str | None) -> dict[str, Any] | None:
        posts = (self.data or {}).get("posts", [])
        return next((p for p in posts if p["id"] == post_id), None)

    def render_data(self) -> None:
        if self.data is None:
            return
        lang = self.lang
        rows = []
        for p in self.data.get("posts", []):
            state = (
                Text(label("board.hidden", lang), style="bold red")
                if p["hidden"]
                else Text(label("board.shown", lang), style="green")
            )
            text = p["text"]
            if p["hidden"] and p.get("reason"):
                text = f"〔{p['reason']}〕{text}"  # why it is hidden comes first
            text = clip(text, 30)
            rows.append(
                (
                    p["id"],
                    (
                        clock_text(p["time_ms"])[6:],
                        Text(p.get("shelter", ""), style="" if p.get("own", True) else "dim"),
                        label(f"category.{p['category']}", lang),
                        clip(p.get("author") or "—", 8),
                        text,
                        state,
                    ),
                )
            )
        self.query_one(IncrementalTable).show_rows(
            rows, lang, lambda col: label(f"board.col.{col}", lang)
        )
        self.query_one("#board-empty", Static).update("" if rows else label("board.empty", lang))

    def action_moderate(self, action: str) -> None:
        post = self._post(self.query_one(IncrementalTable).selected_key())
        if post is None:
            return
        if not post.get("own", True):
            self.notify(label("board.other", self.lang), severity="warning")
            return

        def chosen(reason: str | None) -> None:
            if reason:
                self.post_message(ModerationChosen(post["id"], action, reason))

        self.app.push_screen(
            ReasonDialog(f"board.reason.{action}", clip(post["text"], 60), self.lang), chosen
        )


# -- headcount and needs --------------------------------------------------------------------

COUNT_FIELDS = ("headcount", "households", "needs_care")


class StatusPane(Pane):
    """The headcount and needs form; sending it makes a status record for city hall."""

    FOCUS = "#count-headcount"

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self._filled = False

    def compose(self) -> ComposeResult:
        yield caption("status.title", self.lang, "pane-title")
        with VerticalScroll(id="status-form", can_focus=False):
            for field in COUNT_FIELDS:
                with Horizontal(classes="form-row"):
                    yield caption(f"status.{field}", self.lang, "field-label")
                    yield Input(
                        id=f"count-{field}", type="integer", compact=True, max_length=6, value="0"
                    )
            for name in NEED_NAMES:
                with Horizontal(classes="form-row"):
                    yield caption(f"status.{name}", self.lang, "field-label")
                    yield Select(
                        self._need_options(),
                        value="none",
                        allow_blank=False,
                        compact=True,
                        id=f"need-{name}",
                    )
            with Horizontal(classes="form-row"):
                yield labelled(
                    Button(label("status.send", self.lang), id="status-send", compact=True),
                    "status.send",
                )
                yield Static("", id="status-last")

    def _need_options(self) -> list[tuple[str, str]]:
        return [(need_text(level, self.lang), level) for level in NEED_LEVELS]

    def watch_lang(self) -> None:
        for select in self.query(Select):
            value = select.value
            select.set_options(self._need_options())
            select.value = value
        super().watch_lang()

    def render_data(self) -> None:
        if self.data is None:
            return
        status = self.data.get("status")
        if status is not None and not self._filled:
            self._filled = True  # never overwrite what someone is typing
            for field in COUNT_FIELDS:
                self.query_one(f"#count-{field}", Input).value = str(status.get(field, 0))
            for name in NEED_NAMES:
                self.query_one(f"#need-{name}", Select).value = status["needs"].get(name, "none")
        when = self.data.get("time_ms")
        self.query_one("#status-last", Static).update(
            label("status.last", self.lang, age=age_text(when, self.now_ms(), self.lang))
            if when is not None
            else label("status.never", self.lang)
        )

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.send()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "status-send":
            event.stop()
            self.send()

    def send(self) -> None:
        status: dict[str, Any] = {}
        for field in COUNT_FIELDS:
            text = self.query_one(f"#count-{field}", Input).value.strip() or "0"
            if not text.isdigit():
                name = label(f"status.{field}", self.lang)
                self.notify(label("status.bad_number", self.lang, field=name), severity="error")
                return
            status[field] = int(text)
        status["needs"] = {
            name: str(self.query_one(f"#need-{name}", Select).value) for name in NEED_NAMES
        }
        self.post_message(StatusEntered(status))


# -- notices --------------------------------------------------------------------------------

NOTICE_COLUMNS = ("time", "title", "state")


class NoticesPane(Pane):
    """This shelter's notices; ``a`` adds one, ``w`` withdraws the selected one."""

    FOCUS = "IncrementalTable"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "add", "key.add"),
        Binding("w", "withdraw", "key.withdraw"),
    ]

    def compose(self) -> ComposeResult:
        yield caption("notices.title", self.lang, "pane-title")
        yield IncrementalTable(NOTICE_COLUMNS, id="notices-table")
        yield Static("", id="notices-empty")

    def render_data(self) -> None:
        if self.data is None:
            return
        lang = self.lang
        rows = []
        for n in self.data.get("notices", []):
            title = n["title"].get(lang) or n["title"].get("ja") or next(iter(n["title"].values()))
            state = (
                Text(label("notices.withdrawn", lang), style="dim")
                if n["withdrawn"]
                else Text(label("notices.active", lang), style="green")
            )
            rows.append((n["notice_id"], (clock_text(n["time_ms"]), clip(title, 40), state)))
        self.query_one(IncrementalTable).show_rows(
            rows, lang, lambda col: label(f"notices.col.{col}", lang)
        )
        self.query_one("#notices-empty", Static).update(
            "" if rows else label("notices.empty", lang)
        )

    def action_add(self) -> None:
        def composed(result: dict[str, Any] | None) -> None:
            if result:
                self.post_message(NoticeComposed(result["title"], result["text"]))

        self.app.push_screen(NoticeDialog(self.lang), composed)

    def action_withdraw(self) -> None:
        notice_id = self.query_one(IncrementalTable).selected_key()
        notices = (self.data or {}).get("notices", [])
        notice = next((n for n in notices if n["notice_id"] == notice_id), None)
        if notice is None or notice["withdrawn"]:
            return
        title = notice["title"].get(self.lang) or notice["title"].get("ja", "")

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.post_message(NoticeWithdrawalConfirmed(notice["notice_id"]))

        self.app.push_screen(
            ConfirmDialog(label("notices.withdraw_q", self.lang, title=title), self.lang),
            confirmed,
        )


# -- alerts (hub) ---------------------------------------------------------------------------

SEVERITIES = ("extreme", "severe", "moderate", "minor")
EXPIRY_HOURS = (1, 3, 6, 12, 24)


def alert_preview(preview: dict[str, Any], now_ms: int, lang: str) -> Table:
    """How an alert will read, from ``POST /api/alerts/preview``'s answer."""
    headline = preview.get("headline", {})
    rows: list[tuple[str, Any]] = [
        (
            label("alerts.severity", lang),
            Text(severity_text(preview.get("severity", ""), lang), style="bold red"),
        ),
        (label("alerts.headline_ja", lang), headline.get("ja", "")),
    ]
    if headline.get("en"):
        rows.append((label("alerts.headline_en", lang), headline["en"]))
    if preview.get("instruction", {}).get("ja"):
        rows.append((label("alerts.instruction_ja", lang), preview["instruction"]["ja"]))
    rows.append(
        (
            label("alerts.expires", lang),
            f"{clock_text(preview.get('expires_ms'))} JST ("
            f"{until_text(int(preview.get('expires_ms') or 0), now_ms, lang)})",
        )
    )
    targets = preview.get("targets") or []
    rows.append(
        (
            "",
            label("alerts.targets_some", lang, list=" ".join(targets))
            if targets
            else label("alerts.targets_all", lang),
        )
    )
    return _grid(rows)


class AlertsPane(Pane):
    """Compose, preview, then sign and issue an alert at the hub."""

    FOCUS = "#alert-headline_ja"
    preview: reactive[dict[str, Any] | None] = reactive(None, init=False)

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self._previewed: dict[str, Any] | None = None

    def compose(self) -> ComposeResult:
        yield caption("alerts.title", self.lang, "pane-title")
        with VerticalScroll(id="alert-form", can_focus=False):
            for key, field, cap in (
                ("alerts.headline_ja", "headline_ja", 160),
                ("alerts.headline_en", "headline_en", 160),
                ("alerts.instruction_ja", "instruction_ja", 2000),
            ):
                with Horizontal(classes="form-row"):
                    yield caption(key, self.lang, "field-label wide")
                    yield Input(id=f"alert-{field}", compact=True, max_length=cap)
            with Horizontal(classes="form-row"):
                yield caption("alerts.severity", self.lang, "field-label wide")
                yield Select(
                    self._severity_options(),
                    value="severe",
                    allow_blank=False,
                    compact=True,
                    id="alert-severity",
                )
            with Horizontal(classes="form-row"):
                yield caption("alerts.expires", self.lang, "field-label wide")
                yield Select(
                    self._expiry_options(),
                    value=6,
                    allow_blank=False,
                    compact=True,
                    id="alert-expires",
                )
            with Horizontal(classes="form-row"):
                yield caption("alerts.targets", self.lang, "field-label wide")
                yield Input(id="alert-targets", compact=True, max_length=400)
            with Horizontal(classes="form-row"):
                yield labelled(
                    Button(label("alerts.preview", self.lang), id="alert-preview", compact=True),
                    "alerts.preview",
                )
                yield labelled(
                    Button(label("alerts.issue", self.lang), id="alert-issue", compact=True),
                    "alerts.issue",
                )
            yield Static("", id="alert-preview-title", classes="section-title")
            yield Static("", id="alert-preview-body")

    def _severity_options(self) -> list[tuple[str, str]]:
        return [(severity_text(s, self.lang), s) for s in SEVERITIES]

    def _expiry_options(self) -> list[tuple[str, int]]:
        return [(label("hours", self.lang, n=h), h) for h in EXPIRY_HOURS]

    def watch_lang(self) -> None:
        for select, options in (
            (self.query_one("#alert-severity", Select), self._severity_options()),
            (self.query_one("#alert-expires", Select), self._expiry_options()),
        ):
            value = select.value
            select.set_options(options)
            select.value = value
        super().watch_lang()

    def watch_preview(self) -> None:
        self.render_data()

    def draft(self) -> dict[str, Any]:
        def value(field: str) -> str:
            return self.query_one(f"#alert-{field}", Input).value.strip()

        headline = {"ja": value("headline_ja")}
        if value("headline_en"):
            headline["en"] = value("headline_en")
        alert: dict[str, Any] = {
            "headline": headline,
            "severity": self.query_one("#alert-severity", Select).value,
            "expires_in_s": int(self.query_one("#alert-expires", Select).value) * 3600,  # type: ignore[arg-type]
            "targets": value("targets").replace(",", " ").split(),
        }
        if value("instruction_ja"):
            alert["instruction"] = {"ja": value("instruction_ja")}
        return alert

    def render_data(self) -> None:
        lang = self.lang
        title = self.query_one("#alert-preview-title", Static)
        body = self.query_one("#alert-preview-body", Static)
        if self.preview is None:
            title.update("")
            body.update(label("alerts.preview_none", lang))
            return
        title.update(label("alerts.preview_title", lang))
        body.update(alert_preview(self.preview, self.now_ms(), lang))

    def on_input_changed(self, event: Input.Changed) -> None:
        if self._previewed is not None and self.draft() != self._previewed:
            self._previewed = None
            self.preview = None

    def on_select_changed(self, event: Select.Changed) -> None:
        self.on_input_changed(None)  # type: ignore[arg-type]

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.request_preview()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "alert-preview":
            self.request_preview()
        elif event.button.id == "alert-issue":
            self.request_issue()

    def request_preview(self) -> None:
        draft = self.draft()
        if not draft["headline"]["ja"]:
            self.notify(label("dialog.required", self.lang), severity="warning")
            self.query_one("#alert-headline_ja", Input).focus()
            return
        self.post_message(AlertDrafted(draft))

    def show_preview(self, draft: dict[str, Any], preview: dict[str, Any]) -> None:
        """The app's answer to ``AlertDrafted``: the checked alert, ready to issue."""
        self._previewed = draft
        self.preview = preview
        self.query_one("#alert-issue", Button).focus()

    def request_issue(self) -> None:
        draft = self.draft()
        if self._previewed is None or draft != self._previewed or self.preview is None:
            self.notify(label("alerts.need_preview", self.lang), severity="warning")
            return
        targets = " ".join(draft["targets"]) or label("alerts.all", self.lang)
        question = label(
            "alerts.confirm", self.lang, targets=targets, headline=draft["headline"]["ja"]
        )

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.post_message(AlertConfirmed(draft))

        self.app.push_screen(ConfirmDialog(question, self.lang), confirmed)

    def clear_form(self) -> None:
        for field in ("headline_ja", "headline_en", "instruction_ja", "targets"):
            self.query_one(f"#alert-{field}", Input).value = ""
        self._previewed = None
        self.preview = None
        self.query_one("#alert-headline_ja", Input).focus()


# -- safety registrations -------------------------------------------------------------------

SAFETY_COLUMNS = ("name", "reading", "age", "district", "shelter", "updated")


def age_or_year(person: dict[str, Any]) -> str:
    if person.get("age", -1) >= 0:
        return str(person["age"])
    return str(person["birth_year"]) if person.get("birth_year") else "—"


class SafetyPane(Pane):
    """Search the listed registrations; ``n`` registers someone without a phone, ``e``
    corrects and ``c`` un-lists a registration this shelter entered."""

    FOCUS = "#safety-q"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "register", "key.new_person"),
        Binding("e", "correct", "key.correct"),
        Binding("c", "unlist", "key.unlist"),
    ]

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.query_text = ""

    def compose(self) -> ComposeResult:
        yield caption("safety.title", self.lang, "pane-title")
        with Horizontal(classes="form-row"):
            yield caption("safety.search", self.lang, "field-label wide")
            yield Input(id="safety-q", compact=True, max_length=60)
        yield IncrementalTable(SAFETY_COLUMNS, id="safety-table")
        yield Static("", id="safety-note")

    def _selected(self) -> dict[str, Any] | None:
        key = self.query_one(IncrementalTable).selected_key()
        persons = (self.data or {}).get("persons", [])
        return next((p for p in persons if p["person_id"] == key), None)

    def render_data(self) -> None:
        lang = self.lang
        persons = (self.data or {}).get("persons", [])
        now = self.now_ms()
        rows = [
            (
                p["person_id"],
                (
                    clip(p.get("name", ""), 16),
                    clip(p.get("reading", ""), 16),
                    age_or_year(p),
                    clip(p.get("district", ""), 12),
                    Text(p.get("shelter", ""), style="" if p.get("own") else "dim"),
                    label("safety.waiting", lang)
                    if p.get("waiting")
                    else age_text(p.get("time_ms"), now, lang),
                ),
            )
            for p in persons
        ]
        self.query_one(IncrementalTable).show_rows(
            rows, lang, lambda col: label(f"safety.col.{col}", lang)
        )
        note = "safety.none" if self.data is not None and not rows else "safety.hint"
        self.query_one("#safety-note", Static).update(label(note, lang))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_text = event.value.strip()
        if self.query_text:
            self.post_message(PersonSearched(self.query_text))
            self.query_one(IncrementalTable).focus()

    def action_register(self) -> None:
        def entered(fields: dict[str, Any] | None) -> None:
            if fields:
                self.post_message(PersonEntered("", fields))

        self.app.push_screen(PersonDialog(self.lang), entered)

    def _own_selected(self) -> dict[str, Any] | None:
        person = self._selected()
        if person is not None and not person.get("own"):
            self.notify(label("safety.other", self.lang), severity="warning")
            return None
        return person

    def action_correct(self) -> None:
        person = self._own_selected()
        if person is None:
            return
        current = {
            "family": person.get("family_name", ""),
            "given": person.get("given_name", ""),
            "reading": person.get("reading", ""),
            "age": age_or_year(person).replace("—", ""),
            "district": person.get("district", ""),
            "consent": bool(person.get("public")),
        }

        def entered(fields: dict[str, Any] | None) -> None:
            if fields:
                self.post_message(PersonEntered(person["person_id"], fields))

        self.app.push_screen(PersonDialog(self.lang, current), entered)

    def action_unlist(self) -> None:
        person = self._own_selected()
        if person is None:
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.post_message(ConsentWithdrawn(person["person_id"]))

        question = label("safety.unlist_q", self.lang, name=person.get("name", ""))
        self.app.push_screen(ConfirmDialog(question, self.lang), confirmed)

"""Every screen and key of the staff TUI, driven by key presses against a fake admin API."""

from __future__ import annotations

import io

from rich.cells import cell_len
from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import ContentSwitcher, DataTable, Input, Select, Static

from shelterkit.tui.client import Refused, Unreachable
from shelterkit.tui.dialogs import ConfirmDialog, NoticeDialog, PersonDialog, ReasonDialog
from shelterkit.tui.panes import AlertsPane, FleetPane, IncrementalTable
from tests.tui.fake import FLEET, NOW_MS, fake_app

SIZE = (80, 24)


async def settle(pilot: Pilot) -> None:
    """Let polls and actions finish (they run in workers; LAN browsing never finishes)."""
    for _ in range(3):
        await pilot.pause()
        busy = [w for w in pilot.app.workers if w.group != "lan"]
        if busy:
            await pilot.app.workers.wait_for_complete(busy)
    await pilot.pause()


def pane(pilot: Pilot) -> str:
    return pilot.app.query_one(ContentSwitcher).current or ""


def text_of(pilot: Pilot, selector: str) -> str:
    """What a person reads in a Static (plain text, tables laid out on one wide line)."""
    console = Console(width=300, record=True, file=io.StringIO())
    console.print(pilot.app.query_one(selector, Static).content)
    return console.export_text()


def column(table: DataTable, index: int) -> list[str]:
    return [str(table.get_row_at(r)[index]) for r in range(table.row_count)]


async def type_text(pilot: Pilot, text: str) -> None:
    for ch in text:
        await pilot.press(ch)


# -- fleet ---------------------------------------------------------------------------------


async def test_hub_opens_on_the_fleet_with_every_shelter() -> None:
    app, _ = fake_app("hub")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.role == "hub" and pane(pilot) == "fleet"
        table = app.query_one("#fleet-table", DataTable)
        assert column(table, 0) == ["S01", "S02", "S03", "S48"]
        assert "S48" in text_of(pilot, "#fleet-summary")  # no backhaul, seen at a glance
        assert "S02" in text_of(pilot, "#fleet-summary")  # silent for 25 minutes
        assert "直接なし" in column(table, 2)[3] and "連絡なし" in column(table, 6)[3]


async def test_fleet_sort_key_cycles_through_orders() -> None:
    app, _ = fake_app("hub")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.query_one("#fleet-table", DataTable)
        orders = []
        for _ in range(4):
            await pilot.press("s")
            await pilot.pause()
            orders.append(column(table, 0))
        assert orders == [
            ["S48", "S02", "S01", "S03"],  # never heard from, then the longest silence
            ["S03", "S01", "S48", "S02"],  # most people
            ["S02", "S48", "S01", "S03"],  # lowest battery, unknown last
            ["S01", "S02", "S03", "S48"],  # back to ids
        ]
        assert "人数の多い順" not in text_of(pilot, "#fleet-title")


async def test_fleet_poll_updates_only_changed_cells() -> None:
    app, fake = fake_app("hub")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        fleet = app.query_one(FleetPane)
        table = app.query_one("#fleet-table", IncrementalTable)
        renders, clears, updates = [], [], []
        original_render, original_clear = fleet.render_data, table.clear
        original_update = table.update_cell
        fleet.render_data = lambda: (renders.append(1), original_render())[1]  # type: ignore[method-assign]
        table.clear = lambda *a, **k: (clears.append(1), original_clear(*a, **k))[1]  # type: ignore[method-assign]
        table.update_cell = lambda *a, **k: (updates.append(a[:2]), original_update(*a, **k))[1]  # type: ignore[method-assign]

        await pilot.press("r")  # same data: nothing repainted
        await settle(pilot)
        assert renders == [] and clears == [] and updates == []

        fake.shelters[0]["headcount"] = 90
        await pilot.press("r")
        await settle(pilot)
        assert renders == [1] and clears == []
        assert updates == [(FLEET[0]["node"], "headcount")]
        assert table.get_row_at(0)[4] == "90"

        # A longer value widens its column instead of being cut.
        fake.shelters[2]["needs"] = {n: "critical" for n in ("water", "food", "blankets")}
        await pilot.press("r")
        await settle(pilot)
        needs = table.get_row_at(2)[7]
        assert needs == "水!! 食!! 毛布!!"
        assert table.columns["needs"].content_width >= cell_len(needs)


async def test_hub_has_no_shelter_screens() -> None:
    app, _ = fake_app("hub")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for key in "345":
            await pilot.press(key)
            await settle(pilot)
            assert pane(pilot) == "fleet"
        await pilot.press("2")
        await settle(pilot)
        assert pane(pilot) == "node"


# -- node detail -----------------------------------------------------------------------------


async def test_node_detail_shows_health_links_and_peers() -> None:
    app, fake = fake_app("node")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.role == "node" and pane(pilot) == "node"
        assert fake.called("node")
        health = text_of(pilot, "#node-health")
        for needle in (
            "1234",
            "3.3 MB",
            "01-15 17:00 JST",
            "http://10.0.0.1:8080/",
            "http:up",
            "電波 41.2秒/時（上限の11%）",
        ):
            assert needle in health, needle
        peers = text_of(pilot, "#node-peers")
        assert "S48" in peers and "7分前" in peers


async def test_node_detail_shows_recent_log_lines_newest_last_with_level_words() -> None:
    app, fake = fake_app("node")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        lines = text_of(pilot, "#node-log").splitlines()
        assert lines[0].startswith("16:10:00 [情報] discovery.lan: discovery: added S02")
        assert lines[1].startswith("16:40:00 [警告] service.scheduler: sync with")
        assert lines[2].startswith("16:57:00 [情報] admin.node_api: staff at")
        asked = fake.called("recent_log")
        assert asked[0] == 0 and set(asked[1:]) <= {3}  # after the first, only what is new
        # the next refresh asks only for what is new, and adds it at the bottom
        fake.log_lines.append(
            {
                "seq": 4,
                "time_ms": NOW_MS,
                "level": "error",
                "source": "storage",
                "text": "disk full",
            }
        )
        await pilot.press("r")
        await settle(pilot)
        assert fake.called("recent_log")[len(asked)] == 3
        lines = text_of(pilot, "#node-log").splitlines()
        assert len(lines) == 4 and lines[3] == "17:00:00 [異常] storage: disk full"
        await pilot.press("l")
        await settle(pilot)
        assert text_of(pilot, "#node-log").splitlines()[1].startswith("16:40:00 [WARN] ")


async def test_log_starts_again_when_the_node_restarted() -> None:
    app, fake = fake_app("node")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        fake.log_lines = [
            {"seq": 1, "time_ms": NOW_MS, "level": "info", "source": "service", "text": "started"}
        ]
        before = len(fake.called("recent_log"))
        await pilot.press("r")
        await settle(pilot)
        assert fake.called("recent_log")[before:] == [3, 0]
        assert text_of(pilot, "#node-log").strip() == "17:00:00 [情報] service: started"
        assert app.log_since == 1


async def test_log_unavailable_on_a_node_without_it_keeps_the_rest() -> None:
    app, fake = fake_app("node")

    async def no_log(since: int) -> dict:
        raise Refused("not_found", "Not Found", 404)

    fake.recent_log = no_log  # type: ignore[method-assign]
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.error is None
        assert "1234" in text_of(pilot, "#node-health")
        assert "ログを取得できません" in text_of(pilot, "#node-log")


async def test_a_malformed_log_answer_is_not_shown_and_breaks_nothing() -> None:
    app, fake = fake_app("node")
    answers = [
        {"lines": [{"time_ms": "now"}, {"time_ms": NOW_MS, "level": "evil", "text": "y" * 900}]}
        | {"last": 2},
        {"lines": "nothing"},  # no line number
    ]

    async def odd_log(since: int) -> dict:
        return answers.pop(0) if answers else {"lines": [], "last": 2}

    fake.recent_log = odd_log  # type: ignore[method-assign]
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        shown = text_of(pilot, "#node-log")
        assert shown.startswith("17:00:00 [情報] : ") and "y" * 40 in shown
        assert list(app.log_lines) == [
            {"time_ms": NOW_MS, "level": "info", "source": "", "text": "y" * 400}
        ]
        assert app.log_since == 2 and pane(pilot) == "node"
        # the second poll at start brought no line number: said, not crashed
        assert answers == [] and app.error is not None and app.error.code == "bad_answer"
        await pilot.press("r")
        await settle(pilot)
        assert app.error is None and len(app.log_lines) == 1


async def test_node_has_no_fleet_or_alert_screens() -> None:
    app, _ = fake_app("node")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        for key in "16":
            await pilot.press(key)
            await settle(pilot)
            assert pane(pilot) == "node"


# -- board moderation ------------------------------------------------------------------------


async def open_board(pilot: Pilot) -> DataTable:
    await settle(pilot)
    await pilot.press("3")
    await settle(pilot)
    assert pane(pilot) == "board"
    return pilot.app.query_one("#board-table", DataTable)


async def test_hide_a_post_with_a_reason() -> None:
    app, fake = fake_app("node")
    async with app.run_test(size=SIZE) as pilot:
        table = await open_board(pilot)
        assert column(table, 5) == ["表示中", "表示中", "非表示", "表示中"]
        await pilot.press("h")
        await pilot.pause()
        assert isinstance(app.screen, ReasonDialog)
        await type_text(pilot, "spam")
        await pilot.press("enter")
        await settle(pilot)
        assert fake.called("moderate") == [("01" * 16, "hide", "spam")]
        assert column(table, 5)[0] == "非表示"
        assert "spam" in column(table, 4)[0]


async def test_restore_a_hidden_post_with_a_reason() -> None:
    app, fake = fake_app("node")
    async with app.run_test(size=SIZE) as pilot:
        table = await open_board(pilot)
        await pilot.press("down", "down", "u")
        await pilot.pause()
        await type_text(pilot, "ok")
        await pilot.press("enter")
        await settle(pilot)
        assert fake.called("moderate") == [("03" * 16, "restore", "ok")]
        assert column(table, 5)[2] == "表示中"


async def test_moderation_needs_a_reason_and_escape_cancels() -> None:
    app, fake = fake_app("node")
    async with app.run_test(size=SIZE) as pilot:
        await open_board(pilot)
        await pilot.press("h")
        await pilot.pause()
        await pilot.press("enter")  # empty reason: asked again
        await pilot.pause()
        assert isinstance(app.screen, ReasonDialog)
        assert "入力してください" in str(app.screen.query_one("#dialog-error", Static).content)
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, ReasonDialog)
        assert fake.called("moderate") == []


async def test_other_shelters_posts_cannot_be_moderated() -> None:
    app, fake = fake_app("node")
    async with app.run_test(size=SIZE) as pilot:
        await open_board(pilot)
        await pilot.press("down", "down", "down", "h")
        await settle(pilot)
        assert not isinstance(app.screen, ReasonDialog)
        assert fake.called("moderate") == []


# -- headcount and needs ---------------------------------------------------------------------


async def test_status_form_is_filled_and_sends_a_status_record() -> None:
    app, fake = fake_app("node")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("4")
        await settle(pilot)
        headcount = app.query_one("#count-headcount", Input)
        assert app.focused is headcount and headcount.value == "87"
        assert app.query_one("#need-blankets", Select).value == "critical"
        await pilot.press("end", "backspace", "backspace")
        await type_text(pilot, "92")
        await pilot.press("enter")
        await settle(pilot)
        (sent,) = fake.called("send_status")
        assert sent == {
            "headcount": 92,
            "households": 31,
            "needs_care": 5,
            "needs": {
                "water": "high",
                "food": "none",
                "medicine": "low",
                "blankets": "critical",
                "power": "none",
            },
        }
        assert "前回の送信" in text_of(pilot, "#status-last")


async def test_status_need_chosen_with_keys_and_sent_with_the_button() -> None:
    app, fake = fake_app("node")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("4")
        await settle(pilot)
        app.query_one("#need-food", Select).focus()
        await pilot.press("enter", "down", "down", "down", "enter")
        await pilot.pause()
        assert app.query_one("#need-food", Select).value == "critical"
        await pilot.click("#status-send")
        await settle(pilot)
        (sent,) = fake.called("send_status")
        assert sent["needs"]["food"] == "critical"


async def test_escape_leaves_a_field_so_screen_keys_work() -> None:
    app, _ = fake_app("node")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("4")
        await settle(pilot)
        await pilot.press("3")  # typed into the headcount field
        assert pane(pilot) == "status"
        assert "3" in app.query_one("#count-headcount", Input).value
        await pilot.press("escape")
        assert app.focused is None
        await pilot.press("tab")  # back into the form, at its first field
        assert app.focused is app.query_one("#count-headcount", Input)
        await pilot.press("escape", "3")
        await settle(pilot)
        assert pane(pilot) == "board"


# -- notices ---------------------------------------------------------------------------------


async def open_notices(pilot: Pilot) -> DataTable:
    await settle(pilot)
    await pilot.press("5")
    await settle(pilot)
    return pilot.app.query_one("#notices-table", DataTable)


async def test_add_a_notice() -> None:
    app, fake = fake_app("node")
    async with app.run_test(size=SIZE) as pilot:
        table = await open_notices(pilot)
        assert column(table, 2) == ["掲示中", "取り下げ済み"]
        await pilot.press("a")
        await pilot.pause()
        assert isinstance(app.screen, NoticeDialog)
        await type_text(pilot, "water")
        await pilot.press("tab", "tab")
        await type_text(pilot, "10:00")
        await pilot.press("enter")
        await settle(pilot)
        assert fake.called("add_notice") == [({"ja": "water"}, {"ja": "10:00"})]
        assert column(table, 1)[0] == "water"


async def test_a_notice_needs_a_title() -> None:
    app, fake = fake_app("node")
    async with app.run_test(size=SIZE) as pilot:
        await open_notices(pilot)
        await pilot.press("a")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, NoticeDialog)
        await pilot.press("escape")
        await settle(pilot)
        assert fake.called("add_notice") == []


async def test_withdraw_a_notice_after_confirming() -> None:
    app, fake = fake_app("node")
    async with app.run_test(size=SIZE) as pilot:
        table = await open_notices(pilot)
        await pilot.press("w")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog) and "食事の時間" in app.screen.question
        await pilot.press("n")
        await settle(pilot)
        assert fake.called("withdraw_notice") == []
        await pilot.press("w")
        await pilot.pause()
        await pilot.press("y")
        await settle(pilot)
        assert fake.called("withdraw_notice") == ["meals"]
        assert column(table, 2)[0] == "取り下げ済み"
        await pilot.press("down", "w")  # already withdrawn: nothing to ask
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmDialog)


# -- alerts ----------------------------------------------------------------------------------


async def open_alerts(pilot: Pilot) -> AlertsPane:
    await settle(pilot)
    await pilot.press("6")
    await settle(pilot)
    assert pane(pilot) == "alerts"
    return pilot.app.query_one(AlertsPane)


async def test_compose_preview_and_issue_an_alert() -> None:
    app, fake = fake_app("hub")
    async with app.run_test(size=SIZE) as pilot:
        alerts = await open_alerts(pilot)
        await type_text(pilot, "Evacuate now")
        await pilot.press("enter")
        await settle(pilot)
        assert fake.called("preview_alert")
        assert alerts.preview is not None and "プレビュー" in text_of(pilot, "#alert-preview-title")
        assert fake.called("issue_alert") == []  # nothing issued by a preview
        await pilot.press("enter")  # the issue button has the focus after a preview
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog) and "全避難所" in app.screen.question
        await pilot.press("y")
        await settle(pilot)
        assert fake.called("issue_alert") == [
            {
                "headline": {"ja": "Evacuate now"},
                "severity": "severe",
                "expires_in_s": 6 * 3600,
                "targets": [],
            }
        ]
        assert app.query_one("#alert-headline_ja", Input).value == ""
        assert alerts.preview is None


async def test_alert_with_every_field_and_targets() -> None:
    app, fake = fake_app("hub")
    async with app.run_test(size=SIZE) as pilot:
        await open_alerts(pilot)
        app.query_one("#alert-headline_ja", Input).value = "避難指示"
        app.query_one("#alert-headline_en", Input).value = "Evacuate"
        app.query_one("#alert-instruction_ja", Input).value = "高台へ"
        app.query_one("#alert-severity", Select).value = "extreme"
        app.query_one("#alert-expires", Select).value = 1
        app.query_one("#alert-targets", Input).value = "S01, S48"
        await pilot.click("#alert-preview")
        await settle(pilot)
        await pilot.click("#alert-issue")
        await pilot.pause()
        assert "S01 S48" in app.screen.question  # type: ignore[attr-defined]
        await pilot.press("y")
        await settle(pilot)
        assert fake.called("issue_alert") == [
            {
                "headline": {"ja": "避難指示", "en": "Evacuate"},
                "instruction": {"ja": "高台へ"},
                "severity": "extreme",
                "expires_in_s": 3600,
                "targets": ["S01", "S48"],
            }
        ]


async def test_alert_is_not_issued_unless_previewed_as_it_stands() -> None:
    app, fake = fake_app("hub")
    async with app.run_test(size=SIZE) as pilot:
        alerts = await open_alerts(pilot)
        await pilot.click("#alert-issue")  # nothing previewed
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmDialog)
        await pilot.press("enter")  # empty headline: no preview either
        await settle(pilot)
        assert fake.called("preview_alert") == []
        app.query_one("#alert-headline_ja", Input).focus()
        await type_text(pilot, "A")
        await pilot.press("enter")
        await settle(pilot)
        assert alerts.preview is not None
        app.query_one("#alert-headline_ja", Input).value = "B"  # changed after the preview
        await pilot.pause()
        assert alerts.preview is None
        await pilot.click("#alert-issue")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmDialog)
        await pilot.press("escape")
        assert fake.called("issue_alert") == []


async def test_alert_refused_by_the_hub_is_said_and_kept() -> None:
    app, fake = fake_app("hub")
    async with app.run_test(size=SIZE) as pilot:
        await open_alerts(pilot)
        await type_text(pilot, "A")
        await pilot.press("enter")
        await settle(pilot)
        fake.error = Refused("invalid", "headline: too long")
        await pilot.press("enter", "y")
        await settle(pilot)
        assert app.query_one("#alert-headline_ja", Input).value == "A"
        assert any("too long" in str(n.message) for n in app._notifications)


# -- language, connection, targets -----------------------------------------------------------


async def test_language_key_switches_every_label() -> None:
    app, _ = fake_app("hub")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("l")
        await settle(pilot)
        assert app.lang == "en"
        assert "shelterkit staff" in text_of(pilot, "#bar")
        table = app.query_one("#fleet-table", DataTable)
        assert [str(c.label) for c in table.columns.values()][:3] == ["ID", "Shelter", "State"]
        assert "indirect" in column(table, 2)[3]
        assert "City hall does not hear" in text_of(pilot, "#fleet-summary")
        await pilot.press("6")
        await settle(pilot)
        assert app.query_one("#alert-severity", Select).value == "severe"
        await pilot.press("escape", "l")
        await settle(pilot)
        assert app.lang == "ja" and "職員用" in text_of(pilot, "#bar")


async def test_unreachable_node_is_said_plainly_and_data_kept() -> None:
    app, fake = fake_app("hub")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        fake.error = Unreachable("unreachable", "Connection refused")
        await pilot.press("r")
        await settle(pilot)
        banner = app.query_one("#banner", Static)
        assert banner.display and "接続できません" in text_of(pilot, "#banner")
        assert "Connection refused" in text_of(pilot, "#banner")
        assert app.query_one("#fleet-table", DataTable).row_count == 4
        fake.error = None
        await pilot.press("r")
        await settle(pilot)
        assert not banner.display and "接続中" in text_of(pilot, "#bar")


async def test_wrong_and_expired_token_are_said_plainly() -> None:
    for code, words in (("unauthorized", "トークンが違います"), ("expired", "期限が切れました")):
        app, fake = fake_app("node")
        fake.error = Refused(code, "", 401)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            banner = app.query_one("#banner", Static)
            assert banner.display and words in text_of(pilot, "#banner")
            assert app.role is None


async def test_an_address_that_is_not_a_staff_api_is_said_plainly() -> None:
    app, fake = fake_app("node")
    fake.error = Refused("not_found", "Not Found", 404)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "職員用の窓口ではありません" in text_of(pilot, "#banner")


async def test_polls_coalesce() -> None:
    app, fake = fake_app("node")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        before = len(fake.called("status"))
        for _ in range(10):
            app.action_poll()
        await settle(pilot)
        assert 1 <= len(fake.called("status")) - before <= 2


async def test_target_key_switches_between_nodes() -> None:
    app, first = fake_app("node", targets=2)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "8090" in text_of(pilot, "#bar")
        await pilot.press("t")
        await settle(pilot)
        assert first.closed and app.client is not first
        assert app.client.called("status")  # type: ignore[attr-defined]
        assert "8091" in text_of(pilot, "#bar")


async def test_target_key_hidden_with_one_target() -> None:
    app, first = fake_app("node")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("t")
        await settle(pilot)
        assert app.client is first and not first.closed


async def test_quit_key() -> None:
    app, fake = fake_app("node")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("q")
        await pilot.pause()
    assert fake.closed
    assert NOW_MS  # the fake's clock is fixed


# -- safety registrations --------------------------------------------------------------------


async def search_safety(pilot: Pilot, query: str = "やまだ") -> DataTable:
    await settle(pilot)
    await pilot.press("7")
    await settle(pilot)
    assert pane(pilot) == "safety"
    await type_text(pilot, query)
    await pilot.press("enter")
    await settle(pilot)
    return pilot.app.query_one("#safety-table", DataTable)


async def test_search_safety_registrations() -> None:
    app, fake = fake_app("node")
    async with app.run_test(size=SIZE) as pilot:
        table = await search_safety(pilot)
        assert fake.called("search_persons")[-1] == "やまだ"
        assert column(table, 0) == ["山田 花子", "山田 太郎"]
        assert column(table, 2) == ["82", "1950"]
        assert app.focused is table
        fake.calls.clear()
        await pilot.press("r")  # a refresh repeats the search
        await settle(pilot)
        assert fake.called("search_persons") == ["やまだ"]


async def test_register_someone_without_a_phone() -> None:
    app, fake = fake_app("node")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("7")
        await settle(pilot)
        await pilot.press("escape", "n")
        await pilot.pause()
        assert isinstance(app.screen, PersonDialog)
        await type_text(pilot, "Sato")
        await pilot.press("tab")
        await type_text(pilot, "Ichiro")
        await pilot.press("tab", "tab")
        await type_text(pilot, "77")
        await pilot.press("enter")
        await settle(pilot)
        assert fake.called("add_person") == [
            {
                "family": "Sato",
                "given": "Ichiro",
                "reading": "",
                "age": "77",
                "district": "",
                "contact": "",
                "consent": False,
            }
        ]
        assert any("abcd-efgh-ijkl" in str(n.message) for n in app._notifications)


async def test_actions_the_node_queued_say_they_wait_to_be_sent() -> None:
    app, fake = fake_app("node")
    fake.queued = True  # the node was just started and no peer has answered yet
    fake.persons[0]["waiting"] = True
    async with app.run_test(size=SIZE) as pilot:
        table = await search_safety(pilot)
        assert column(table, 5)[0] == "送信待ち"  # instead of how long ago
        await pilot.press("escape", "n")
        await pilot.pause()
        await type_text(pilot, "Sato")
        await pilot.press("enter")
        await settle(pilot)
        (message,) = [str(n.message) for n in app._notifications if "abcd" in str(n.message)]
        assert "abcd-efgh-ijkl" in message and "送信待ち" in message


async def test_a_registration_needs_a_name() -> None:
    app, fake = fake_app("node")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("7")
        await settle(pilot)
        await pilot.press("escape", "n")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, PersonDialog)
        await pilot.press("escape")
        await settle(pilot)
        assert fake.called("add_person") == []


async def test_correct_a_registration_of_this_shelter() -> None:
    app, fake = fake_app("node")
    async with app.run_test(size=SIZE) as pilot:
        await search_safety(pilot)
        await pilot.press("e")
        await pilot.pause()
        assert isinstance(app.screen, PersonDialog)
        assert app.screen.query_one("#person-family", Input).value == "山田"
        age = app.screen.query_one("#person-age", Input)
        age.value = "83"
        age.focus()
        await pilot.press("enter")
        await settle(pilot)
        ((person_id, fields),) = fake.called("correct_person")
        assert person_id == "p7k2mq4xhw3a"
        assert fields["age"] == "83" and fields["family"] == "山田" and fields["consent"] is True


async def test_unlist_after_confirming_and_not_other_shelters() -> None:
    app, fake = fake_app("node")
    async with app.run_test(size=SIZE) as pilot:
        await search_safety(pilot)
        await pilot.press("down", "e")  # S02's registration: not ours to change
        await pilot.pause()
        assert not isinstance(app.screen, PersonDialog)
        await pilot.press("up", "c")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog) and "山田 花子" in app.screen.question
        await pilot.press("y")
        await settle(pilot)
        assert fake.called("withdraw_consent") == ["p7k2mq4xhw3a"]
        table = app.query_one("#safety-table", DataTable)
        assert column(table, 0) == ["山田 太郎"]

"""What staff see, at 80×24 (a console or SSH) and 120×40 (a laptop), driven by keys.

Fixed fake data and a fixed clock make the pictures repeatable; after a deliberate change
to the screens, regenerate them with ``pytest tests/tui --snapshot-update`` and look.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from shelterkit.tui.client import Refused, Unreachable
from tests.tui.fake import FakeAdmin, fake_app, fake_lan_app
from tests.tui.test_app import settle

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]


def keys(*presses: str, then: Callable[[FakeAdmin], None] | None = None, fake: FakeAdmin):
    """A ``run_before`` that presses ``presses`` one by one, letting each settle."""

    async def run(pilot: Pilot) -> None:
        await settle(pilot)
        for key in presses:
            await pilot.press(key)
            await settle(pilot)
        if then is not None:
            then(fake)
            await pilot.press("r")
            await settle(pilot)
        for screen in pilot.app.screen_stack:  # a steady cursor, not a blinking one
            for field in screen.query(Input):
                field.cursor_blink = False
        await pilot.pause()

    return run


def snap(snap_compare, size, role: str, *presses: str, lang: str = "ja", then=None) -> bool:
    app, fake = fake_app(role, lang=lang)
    run: Callable[[Pilot], Awaitable[None]] = keys(*presses, then=then, fake=fake)
    return snap_compare(app, terminal_size=size, run_before=run)


@pytest.mark.parametrize("size", SIZES)
def test_fleet(snap_compare, size) -> None:
    assert snap(snap_compare, size, "hub")


@pytest.mark.parametrize("size", SIZES)
def test_fleet_sorted_by_contact_in_english(snap_compare, size) -> None:
    assert snap(snap_compare, size, "hub", "l", "s")


@pytest.mark.parametrize("size", SIZES)
def test_node_detail(snap_compare, size) -> None:
    assert snap(snap_compare, size, "node")


@pytest.mark.parametrize("size", SIZES)
def test_board(snap_compare, size) -> None:
    assert snap(snap_compare, size, "node", "3")


@pytest.mark.parametrize("size", SIZES)
def test_board_reason_dialog(snap_compare, size) -> None:
    assert snap(snap_compare, size, "node", "3", "h", "s", "p", "a", "m")


@pytest.mark.parametrize("size", SIZES)
def test_headcount_and_needs(snap_compare, size) -> None:
    assert snap(snap_compare, size, "node", "4")


@pytest.mark.parametrize("size", SIZES)
def test_notices(snap_compare, size) -> None:
    assert snap(snap_compare, size, "node", "5")


@pytest.mark.parametrize("size", SIZES)
def test_alert_preview(snap_compare, size) -> None:
    assert snap(snap_compare, size, "hub", "6", *"Evacuate now", "enter")


@pytest.mark.parametrize("size", SIZES)
def test_node_unreachable(snap_compare, size) -> None:
    def down(fake: FakeAdmin) -> None:
        fake.error = Unreachable("unreachable", "Connection refused")

    assert snap(snap_compare, size, "node", then=down)


@pytest.mark.parametrize("size", SIZES)
def test_token_expired(snap_compare, size) -> None:
    def expired(fake: FakeAdmin) -> None:
        fake.error = Refused("expired", "token expired", 401)

    assert snap(snap_compare, size, "hub", then=expired)


@pytest.mark.parametrize("size", SIZES)
def test_safety_search(snap_compare, size) -> None:
    assert snap(snap_compare, size, "node", "7", *"やまだ", "enter")


@pytest.mark.parametrize("size", SIZES)
def test_safety_register_dialog(snap_compare, size) -> None:
    assert snap(snap_compare, size, "node", "7", "escape", "n", *"Sato")


def snap_lan(snap_compare, size, *presses: str, lang: str = "ja") -> bool:
    app, _, _ = fake_lan_app(lang=lang)
    run: Callable[[Pilot], Awaitable[None]] = keys(*presses, fake=None)  # type: ignore[arg-type]
    return snap_compare(app, terminal_size=size, run_before=run)


@pytest.mark.parametrize("size", SIZES)
def test_lan_nodes(snap_compare, size) -> None:
    assert snap_lan(snap_compare, size)


@pytest.mark.parametrize("size", SIZES)
def test_lan_nodes_in_english(snap_compare, size) -> None:
    assert snap_lan(snap_compare, size, lang="en")

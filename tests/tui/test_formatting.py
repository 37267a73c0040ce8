"""The TUI's pure helpers and its label catalog, without Textual."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import shelterkit.tui
from shelterkit.tui.formatting import (
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
    until_text,
)
from shelterkit.tui.labels import CATALOG, label, other_language

NOW = 1_800_000_000_000


@pytest.mark.parametrize(
    ("ago_ms", "ja", "en"),
    [
        (0, "たった今", "just now"),
        (9_999, "たった今", "just now"),
        (42_000, "42秒前", "42 s ago"),
        (3 * 60_000 + 59_000, "3分前", "3 min ago"),
        (2 * 3600_000, "2時間前", "2 h ago"),
        (3 * 86400_000, "3日前", "3 d ago"),
        (-60_000, "たった今", "just now"),  # a clock ahead of ours is not "in the future"
    ],
)
def test_age_text(ago_ms: int, ja: str, en: str) -> None:
    assert age_text(NOW - ago_ms, NOW, "ja") == ja
    assert age_text(NOW - ago_ms, NOW, "en") == en


def test_age_of_nothing() -> None:
    assert age_text(None, NOW, "ja") == "—"


def test_until_text() -> None:
    assert until_text(NOW + 6 * 3600_000, NOW, "ja") == "6時間後"
    assert until_text(NOW + 30 * 60_000, NOW, "en") == "in 30 min"
    assert until_text(NOW + 2 * 86400_000, NOW, "ja") == "2日後"
    assert until_text(NOW + 6 * 3600_000 - 1500, NOW, "ja") == "6時間後"
    assert until_text(NOW + 24 * 3600_000 - 1500, NOW, "en") == "in 1 d"
    assert until_text(NOW - 5_000, NOW, "en") == "in 0 min"


def test_clock_text_is_japan_time() -> None:
    assert clock_text(NOW) == "01-15 17:00"
    assert clock_text(None) == "—"


@pytest.mark.parametrize(
    ("pct", "bar"),
    [
        (100, "█████ 100%"),
        (80, "████░  80%"),
        (15, "█░░░░  15%"),
        (0, "░░░░░   0%"),
        (-1, "—"),
        (None, "—"),
        (140, "█████ 100%"),
    ],
)
def test_battery_bar(pct: int | None, bar: str) -> None:
    assert battery_bar(pct) == bar


def test_contact_state() -> None:
    assert contact_state(NOW - 5_000, NOW) is ContactState.OK
    assert contact_state(NOW - 11 * 60_000, NOW) is ContactState.STALE
    assert contact_state(None, NOW) is ContactState.UNCOVERED
    assert contact_state(NOW, NOW, revoked=True) is ContactState.REVOKED


def test_severity_and_need_words() -> None:
    assert severity_text("extreme", "ja") == "極めて重大"
    assert severity_text("minor", "en") == "minor"
    assert severity_text("apocalyptic", "ja") == "不明"
    assert need_text("critical", "ja") == "緊急"
    assert need_text("bogus", "en") == "enough"


def test_needs_summary_marks_the_urgent() -> None:
    needs = {"water": "high", "food": "none", "blankets": "critical", "power": "low"}
    assert needs_summary(needs, "ja") == "水! 毛布!! 電源"
    assert needs_summary(needs, "en") == "Wtr! Blkt!! Pwr"
    assert needs_summary({"water": "none"}, "ja") == "—"
    assert needs_summary(None, "ja") == "—"


def test_bytes_text() -> None:
    assert bytes_text(512) == "512 B"
    assert bytes_text(1536) == "1.5 KB"
    assert bytes_text(3_456_789) == "3.3 MB"
    assert bytes_text(5 * 1024**3) == "5.0 GB"


def test_clip_counts_wide_characters_twice() -> None:
    assert clip("abc", 5) == "abc"
    assert clip("毛布が足りません", 8) == "毛布が…"
    assert clip("a\nb   c", 10) == "a b c"
    assert len(clip("x" * 50, 10)) == 10


def test_every_catalog_entry_has_both_languages() -> None:
    for key, (ja, en) in CATALOG.items():
        assert ja and en, key
        assert set(re.findall(r"{(\w+)}", ja)) == set(re.findall(r"{(\w+)}", en)), key


def test_every_label_used_in_the_tui_is_in_the_catalog() -> None:
    source = "\n".join(p.read_text() for p in Path(shelterkit.tui.__file__).parent.glob("*.py"))
    used = set(
        re.findall(
            r"""(?:label|caption|labelled)\([^"']*["']([a-z_]+\.[a-z_]+(?:\.[a-z_]+)*)["']""",
            source,
        )
    )
    used |= set(re.findall(r"""Binding\([^)]*["'](key\.[a-z_]+)["']""", source))
    assert used, "the pattern found nothing"
    assert used <= set(CATALOG), used - set(CATALOG)


def test_unknown_key_shows_itself() -> None:
    assert label("no.such.key", "ja") == "no.such.key"
    assert other_language("ja") == "en" and other_language("en") == "ja"


def test_radio_text() -> None:
    report = {
        "state": "up",
        "airtime_hour_s": 12.34,
        "budget_fraction": 0.0343,
        "queue_depth": 2,
        "last_contact_s": 125.0,
        "neighbours": [{"station": 3}],
    }
    assert (
        radio_text(report, "ja") == "up  電波 12.3秒/時（上限の3%）  送信待ち 2  受信 2分前  隣 1"
    )
    assert "airtime 12.3 s/h (3% of budget)" in radio_text(report, "en")
    assert "受信 —" in radio_text({"state": "connecting", "last_contact_s": None}, "ja")

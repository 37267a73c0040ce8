"""Pure formatting for the staff TUI: ages, battery bars, states, needs, sizes.

Time is always passed in (``now_ms``), so these are tested without a clock or Textual.
"""

from __future__ import annotations

import enum
import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from shelterkit.tui.labels import label

# Japan has no daylight saving time; shelters show local time (config default Asia/Tokyo).
JST = timezone(timedelta(hours=9), "JST")
# A shelter city hall has not heard from for this long is shown as stale: sync runs every
# few seconds while a link is up (NodeSettings.sync_interval_s = 5), so ten minutes of
# silence means the link is down, not busy.
STALE_AFTER_MS = 10 * 60 * 1000
BATTERY_BAR_CELLS = 5
NEED_NAMES = ("water", "food", "medicine", "blankets", "power")
NEED_LEVELS = ("none", "low", "high", "critical")


def age_text(then_ms: int | None, now_ms: int, lang: str) -> str:
    """``"3分前"`` / ``"3 min ago"``; ``"—"`` when there is no time."""
    if then_ms is None:
        return label("age.none", lang)
    seconds = max(0, now_ms - then_ms) // 1000
    if seconds < 10:
        return label("age.now", lang)
    if seconds < 60:
        return label("age.s", lang, n=seconds)
    if seconds < 3600:
        return label("age.m", lang, n=seconds // 60)
    if seconds < 86400:
        return label("age.h", lang, n=seconds // 3600)
    return label("age.d", lang, n=seconds // 86400)


def until_text(then_ms: int, now_ms: int, lang: str) -> str:
    """``"6時間後"`` / ``"in 6 h"`` for a time in the future, to the nearest unit (an
    alert issued for 6 hours says 6, not 5, a second after it was written)."""
    minutes = (max(0, then_ms - now_ms) + 30_000) // 60_000
    if minutes < 60:
        return label("in.m", lang, n=minutes)
    if minutes < 24 * 60 - 30:
        return label("in.h", lang, n=(minutes + 30) // 60)
    return label("in.d", lang, n=(minutes + 12 * 60) // (24 * 60))


def clock_text(ms: int | None) -> str:
    """Wall time in Japan as ``"MM-DD HH:MM"``; ``"—"`` when unknown."""
    if ms is None:
        return "—"
    return datetime.fromtimestamp(ms / 1000, UTC).astimezone(JST).strftime("%m-%d %H:%M")


def time_of_day_text(ms: int | None) -> str:
    """Wall time in Japan as ``"HH:MM:SS"``; ``"—"`` when unknown."""
    if ms is None:
        return "—"
    return datetime.fromtimestamp(ms / 1000, UTC).astimezone(JST).strftime("%H:%M:%S")


def battery_bar(pct: int | None, cells: int = BATTERY_BAR_CELLS) -> str:
    """``"███░░  60%"``; ``"—"`` when unknown or on mains (-1)."""
    if pct is None or pct < 0:
        return "—"
    pct = min(pct, 100)
    filled = (pct * cells + 50) // 100
    return "█" * filled + "░" * (cells - filled) + f" {pct:3d}%"


class ContactState(enum.Enum):
    OK = "ok"
    STALE = "stale"
    UNCOVERED = "uncovered"  # city hall never heard from it directly
    REVOKED = "revoked"


def contact_state(last_ms: int | None, now_ms: int, *, revoked: bool = False) -> ContactState:
    if revoked:
        return ContactState.REVOKED
    if last_ms is None:
        return ContactState.UNCOVERED
    if now_ms - last_ms > STALE_AFTER_MS:
        return ContactState.STALE
    return ContactState.OK


def state_text(state: ContactState, lang: str) -> str:
    return label(f"fleet.state.{state.value}", lang)


def severity_text(severity: str, lang: str) -> str:
    """CAP severity name (``"extreme"`` …) in people's words."""
    key = f"severity.{severity}"
    return label(key if key in _SEVERITY_KEYS else "severity.unknown", lang)


_SEVERITY_KEYS = {f"severity.{s}" for s in ("extreme", "severe", "moderate", "minor", "unknown")}


def need_text(level: str, lang: str) -> str:
    return label(f"need.{level if level in NEED_LEVELS else 'none'}", lang)


def needs_summary(needs: Mapping[str, str] | None, lang: str) -> str:
    """What a shelter is short of, most urgent marked: ``"水!! 毛布!"``; ``"—"`` for nothing."""
    if not needs:
        return "—"
    marks = {"low": "", "high": "!", "critical": "!!"}
    parts = [
        label(f"needshort.{name}", lang) + marks[needs[name]]
        for name in NEED_NAMES
        if needs.get(name) in marks
    ]
    return " ".join(parts) or "—"


def bytes_text(n: int) -> str:
    """``"512 B"``, ``"1.5 KB"``, ``"12.3 MB"``, ``"1.1 GB"`` (powers of 1024)."""
    size = float(n)
    for unit in ("B", "KB", "MB"):
        if size < 1024:
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


def clip(text: str, cells: int) -> str:
    """One line of at most ``cells`` terminal cells (CJK counts two), ``…`` when cut."""
    text = " ".join(text.split())
    if sum(map(_cells, text)) <= cells:
        return text
    out: list[str] = []
    used = 0
    for ch in text:
        if used + _cells(ch) > cells - 1:
            break
        out.append(ch)
        used += _cells(ch)
    return "".join(out) + "…"


def _cells(ch: str) -> int:
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def radio_text(report: Mapping[str, Any], lang: str) -> str:
    """One radio link in a line: state, airtime used of the hourly budget, queue, last heard."""
    heard = report.get("last_contact_s")
    return label(
        "radio.line",
        lang,
        state=report.get("state", "?"),
        airtime=f"{float(report.get('airtime_hour_s', 0.0)):.1f}",
        pct=f"{100 * float(report.get('budget_fraction', 0.0)):.0f}",
        queue=int(report.get("queue_depth", 0)),
        heard="—" if heard is None else age_text(0, int(float(heard) * 1000), lang),
        neighbours=len(report.get("neighbours", ())),
    )

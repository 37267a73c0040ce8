"""docs/protocol.md describes the wire format; these tests hold it to the code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from shelterkit.sync import limits
from shelterkit.sync.messages import FIELDS, ByeReason, MessageType
from shelterkit.sync.states import TRANSITIONS

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"


def _table(marker: str) -> list[list[str]]:
    """Rows of the markdown table that follows ``<!-- marker: … -->``."""
    lines = DOC.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"<!-- {marker}:"))
    rows = []
    for line in lines[start + 3 :]:  # comment, header, separator
        if not line.startswith("|"):
            break
        rows.append([cell.strip().strip("`") for cell in line.strip("|").split("|")])
    return rows


def test_message_table_matches_the_code() -> None:
    documented: dict[MessageType, dict[str, int]] = {}
    for type_no, name, field, key, _cbor, _meaning in _table("messages"):
        mtype = MessageType(int(type_no))
        assert mtype.name == name
        documented.setdefault(mtype, {})[field] = int(key)
    assert documented == FIELDS


def test_bye_reasons_match_the_code() -> None:
    meaning = next(row[5] for row in _table("messages") if row[2] == "reason")
    for reason in ByeReason:
        assert f"{reason.value} {reason.name.lower().replace('_', ' ')}" in meaning


def test_state_table_matches_the_code() -> None:
    documented = {(state, trigger, new) for state, trigger, new in _table("states")}
    actual = {
        (state.value, trigger.value, new.value)
        for state, row in TRANSITIONS.items()
        for trigger, new in row.items()
    }
    assert documented == actual


def test_limits_table_matches_the_code() -> None:
    documented = {name: value for name, value, _meaning in _table("limits")}
    actual = {
        name: str(getattr(limits, name))
        for name in dir(limits)
        if name.isupper() and isinstance(getattr(limits, name), int | float)
    }
    assert documented == actual


def test_sync_core_imports_no_io_framework() -> None:
    code = (
        "import sys, shelterkit.sync, shelterkit.sync.memory, shelterkit.sync.session\n"
        "bad = {'asyncio', 'aiohttp', 'aiosqlite', 'serial', 'zeroconf', 'textual'}\n"
        "print(sorted(bad & {m.split('.')[0] for m in sys.modules}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_sync_benchmark_runs() -> None:
    bench = Path(__file__).resolve().parents[2] / "bench" / "sync.py"
    out = subprocess.run(
        [sys.executable, str(bench), "--records", "200"], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "wire bytes / missing bytes" in out.stdout

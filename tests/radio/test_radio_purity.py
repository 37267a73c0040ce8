"""The radio link layer imports no I/O framework and reads no clock of its own (STYLE §1–2)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import shelterkit.radio

FORBIDDEN = ("asyncio", "aiohttp", "aiosqlite", "serial", "zeroconf", "textual", "socket")


def test_radio_is_pure() -> None:
    code = (
        "import sys, pkgutil, importlib\n"
        "import shelterkit.radio as pkg\n"
        "for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "    importlib.import_module(m.name)\n"
        f"bad = [m for m in {FORBIDDEN!r} if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"radio imported: {out.stdout.strip()}"


def test_radio_takes_time_and_randomness_as_parameters() -> None:
    for path in Path(shelterkit.radio.__file__).parent.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        for needle in ("import time", "from time", "time.sleep", "random.random(", "Random()"):
            assert needle not in text, f"{path.name} uses {needle}"

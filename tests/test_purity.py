"""The pure core imports no I/O framework (DESIGN §3, STYLE §1)."""

from __future__ import annotations

import subprocess
import sys

FORBIDDEN = (
    "asyncio",
    "aiohttp",
    "aiosqlite",
    "serial",
    "zeroconf",
    "textual",
    "sqlite3",
    "socket",
)


def test_model_and_sync_are_pure() -> None:
    code = (
        "import sys, pkgutil, importlib\n"
        "import shelterkit.model, shelterkit.sync\n"
        "for pkg in (shelterkit.model, shelterkit.sync):\n"
        "    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "        importlib.import_module(m.name)\n"
        f"bad = [m for m in {FORBIDDEN!r} if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"pure core imported: {out.stdout.strip()}"

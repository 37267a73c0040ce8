"""Helpers for tests that drive real system tools, root and network namespaces.

Under ``CI=true`` such a test runs for real and fails when the machine cannot run it;
elsewhere it skips with the reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

ON_CI = os.environ.get("CI", "").lower() == "true"


def unavailable(reason: str, *, module: bool = False) -> None:
    """Skip outside CI; fail under CI, where every system test must run."""
    if ON_CI:
        pytest.fail(f"CI must run this test, but {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=module)


def need_root(why: str = "network namespaces, nftables") -> None:
    if os.geteuid() != 0:
        unavailable(f"it needs root ({why})")


def need_tool(name: str) -> str:
    path = shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/sbin/{name}") if os.access(p, os.X_OK)), None
    )
    if path is None:
        unavailable(f"{name} is not installed")
        raise AssertionError("unreachable")
    return path


def run(
    *argv: str, timeout: float = 30, check: bool = True, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        list(argv), capture_output=True, text=True, timeout=timeout, check=False, env=env
    )
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.strip()}")
    return done

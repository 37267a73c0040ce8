"""Helpers for the networking tests: real tools, root and network namespaces.

Tests that need root or a system tool run for real under ``CI=true`` and fail there when the
machine cannot run them; elsewhere they skip with the reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator

import pytest

from shelterkit.net.settings import NetworkSettings

ON_CI = os.environ.get("CI", "").lower() == "true"


def unavailable(reason: str) -> None:
    """Skip outside CI; fail under CI, where every system test must run."""
    if ON_CI:
        pytest.fail(f"CI must run this test, but {reason}")
    pytest.skip(reason)


def need_root() -> None:
    if os.geteuid() != 0:
        unavailable("it needs root (network namespaces, nftables)")


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


class System:
    """The helpers above, handed to tests through the ``system`` fixture."""

    on_ci = ON_CI
    unavailable = staticmethod(unavailable)
    need_root = staticmethod(need_root)
    need_tool = staticmethod(need_tool)
    run = staticmethod(run)


@pytest.fixture
def system() -> type[System]:
    return System


@pytest.fixture
def unique() -> str:
    """A short suffix for namespace and interface names (interface names ≤ 15 chars)."""
    return uuid.uuid4().hex[:8]


@pytest.fixture
def netns(unique: str) -> Iterator[str]:
    """One empty network namespace with loopback up, always removed."""
    need_root()
    need_tool("ip")
    name = f"sk-t-{unique}"
    run("ip", "netns", "add", name)
    try:
        run("ip", "-n", name, "link", "set", "lo", "up")
        yield name
    finally:
        run("ip", "netns", "del", name, check=False)


@pytest.fixture
def settings() -> NetworkSettings:
    return NetworkSettings()

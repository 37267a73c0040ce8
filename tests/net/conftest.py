"""Helpers for the networking tests: real tools, root and network namespaces.

Tests that need root or a system tool run for real under ``CI=true`` and fail there when the
machine cannot run them; elsewhere they skip with the reason.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from shelterkit.net.settings import NetworkSettings
from tests.system import ON_CI, need_root, need_tool, run, unavailable


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

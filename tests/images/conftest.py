"""Helpers for checking the Pi image recipe without building an image."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.provision.conftest import HUB_URL, INVENTORY, Provisioned

REPO = Path(__file__).resolve().parents[2]
IMAGES = REPO / "images"
STAGE = IMAGES / "stage-shelterkit"
FILES = STAGE / "files"


def need_tool(name: str) -> str:
    """The tool's path; a skip on a developer machine without it, a failure under CI."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} missing: scripts/bootstrap test installs it")
        pytest.skip(f"{name} missing (scripts/bootstrap test installs it)")
    return path


def need_root() -> None:
    if os.geteuid() != 0:
        if os.environ.get("CI") == "true":
            pytest.fail("the first-boot test sets file owners and needs root")
        pytest.skip("needs root to set file owners")


@pytest.fixture(scope="session")
def provisioned(tmp_path_factory: pytest.TempPathFactory) -> Provisioned:
    """Three shelters of the city (fibre, mobile, none) provisioned once."""
    root = tmp_path_factory.mktemp("small-city")
    inventory = root / "inventory.csv"
    lines = INVENTORY.read_text("utf-8").splitlines(keepends=True)
    inventory.write_text(
        "".join(line for line in lines if line.startswith(("id,", "S01,", "S02,", "S07,"))),
        "utf-8",
    )
    made = Provisioned(inventory, root / "out", root / "hub")
    assert made.run("--hub-url", HUB_URL) == 0
    return made

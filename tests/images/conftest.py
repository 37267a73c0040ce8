"""Helpers for checking the Pi image recipe without building an image."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.provision.conftest import HUB_URL, INVENTORY, Provisioned
from tests.system import unavailable

REPO = Path(__file__).resolve().parents[2]
IMAGES = REPO / "images"
STAGE = IMAGES / "stage-shelterkit"
FILES = STAGE / "files"


def need_tool(name: str) -> str:
    """The tool's path; a skip on a developer machine without it, a failure under CI."""
    path = shutil.which(name)
    if path is None:
        unavailable(f"{name} is missing (scripts/bootstrap test installs it)")
    assert path is not None
    return path


def need_root() -> None:
    if os.geteuid() != 0:
        unavailable("the first-boot test sets file owners and needs root")


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

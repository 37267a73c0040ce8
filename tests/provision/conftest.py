"""The 48-shelter inventory provisioned once for the whole package (about half a minute)."""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from shelterkit.cli import main

# A copy of the city's planning fixture (48 shelters, 7 without backhaul).
INVENTORY = Path(__file__).with_name("shelters-nasukarasuyama.csv")
HUB_URL = "http://cityhall.shelterkit.test:8080/"


@dataclass(frozen=True)
class Provisioned:
    inventory: Path
    out: Path
    hub: Path

    def copy(self, to: Path) -> Provisioned:
        """An independent copy (out and hub folders), for tests that provision again."""
        inventory = to / "inventory.csv"
        to.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.inventory, inventory)
        shutil.copytree(self.out, to / "out", symlinks=True)
        shutil.copytree(self.hub, to / "hub", symlinks=True)
        return Provisioned(inventory, to / "out", to / "hub")

    def run(self, *extra: str) -> int:
        return main(
            [
                "provision",
                "--inventory",
                str(self.inventory),
                "--out",
                str(self.out),
                "--authority",
                str(self.hub),
                *extra,
            ]
        )


def digest_tree(root: Path) -> dict[str, tuple[str, int, int]]:
    """``{relative path: (sha256, mode, mtime_ns)}`` of every file under ``root``."""
    found = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            st = path.stat()
            found[str(path.relative_to(root))] = (
                hashlib.sha256(path.read_bytes()).hexdigest(),
                st.st_mode & 0o777,
                st.st_mtime_ns,
            )
    return found


@pytest.fixture(scope="session")
def provisioned(tmp_path_factory: pytest.TempPathFactory) -> Provisioned:
    root = tmp_path_factory.mktemp("provisioned")
    inventory = root / "inventory.csv"
    shutil.copyfile(INVENTORY, inventory)
    made = Provisioned(inventory, root / "out", root / "hub")
    assert made.run("--hub-url", HUB_URL) == 0
    # the fixture's folders are shared by every test: nobody may write to them
    for path in (made.out, made.hub):
        assert path.is_dir()
    os.sync()
    return made

"""The unit files pass `systemd-analyze verify` without a single warning."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.system

REPO = Path(__file__).resolve().parents[2]
UNITS = sorted((REPO / "systemd").glob("*.service"))


def _verify_root(tmp_path: Path) -> Path:
    """A root for `systemd-analyze verify --root`: the system units, ours, and an ExecStart."""
    root = tmp_path / "root"
    units = root / "etc/systemd/system"
    units.mkdir(parents=True)
    system_units = Path("/usr/lib/systemd/system")
    if not system_units.is_dir():
        system_units = Path("/lib/systemd/system")
    shutil.copytree(system_units, root / "usr/lib/systemd/system", symlinks=True)
    program = root / "opt/shelterkit/.venv/bin/shelterkit"
    program.parent.mkdir(parents=True)
    program.write_text("#!/bin/sh\n", encoding="utf-8")
    program.chmod(0o755)
    for unit in UNITS:
        shutil.copy(unit, units / unit.name)
    return root


def test_unit_files_exist(system: Any) -> None:
    assert [u.name for u in UNITS] == ["shelterkit-hub.service", "shelterkit-node.service"]


@pytest.mark.parametrize("unit", [u.name for u in UNITS])
def test_systemd_analyze_verify_without_warnings(system: Any, unit: str, tmp_path: Path) -> None:
    analyze = system.need_tool("systemd-analyze")
    root = _verify_root(tmp_path)
    done = system.run(
        analyze, "verify", f"--root={root}", f"/etc/systemd/system/{unit}", check=False
    )
    # verify exits 0 on unknown keys and bad values: any output at all is a failure
    assert done.returncode == 0 and not done.stderr.strip() and not done.stdout.strip(), (
        done.stdout + done.stderr
    )


def test_systemd_analyze_catches_a_bad_key(system: Any, tmp_path: Path) -> None:
    analyze = system.need_tool("systemd-analyze")
    root = _verify_root(tmp_path)
    unit = root / "etc/systemd/system/shelterkit-node.service"
    unit.write_text(
        unit.read_text(encoding="utf-8").replace("WatchdogSec=", "WatchdogSecs="),
        encoding="utf-8",
    )
    done = system.run(
        analyze, "verify", f"--root={root}", "/etc/systemd/system/" + unit.name, check=False
    )
    assert "Unknown key 'WatchdogSecs'" in done.stderr


@pytest.mark.parametrize("unit", [u.name for u in UNITS])
def test_units_declare_the_contract(system: Any, unit: str) -> None:
    text = (REPO / "systemd" / unit).read_text(encoding="utf-8")
    for line in (
        "Type=notify",
        "NotifyAccess=main",
        "Restart=always",
        "RestartSec=5s",
        "ProtectSystem=strict",
        "StateDirectory=shelterkit",
        "ConfigurationDirectory=shelterkit",
        "NoNewPrivileges=yes",
    ):
        assert f"\n{line}\n" in text, line
    assert re.search(r"^WatchdogSec=\d+s$", text, re.MULTILINE)
    role = "node" if "node" in unit else "hub"
    assert (
        f"ExecStart=/opt/shelterkit/.venv/bin/shelterkit {role} --config "
        f"/etc/shelterkit/{role}.toml --data /var/lib/shelterkit\n"
    ) in text
    if role == "node":
        assert "After=network.target hostapd.service dnsmasq.service" in text
        assert "CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_BIND_SERVICE\n" in text
    else:
        assert "CapabilityBoundingSet=\n" in text

"""``apply`` in a network namespace: files, address and rules change together or not at all."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.system

REPO = Path(__file__).resolve().parents[2]

# Runs inside the namespace: apply the settings in argv[1] (JSON) with argv[2] as the file
# directory and argv[3] as extra reload commands, then print what happened as JSON.
APPLY_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from shelterkit.errors import ShelterkitError
    from shelterkit.net import ApplyTargets, NetworkSettings, apply

    settings = NetworkSettings(**json.loads(sys.argv[1]))
    out = Path(sys.argv[2])
    extra = [tuple(c) for c in json.loads(sys.argv[3])]
    checks = [tuple(c) for c in json.loads(sys.argv[4])] or None
    targets = ApplyTargets(
        hostapd=out / "hostapd.conf",
        dnsmasq=out / "dnsmasq.conf",
        nftables=out / "nftables.conf",
        sysctl_conf=out.parent / "sysctl.d" / "90-shelterkit-forwarding.conf",
        reload_commands=(("nft", "-f", "{nftables}"), *extra),
        **({"check_commands": tuple(checks)} if checks else {}),
    )
    try:
        apply(settings, targets)
        print(json.dumps({"ok": True}))
    except ShelterkitError as exc:
        print(json.dumps({"ok": False, "type": type(exc).__name__, "message": str(exc)}))
    """
)


def _apply(
    system: Any,
    ns: str,
    out: Path,
    settings: dict[str, Any],
    extra: list[list[str]] | None = None,
    checks: list[list[str]] | None = None,
) -> dict[str, Any]:
    done = system.run(
        "ip", "netns", "exec", ns, sys.executable, "-c", APPLY_SCRIPT,
        json.dumps(settings), str(out), json.dumps(extra or []), json.dumps(checks or []),
        check=False, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.fixture
def wifi(system: Any, netns: str, unique: str) -> str:
    """One end of a veth pair in the namespace, standing in for wlan0 (the dummy driver may
    be missing from a CI kernel; veth is what the acceptance test needs anyway)."""
    system.need_tool("nft")
    system.need_tool("dnsmasq")
    name = f"skw{unique}"
    system.run(
        "ip", "-n", netns, "link", "add", name, "type", "veth", "peer", "name", f"skv{unique}"
    )  # fmt: skip
    return name


def _addresses(system: Any, ns: str, ifname: str) -> list[str]:
    done = system.run("ip", "-n", ns, "-j", "addr", "show", "dev", ifname)
    return [f"{a['local']}/{a['prefixlen']}" for a in json.loads(done.stdout)[0]["addr_info"]]


def _is_up(system: Any, ns: str, ifname: str) -> bool:
    done = system.run("ip", "-n", ns, "-j", "link", "show", "dev", ifname)
    return "UP" in json.loads(done.stdout)[0]["flags"]


def _tables(system: Any, ns: str) -> str:
    return system.run("ip", "netns", "exec", ns, "nft", "list", "tables").stdout


def test_apply_writes_configures_and_loads(
    system: Any, netns: str, wifi: str, tmp_path: Path
) -> None:
    result = _apply(system, netns, tmp_path, {"wifi_interface": wifi})
    assert result == {"ok": True}
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "dnsmasq.conf",
        "hostapd.conf",
        "nftables.conf",
    ]
    assert _addresses(system, netns, wifi) == ["10.42.0.1/22"]
    assert _is_up(system, netns, wifi)
    assert "table inet shelterkit" in _tables(system, netns)
    # applying again is harmless: same address once, same table once
    assert _apply(system, netns, tmp_path, {"wifi_interface": wifi}) == {"ok": True}
    assert _addresses(system, netns, wifi) == ["10.42.0.1/22"]
    assert _tables(system, netns).count("shelterkit") == 1


def test_failed_reload_restores_previous_files(
    system: Any, netns: str, wifi: str, tmp_path: Path
) -> None:
    assert _apply(system, netns, tmp_path, {"wifi_interface": wifi, "channel": 1})["ok"]
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    result = _apply(
        system, netns, tmp_path, {"wifi_interface": wifi, "channel": 11}, extra=[["false"]]
    )
    assert result["ok"] is False and result["type"] == "ApplyError"
    assert (
        "failed at reload" in result["message"] and "previous files restored" in result["message"]
    )
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    assert _addresses(system, netns, wifi) == ["10.42.0.1/22"]


def test_failed_first_apply_removes_files_and_address(
    system: Any, netns: str, wifi: str, tmp_path: Path
) -> None:
    result = _apply(system, netns, tmp_path, {"wifi_interface": wifi}, extra=[["false"]])
    assert result["ok"] is False
    assert list(tmp_path.iterdir()) == []
    assert _addresses(system, netns, wifi) == []
    assert "shelterkit" not in _tables(system, netns)


def test_missing_interface_rejected_before_anything_changes(
    system: Any, netns: str, tmp_path: Path
) -> None:
    system.need_tool("nft")
    result = _apply(system, netns, tmp_path / "out", {"wifi_interface": "sknotthere0"})
    assert result["type"] == "ConfigError"
    assert "interface 'sknotthere0' does not exist" in result["message"]
    assert not (tmp_path / "out").exists()


def test_rejected_files_change_nothing(system: Any, netns: str, wifi: str, tmp_path: Path) -> None:
    result = _apply(system, netns, tmp_path, {"wifi_interface": wifi}, checks=[["false"]])
    assert result["type"] == "ConfigError" and "nothing applied" in result["message"]
    assert list(tmp_path.iterdir()) == []
    assert _addresses(system, netns, wifi) == []
    assert "shelterkit" not in _tables(system, netns)


def test_invalid_settings_rejected(system: Any, netns: str, tmp_path: Path) -> None:
    result = _apply(system, netns, tmp_path, {"ssid": "x" * 33})
    assert result["type"] == "ConfigError" and "ssid" in result["message"]


def test_apply_script_imports_from_repo() -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import shelterkit.net, sys; print(shelterkit.net.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    assert done.stdout.startswith(str(REPO))


def _forwarding(system: Any, ns: str) -> str:
    # ip_forward is per network namespace: this reads the test namespace's own value
    done = system.run("ip", "netns", "exec", ns, "cat", "/proc/sys/net/ipv4/ip_forward")
    return done.stdout.strip()


def test_sharing_turns_forwarding_on_and_rollback_turns_it_back(
    system: Any, netns: str, wifi: str, unique: str, tmp_path: Path
) -> None:
    uplink = f"sku{unique}"
    system.run(
        "ip", "-n", netns, "link", "add", uplink, "type", "veth", "peer", "name", f"skr{unique}"
    )  # fmt: skip
    out = tmp_path / "etc"
    sysctl = tmp_path / "sysctl.d" / "90-shelterkit-forwarding.conf"
    sharing = {"wifi_interface": wifi, "uplink_interface": uplink, "internet_sharing": True}
    assert _forwarding(system, netns) == "0"
    failed = _apply(system, netns, out, sharing, extra=[["false"]])
    assert failed["type"] == "ApplyError"
    assert _forwarding(system, netns) == "0" and not sysctl.exists()

    assert _apply(system, netns, out, sharing) == {"ok": True}
    assert _forwarding(system, netns) == "1"
    assert sysctl.read_text(encoding="utf-8") == "net.ipv4.ip_forward = 1\n"
    assert "masquerade" in system.run("ip", "netns", "exec", netns, "nft", "list", "ruleset").stdout
    # sharing off again: nothing asks for forwarding at the next boot
    assert _apply(system, netns, out, {"wifi_interface": wifi, "uplink_interface": uplink})["ok"]
    assert not sysctl.exists()

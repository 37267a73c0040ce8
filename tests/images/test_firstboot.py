"""The first-boot script applied to a fake root: files, owners, modes, and what it would run."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from shelterkit.config import load_config
from tests.images.conftest import FILES, need_root, need_tool
from tests.provision.conftest import Provisioned

SCRIPT = FILES / "shelterkit-firstboot"
UNIT = "shelterkit-firstboot.service"
SK_UID = 995
SK_GID = 994


def fake_root(tmp_path: Path, provisioned: Provisioned, *shelters: str) -> Path:
    root = tmp_path / "root"
    etc = root / "etc"
    (etc / "systemd/system/multi-user.target.wants").mkdir(parents=True)
    (etc / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/bash\n"
        f"shelterkit:x:{SK_UID}:{SK_GID}::/var/lib/shelterkit:/usr/sbin/nologin\n"
    )
    (etc / "group").write_text(f"root:x:0:\ndialout:x:20:shelterkit\nshelterkit:x:{SK_GID}:\n")
    (etc / "hosts").write_text("127.0.0.1\tlocalhost\n127.0.1.1\traspberrypi\n")
    (etc / "hostname").write_text("raspberrypi\n")
    (etc / "systemd/system/multi-user.target.wants" / UNIT).symlink_to(
        f"/etc/systemd/system/{UNIT}"
    )
    boot = root / "boot/firmware/shelterkit"
    boot.mkdir(parents=True)
    for sid in shelters:
        shutil.copytree(provisioned.out / "bundles" / sid, boot / sid)
    return root


def run_firstboot(root: Path) -> subprocess.CompletedProcess[str]:
    bash = need_tool("bash")
    need_tool("python3")
    env = {**os.environ, "SHELTERKIT_ROOT": str(root), "SHELTERKIT_DRY_RUN": "1"}
    return subprocess.run(
        [bash, str(SCRIPT)], capture_output=True, text=True, env=env, timeout=120, check=False
    )


def owner_and_mode(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return st.st_uid, st.st_gid, st.st_mode & 0o7777


def test_firstboot_applies_the_bundle(provisioned: Provisioned, tmp_path: Path) -> None:
    need_root()
    root = fake_root(tmp_path, provisioned, "S07")
    bundle = provisioned.out / "bundles/S07"
    done = run_firstboot(root)
    assert done.returncode == 0, done.stderr

    data = root / "var/lib/shelterkit"
    assert owner_and_mode(data) == (SK_UID, SK_GID, 0o750)
    for name in ("node.key", "enrolment.rec", "admin.token"):
        assert (data / name).read_bytes() == (bundle / name).read_bytes()
        assert owner_and_mode(data / name) == (SK_UID, SK_GID, 0o600)
    placed = {
        "etc/shelterkit/node.toml": ("node.toml", (0, SK_GID, 0o640)),
        "etc/shelterkit/nftables.conf": ("network/nftables.conf", (0, 0, 0o644)),
        "etc/hostapd/hostapd.conf": ("network/hostapd.conf", (0, 0, 0o644)),
        "etc/dnsmasq.d/shelterkit.conf": ("network/dnsmasq.conf", (0, 0, 0o644)),
    }
    for target, (source, owner) in placed.items():
        assert (root / target).read_bytes() == (bundle / source).read_bytes(), target
        assert owner_and_mode(root / target) == owner, target
    assert owner_and_mode(root / "etc/shelterkit") == (0, SK_GID, 0o750)
    assert load_config(root / "etc/shelterkit/node.toml").shelter.id == "S07"

    assert (root / "etc/hostname").read_text() == "shelterkit-s07\n"
    hosts = (root / "etc/hosts").read_text()
    assert "raspberrypi" not in hosts and hosts.count("127.0.1.1\tshelterkit-s07\n") == 1
    assert "127.0.0.1\tlocalhost" in hosts

    # the secrets left the boot partition; the bundle is not applied twice
    boot = root / "boot/firmware/shelterkit"
    assert sorted(p.name for p in boot.iterdir()) == ["S07.applied"]
    assert not (boot / "S07.applied/node.key").exists()
    assert not (boot / "S07.applied/admin.token").exists()
    assert not (root / "etc/systemd/system/multi-user.target.wants" / UNIT).is_symlink()
    assert done.stdout.splitlines() == [
        "would run: mount /var/lib/shelterkit",
        f"would run: systemctl disable {UNIT}",
        "would run: raspi-config nonint do_overlayfs 0",
        "would run: systemctl reboot",
    ]
    assert not list(root.rglob("*.new"))


def test_damaged_bundle_rejected(provisioned: Provisioned, tmp_path: Path) -> None:
    need_root()
    root = fake_root(tmp_path, provisioned, "S01")
    config = root / "boot/firmware/shelterkit/S01/node.toml"
    config.write_text(config.read_text().replace("capacity = 150", "capacity = 15"))
    done = run_firstboot(root)
    assert done.returncode != 0
    assert "node.toml is missing or damaged" in done.stderr
    assert not (root / "var/lib/shelterkit").exists()
    assert (root / "boot/firmware/shelterkit/S01/node.key").exists()
    assert done.stdout == ""


@pytest.mark.parametrize("shelters", [(), ("S01", "S02")], ids=["none", "two"])
def test_not_exactly_one_bundle_rejected(
    provisioned: Provisioned, tmp_path: Path, shelters: tuple[str, ...]
) -> None:
    need_root()
    root = fake_root(tmp_path, provisioned, *shelters)
    done = run_firstboot(root)
    assert done.returncode != 0
    assert f"expected exactly one bundle in {root}/boot/firmware/shelterkit" in done.stderr
    assert not (root / "var/lib/shelterkit").exists() and done.stdout == ""


def test_missing_user_rejected(provisioned: Provisioned, tmp_path: Path) -> None:
    need_root()
    root = fake_root(tmp_path, provisioned, "S01")
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    done = run_firstboot(root)
    assert done.returncode != 0 and "no user shelterkit" in done.stderr
    assert (root / "boot/firmware/shelterkit/S01/node.key").exists()

"""The Pi image recipe, checked without building an image: scripts, units, rendered files."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from tests.images.conftest import FILES, IMAGES, REPO, STAGE, need_tool

SHELL_SCRIPTS = sorted(
    p
    for p in IMAGES.rglob("*")
    if p.is_file() and p.read_bytes()[:32].startswith((b"#!/bin/bash", b"#!/bin/sh"))
)


def test_recipe_has_its_parts() -> None:
    names = {str(p.relative_to(IMAGES)) for p in SHELL_SCRIPTS}
    assert names == {
        "lock",
        "stage-shelterkit/prerun.sh",
        "stage-shelterkit/01-install/00-run.sh",
        "stage-shelterkit/01-install/01-run-chroot.sh",
        "stage-shelterkit/02-system/00-run.sh",
        "stage-shelterkit/files/shelterkit-firstboot",
    }
    for script in SHELL_SCRIPTS:
        assert os.access(script, os.X_OK), f"{script} must be executable (pi-gen runs it)"
    assert (STAGE / "EXPORT_IMAGE").is_file()
    packages = (STAGE / "00-packages/00-packages").read_text().split()
    for package in ("python3-venv", "hostapd", "dnsmasq", "nftables", "avahi-daemon"):
        assert package in packages


@pytest.mark.parametrize("script", SHELL_SCRIPTS, ids=lambda p: str(p.relative_to(IMAGES)))
def test_shellcheck_clean(script: Path) -> None:
    shellcheck = need_tool("shellcheck")
    done = subprocess.run(
        [shellcheck, "--shell=bash", "--severity=style", "-x", str(script)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0 and not done.stdout.strip(), done.stdout + done.stderr


def _verify_root(tmp_path: Path) -> Path:
    """A root as the image has it: system units, ours with the drop-in, the programs."""
    root = tmp_path / "root"
    units = root / "etc/systemd/system"
    units.mkdir(parents=True)
    system_units = Path("/usr/lib/systemd/system")
    if not system_units.is_dir():
        system_units = Path("/lib/systemd/system")
    shutil.copytree(system_units, root / "usr/lib/systemd/system", symlinks=True)
    for program in ("opt/shelterkit/.venv/bin/shelterkit", "usr/local/sbin/shelterkit-firstboot"):
        path = root / program
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("#!/bin/sh\n", encoding="utf-8")
        path.chmod(0o755)
    shutil.copy(REPO / "systemd/shelterkit-node.service", units)
    shutil.copy(FILES / "shelterkit-firstboot.service", units)
    shutil.copy(FILES / "shelterkit-net.service", units)
    (units / "shelterkit-node.service.d").mkdir()
    shutil.copy(
        FILES / "shelterkit-node-image.conf", units / "shelterkit-node.service.d/image.conf"
    )
    return root


@pytest.mark.parametrize(
    "unit", ["shelterkit-firstboot.service", "shelterkit-net.service", "shelterkit-node.service"]
)
def test_systemd_analyze_verify_without_warnings(tmp_path: Path, unit: str) -> None:
    analyze = need_tool("systemd-analyze")
    root = _verify_root(tmp_path)
    done = subprocess.run(
        [analyze, "verify", f"--root={root}", f"/etc/systemd/system/{unit}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # verify exits 0 on unknown keys and bad values: any output at all is a failure
    assert done.returncode == 0 and not (done.stdout + done.stderr).strip(), (
        done.stdout + done.stderr
    )


def test_systemd_analyze_sees_the_drop_in(tmp_path: Path) -> None:
    analyze = need_tool("systemd-analyze")
    root = _verify_root(tmp_path)
    drop_in = root / "etc/systemd/system/shelterkit-node.service.d/image.conf"
    drop_in.write_text(drop_in.read_text().replace("RequiresMountsFor=", "RequiresMountFor="))
    done = subprocess.run(
        [analyze, "verify", f"--root={root}", "/etc/systemd/system/shelterkit-node.service"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "Unknown key 'RequiresMountFor'" in done.stderr


def _fake_pi_root(tmp_path: Path) -> Path:
    rootfs = tmp_path / "rootfs"
    (rootfs / "etc").mkdir(parents=True)
    (rootfs / "boot/firmware").mkdir(parents=True)
    (rootfs / "etc/fstab").write_text(
        "proc /proc proc defaults 0 0\n"
        "PARTUUID=abcd-01 /boot/firmware vfat defaults 0 2\n"
        "PARTUUID=abcd-02 / ext4 defaults,noatime 0 1\n"
    )
    (rootfs / "boot/firmware/config.txt").write_text("[all]\ndtparam=audio=on\n")
    (rootfs / "boot/firmware/cmdline.txt").write_text(
        "console=serial0,115200 console=tty1 root=PARTUUID=abcd-02 rootfstype=ext4"
        " fsck.repair=yes rootwait quiet init=/usr/lib/raspberrypi-sys-mods/firstboot\n"
    )
    return rootfs


def _run_system_step(rootfs: Path) -> None:
    bash = need_tool("bash")
    subprocess.run(
        [bash, "./00-run.sh"],
        cwd=STAGE / "02-system",
        env={**os.environ, "ROOTFS_DIR": str(rootfs)},
        check=True,
        timeout=60,
    )


def test_system_step_renders_fstab_watchdog_and_cmdline(tmp_path: Path) -> None:
    rootfs = _fake_pi_root(tmp_path)
    _run_system_step(rootfs)
    snapshot = {p: p.read_bytes() for p in rootfs.rglob("*") if p.is_file()}
    _run_system_step(rootfs)  # idempotent: pi-gen may run a stage again
    assert {p: p.read_bytes() for p in rootfs.rglob("*") if p.is_file()} == snapshot

    entries = [
        line.split()
        for line in (rootfs / "etc/fstab").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    data = [e for e in entries if e[1] == "/var/lib/shelterkit"]
    assert len(data) == 1
    source, _, fstype, options, _, passno = data[0]
    assert (source, fstype, passno) == ("LABEL=shelterkit-data", "ext4", "2")
    assert {"nofail", "noatime"} <= set(options.split(","))
    assert (rootfs / "var/lib/shelterkit").is_dir()

    config = (rootfs / "boot/firmware/config.txt").read_text()
    assert config.count("dtparam=watchdog=on") == 1 and "dtparam=audio=on" in config
    cmdline = (rootfs / "boot/firmware/cmdline.txt").read_text()
    assert "init=" not in cmdline and "root=PARTUUID=abcd-02" in cmdline
    assert cmdline.count("\n") == 1  # the kernel reads one line
    assert (rootfs / "boot/firmware/shelterkit").is_dir()

    conf = rootfs / "etc/systemd/system.conf.d/shelterkit-watchdog.conf"
    match = re.search(r"^RuntimeWatchdogSec=(\d+)s$", conf.read_text(), re.MULTILINE)
    # the BCM2835 watchdog cannot be set beyond about 15 s
    assert match is not None and 0 < int(match.group(1)) <= 15


def _requirement_name(text: str) -> str:
    name = re.split(r"[\s<>=!~;\[]", text.strip(), maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def test_lock_pins_every_dependency_with_hashes() -> None:
    lock = (IMAGES / "requirements.lock").read_text()
    pins: dict[str, str] = {}
    for block in re.split(r"\n(?=\S)", lock):
        if block.startswith("#") or not block.strip():
            continue
        head = block.split()[0]
        assert "==" in head, f"not pinned: {head}"
        hashes = re.findall(r"--hash=sha256:([0-9a-f]{64})", block)
        assert hashes, f"no hash for {head}"
        pins[_requirement_name(head)] = head.split("==")[1]
    with (REPO / "pyproject.toml").open("rb") as f:
        dependencies = tomllib.load(f)["project"]["dependencies"]
    missing = [d for d in dependencies if _requirement_name(d) not in pins]
    assert not missing, f"images/requirements.lock lacks {missing}: run images/lock"
    assert "shelterkit" not in pins  # shelterkit itself is installed from its own wheel

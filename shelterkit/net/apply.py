"""Apply rendered network files to the machine, rolling back to the previous files on failure.

Order: validate and render (pure) → check that the interfaces exist → let the real tools check
the new files (``nft -c``, ``dnsmasq --test``) while nothing has changed yet → remember the
current files → write the new ones atomically → IPv4 forwarding for internet sharing → give
the Wi-Fi interface the portal address and bring it up (pyroute2) → reload the services. If
any step after the first write fails, the previous files (and forwarding) are put back, an
address this run added is removed, the reload commands are run again for the old files, and
``ApplyError`` says which step failed.

This needs root (CAP_NET_ADMIN and write access to /etc); the node service itself never calls
it. It is exercised in a network namespace by tests/net/test_apply.py.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import socket
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from shelterkit.errors import ConfigError, ShelterkitError
from shelterkit.net.render import (
    DNSMASQ_FILE,
    HOSTAPD_FILE,
    NFT_TABLE,
    NFTABLES_FILE,
    render_all,
    write_atomically,
)
from shelterkit.net.settings import NetworkSettings

log = logging.getLogger(__name__)

# A reload or check command that has not finished by then is treated as failed; systemd's
# own default start timeout is 90 s (systemd-system.conf DefaultTimeoutStartSec).
COMMAND_TIMEOUT_S = 60
# How much of a failing command's stderr goes into the one-line error.
MAX_ERROR_DETAIL_CHARS = 200


class ApplyError(ShelterkitError):
    """Applying network settings failed; the previous files were restored."""


Runner = Callable[[Sequence[str]], None]

# Placeholders allowed in commands, and the rendered file each one stands for.
_PLACEHOLDERS = {"hostapd": HOSTAPD_FILE, "dnsmasq": DNSMASQ_FILE, "nftables": NFTABLES_FILE}


@dataclasses.dataclass(frozen=True, slots=True)
class ApplyTargets:
    """Where the rendered files go and which commands check and reload them.

    Commands are argv tuples; ``{hostapd}``, ``{dnsmasq}`` and ``{nftables}`` are replaced by
    the path of the file being checked or loaded.
    """

    hostapd: Path = Path("/etc/hostapd/hostapd.conf")
    dnsmasq: Path = Path("/etc/dnsmasq.d/shelterkit.conf")
    nftables: Path = Path("/etc/shelterkit/nftables.conf")
    check_commands: tuple[tuple[str, ...], ...] = (
        ("nft", "-c", "-f", "{nftables}"),
        ("dnsmasq", "--test", "-C", "{dnsmasq}"),
    )
    reload_commands: tuple[tuple[str, ...], ...] = (
        ("nft", "-f", "{nftables}"),
        ("systemctl", "reload-or-restart", "dnsmasq.service"),
        ("systemctl", "reload-or-restart", "hostapd.service"),
    )
    # internet sharing needs IPv4 forwarding: now (ip_forward) and after a reboot (sysctl.d)
    sysctl_conf: Path = Path("/etc/sysctl.d/90-shelterkit-forwarding.conf")
    ip_forward: Path = Path("/proc/sys/net/ipv4/ip_forward")
    # run on rollback when there was no previous nftables file: drop the table just loaded
    unload_commands: tuple[tuple[str, ...], ...] = (("nft", "delete", "table", "inet", NFT_TABLE),)
    configure_interface: bool = True

    def paths(self) -> dict[str, Path]:
        return {
            HOSTAPD_FILE: self.hostapd,
            DNSMASQ_FILE: self.dnsmasq,
            NFTABLES_FILE: self.nftables,
        }


def run_command(argv: Sequence[str]) -> None:
    """Run one command; a non-zero exit, a timeout or a missing program is an ``ApplyError``."""
    try:
        done = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False
        )
    except FileNotFoundError:
        raise ApplyError(f"{argv[0]}: command not found") from None
    except subprocess.TimeoutExpired:
        raise ApplyError(f"{' '.join(argv)}: no answer in {COMMAND_TIMEOUT_S} s") from None
    if done.returncode != 0:
        detail = " ".join((done.stderr or done.stdout).split())[:MAX_ERROR_DETAIL_CHARS]
        raise ApplyError(f"{' '.join(argv)} exited {done.returncode}: {detail}")


def apply(
    settings: NetworkSettings,
    targets: ApplyTargets | None = None,
    run: Runner = run_command,
) -> None:
    """Render, check, write and load the network configuration, or leave the old one."""
    targets = targets or ApplyTargets()
    rendered = render_all(settings)
    if targets.configure_interface:
        for name in filter(None, (settings.wifi_interface, settings.uplink_interface)):
            _interface_index(name)
    _check_rendered(rendered, targets, run)

    paths = targets.paths()
    previous = {name: _read_previous(path) for name, path in paths.items()}
    previous_sysctl = _read_previous(targets.sysctl_conf)
    previous_forward = _read_previous(targets.ip_forward)
    added_address = False
    step = "write"
    try:
        for name, path in paths.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(path, rendered[name])
        step = "forwarding"
        _set_forwarding(settings, targets)
        if targets.configure_interface:
            step = "interface"
            added_address = configure_portal_interface(settings)
        step = "reload"
        _run_all(targets.reload_commands, paths, run)
    except (ShelterkitError, OSError) as exc:
        log.error("network apply failed at %s: %s; restoring the previous files", step, exc)
        _restore(previous, paths)
        _restore({"sysctl": previous_sysctl}, {"sysctl": targets.sysctl_conf})
        if previous_forward is not None and settings.internet_sharing:
            try:
                targets.ip_forward.write_bytes(previous_forward)
            except OSError as again:
                log.error("could not restore %s: %s", targets.ip_forward, again)
        if added_address:
            with contextlib.suppress(ShelterkitError):
                remove_portal_address(settings)
        _reload_previous(targets, paths, previous, run)
        raise ApplyError(
            f"network apply failed at {step}: {exc}; previous files restored"
        ) from None


def _set_forwarding(settings: NetworkSettings, targets: ApplyTargets) -> None:
    """Sharing on: forward now and after a reboot. Off: only stop asking for it at boot.

    Forwarding is never switched off at runtime, because other software on the machine may
    rely on it; the firewall already refuses everything from the evacuee side.
    """
    if settings.internet_sharing:
        targets.sysctl_conf.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(targets.sysctl_conf, "net.ipv4.ip_forward = 1\n")
        targets.ip_forward.write_text("1\n", encoding="ascii")
    else:
        targets.sysctl_conf.unlink(missing_ok=True)


def configure_portal_interface(settings: NetworkSettings) -> bool:
    """Give the Wi-Fi interface the portal address and bring it up; True if added now.

    If bringing the link up fails, an address added here is removed again before raising.
    """
    from pyroute2 import IPRoute, NetlinkError

    iface = settings.portal_interface
    address = {"address": str(iface.ip), "prefixlen": iface.network.prefixlen}
    added = False
    try:
        with IPRoute() as ipr:
            index = _lookup(ipr, settings.wifi_interface)
            present = any(
                a.get_attr("IFA_ADDRESS") == str(iface.ip)
                and a["prefixlen"] == iface.network.prefixlen
                for a in ipr.get_addr(index=index, family=socket.AF_INET)
            )
            if not present:
                ipr.addr("add", index=index, **address)
                added = True
            try:
                ipr.link("set", index=index, state="up")
            except NetlinkError:
                if added:
                    with contextlib.suppress(NetlinkError):
                        ipr.addr("del", index=index, **address)
                raise
    except NetlinkError as exc:
        raise ApplyError(f"{settings.wifi_interface}: netlink error {exc.code}: {exc}") from None
    return added


def remove_portal_address(settings: NetworkSettings) -> None:
    from pyroute2 import IPRoute, NetlinkError

    iface = settings.portal_interface
    try:
        with IPRoute() as ipr:
            index = _lookup(ipr, settings.wifi_interface)
            ipr.addr("del", index=index, address=str(iface.ip), prefixlen=iface.network.prefixlen)
    except NetlinkError as exc:
        raise ApplyError(f"{settings.wifi_interface}: netlink error {exc.code}") from None


def _interface_index(name: str) -> int:
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        return _lookup(ipr, name)


def _lookup(ipr: object, name: str) -> int:
    found = ipr.link_lookup(ifname=name)  # type: ignore[attr-defined]
    if not found:
        raise ConfigError(f"network: interface {name!r} does not exist on this machine")
    return int(found[0])


def _check_rendered(rendered: dict[str, str], targets: ApplyTargets, run: Runner) -> None:
    """Let the real tools check the new files before anything on the machine changes."""
    with tempfile.TemporaryDirectory(prefix="shelterkit-net-") as tmp:
        staged = {name: Path(tmp) / name for name in rendered}
        for name, text in rendered.items():
            staged[name].write_text(text, encoding="utf-8")
        try:
            _run_all(targets.check_commands, staged, run)
        except ApplyError as exc:
            raise ConfigError(f"network: rendered files rejected, nothing applied: {exc}") from None


def _run_all(commands: Sequence[Sequence[str]], paths: dict[str, Path], run: Runner) -> None:
    values = {key: str(paths[name]) for key, name in _PLACEHOLDERS.items()}
    for command in commands:
        run([part.format(**values) for part in command])


def _reload_previous(
    targets: ApplyTargets,
    paths: dict[str, Path],
    previous: dict[str, bytes | None],
    run: Runner,
) -> None:
    """Load the restored files again; commands for files that did not exist are skipped."""
    missing = {"{" + key + "}" for key, name in _PLACEHOLDERS.items() if previous[name] is None}
    commands = [c for c in targets.reload_commands if not missing.intersection(c)]
    if previous[NFTABLES_FILE] is None:
        commands += list(targets.unload_commands)
    for command in commands:
        try:
            _run_all([command], paths, run)
        except ShelterkitError as exc:
            log.error("while rolling back: %s", exc)


def _read_previous(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ApplyError(f"cannot read {path}: {exc.strerror}") from None


def _restore(previous: dict[str, bytes | None], paths: dict[str, Path]) -> None:
    for name, content in previous.items():
        path = paths[name]
        try:
            if content is None:
                path.unlink(missing_ok=True)
            else:
                write_atomically(path, content)
        except (ShelterkitError, OSError) as exc:
            log.error("could not restore %s: %s", path, exc)

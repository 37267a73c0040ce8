"""systemd notification and watchdog pings, without libsystemd.

``sd_notify`` sends one datagram to ``$NOTIFY_SOCKET`` (a path, or an abstract name written
with a leading ``@``) and does nothing when the variable is unset, so the node runs the same
under systemd, in a terminal and in tests. ``watchdog_pinger`` runs inside the node's event
loop: if the loop hangs, the pings stop and systemd restarts the service (WatchdogSec=).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)

# Ping at half the watchdog interval, as sd_watchdog_enabled(3) recommends.
WATCHDOG_PING_FRACTION = 0.5
# A notification is one short line; systemd reads at most a page per datagram (sd_notify(3)).
MAX_NOTIFY_BYTES = 4096

READY = "READY=1"
WATCHDOG = "WATCHDOG=1"
STOPPING = "STOPPING=1"

_warned: set[str] = set()


def sd_notify(state: str, environ: Mapping[str, str] | None = None) -> bool:
    """Send ``state`` (``READY=1``, ``STATUS=…`` …) to systemd; False when not under systemd.

    Never blocks and never raises: a failed send is logged once per reason, and systemd's
    watchdog will notice if pings keep failing.
    """
    env = os.environ if environ is None else environ
    address = env.get("NOTIFY_SOCKET", "")
    if not address:
        return False
    if address.startswith("@"):
        target: str | bytes = "\0" + address[1:]
    elif address.startswith("/"):
        target = address
    else:
        _warn_once("address", "NOTIFY_SOCKET %r is neither a path nor @abstract", address)
        return False
    data = state.encode("utf-8")
    if len(data) > MAX_NOTIFY_BYTES:
        data = data[:MAX_NOTIFY_BYTES]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.setblocking(False)
            sock.sendto(data, target)
    except OSError as exc:
        _warn_once(type(exc).__name__, "sd_notify to %s failed: %s", address, exc)
        return False
    return True


def notify_status(text: str, environ: Mapping[str, str] | None = None) -> bool:
    """A one-line status shown by ``systemctl status``."""
    return sd_notify("STATUS=" + " ".join(text.split()), environ)


def watchdog_interval_s(environ: Mapping[str, str] | None = None) -> float | None:
    """Seconds between pings (half of ``$WATCHDOG_USEC``), or None if no watchdog is set."""
    env = os.environ if environ is None else environ
    raw_usec = env.get("WATCHDOG_USEC", "")
    pid = env.get("WATCHDOG_PID", "")
    if not raw_usec or (pid and pid != str(os.getpid())):
        return None
    try:
        usec = int(raw_usec)
    except ValueError:
        _warn_once("usec", "WATCHDOG_USEC=%r is not a number", raw_usec)
        return None
    if usec <= 0:
        return None
    return usec / 1_000_000 * WATCHDOG_PING_FRACTION


async def watchdog_pinger(
    interval_s: float | None = None, environ: Mapping[str, str] | None = None
) -> None:
    """Ping the systemd watchdog from the event loop until cancelled.

    With no ``interval_s``, half of ``$WATCHDOG_USEC`` is used; when there is no watchdog,
    this returns at once. The pings come from the loop itself, never from a thread, so a
    blocked loop stops them.
    """
    period = interval_s if interval_s is not None else watchdog_interval_s(environ)
    if period is None or period <= 0:
        return
    while True:
        sd_notify(WATCHDOG, environ)
        await asyncio.sleep(period)


def _warn_once(key: str, message: str, *args: object) -> None:
    if key not in _warned:
        _warned.add(key)
        log.warning(message, *args)

"""Captive-portal answers for every OS's connectivity probe (reference anchors-tech §1).

Before a phone has passed the welcome page every probe is redirected to the portal, which
makes each OS open its sign-in sheet (Android: 3xx; Apple: anything but "Success"; Windows:
content differs; Firefox/NetworkManager: body differs). After it, each OS gets exactly the
answer it expects from the internet, so iOS, Windows and Linux keep the Wi-Fi without
nagging; Android still ends in "partial connectivity" (its HTTPS probe cannot succeed
offline), which keeps the network usable for the portal. See docs/portal.md.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

# Accepted clients remembered, oldest forgotten first: an AP serves at most a few hundred
# phones (hostapd max_num_sta 2007 is the hard ceiling; anchors-tech §4.3).
MAX_ACCEPTED_CLIENTS = 4096
# How long an acceptance lasts: a day, after which the sheet shows again once.
ACCEPTANCE_TTL_S = 24 * 3600


@dataclass(frozen=True, slots=True)
class ProbeAnswer:
    """The "online" answer an OS expects for one probe URL."""

    os: str
    status: int
    body: bytes
    content_type: str = "text/plain"
    headers: tuple[tuple[str, str], ...] = ()


_APPLE = ProbeAnswer(
    "apple",
    200,
    b"<HTML><HEAD><TITLE>Success</TITLE></HEAD><BODY>Success</BODY></HTML>",
    "text/html",
)
_ANDROID = ProbeAnswer("android", 204, b"")
_NM = ProbeAnswer(
    "networkmanager",
    200,
    b"NetworkManager is online\n",
    headers=(("X-NetworkManager-Status", "online"),),
)

# Probe paths, host-independent: DNS on the Wi-Fi answers every name with the portal.
PROBES: dict[str, ProbeAnswer] = {
    "/generate_204": _ANDROID,
    "/gen_204": _ANDROID,
    "/hotspot-detect.html": _APPLE,
    "/library/test/success.html": _APPLE,
    "/connecttest.txt": ProbeAnswer("windows", 200, b"Microsoft Connect Test"),
    "/ncsi.txt": ProbeAnswer("windows", 200, b"Microsoft NCSI"),
    "/canonical.html": ProbeAnswer(
        "firefox",
        200,
        b'<meta http-equiv="refresh" content="0;url=https://support.mozilla.org/kb/captive-portal"/>',
        "text/html",
    ),
    "/success.txt": ProbeAnswer("firefox", 200, b"success\n"),
    "/check_network_status.txt": _NM,
    "/nm": _NM,
    "/nm-check.txt": _NM,
    "/static/hotspot.txt": _NM,
}

# Probes identified by host, where the path ("/") is not distinctive.
HOST_PROBES: dict[str, ProbeAnswer] = {
    "connectivity-check.ubuntu.com": ProbeAnswer(
        "networkmanager", 204, b"", headers=(("X-NetworkManager-Status", "online"),)
    ),
}

# Windows opens this when it sees a hijacked probe: always send it to the portal.
WINDOWS_REDIRECT_PATH = "/redirect"


def probe_for(host: str, path: str) -> ProbeAnswer | None:
    answer = PROBES.get(path)
    if answer is None and path == "/":
        answer = HOST_PROBES.get(host)
    return answer


class AcceptedClients:
    """Which client addresses have passed the welcome page (bounded, time passed in)."""

    def __init__(self, max_clients: int = MAX_ACCEPTED_CLIENTS, ttl_s: float = ACCEPTANCE_TTL_S):
        self._accepted: OrderedDict[str, float] = OrderedDict()
        self._max = max_clients
        self._ttl = ttl_s

    def accept(self, client: str, now: float) -> None:
        self._accepted[client] = now
        self._accepted.move_to_end(client)
        while len(self._accepted) > self._max:
            self._accepted.popitem(last=False)

    def is_accepted(self, client: str, now: float) -> bool:
        since = self._accepted.get(client)
        if since is None:
            return False
        if now - since > self._ttl:
            del self._accepted[client]
            return False
        return True

    def __len__(self) -> int:
        return len(self._accepted)


def capport_json(captive: bool, portal_url: str) -> dict[str, object]:
    """RFC 8908 API answer. ``user-portal-url`` is required by Android when captive."""
    return {
        "captive": captive,
        "user-portal-url": portal_url + "welcome",
        "venue-info-url": portal_url,
    }

"""Each OS's connectivity probe against a real node process, before and after a phone
has passed the welcome page (reference anchors-tech §1.1–1.3)."""

from __future__ import annotations

import http.client
import json

import pytest

# (Host header, path, status after acceptance, exact body after acceptance, extra header)
PROBES = [
    ("connectivitycheck.gstatic.com", "/generate_204", 204, b"", None),
    ("www.google.com", "/gen_204", 204, b"", None),
    ("clients3.google.com", "/generate_204", 204, b"", None),
    (
        "captive.apple.com",
        "/hotspot-detect.html",
        200,
        b"<HTML><HEAD><TITLE>Success</TITLE></HEAD><BODY>Success</BODY></HTML>",
        None,
    ),
    (
        "www.apple.com",
        "/library/test/success.html",
        200,
        b"<HTML><HEAD><TITLE>Success</TITLE></HEAD><BODY>Success</BODY></HTML>",
        None,
    ),
    ("www.msftconnecttest.com", "/connecttest.txt", 200, b"Microsoft Connect Test", None),
    ("www.msftncsi.com", "/ncsi.txt", 200, b"Microsoft NCSI", None),
    (
        "detectportal.firefox.com",
        "/canonical.html",
        200,
        b'<meta http-equiv="refresh" content="0;url=https://support.mozilla.org/kb/captive-portal"/>',
        None,
    ),
    ("detectportal.firefox.com", "/success.txt", 200, b"success\n", None),
    (
        "nmcheck.gnome.org",
        "/check_network_status.txt",
        200,
        b"NetworkManager is online\n",
        "online",
    ),
    ("network-test.debian.org", "/nm", 200, b"NetworkManager is online\n", "online"),
    ("connectivity-check.ubuntu.com", "/", 204, b"", "online"),
    ("fedoraproject.org", "/static/hotspot.txt", 200, b"NetworkManager is online\n", "online"),
    ("ping.archlinux.org", "/nm-check.txt", 200, b"NetworkManager is online\n", "online"),
]


def request(port: int, method: str, host: str, path: str) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request(method, path, headers={"Host": host, "User-Agent": "CaptiveNetworkSupport wispr"})
    resp = conn.getresponse()
    resp.body = resp.read()  # type: ignore[attr-defined]
    conn.close()
    return resp


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory):
    import subprocess

    from tests.conftest import SHELTERKIT, free_port_range, wait_healthy

    port = free_port_range(2)
    data = tmp_path_factory.mktemp("probe-node")
    proc = subprocess.Popen(
        [SHELTERKIT, "node", "--data", str(data), "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_healthy(f"http://127.0.0.1:{port}/", proc)
        yield port
    finally:
        proc.kill()
        proc.wait(timeout=30)


def test_probes_before_and_after_acceptance(running: int) -> None:
    port = running
    # Before: every probe is sent to the portal, which makes each OS show its sign-in sheet.
    for host, path, *_ in PROBES:
        resp = request(port, "GET", host, path)
        assert resp.status == 302, (host, path, resp.status)
        assert resp.getheader("Location") == "http://shelter.lan/welcome"
    capport = request(port, "GET", "shelter.lan", "/api/captive-portal")
    assert json.loads(capport.body)["captive"] is True  # type: ignore[attr-defined]
    # Windows' /redirect and any other page of an unknown host go to the portal too.
    assert request(port, "GET", "www.msftconnecttest.com", "/redirect").status == 302
    other = request(port, "GET", "example.org", "/news")
    assert (other.status, other.getheader("Location")) == (302, "http://shelter.lan/")
    # The welcome page: the portal itself, in Japanese, with the button.
    welcome = request(port, "GET", "shelter.lan", "/welcome")
    assert welcome.status == 200 and "この Wi-Fi を使う" in welcome.body.decode()  # type: ignore[attr-defined]

    accepted = request(port, "POST", "shelter.lan", "/accept")
    assert accepted.status == 303

    # After: each OS gets exactly the answer it expects from the internet.
    for host, path, status, body, nm_header in PROBES:
        resp = request(port, "GET", host, path)
        assert resp.status == status, (host, path)
        assert resp.body == body, (host, path)  # type: ignore[attr-defined]
        if nm_header:
            assert resp.getheader("X-NetworkManager-Status") == nm_header
    # Android treats a 200 with ≤ 4 bytes as failure: the 204 has no body at all.
    assert request(port, "GET", "connectivitycheck.gstatic.com", "/generate_204").getheader(
        "Content-Length"
    ) in (None, "0")
    capport = request(port, "GET", "shelter.lan", "/api/captive-portal")
    assert json.loads(capport.body)["captive"] is False  # type: ignore[attr-defined]

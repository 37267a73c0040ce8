"""CAP 1.2 import at the hub: the admin API with the whole corpus, and the CLI end to end."""

from __future__ import annotations

import dataclasses
import functools
import http.server
import os
import subprocess
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from shelterkit.admin.tokens import mint_token
from shelterkit.cap import alert_to_cap
from shelterkit.config import Config, HubSettings, NodeSettings
from shelterkit.hub.api import install_hub_api
from shelterkit.hub.service import Hub
from shelterkit.model.fold import active_alerts
from shelterkit.model.kinds import AlertBody, CapSignature, Severity
from shelterkit.service.run import peer_app
from shelterkit.sync import Role
from tests.alerts.corpus import BAD, DATA, GOOD, NODE_NOW_MS
from tests.conftest import SHELTERKIT, free_port_range, wait_healthy

SECRET = b"c" * 32
CERT = DATA / "signed" / "city-test-cert.pem"
SIGNED = DATA / "signed" / "10-landslide-signed.xml"


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[tuple[Hub, TestClient]]:
    hub = await Hub.open(
        Config(node=NodeSettings(data_dir=str(tmp_path / "hub"))), lambda: NODE_NOW_MS
    )
    app = peer_app(hub.node, SECRET, Role.HUB)
    install_hub_api(app, hub)
    async with TestClient(TestServer(app)) as client:
        yield hub, client
    await hub.close()


def headers() -> dict[str, str]:
    return {
        "Authorization": f"Bearer {mint_token(SECRET, time.time())}",
        "Content-Type": "application/cap+xml",
    }


async def test_corpus_imports_in_order_with_updates_and_cancels(api) -> None:
    hub, client = api
    for path in GOOD:
        resp = await client.post("/api/alerts/cap", data=path.read_bytes(), headers=headers())
        assert resp.status == 201, (path.name, await resp.text())
    active = {a.body.identifier for a in active_alerts(hub.node.heads, NODE_NOW_MS)}
    imported = {r.body.identifier for r in hub.node.heads.values() if isinstance(r.body, AlertBody)}
    assert len(imported) == len(GOOD)
    assert active < imported  # updates and cancels took earlier alerts out


async def test_bad_cap_rejected(api) -> None:
    hub, client = api
    for path in sorted(BAD.glob("*.xml")):
        resp = await client.post("/api/alerts/cap", data=path.read_bytes(), headers=headers())
        assert resp.status in (400, 413), path.name
        detail = (await resp.json())["detail"]
        assert detail and "\n" not in detail, path.name
    assert not any(isinstance(r.body, AlertBody) for r in hub.node.heads.values())


def test_cli_import_end_to_end(tmp_path: Path) -> None:
    port = free_port_range(2)
    data = tmp_path / "hub"
    hub = subprocess.Popen(
        [SHELTERKIT, "hub", "--data", str(data), "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_healthy(url, hub)
        token = subprocess.run(
            [SHELTERKIT, "token", "--data", str(data)], capture_output=True, text=True, check=True
        ).stdout.strip()
        env = {**os.environ, "SHELTERKIT_HUB": url, "SHELTERKIT_TOKEN": token}
        now = int(time.time() * 1000)
        body = AlertBody(
            identifier=f"test-{now}",
            headline={"ja": "避難指示", "en": "Evacuate"},
            severity=Severity.EXTREME,
            sent_ms=now,
            expires_ms=now + 3_600_000,
        )
        good = tmp_path / "alert.xml"
        good.write_bytes(alert_to_cap(body, sender="city@nasukarasuyama.example"))
        done = subprocess.run(
            [SHELTERKIT, "alert", "import", str(good)], env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        assert f"imported test-{now}" in done.stdout
        for path in sorted(BAD.glob("*.xml")):
            done = subprocess.run(
                [SHELTERKIT, "alert", "import", str(path)], env=env, capture_output=True, text=True
            )
            assert done.returncode == 2, path.name
            assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, path.name
    finally:
        hub.terminate()
        hub.wait(timeout=30)


async def test_api_import_is_idempotent_and_uses_pinned_certificates(tmp_path: Path) -> None:
    config = Config(
        node=NodeSettings(data_dir=str(tmp_path / "hub")),
        hub=HubSettings(cap_certificates=[str(CERT)]),
    )
    hub = await Hub.open(config, lambda: NODE_NOW_MS)
    app = peer_app(hub.node, SECRET, Role.HUB)
    install_hub_api(app, hub)
    try:
        async with TestClient(TestServer(app)) as client:
            xml = SIGNED.read_bytes()
            first = await client.post("/api/alerts/cap", data=xml, headers=headers())
            assert first.status == 201, await first.text()
            again = await client.post("/api/alerts/cap", data=xml, headers=headers())
            assert again.status == 200
            (a,), (b,) = (await first.json())["alerts"], (await again.json())["alerts"]
            assert a["imported"] and not b["imported"] and a["id"] == b["id"]
            record = hub.node.heads[b"A" + a["identifier"].encode()]
            assert isinstance(record.body, AlertBody)
            assert record.body.cap_signature is CapSignature.VERIFIED
            assert "city" in record.body.cap_signer.lower()
    finally:
        await hub.close()


def wait_for_file(path: Path, deadline_s: float = 20.0) -> None:
    end = time.monotonic() + deadline_s
    while not path.exists():
        assert time.monotonic() < end, f"{path} did not appear"
        time.sleep(0.1)


def sign_cap(xml: bytes, folder: Path) -> tuple[bytes, Path]:
    """``xml`` with an enveloped XML signature by a fresh city test certificate, and the
    certificate's PEM file (for alerts dated now, which the committed corpus is not)."""
    import datetime

    from tests.alerts.make_signed_cap import city_signer, sign_xml

    start = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)
    cert_pem, key_pem = city_signer(start, 30)
    (folder / "city.pem").write_bytes(cert_pem)
    return sign_xml(xml, cert_pem, key_pem), folder / "city.pem"


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    requests: list[tuple[str, str]] = []  # noqa: RUF012 (one server per test)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        QuietHandler.requests.append((self.path, str(getattr(code, "value", code))))


def test_hub_process_with_pinned_certificates_and_an_inbox(tmp_path: Path) -> None:
    now = int(time.time() * 1000)
    body = AlertBody(
        identifier=f"signed-{now}",
        headline={"ja": "土砂災害警戒情報", "en": "Landslide warning"},
        severity=Severity.SEVERE,
        sent_ms=now,
        expires_ms=now + 3_600_000,
    )
    xml, cert = sign_cap(alert_to_cap(body, sender="city@nasukarasuyama.example"), tmp_path)
    signed, broken = tmp_path / "signed.xml", tmp_path / "broken.xml"
    signed.write_bytes(xml)
    broken.write_bytes(xml.replace("土砂災害".encode(), "土砂災害（改ざん）".encode()))
    # The city's CAP server: an Atom feed linking one CAP document (Last-Modified, 304).
    source = tmp_path / "source"
    source.mkdir()
    polled = dataclasses.replace(body, identifier=f"polled-{now}")
    (source / "polled.xml").write_bytes(alert_to_cap(polled, sender="city@example"))
    (source / "feed.atom").write_text(
        '<feed xmlns="http://www.w3.org/2005/Atom"><id>urn:x</id><title>x</title>'
        "<updated>2026-01-01T00:00:00Z</updated><entry><id>urn:y</id><title>y</title>"
        '<updated>2026-01-01T00:00:00Z</updated><link type="application/cap+xml" '
        'href="polled.xml"/></entry></feed>'
    )
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(source))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    feed_url = f"http://127.0.0.1:{server.server_address[1]}/feed.atom"
    port = free_port_range(2)
    data, inbox = tmp_path / "hub", tmp_path / "inbox"
    config = tmp_path / "hub.toml"
    config.write_text(
        f'[hub]\ncap_certificates = ["{cert}"]\ncap_inbox = "{inbox}"\n'
        f'cap_feed_url = "{feed_url}"\ncap_feed_interval_s = 10\n'
    )
    log = tmp_path / "hub.log"
    argv = [SHELTERKIT, "hub", "--config", str(config), "--data", str(data)]
    with log.open("wb") as out:
        hub = subprocess.Popen(
            [*argv, "--listen", f"127.0.0.1:{port}"], stdout=out, stderr=subprocess.STDOUT
        )
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_healthy(url, hub)
        token = subprocess.run(
            [SHELTERKIT, "token", "--data", str(data)], capture_output=True, text=True, check=True
        ).stdout.strip()
        env = {**os.environ, "SHELTERKIT_HUB": url, "SHELTERKIT_TOKEN": token}

        def cli(path: Path) -> subprocess.CompletedProcess[str]:
            argv = [SHELTERKIT, "alert", "import", str(path)]
            return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)

        done = cli(signed)
        assert done.returncode == 0 and done.stdout.startswith("imported "), done.stderr
        done = cli(signed)
        assert done.returncode == 0 and done.stdout.startswith("already held "), done.stderr
        refused = cli(broken)
        assert refused.returncode == 2, refused.stderr
        assert "the XML signature is broken" in refused.stderr
        assert "Traceback" not in refused.stderr and refused.stderr.count("\n") == 1

        wait_for_file(inbox / "rejected")  # the hub made its folders
        (inbox / "broken.xml").write_bytes(broken.read_bytes())
        (inbox / "signed.xml").write_bytes(signed.read_bytes())
        wait_for_file(inbox / "rejected" / "broken.xml.reason")
        reason = (inbox / "rejected" / "broken.xml.reason").read_text()
        assert reason.startswith("CAP alert refused: the XML signature is broken")
        wait_for_file(inbox / "done" / "signed.xml")  # held already: filed, not signed again
        end = time.monotonic() + 20
        while f"imported CAP alert polled-{now}" not in log.read_text():
            assert time.monotonic() < end, log.read_text()
            time.sleep(0.1)
    finally:
        hub.terminate()
        hub.wait(timeout=30)
        server.shutdown()
        server.server_close()
    text = log.read_text()
    assert "Traceback" not in text
    assert text.count("hub: imported CAP alert") == 2, text
    # A poll every 10 s: the first fetched both, any later one got 304 for the feed.
    first, later = QuietHandler.requests[:2], QuietHandler.requests[2:]
    assert first == [("/feed.atom", "200"), ("/polled.xml", "200")]
    assert set(later) <= {("/feed.atom", "304")}

    config.write_text(f'[hub]\ncap_certificates = ["{tmp_path / "missing.pem"}"]\n')
    bad = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "cap_certificates: cannot read" in bad.stderr
    assert bad.stderr.count("\n") == 1

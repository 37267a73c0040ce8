"""The hub's CAP inbox folder and pinned certificates, on a real hub store on disk."""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shelterkit.cap import CapRefused
from shelterkit.config import Config, HubSettings, NodeSettings
from shelterkit.errors import ConfigError
from shelterkit.hub.inbox import CapInbox, Settling, is_candidate
from shelterkit.hub.service import CapImport, Hub, load_pinned_certs
from shelterkit.model.fold import active_alerts
from shelterkit.model.kinds import AlertBody, CapSignature
from tests.alerts.corpus import BAD, DATA, GOOD, NODE_NOW_MS

CERT = DATA / "signed" / "city-test-cert.pem"
SIGNED = DATA / "signed" / "10-landslide-signed.xml"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def open_hub(data: Path, certs: list[str] | None = None) -> Hub:
    config = Config(
        node=NodeSettings(data_dir=str(data)),
        hub=HubSettings(cap_certificates=certs or []),
    )
    return await Hub.open(config, lambda: NODE_NOW_MS)


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Hub]:
    hub = await open_hub(tmp_path / "hub", [str(CERT)])
    yield hub
    await hub.close()


def inbox_for(hub: Hub, folder: Path, clock: Clock) -> CapInbox:
    inbox = CapInbox(hub, folder, settle_s=2.0, clock=clock)
    inbox.prepare()
    return inbox


async def settle_and_scan(inbox: CapInbox, clock: Clock) -> dict[str, CapImport | CapRefused]:
    """Two scans, the settle time apart: what the running inbox does for a quiet file."""
    first = await inbox.scan()
    clock.now += 2.5
    return first | await inbox.scan()


def alert_records(hub: Hub) -> dict[str, bytes]:
    return {
        r.body.identifier: r.id for r in hub.node.heads.values() if isinstance(r.body, AlertBody)
    }


def test_settling_waits_until_a_file_stops_changing() -> None:
    s = Settling(settle_s=2.0)
    assert s.ready({"a.xml": (10, 1)}, 0.0) == []
    assert s.ready({"a.xml": (20, 2)}, 1.0) == []  # still growing
    assert s.ready({"a.xml": (20, 2)}, 2.5) == []  # unchanged for 1.5 s only
    assert s.ready({"a.xml": (20, 2), "b.xml": (5, 1)}, 3.0) == ["a.xml"]
    assert s.ready({}, 4.0) == [] and s.seen == {}  # gone: forgotten
    assert not is_candidate(".a.xml") and not is_candidate("a.xml.part")
    assert not is_candidate("a.xml.tmp") and not is_candidate("a.xml.reason")
    assert is_candidate("alert-0001.xml")


async def test_corpus_dropped_at_once_lands_in_done_and_rejected(hub: Hub, tmp_path: Path) -> None:
    clock = Clock()
    folder = tmp_path / "inbox"
    inbox = inbox_for(hub, folder, clock)
    # Reverse order: every Update and Cancel arrives before the alert it refers to.
    for i, path in enumerate(reversed(GOOD)):
        shutil.copy(path, folder / f"{i:02}-{path.name}")
    shutil.copy(SIGNED, folder / "signed.xml")
    bad = sorted(BAD.glob("*.xml"))
    for path in bad:
        shutil.copy(path, folder / f"bad-{path.name}")

    results = await settle_and_scan(inbox, clock)

    done = sorted(p.name for p in (folder / "done").iterdir())
    assert done == sorted(
        [f"{i:02}-{p.name}" for i, p in enumerate(reversed(GOOD))] + ["signed.xml"]
    )
    rejected = folder / "rejected"
    for path in bad:
        assert (rejected / f"bad-{path.name}").read_bytes() == path.read_bytes()
        reason = (rejected / f"bad-{path.name}.reason").read_text("utf-8")
        assert reason.startswith("CAP alert refused: ") and reason.count("\n") == 1, path.name
        assert isinstance(results[f"bad-{path.name}"], CapRefused)
    assert sorted(p.name for p in folder.iterdir()) == ["done", "rejected"]
    held = alert_records(hub)
    assert len(held) == len(GOOD) + 1
    active = {a.body.identifier for a in active_alerts(hub.node.heads, NODE_NOW_MS)}
    assert "JP-09215-20270115-0002" not in active  # cancelled by 08, updated by 04
    signed = hub.node.heads[b"A" + b"JP-09215-20270115-0103"].body
    assert isinstance(signed, AlertBody) and signed.cap_signature is CapSignature.VERIFIED
    reason = (rejected / "bad-broken-signature.xml.reason").read_text()
    assert "signature" in reason


async def test_partial_and_temporary_files_are_not_read(hub: Hub, tmp_path: Path) -> None:
    clock = Clock()
    folder = tmp_path / "inbox"
    inbox = inbox_for(hub, folder, clock)
    xml = GOOD[0].read_bytes()
    slow = folder / "slow.xml"
    slow.write_bytes(xml[:300])  # a writer copying slowly
    (folder / ".hidden.xml").write_bytes(xml[:200])
    (folder / "renamed.xml.tmp").write_bytes(xml)
    for size in (400, 500, 600):  # still growing at every scan
        assert await inbox.scan() == {}
        clock.now += 1.0
        slow.write_bytes(xml[:size])
    assert alert_records(hub) == {}
    slow.write_bytes(xml)  # finished
    (folder / "renamed.xml.tmp").rename(folder / "renamed.xml")
    results = await settle_and_scan(inbox, clock)
    assert set(results) == {"slow.xml", "renamed.xml"}
    first, second = results["slow.xml"], results["renamed.xml"]
    assert isinstance(first, CapImport) and isinstance(second, CapImport)
    assert first.new != second.new and first.record == second.record  # one record
    assert (folder / ".hidden.xml").exists()
    assert sorted(p.name for p in (folder / "done").iterdir()) == ["renamed.xml", "slow.xml"]


async def test_restart_between_import_and_move_imports_nothing_twice(tmp_path: Path) -> None:
    folder = tmp_path / "inbox"
    clock = Clock()
    hub = await open_hub(tmp_path / "hub")
    try:
        inbox = inbox_for(hub, folder, clock)
        shutil.copy(GOOD[0], folder / "a.xml")
        await settle_and_scan(inbox, clock)
        before = alert_records(hub)
        count = await hub.node.store.count()
    finally:
        await hub.close()
    # As if the hub stopped after signing, before moving the file: it is still there.
    shutil.copy(GOOD[0], folder / "a.xml")
    hub = await open_hub(tmp_path / "hub")
    try:
        inbox = inbox_for(hub, folder, clock)
        results = await settle_and_scan(inbox, clock)
        result = results["a.xml"]
        assert isinstance(result, CapImport) and not result.new
        assert alert_records(hub) == before
        assert await hub.node.store.count() == count
        assert sorted(p.name for p in (folder / "done").iterdir()) == ["a.1.xml", "a.xml"]
    finally:
        await hub.close()


async def test_an_unreadable_folder_is_logged_once(
    hub: Hub, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "inbox"
    inbox = CapInbox(hub, folder, scan_s=0.01)
    caplog.set_level(logging.INFO, "shelterkit.hub.inbox")
    task = asyncio.create_task(inbox.run())
    await asyncio.sleep(0.1)
    shutil.rmtree(folder)  # e.g. a USB stick pulled out
    await asyncio.sleep(0.3)
    inbox.prepare()  # and put back
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "No such file or directory" in warnings[0]
    assert "working again" in caplog.records[-1].getMessage()


def test_pinned_certificate_files_are_checked(tmp_path: Path) -> None:
    (pem,) = load_pinned_certs([str(CERT)])
    assert pem.startswith("-----BEGIN CERTIFICATE-----")
    with pytest.raises(ConfigError, match="cannot read"):
        load_pinned_certs([str(tmp_path / "missing.pem")])
    not_pem = tmp_path / "key.pem"
    not_pem.write_text("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    with pytest.raises(ConfigError, match="holds no PEM certificate"):
        load_pinned_certs([str(not_pem)])


async def test_without_pinned_certificates_a_signed_alert_is_only_intact(tmp_path: Path) -> None:
    hub = await open_hub(tmp_path / "hub")
    try:
        done = await hub.import_cap(SIGNED.read_bytes())
        assert isinstance(done.record.body, AlertBody)
        assert done.record.body.cap_signature is CapSignature.INTACT
        with pytest.raises(CapRefused, match="signature"):
            await hub.import_cap((BAD / "broken-signature.xml").read_bytes())
    finally:
        await hub.close()

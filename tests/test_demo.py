"""`shelterkit demo` as a visitor runs it: URLs printed, alerts everywhere, Ctrl-C stops.

One demo city (hub, S01–S03 over backhaul, S48 only over an emulated LoRa hop from S03)
serves both tests: alerts issued with the CLI, and official CAP 1.2 alerts imported at the
hub, cancelled through its inbox folder, on every portal and in every node's Atom feed.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta, timezone
from pathlib import Path

import pytest

from shelterkit.cap import alert_to_cap, cap_time
from shelterkit.model.kinds import AlertBody, Certainty, MsgType, Severity, Urgency
from tests.conftest import SHELTERKIT, free_port_range

# Backhaul rounds run every 5 s; the radio hop to S48 (SF9, Japan airtime rules) takes
# up to about a minute for a fresh node to catch up.
DEADLINE_S = 150
SENDER = "bousai@city.nasukarasuyama.lg.jp"
JST = timezone(timedelta(hours=9))


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read().decode()


def wait_for(predicate: Callable[[], bool], what: str) -> float:
    """Poll until ``predicate`` holds; the seconds it took."""
    start = time.monotonic()
    while time.monotonic() < start + DEADLINE_S:
        if predicate():
            return time.monotonic() - start
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@dataclass
class City:
    portals: dict[str, str]  # shelter id → portal URL
    env: dict[str, str]  # SHELTERKIT_HUB and SHELTERKIT_TOKEN for the CLI
    inbox: Path
    log: Path

    def cli(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [SHELTERKIT, *argv], env=self.env, capture_output=True, text=True, timeout=60
        )

    def everywhere(self, needle: str, path: str = "") -> bool:
        return all(needle in fetch(url + path) for url in self.portals.values())

    def nowhere(self, needle: str, path: str = "") -> bool:
        return not any(needle in fetch(url + path) for url in self.portals.values())


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> Iterator[City]:
    tmp_path = tmp_path_factory.mktemp("demo")
    port = free_port_range(16)
    log = tmp_path / "demo.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [SHELTERKIT, "demo", "--port", str(port), "--data", str(tmp_path / "city")],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(lambda: b"export SHELTERKIT_HUB=" in log.read_bytes(), "the export line")
        text = log.read_text()
        export = re.search(r"^export SHELTERKIT_HUB=(\S+) SHELTERKIT_TOKEN=(\S+)$", text, re.M)
        assert export, text
        portals = dict(re.findall(r"^  (S\d\d) .*?(http://127\.0\.0\.1:\d+/)", text, re.M))
        assert sorted(portals) == ["S01", "S02", "S03", "S48"], text
        assert "radio via S03" in text
        inbox = re.search(r"^  CAP inbox +(\S+)/ ", text, re.M)
        assert inbox, text
        env = {**os.environ, "SHELTERKIT_HUB": export.group(1), "SHELTERKIT_TOKEN": export.group(2)}
        yield City(portals, env, Path(inbox.group(1)), log)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    assert proc.returncode == 0, log.read_text()[-2000:]
    assert "Traceback" not in log.read_text()


def test_demo_city(city: City) -> None:
    wait_for(lambda: city.everywhere("大雨警報"), "the start alert on every portal")
    issued = city.cli(
        "alert",
        "issue",
        "--headline",
        "避難指示：那珂川沿いの地区",
        "--headline-en",
        "Evacuation order",
        "--severity",
        "extreme",
        "--expires",
        "1h",
    )
    assert issued.returncode == 0, issued.stderr
    wait_for(lambda: city.everywhere("避難指示：那珂川沿いの地区"), "the CLI alert on every portal")
    for url in city.portals.values():  # and in every node's Atom feed, with its CAP document
        feed = fetch(url + "alerts.atom")
        assert "避難指示：那珂川沿いの地区" in feed and ".cap" in feed


def cap_alert(identifier: str, now_ms: int, *, expires_ms: int) -> AlertBody:
    return AlertBody(
        identifier=identifier,
        sender=SENDER,
        headline={
            "ja": f"土砂災害警戒情報（{identifier}）",
            "en": f"Landslide alert ({identifier})",
        },
        event={"ja": "土砂災害警戒情報", "en": "Landslide alert"},
        instruction={"ja": "斜面から離れてください。", "en": "Keep away from slopes."},
        severity=Severity.SEVERE,
        urgency=Urgency.IMMEDIATE,
        certainty=Certainty.LIKELY,
        categories=("Geo",),
        sent_ms=now_ms,
        expires_ms=expires_ms,
        sender_name="那須烏山市役所",
    )


def test_cap_alert_reaches_every_portal_and_its_cancel_removes_it(
    city: City, tmp_path: Path
) -> None:
    now = int(time.time()) * 1000
    ident = f"JP-09215-E2E-{now}"
    headline = f"土砂災害警戒情報（{ident}）"
    alert = tmp_path / "alert.xml"
    alert.write_bytes(alert_to_cap(cap_alert(ident, now, expires_ms=now + 3_600_000)))
    imported = city.cli("alert", "import", str(alert))
    assert imported.returncode == 0 and f"imported {ident}" in imported.stdout, imported.stderr

    took = wait_for(lambda: city.everywhere(headline), "the CAP alert on every portal, S48 too")
    wait_for(lambda: city.everywhere(headline, "alerts.atom"), "the alert in every Atom feed")
    for url in city.portals.values():  # every node exports it again as CAP 1.2
        assert f"<identifier>{ident}</identifier>" in fetch(url + f"alerts/{ident}.cap")
    print(f"CAP alert on all four portals after {took:.1f} s")

    # An alert that has already expired is refused at the hub, by the CLI and by the inbox.
    old = cap_alert(f"{ident}-old", now - 7_200_000, expires_ms=now - 3_600_000)
    expired = tmp_path / "expired.xml"
    expired.write_bytes(alert_to_cap(old))
    refused = city.cli("alert", "import", str(expired))
    assert refused.returncode == 2 and "the alert expired at" in refused.stderr
    (city.inbox / "expired.xml").write_bytes(expired.read_bytes())

    # The city cancels the alert: a CAP Cancel dropped into the hub's inbox folder.
    cancel = AlertBody(
        identifier=f"{ident}-cancel",
        sender=SENDER,
        headline={"ja": "土砂災害警戒情報の解除", "en": "Landslide alert lifted"},
        msg_type=MsgType.CANCEL,
        references=(ident,),
        cap_references=(f"{SENDER},{ident},{cap_time(now, JST)}",),
        sent_ms=now + 1000,
    )
    (city.inbox / ".cancel.xml.tmp").write_bytes(alert_to_cap(cancel))
    (city.inbox / ".cancel.xml.tmp").rename(city.inbox / "cancel.xml")
    wait_for(lambda: (city.inbox / "done" / "cancel.xml").exists(), "the inbox to take the Cancel")
    reason = city.inbox / "rejected" / "expired.xml.reason"
    wait_for(reason.exists, "the inbox to refuse the expired alert")
    assert reason.read_text().startswith("CAP alert refused: the alert expired at")

    took = wait_for(lambda: city.nowhere(headline), "the cancelled alert gone from every portal")
    wait_for(lambda: city.nowhere(headline, "alerts.atom"), "it gone from every Atom feed")
    print(f"Cancel on all four portals after {took:.1f} s")
    assert city.nowhere(old.headline["ja"]) and city.nowhere(old.headline["ja"], "alerts.atom")
    assert city.everywhere("大雨警報")  # the demo's own alert is still in force

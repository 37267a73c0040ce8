"""The staff TUI in a real terminal (tmux) against a running ``shelterkit demo``.

The hub's fleet view shows every demo shelter, with S48 (no backhaul) marked; an alert
composed, previewed and issued from the TUI reaches every shelter's portal; headcount
sent from a shelter's TUI reaches city hall's fleet view; and a post hidden from a
shelter's TUI leaves that shelter's portal.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from shelterkit.demo import PEER_PORT_OFFSET
from tests.conftest import SHELTERKIT, free_port_range

DEADLINE_S = 60
# S48 hears from city hall only over an emulated radio hop, which takes a minute or so.
RELAY_DEADLINE_S = 240


def wait_for(predicate: Callable[[], object], what: str, deadline_s: float = DEADLINE_S) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read().decode()


class Terminal:
    """One tmux session on a private server: a real terminal of a fixed size."""

    def __init__(self, socket: str, name: str) -> None:
        self.socket = socket
        self.name = name

    def tmux(self, *args: str) -> str:
        result = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=30
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    def start(self, command: list[str], env: dict[str, str], size: tuple[int, int]) -> None:
        # The terminal's size, also where programs look first (a COLUMNS or LINES that
        # tmux passed on from whoever started its server would win over the real size).
        env = {**env, "COLUMNS": str(size[0]), "LINES": str(size[1])}
        exports = [f"-e{k}={v}" for k, v in env.items()]
        self.tmux(
            "new-session",
            "-d",
            "-s",
            self.name,
            "-x",
            str(size[0]),
            "-y",
            str(size[1]),
            *exports,
            *command,
        )

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", self.name)

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", self.name, *keys)

    def type(self, text: str) -> None:
        self.tmux("send-keys", "-t", self.name, "-l", text)

    def wait_for(self, needle: str | re.Pattern[str], what: str) -> str:
        seen = ""

        def shows() -> bool:
            nonlocal seen
            seen = self.screen()
            return bool(needle.search(seen) if isinstance(needle, re.Pattern) else needle in seen)

        try:
            wait_for(shows, what)
        except AssertionError:
            raise AssertionError(f"timed out waiting for {what}; the screen:\n{seen}") from None
        return seen


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[dict[str, object]]:
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
        yield {
            "port": port,
            "hub": export.group(1),
            "token": export.group(2),
            "portals": portals,
            "data": tmp_path / "city",
        }
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    assert proc.returncode == 0, log.read_text()[-2000:]


@pytest.fixture
def terminals(tmp_path: Path) -> Iterator[Callable[[str], Terminal]]:
    socket = f"shelterkit-test-{os.getpid()}-{tmp_path.name}"[:90]

    def make(name: str) -> Terminal:
        return Terminal(socket, name)

    yield make
    subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True, timeout=30)


def tui_env(hub: str, token: str) -> dict[str, str]:
    return {"SHELTERKIT_HUB": hub, "SHELTERKIT_TOKEN": token, "TERM": "xterm-256color"}


def test_fleet_and_alert_from_the_tui(demo: dict, terminals) -> None:
    term = terminals("hub")
    term.start([SHELTERKIT, "tui"], tui_env(demo["hub"], demo["token"]), (120, 40))
    screen = term.wait_for(re.compile(r"S48 .*直接なし"), "every shelter in the fleet view")
    for shelter in ("S01", "S02", "S03", "S48"):
        assert re.search(rf"^\s+{shelter}\s", screen, re.M), screen
    assert "市役所と直接つながっていない避難所: S48" in screen

    headline = "避難指示：那珂川沿いの地区 TUI"
    term.keys("6")
    term.wait_for("警報の発令", "the alert screen")
    term.type(headline)
    term.keys("Enter")
    term.wait_for("プレビュー（まだ発令していません）", "the preview")
    term.keys("Enter")
    term.wait_for("発令しますか", "the confirmation")
    term.keys("y")
    term.wait_for("発令しました", "the issued notice")

    portals = demo["portals"].values()
    wait_for(
        lambda: all(headline in fetch(url) for url in portals),
        "the alert on every portal",
        RELAY_DEADLINE_S,
    )
    term.keys("q")


def test_headcount_from_a_shelter_reaches_city_hall(demo: dict, terminals) -> None:
    token = subprocess.run(
        [SHELTERKIT, "token", "--data", str(demo["data"] / "S01")],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout.strip()
    node_url = f"http://127.0.0.1:{demo['port'] + 1 + PEER_PORT_OFFSET}/"
    shelter = terminals("s01")
    shelter.start([SHELTERKIT, "tui", node_url], tui_env("", token), (80, 24))
    shelter.wait_for("S01 烏山公民館", "the node detail")
    shelter.keys("4")
    shelter.wait_for("人数と不足している物資", "the headcount form")
    shelter.type("123")  # the field's old value is selected, so this replaces it
    shelter.keys("Enter")
    shelter.wait_for("前回の送信", "the status sent")

    hub = terminals("hub")
    hub.start([SHELTERKIT, "tui"], tui_env(demo["hub"], demo["token"]), (120, 40))
    hub.wait_for(re.compile(r"S01 .* 123 "), "S01's headcount at city hall")


def board_rows(screen: str) -> list[str]:
    lines = screen.splitlines()
    start = next(i for i, line in enumerate(lines) if "内容" in line and "状態" in line)
    return [line for line in lines[start + 1 :] if re.match(r"^\s+\d\d:\d\d\s", line)]


def test_post_hidden_from_a_shelter_tui_leaves_its_portal(demo: dict, terminals) -> None:
    token = subprocess.run(
        [SHELTERKIT, "token", "--data", str(demo["data"] / "S01")],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout.strip()
    node_url = f"http://127.0.0.1:{demo['port'] + 1 + PEER_PORT_OFFSET}/"
    portal = demo["portals"]["S01"] + "board"
    shelter = terminals("s01")
    shelter.start([SHELTERKIT, "tui", node_url], tui_env("", token), (120, 40))
    shelter.wait_for("S01 烏山公民館", "the node detail")
    shelter.keys("3")
    # S01's own two posts and those of S02 and S03, replicated through city hall.
    shelter.wait_for("内容", "the board")
    wait_for(lambda: len(board_rows(shelter.screen())) >= 6, "the board with six posts")
    rows = board_rows(shelter.screen())
    index = next(i for i, row in enumerate(rows) if " S01 " in row and "充電器" in row)
    before = fetch(portal).count("充電器")
    shelter.keys(*["Down"] * index, "h")
    shelter.wait_for("非表示にする理由", "the reason dialog")
    shelter.type("いたずら")
    shelter.keys("Enter")
    shelter.wait_for("〔いたずら〕充電器", "the post marked hidden with its reason")
    wait_for(lambda: fetch(portal).count("充電器") == before - 1, "the post gone from the portal")

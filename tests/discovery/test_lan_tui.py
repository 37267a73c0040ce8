"""The staff TUI finds real nodes on a LAN by real zeroconf multicast, in a real terminal.

Two namespaces joined by a veth pair: S01 runs in the first; S02 and ``shelterkit tui``
(no URL, no hub: it browses ``_shelterkit._tcp``) in tmux in the second. S01 starts after
the TUI and appears; it proves the key it advertises and its admin API accepts the token
(which names S01, as `shelterkit token` makes them), so its row has the fleet's columns
(the headcount and needs just sent); S02 is never sent the token and its row says whose it
is; S02 stops and its row goes. Enter opens S01's own node screen, with its recent log lines.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from shelterkit.admin.tokens import mint_token
from shelterkit.paths import DataPaths, write_private_file
from shelterkit.service.node import load_or_create_identity
from tests.discovery.conftest import SHELTERKIT, Lan, NodeStarter, stop
from tests.system import need_tool
from tests.tui.test_tui_demo import Terminal

pytestmark = pytest.mark.system

# Seconds for a change on the LAN to show: mDNS announcement or goodbye, resolving, one
# admin API round (the TUI also polls every 3 s).
SHOW_DEADLINE_S = 45.0


class NetnsTerminal(Terminal):
    """A tmux server started inside a network namespace: what runs in it is on that LAN."""

    def __init__(self, socket: str, name: str, netns: str) -> None:
        super().__init__(socket, name)
        self.netns = netns

    def tmux(self, *args: str) -> str:
        done = subprocess.run(
            ["ip", "netns", "exec", self.netns, "tmux", "-L", self.socket, *args],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def alive(self) -> bool:
        done = subprocess.run(
            ["tmux", "-L", self.socket, "has-session", "-t", self.name],
            capture_output=True,
            timeout=30,
        )
        return done.returncode == 0

    def wait_until(self, what: str, done: Callable[[str], object]) -> str:
        end = time.monotonic() + SHOW_DEADLINE_S
        screen = ""
        while time.monotonic() < end:
            screen = self.screen()
            if done(screen):
                return screen
            time.sleep(0.3)
        raise AssertionError(f"timed out waiting for {what}; the screen:\n{screen}")


@pytest.fixture
def terminal(lan: Lan, tmp_path: Path) -> Iterator[NetnsTerminal]:
    need_tool("tmux")
    socket = f"shelterkit-lan-{os.getpid()}-{tmp_path.name}"[:90]
    term = NetnsTerminal(socket, "tui", lan.ns[1])
    yield term
    subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True, timeout=30)


def staff_token(tmp_path: Path, shelter: str) -> str:
    """The admin secret a node will use (made before it starts), and a token from it."""
    path = DataPaths(tmp_path / f"{shelter}-data").admin_token
    path.parent.mkdir(parents=True, exist_ok=True)
    write_private_file(path, os.urandom(32).hex().encode() + b"\n")
    # named after the node, as `shelterkit token` makes them
    key = load_or_create_identity(DataPaths(tmp_path / f"{shelter}-data").node_key, os.urandom)
    return mint_token(bytes.fromhex(path.read_text().strip()), time.time(), node=key.public)


def test_tui_lists_lan_nodes_live(
    lan: Lan, lan_node: NodeStarter, terminal: NetnsTerminal, tmp_path: Path
) -> None:
    token = staff_token(tmp_path, "S01")
    # Staff act on a node right after its start here; how a node waits for its first peer
    # contact before signing is tests/service/test_first_contact.py's subject.
    s02 = lan_node(1, "S02", first_contact_wait_s=0)
    env = {"SHELTERKIT_TOKEN": token, "SHELTERKIT_HUB": "", "TERM": "xterm-256color"}
    terminal.start([SHELTERKIT, "tui", "--lang", "en"], env, (160, 30))
    terminal.wait_until(
        "S02 to be listed",
        lambda s: re.search(rf"S02\s+{s02.key.hex()[:8]}\s+shelter\s+— token for another", s),
    )
    assert "S01" not in terminal.screen()

    started = time.monotonic()
    s01 = lan_node(0, "S01", first_contact_wait_s=0)
    assert lan.http(0, "get", "http://127.0.0.1:8081/healthz")[0] == 200
    status = {"headcount": 42, "needs": {"water": "critical"}}
    done = lan.http(
        0, "post-json", "http://127.0.0.1:8081/api/shelter/status", token, json.dumps(status)
    )
    assert done[0] == 201, done
    row = re.compile(
        rf"S01\s+{s01.key.hex()[:8]}\s+shelter\s+✕ indirect\s+—\s+42\s+.*Wtr!!"
        rf"\s+{re.escape(lan.address[0])}:8081"
    )
    screen = terminal.wait_until("S01 to appear with its headcount", row.search)
    print(f"S01 listed {time.monotonic() - started:.1f} s after it was started")
    assert re.search(r"S02\s+\S+\s+shelter\s+— token for another", screen)
    assert "2 found" in screen

    stopped = time.monotonic()
    stop(s02.proc)  # a clean stop says goodbye on mDNS
    screen = terminal.wait_until("S02 to go", lambda s: "S02" not in s and "1 found" in s)
    print(f"S02 gone {time.monotonic() - stopped:.1f} s after it was stopped")
    assert row.search(screen)

    terminal.keys("Enter")  # S01 is the only row: open its own screens
    screen = terminal.wait_until(
        "S01's node screen with its log",
        lambda s: f"S01  http://{lan.address[0]}:8081/" in s and "status headcount 42" in s,
    )
    assert re.search(r"\d\d:\d\d:\d\d \[INFO\] admin\.node_api: staff at \S+: status", screen)
    assert token not in screen
    terminal.keys("0")
    terminal.wait_until("the LAN list again", lambda s: "Nodes on this LAN" in s)

    # The TUI only looks: S02, which browsed beside it all along, found S01 and nothing else.
    assert re.findall(r"discovery: added (\S+)", s02.output()) == ["S01"], s02.output()
    assert "credentials from" not in s02.output()  # the token for S01 never went to S02
    terminal.keys("q")  # quits, closing its mDNS sockets
    end = time.monotonic() + SHOW_DEADLINE_S
    while terminal.alive():
        assert time.monotonic() < end, f"the TUI did not quit:\n{terminal.screen()}"
        time.sleep(0.2)

"""Acknowledged means on disk: SIGKILL the node while phones are posting."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import time
from pathlib import Path

import aiohttp

from shelterkit.model.kinds import PostBody
from shelterkit.model.record import decode_record

WORKERS = 16
KILL_ROUNDS = 3


def stored_posts(db: Path) -> set[str]:
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        texts = set()
        for (wire,) in conn.execute("SELECT wire FROM records"):
            body = decode_record(wire).body
            if isinstance(body, PostBody):
                texts.add(body.text)
        return texts
    finally:
        conn.close()


class Acks:
    """Posts the node answered 303 to; ``reached`` fires after ``target`` more of them."""

    def __init__(self) -> None:
        self.texts: set[str] = set()
        self.reached = asyncio.Event()
        self.target = 0

    def add(self, text: str) -> None:
        self.texts.add(text)
        if len(self.texts) >= self.target:
            self.reached.set()


async def post_until_dead(url: str, worker: int, acked: Acks, stop_at: float) -> None:
    async with aiohttp.ClientSession(url, timeout=aiohttp.ClientTimeout(total=10)) as s:
        i = 0
        while time.monotonic() < stop_at:
            text = f"w{worker}-{i}-{time.monotonic_ns()}"
            i += 1
            try:
                html = await (await s.get("/board")).text()
                token = re.search(r'name="csrf" value="([^"]+)"', html)
                assert token is not None
                r = await s.post(
                    "/board", data={"csrf": token.group(1), "text": text}, allow_redirects=False
                )
                if r.status == 303:
                    acked.add(text)  # the phone was told "posted"
                else:
                    assert r.status < 500
            except (TimeoutError, aiohttp.ClientError):
                return  # the node died under us


async def test_sigkill_loses_no_acknowledged_post(tmp_path: Path, start_node) -> None:
    config = tmp_path / "node.toml"
    config.write_text("[portal]\npost_burst = 1000000\npost_interval_s = 1\n")
    data = tmp_path / "data"
    acked = Acks()
    for _ in range(KILL_ROUNDS):
        node = start_node(data=data, config=config)
        stop_at = time.monotonic() + 30
        workers = [
            asyncio.create_task(post_until_dead(node.url, w, acked, stop_at))
            for w in range(WORKERS)
        ]
        acked.target = len(acked.texts) + 40
        acked.reached.clear()
        await asyncio.wait_for(acked.reached.wait(), 30)  # real traffic, then pull the plug
        node.kill()
        await asyncio.gather(*workers)
    missing = acked.texts - stored_posts(data / "records.sqlite")
    assert len(acked.texts) >= KILL_ROUNDS * 40
    assert missing == set()
    # and the node starts again on the same data
    node = start_node(data=data, config=config)
    async with aiohttp.ClientSession() as s:
        health = await (await s.get(node.url + "healthz")).json()
    assert health["records"] >= len(acked.texts)

"""200 SIGKILLs at random moments under mixed load; every acknowledged record survives.

A city-hall hub and a second shelter node run for the whole test (node B keeps posting, so
sync always has something to carry). Node A is killed with SIGKILL at a uniform random
moment 10–500 ms after it starts serving, while 8 phones post to its board, one registers
people for the safety search, and its sync loop pushes to and pulls from the hub. Between
trials, with A dead, its database file is checked directly:

- ``PRAGMA integrity_check`` is ``ok``;
- every post the portal answered 303 and every registration it answered with a
  registration number is stored, signed or in the first-contact queue (``pending``; the
  phone was told "saved");
- the version vector agrees with the records held (a batch from the hub is whole or absent).

At the end A runs once more without load and syncs: the hub holds every acknowledged post
and registration of A, A holds every acknowledged post of B, and nobody saw an
equivocation (a sequence number of A's reused for a different record).

kill -9 is not power loss: the kernel still writes back what the process handed it
(Jepsen's lazyfs note); tests/crash/test_power_loss.py covers the layer below. To keep 200
restarts inside CI's budget, A is forked from a process that has already imported
shelterkit (tests/crash/zygote.py); its first start goes through the ``shelterkit`` command
and is timed on its own. ``SIGKILL_TRIALS`` and ``SEED`` scale and replay the run.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest

from shelterkit.config import Config, NodeSettings
from shelterkit.hub.service import Hub
from shelterkit.model import codec
from shelterkit.model.fields import body_from_wire
from shelterkit.model.kinds import Kind, PersonBody, PostBody
from shelterkit.model.record import decode_record
from shelterkit.paths import DataPaths, write_private_file
from shelterkit.service.node import load_or_create_identity
from tests.conftest import SHELTERKIT, free_port_range

TRIALS = int(os.environ.get("SIGKILL_TRIALS", "200"))
SEED = int(os.environ.get("SEED", "20261127"))
# Kill moment after A serves, uniform in this range (anchors-reliability §4 T1).
KILL_AFTER_S = (0.010, 0.500)
POSTERS = 8  # phones posting at once: ≥ 5 writes in flight (T1)
GIVEN_NAMES = ("花子", "太郎", "さくら", "健一", "ゆい", "翔太")
# The node must come back by itself after every crash. T1's restart-to-serving target
# (< 2 s) is a figure, printed below and kept in docs/durability.md; on a shared 2-core CI
# machine a single restart can take longer, so the test's bound is a liveness bound only.
MAX_RESTART_S = 20.0
HEALTH_POLL_S = 0.01
# Time allowed for the final sync rounds (sync_interval_s = 1 below).
CONVERGE_S = 60.0


def _config(path: Path, shelter: str, authority: str, hub_url: str) -> Path:
    path.write_text(
        f'[shelter]\nid = "{shelter}"\n'
        f'[node]\nauthority_keys = ["{authority}"]\nhub_url = "{hub_url}"\n'
        "sync_interval_s = 1\ndiscovery = false\n"
        "[portal]\npost_burst = 1000000\npost_interval_s = 1\n",
        "utf-8",
    )
    return path


class Zygote:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.crash.zygote"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=Path(__file__).parents[2],
        )

    def _ask(self, command: dict[str, object]) -> dict[str, int]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write((json.dumps(command) + "\n").encode())
        self.proc.stdin.flush()
        return dict(json.loads(self.proc.stdout.readline()))

    def start(self, argv: list[str], log: Path) -> int:
        return self._ask({"start": argv, "log": str(log)})["pid"]

    def kill(self, pid: int) -> int:
        return self._ask({"kill": pid})["status"]

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


async def wait_serving(session: aiohttp.ClientSession, url: str, deadline_s: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < deadline_s:
        try:
            async with session.get(url + "healthz") as r:
                if r.status == 200:
                    return time.monotonic() - started
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(HEALTH_POLL_S)
    raise TimeoutError(f"{url} did not serve within {deadline_s} s")


@dataclass
class Acks:
    posts: set[str] = field(default_factory=set)
    persons: set[str] = field(default_factory=set)
    refused: int = 0  # non-2xx answers that were not errors of the node (none expected)


async def post_loop(s: aiohttp.ClientSession, url: str, tag: str, acks: Acks) -> None:
    i = 0
    while True:
        text = f"{tag}-{i}-{time.monotonic_ns()}"
        i += 1
        try:
            html = await (await s.get(url + "board")).text()
            token = re.search(r'name="csrf" value="([^"]+)"', html)
            assert token is not None
            r = await s.post(
                url + "board", data={"csrf": token.group(1), "text": text}, allow_redirects=False
            )
            if r.status == 303:
                acks.posts.add(text)  # the phone was told "posted"
            else:
                assert r.status < 500, r.status
                acks.refused += 1
        except (aiohttp.ClientError, TimeoutError):
            return  # the node died under us


async def register_loop(s: aiohttp.ClientSession, url: str, acks: Acks, rng: random.Random) -> None:
    while True:
        try:
            html = await (await s.get(url + "safety/register")).text()
            token = re.search(r'name="csrf" value="([^"]+)"', html)
            assert token is not None
            form = {
                "csrf": token.group(1),
                "family": "山田",
                "given": rng.choice(GIVEN_NAMES),
                "reading": "やまだ はなこ",
                "age": str(rng.randrange(1, 100)),
                "district": "大桶",
                "contact": "",
                "consent": "yes",
            }
            r = await s.post(url + "safety/register", data=form)
            page = await r.text()
            if r.status == 200 and (m := re.search(r"<code>([a-z0-9]+)</code>", page)):
                acks.persons.add(m.group(1))  # the family was given its number
            elif r.status == 429:
                await asyncio.sleep(0.05)  # six per phone per start: the form's own limit
            else:
                assert r.status < 500, r.status
        except (aiohttp.ClientError, TimeoutError):
            return


@dataclass
class Seen:
    """What A's database held at the last check (records are never deleted)."""

    rowid: int = 0
    posts: set[str] = field(default_factory=set)
    persons: set[str] = field(default_factory=set)
    count: int = 0
    from_b: int = 0
    pending: set[str] = field(default_factory=set)  # posts acknowledged, not signed yet
    pending_persons: set[str] = field(default_factory=set)  # registrations, the same
    pending_seen: int = 0  # checks that found some
    pending_persons_seen: int = 0


def check_database(db: Path, seen: Seen, b_origin: bytes) -> None:
    conn = sqlite3.connect(db)
    try:
        assert [r[0] for r in conn.execute("PRAGMA integrity_check")] == ["ok"]
        for rowid, wire, origin in conn.execute(
            "SELECT rowid, wire, origin FROM records WHERE rowid > ? ORDER BY rowid", (seen.rowid,)
        ):
            seen.rowid = max(seen.rowid, rowid)
            body = decode_record(bytes(wire), verify_signature=False).body
            if isinstance(body, PostBody):
                seen.posts.add(body.text)
            elif isinstance(body, PersonBody):
                seen.persons.add(body.person_id)
            seen.from_b += bytes(origin) == b_origin
        # posts and registrations acknowledged before the first peer contact wait in
        # ``pending`` until signed
        seen.pending = {
            body_from_wire(PostBody, codec.decode(bytes(data))).text
            for (data,) in conn.execute(
                "SELECT body FROM pending WHERE kind = ?", (int(Kind.POST),)
            )
        }
        seen.pending_persons = {
            body_from_wire(PersonBody, codec.decode(bytes(data))).person_id
            for (data,) in conn.execute(
                "SELECT body FROM pending WHERE kind = ?", (int(Kind.PERSON),)
            )
        }
        seen.pending_seen += bool(seen.pending)
        seen.pending_persons_seen += bool(seen.pending_persons)
        count = conn.execute("SELECT count(*) FROM records").fetchone()[0]
        assert count >= seen.count  # what was committed stays committed
        seen.count = count
        for origin, stream, contiguous in conn.execute("SELECT * FROM vector"):
            held = conn.execute(
                "SELECT count(*), max(seq) FROM records WHERE origin = ? AND stream = ?"
                " AND seq <= ?",
                (origin, stream, contiguous + 1),
            ).fetchone()
            assert held[0] == contiguous, (origin.hex()[:8], stream, contiguous, held)
    finally:
        conn.close()


def hub_posts(db: Path, origin: bytes) -> set[str]:
    bodies = _hub_bodies(db, origin, Kind.POST)
    return {b.text for b in bodies if isinstance(b, PostBody)}


def hub_persons(db: Path, origin: bytes) -> set[str]:
    bodies = _hub_bodies(db, origin, Kind.PERSON)
    return {b.person_id for b in bodies if isinstance(b, PersonBody)}


def _hub_bodies(db: Path, origin: bytes, kind: Kind) -> list[object]:
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute(
            "SELECT wire FROM records WHERE origin = ? AND kind = ?", (origin, int(kind))
        ).fetchall()
    finally:
        conn.close()
    return [decode_record(bytes(w), verify_signature=False).body for (w,) in rows]


@dataclass
class City:
    zygote: Zygote
    hub_url: str
    hub_db: Path
    hub_log: Path
    a_args: list[str]
    a_url: str
    a_db: Path
    a_origin: bytes
    b_url: str
    b_origin: bytes
    pids: list[int]


@pytest.fixture
def city(tmp_path: Path) -> Iterator[City]:
    root = tmp_path
    zygote = Zygote(root)
    pids: list[int] = []
    try:
        yield asyncio.run(_build_city(root, zygote, pids))
    finally:
        for pid in pids:
            zygote.kill(pid)
        zygote.close()


async def _build_city(root: Path, zygote: Zygote, pids: list[int]) -> City:
    hub_port = free_port_range(1)
    hub_dir = root / "hub"
    hub = await Hub.open(
        Config(node=NodeSettings(data_dir=str(hub_dir))), lambda: time.time_ns() // 1_000_000
    )
    keys = {}
    for shelter in ("S01", "S02"):
        paths = DataPaths(root / shelter)
        paths.root.mkdir(parents=True)
        keys[shelter] = load_or_create_identity(paths.node_key, os.urandom).public
        write_private_file(paths.enrolment, (await hub.enrol(keys[shelter], shelter)).wire)
    authority = hub.authority.public.hex()
    await hub.close()
    hub_url = f"http://127.0.0.1:{hub_port}/"
    hub_config = root / "hub.toml"
    hub_config.write_text("[node]\ndiscovery = false\nsync_interval_s = 1\n", "utf-8")
    hub_log = root / "hub.log"
    pids.append(
        zygote.start(
            ["hub", "--config", str(hub_config), "--data", str(hub_dir), "--listen", hub_url[7:-1]],
            hub_log,
        )
    )
    urls = {}
    args = {}
    for shelter in ("S01", "S02"):
        port = free_port_range(2)
        urls[shelter] = f"http://127.0.0.1:{port}/"
        config = _config(root / f"{shelter}.toml", shelter, authority, hub_url)
        args[shelter] = [
            "node",
            "--config",
            str(config),
            "--data",
            str(root / shelter),
            "--listen",
            f"127.0.0.1:{port}",
        ]
    pids.append(zygote.start(args["S02"], root / "S02.log"))
    return City(
        zygote=zygote,
        hub_url=hub_url,
        hub_db=DataPaths(hub_dir).database,
        hub_log=hub_log,
        a_args=args["S01"],
        a_url=urls["S01"],
        a_db=DataPaths(root / "S01").database,
        a_origin=keys["S01"],
        b_url=urls["S02"],
        b_origin=keys["S02"],
        pids=pids,
    )


@pytest.mark.timeout(900)
async def test_sigkill_under_mixed_load_loses_nothing_acknowledged(
    city: City, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    acks = Acks()
    b_acks = Acks()
    seen = Seen()
    restarts: list[float] = []
    timeout = aiohttp.ClientTimeout(total=5)
    started = time.monotonic()
    async with aiohttp.ClientSession(timeout=timeout) as s:
        await wait_serving(s, city.hub_url, 30)
        await wait_serving(s, city.b_url, 30)
        b_load = [asyncio.create_task(post_loop(s, city.b_url, f"B{w}", b_acks)) for w in range(2)]
        # the first start goes through the real command, imports and all
        first = time.monotonic()
        proc = await asyncio.create_subprocess_exec(
            SHELTERKIT, *city.a_args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        await wait_serving(s, city.a_url, 30)
        cold_start_s = time.monotonic() - first
        proc.kill()
        await proc.wait()
        for trial in range(TRIALS):
            pid = city.zygote.start(city.a_args, tmp_path / "S01.log")
            restarts.append(await wait_serving(s, city.a_url, MAX_RESTART_S))
            load = [
                asyncio.create_task(post_loop(s, city.a_url, f"t{trial}w{w}", acks))
                for w in range(POSTERS)
            ]
            load.append(asyncio.create_task(register_loop(s, city.a_url, acks, rng)))
            await asyncio.sleep(rng.uniform(*KILL_AFTER_S))
            city.zygote.kill(pid)
            await asyncio.gather(*load)
            try:
                check_database(city.a_db, seen, city.b_origin)
                stored = seen.posts | seen.pending
                assert acks.posts <= stored, f"lost {len(acks.posts - stored)} posts"
                held = seen.persons | seen.pending_persons
                assert acks.persons <= held, f"lost {len(acks.persons - held)} registrations"
            except AssertionError:
                print(f"SEED={SEED} trial={trial}")
                raise
        trials_s = time.monotonic() - started
        # one calm run: A syncs both ways; B's load stops so the city can converge
        for task in b_load:
            task.cancel()
        await asyncio.gather(*b_load, return_exceptions=True)
        city.pids.append(city.zygote.start(city.a_args, tmp_path / "S01.log"))
        await wait_serving(s, city.a_url, 30)
        deadline = time.monotonic() + CONVERGE_S
        while time.monotonic() < deadline:
            check_database(city.a_db, seen, city.b_origin)
            at_hub = hub_posts(city.hub_db, city.a_origin)
            persons_at_hub = hub_persons(city.hub_db, city.a_origin)
            if (
                acks.posts <= at_hub
                and acks.persons <= persons_at_hub
                and b_acks.posts <= seen.posts
            ):
                break
            await asyncio.sleep(0.5)
    assert acks.posts <= hub_posts(city.hub_db, city.a_origin)
    assert acks.persons <= hub_persons(city.hub_db, city.a_origin)
    assert b_acks.posts <= seen.posts
    hub_said = city.hub_log.read_text("utf-8")
    assert "equivocation" not in hub_said and "fork:" not in hub_said  # no number reused
    assert acks.refused == 0
    print(
        f"sigkill: {TRIALS} trials in {trials_s:.1f} s ({trials_s / TRIALS:.2f} s each),"
        f" {len(acks.posts)} posts and {len(acks.persons)} registrations acknowledged, 0 lost;"
        f" {seen.from_b} records from the other shelter arrived by sync; restart to serving"
        f" median {statistics.median(restarts) * 1000:.0f} ms, max {max(restarts) * 1000:.0f} ms"
        f" (forked), cold start {cold_start_s:.2f} s; posts waiting for the first contact"
        f" after {seen.pending_seen} kills, registrations after {seen.pending_persons_seen}"
        f" (SEED={SEED})"
    )
    assert len(acks.posts) >= TRIALS  # real load, not empty trials

"""Storage faults: a full data partition, a corrupt database, a card restored from an old image.

The disk-full test mounts a small tmpfs as the node's data partition (root only; under
CI=true it must run, so it fails rather than skips without root) and drives a real node
process. The corrupt-database and restored-image tests use in-process nodes with a real
city-hall hub over WebSockets, as tests/links does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from http.cookiejar import CookieJar
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from shelterkit.config import Config, NodeSettings, ShelterSettings
from shelterkit.errors import StorageError
from shelterkit.hub.service import Hub
from shelterkit.links.websocket import add_sync_route, sync_with
from shelterkit.model.hlc import HybridClock
from shelterkit.model.kinds import PostBody, Stream
from shelterkit.model.record import decode_record
from shelterkit.paths import DataPaths, write_private_file
from shelterkit.service.node import Node, load_or_create_identity
from shelterkit.storage import recovery
from shelterkit.storage.store import RESYNC_HOLD_MS, Store
from shelterkit.sync import Role
from tests.conftest import SHELTERKIT, NodeProcess, free_port, wait_healthy
from tests.helpers import identity, post
from tests.system import unavailable

NOW_MS = 1_800_000_000_000
# The data partition for the disk-full test: room for the database and a little WAL.
TMPFS_BYTES = 4 * 1024 * 1024
JA_CANNOT_SAVE = "現在、避難所のシステムに保存できません"
# Random corruptions tried at start (anchors-reliability §4 T4 asks 1,000 on CI; each is a
# fresh Store.open, about 10 ms).
CORRUPTIONS = int(os.environ.get("CORRUPTIONS", "1000"))


def clock() -> int:
    return NOW_MS


# -- full disk ------------------------------------------------------------------------------


@pytest.fixture
def small_partition(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        unavailable("the disk-full test mounts a tmpfs and needs root")
    mnt = tmp_path / "data-partition"
    mnt.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_BYTES},mode=0700", "tmpfs", str(mnt)],
        check=True,
    )
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


class Phone:
    """A phone's browser: cookies, CSRF tokens from the page, no redirects followed."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(CookieJar()), _NoRedirect()
        )

    def get(self, path: str) -> tuple[int, str]:
        try:
            with self.opener.open(self.url + path, timeout=10) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def post_board(self, text: str) -> tuple[int, str]:
        _, html = self.get("board")
        token = re.search(r'name="csrf" value="([^"]+)"', html)
        assert token is not None
        data = urllib.parse.urlencode({"csrf": token.group(1), "text": text}).encode()
        try:
            with self.opener.open(self.url + "board", data, timeout=10) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_args: object, **_kw: object) -> None:
        return None


def health(node_url: str, port: int) -> dict[str, object]:
    import json

    peer = node_url.replace(f":{port}/", f":{port + 1}/")
    with urllib.request.urlopen(peer + "healthz", timeout=10) as r:
        return dict(json.loads(r.read()))


def fill(path: Path) -> int:
    """Write a filler file until the partition is full; returns the bytes written."""
    written = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (65536, 4096, 512):  # big steps, then the last pages
            while True:
                try:
                    written += os.write(fd, b"\0" * size)
                except OSError:
                    break
    finally:
        os.close(fd)
    return written


def test_disk_full_refuses_posts_keeps_serving_and_recovers(
    small_partition: Path, tmp_path: Path, start_node
) -> None:
    config = tmp_path / "node.toml"
    config.write_text(
        "[node]\ndiscovery = false\n[portal]\npost_burst = 1000000\npost_interval_s = 1\n"
    )
    node = start_node(data=small_partition / "data", config=config)
    phone = Phone(node.url)
    for i in range(5):
        assert phone.post_board(f"before-{i}")[0] == 303
    filler = small_partition / "filler"
    fill(filler)
    refused = 0
    for i in range(20):  # the WAL may still have a page or two of room
        status, html = phone.post_board(f"full-{i}")
        if status == 503:
            refused += 1
            assert JA_CANNOT_SAVE in html  # a clear page, in Japanese
    assert refused >= 15
    status, html = phone.get("board")
    assert status == 200 and "before-4" in html  # reading still works
    assert phone.get("")[0] == 200
    storage = health(node.url, node.port)["storage"]
    assert isinstance(storage, dict)
    assert storage["state"] == "full" and storage["low_space"] is True
    filler.unlink()  # staff free space (the logs, an old backup)
    status, _ = phone.post_board("after")
    assert status == 303
    storage = health(node.url, node.port)["storage"]
    assert isinstance(storage, dict) and storage["state"] == "ok"
    node.kill()
    conn = sqlite3.connect(node.data / "records.sqlite")
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        n_posts = conn.execute("SELECT count(*) FROM records WHERE kind = 3").fetchone()[0]
    finally:
        conn.close()
    # nothing refused was stored, everything acknowledged was: 5 before, "after", and the
    # few "full-…" that still fitted before the refusals began
    assert n_posts == 5 + 1 + (20 - refused)


# -- corrupt database, restored image: a node and the city-hall hub -------------------------


async def open_hub(root: Path) -> Hub:
    return await Hub.open(Config(node=NodeSettings(data_dir=str(root / "hub"))), clock)


async def enrol_at_new_hub(root: Path, shelter: str = "S01") -> tuple[bytes, str]:
    """A city-hall hub's data in ``root/hub`` and an enrolled node key in ``root/shelter``,
    for processes started next: the node's key and the authority key (hex)."""
    hub = await open_hub(root)
    paths = DataPaths(root / shelter)
    key = load_or_create_identity(paths.node_key, os.urandom)
    write_private_file(paths.enrolment, (await hub.enrol(key.public, shelter)).wire)
    authority = hub.authority.public.hex()
    await hub.close()
    return key.public, authority


async def open_node(root: Path, hub: Hub, shelter: str = "S01") -> Node:
    data = root / shelter
    paths = DataPaths(data)
    key = load_or_create_identity(paths.node_key, lambda n: identity(shelter).seed[:n])
    if not paths.enrolment.exists():
        write_private_file(paths.enrolment, (await hub.enrol(key.public, shelter)).wire)
    config = Config(
        shelter=ShelterSettings(id=shelter),
        node=NodeSettings(data_dir=str(data), authority_keys=[hub.authority.public.hex()]),
    )
    return await Node.open(config, clock, lambda n: identity(shelter).seed[:n])


@pytest.fixture
async def hub_url(tmp_path: Path) -> AsyncIterator[tuple[Hub, str]]:
    hub = await open_hub(tmp_path)
    app = web.Application()
    add_sync_route(app, hub.node, Role.HUB)
    server = TestServer(app)
    await server.start_server()
    yield hub, str(server.make_url("/"))
    await server.close()
    await hub.close()


async def sync(node: Node, url: str) -> None:
    async with aiohttp.ClientSession() as http:
        assert (await sync_with(node, url, session=http)).ok


def own_posts(node: Node) -> dict[int, str]:
    return {
        r.seq: r.body.text
        for r in node.heads.values()
        if r.origin == node.identity.public and isinstance(r.body, PostBody)
    }


async def hub_conflicts(hub: Hub, node: Node) -> dict[int, set[bytes]]:
    """(seq → record ids) the hub holds for the node's posts stream: one id per seq."""
    records = await hub.node.store.records_range(node.identity.public, Stream.BOARD, 1, 10**6)
    out: dict[int, set[bytes]] = {}
    for r in records:
        out.setdefault(r.seq, set()).add(r.id)
    return out


def corrupt_table_root(db: Path, table: str) -> None:
    """Scribble over the b-tree page header of ``table``'s root page, as a card that lost
    an erase block would."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # fold the WAL in first
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,))
        page = root.fetchone()[0]
    with db.open("r+b") as f:
        f.seek((page - 1) * page_size)
        f.write(b"\xff" * 12)


async def test_corrupt_database_is_moved_aside_and_rebuilt_from_the_hub(
    tmp_path: Path, hub_url: tuple[Hub, str], caplog: pytest.LogCaptureFixture
) -> None:
    hub, url = hub_url
    node = await open_node(tmp_path, hub)
    for i in range(20):
        await node.publish(PostBody(text=f"post {i}"))
    await sync(node, url)
    before = own_posts(node)
    db = node.store.path
    await node.close()
    corrupt_table_root(db, "records")
    with caplog.at_level(logging.ERROR, logger="shelterkit.storage.store"):
        node = await open_node(tmp_path, hub)
    try:
        assert node.store.quarantined is not None
        moved = node.store.quarantined.moved_to
        assert moved.exists() and moved.name.startswith("records.sqlite.corrupt-")
        assert any("is corrupt" in r.getMessage() for r in caplog.records)
        assert node.store.health().state == "holding"
        with pytest.raises(StorageError):  # no new own record before the old ones are back
            await node.publish(PostBody(text="too early"))
        await sync(node, url)
        assert own_posts(node) == before  # every post came back from the hub
        node.store.end_resync_hold()  # what a completed sync round does
        record = await node.publish(PostBody(text="after"))
        assert record.seq == max(before) + 1
        await sync(node, url)
        assert all(len(ids) == 1 for ids in (await hub_conflicts(hub, node)).values())
        assert await node.store.integrity_check() == "ok"
    finally:
        await node.close()


async def test_restored_old_image_never_reuses_a_sequence_number(
    tmp_path: Path, hub_url: tuple[Hub, str], caplog: pytest.LogCaptureFixture
) -> None:
    hub, url = hub_url
    node = await open_node(tmp_path, hub)
    for i in range(3):
        await node.publish(PostBody(text=f"old {i}"))
    await sync(node, url)
    await node.close()
    image = tmp_path / "image"
    shutil.copytree(tmp_path / "S01", image)  # the card is imaged here
    node = await open_node(tmp_path, hub)
    for i in range(4):
        await node.publish(PostBody(text=f"new {i}"))
    await sync(node, url)
    await node.close()
    shutil.rmtree(tmp_path / "S01")
    shutil.copytree(image, tmp_path / "S01")  # …and restored after the card failed
    node = await open_node(tmp_path, hub)
    try:
        assert max(own_posts(node)) == 3  # the image knows only its three
        with caplog.at_level(logging.WARNING, logger="shelterkit.storage.store"):
            await sync(node, url)
        said = [r.getMessage() for r in caplog.records if "old image" in r.getMessage()]
        assert len(said) == 1 and "up to at least seq 7 in stream 5, above the 3" in said[0]
        assert node.store.health().restore_detected_ms == NOW_MS  # staff see it
        assert max(own_posts(node)) == 7
        record = await node.publish(PostBody(text="after restore"))
        assert record.seq == 8  # never 4 again
        await sync(node, url)
        assert all(len(ids) == 1 for ids in (await hub_conflicts(hub, node)).values())
    finally:
        await node.close()


async def test_seq_floor_from_a_peer_summary_is_honoured(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "db.sqlite")
    me = identity("S01")
    try:
        await store.append_records([post(me, 1, 10)], NOW_MS)
        assert await store.raise_seq_floor(me.public, Stream.BOARD, 40)
        assert not await store.raise_seq_floor(me.public, Stream.BOARD, 12)  # never lowered
        record = await store.append_own(me, PostBody(text="x"), HybridClock(), NOW_MS)
        assert record.seq == 41
        other = await store.append_own(identity("S02"), PostBody(text="y"), HybridClock(), NOW_MS)
        assert other.seq == 1  # a floor is per origin
    finally:
        await store.close()


async def test_resync_hold_ends_by_itself(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite"
    db.write_bytes(b"this is not a database" * 300)
    now = [NOW_MS]
    store = await Store.open(db, wall_ms=lambda: now[0])
    try:
        assert store.quarantined is not None
        assert "not a database" in store.quarantined.reason
        with pytest.raises(StorageError):
            await store.append_own(identity("S01"), PostBody(text="x"), HybridClock(), now[0])
        now[0] += RESYNC_HOLD_MS  # an isolated shelter: nobody to sync with
        await store.append_own(identity("S01"), PostBody(text="x"), HybridClock(), now[0])
        assert store.health().state == "ok"
    finally:
        await store.close()


def test_locked_database_is_not_moved(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite"
    holder = sqlite3.connect(db, isolation_level=None)
    try:
        holder.execute("CREATE TABLE t (x)")
        holder.execute("BEGIN EXCLUSIVE")
        holder.execute("INSERT INTO t VALUES (1)")
        old_timeout = recovery.CHECK_BUSY_TIMEOUT_S
        recovery.CHECK_BUSY_TIMEOUT_S = 0.05
        try:
            with pytest.raises(StorageError):
                recovery.check_or_quarantine(db, NOW_MS)
        finally:
            recovery.CHECK_BUSY_TIMEOUT_S = old_timeout
        assert db.exists()
    finally:
        holder.close()


@pytest.fixture
def ram_dir(tmp_path: Path) -> Iterator[Path]:
    """A folder in RAM where there is one: a thousand throwaway databases would otherwise
    time this machine's fsync, not the start-up check."""
    if not Path("/dev/shm").is_dir():
        yield tmp_path
        return
    folder = Path(tempfile.mkdtemp(prefix="corrupt-", dir="/dev/shm"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


async def test_random_corruption_never_crashes_start(ram_dir: Path) -> None:
    """T4: flip 1–64 random bytes of a populated database; start either serves it or moves
    it aside, never an unhandled exception; reads after start raise StorageError at worst."""
    tmp_path = ram_dir
    source = tmp_path / "source.sqlite"
    store = await Store.open(source)
    me = identity("S01")
    for i in range(300):
        await store.append_own(me, PostBody(text=f"post {i} " * 20), HybridClock(), NOW_MS + i)
    await store.close()
    pristine = source.read_bytes()
    rng = random.Random(int(os.environ.get("SEED", "4")))
    db = tmp_path / "db.sqlite"
    moved = served = 0
    for _ in range(CORRUPTIONS):
        for suffix in ("", "-wal", "-shm"):
            db.with_name(db.name + suffix).unlink(missing_ok=True)
        for moved_aside in tmp_path.glob("db.sqlite.corrupt-*"):
            moved_aside.unlink()
        data = bytearray(pristine)
        for _ in range(rng.randrange(1, 65)):
            data[rng.randrange(len(data))] ^= 1 + rng.randrange(255)
        db.write_bytes(bytes(data))
        store = await Store.open(db, wall_ms=clock)
        try:
            if store.quarantined is not None:
                moved += 1
                assert await store.count() == 0
            else:
                served += 1
                with contextlib.suppress(StorageError):
                    await store.heads()
        finally:
            await store.close()
    print(f"corruption at start: {CORRUPTIONS} tries, {moved} moved aside, {served} served")
    assert moved > 0 and moved + served == CORRUPTIONS


async def test_damage_only_the_migrations_see_is_quarantined(tmp_path: Path) -> None:
    """A changed value in ``schema_migrations`` passes quick_check, but the migrations then
    fail on the existing tables: the database is moved aside like any corrupt one."""
    db = tmp_path / "db.sqlite"
    store = await Store.open(db)
    await store.append_own(identity("S01"), PostBody(text="x"), HybridClock(), NOW_MS)
    await store.close()
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("UPDATE schema_migrations SET version = 99 WHERE version = 1")
    reopened = await Store.open(db, wall_ms=lambda: NOW_MS)
    try:
        assert reopened.quarantined is not None
        assert "schema" in reopened.quarantined.reason
        assert reopened.quarantined.moved_to.exists()
        assert await reopened.count() == 0
        assert reopened.health().state == "holding"  # own signing waits for peers
    finally:
        await reopened.close()


async def test_new_database_for_a_key_with_history_holds_own_signing(tmp_path: Path) -> None:
    """A replaced card: the bundle's key has signed before, the database is new."""
    now = [NOW_MS]
    store = await Store.open(tmp_path / "db.sqlite", wall_ms=lambda: now[0], has_history=True)
    try:
        assert store.health().state == "holding"
        with pytest.raises(StorageError):
            await store.append_own(identity("S01"), PostBody(text="x"), HybridClock(), now[0])
        store.end_resync_hold()
        await store.append_own(identity("S01"), PostBody(text="x"), HybridClock(), now[0])
    finally:
        await store.close()
    reopened = await Store.open(tmp_path / "db.sqlite", wall_ms=lambda: now[0], has_history=True)
    try:
        assert reopened.health().state == "ok"  # an existing database: nothing to wait for
    finally:
        await reopened.close()


# -- a card restored from an old image, with real processes ---------------------------------

# Set to 0 to see the test catch a reused number (the node then signs before any contact).
FIRST_CONTACT_WAIT_S = int(os.environ.get("FIRST_CONTACT_WAIT_S", "120"))


def _board_records(db: Path, origin: bytes) -> dict[int, tuple[bytes, str]]:
    """seq → (record id, text) of ``origin``'s board posts in the database at ``db``."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT seq, id, wire FROM records WHERE origin = ? AND stream = ?",
            (origin, int(Stream.BOARD)),
        ).fetchall()
    finally:
        conn.close()
    out = {}
    for seq, record_id, wire in rows:
        body = decode_record(bytes(wire)).body
        assert isinstance(body, PostBody)
        out[int(seq)] = (bytes(record_id), body.text)
    return out


def _wait_for(what: str, check: Callable[[], bool], deadline_s: float = 30.0) -> None:
    end = time.monotonic() + deadline_s
    while not check():
        if time.monotonic() > end:
            raise TimeoutError(what)
        time.sleep(0.1)


def _start_hub(root: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    config = root / "hub.toml"
    config.write_text("[node]\ndiscovery = false\nsync_interval_s = 1\n", "utf-8")
    args = ["hub", "--config", str(config), "--data", str(root / "hub")]
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [SHELTERKIT, *args, "--listen", f"127.0.0.1:{port}"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=os.environ.copy(),
        )
    wait_healthy(f"http://127.0.0.1:{port}/", proc)
    return proc


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0


def test_restored_card_image_reuses_no_number_with_real_processes(
    tmp_path: Path, start_node: Callable[..., NodeProcess]
) -> None:
    """A node on SQLite on disk is imaged, posts more (they reach the hub), loses power; the
    image is restored and the node starts while the hub is down. Posts made then are
    acknowledged and shown as pending, survive a SIGKILL, and are signed after the hub's
    summary, numbered after what it holds: no (origin, stream, seq) is signed twice,
    nothing acknowledged is lost, and staff see the restore."""

    origin, authority = asyncio.run(enrol_at_new_hub(tmp_path))
    hub_port = free_port()
    hub_log = tmp_path / "hub.log"
    hub = _start_hub(tmp_path, hub_port, hub_log)
    hub_db = DataPaths(tmp_path / "hub").database
    config = tmp_path / "S01.toml"
    config.write_text(
        f'[shelter]\nid = "S01"\n[node]\nauthority_keys = ["{authority}"]\n'
        f'hub_url = "http://127.0.0.1:{hub_port}/"\nsync_interval_s = 1\ndiscovery = false\n'
        f"first_contact_wait_s = {FIRST_CONTACT_WAIT_S}\n"
        "[portal]\npost_burst = 1000000\npost_interval_s = 1\n",
        "utf-8",
    )
    data = tmp_path / "S01"
    acknowledged: list[str] = []

    def post_all(node: NodeProcess, texts: list[str]) -> None:
        phone = Phone(node.url)
        for text in texts:
            assert phone.post_board(text)[0] == 303
            acknowledged.append(text)

    def hub_holds(n: int) -> Callable[[], bool]:
        return lambda: hub_db.exists() and len(_board_records(hub_db, origin)) >= n

    try:
        node = start_node(data=data, config=config)
        port = node.port
        post_all(node, [f"first {i}" for i in range(3)])
        _wait_for("the hub holds the first posts", hub_holds(3))
        node.kill(signal.SIGTERM)
        image = tmp_path / "image"
        shutil.copytree(data, image)  # the card is imaged here

        node = start_node(data=data, port=port, config=config)
        post_all(node, [f"second {i}" for i in range(4)])
        _wait_for("the hub holds the second posts", hub_holds(7))
        node.kill()  # the power is cut; the card is lost
        _stop(hub)  # …and city hall is out of reach when the old image boots

        shutil.rmtree(data)
        shutil.copytree(image, data)
        node = start_node(data=data, port=port, config=config)
        waiting = health(node.url, port)["first_contact"]
        assert isinstance(waiting, dict)
        assert ("board" in waiting["waiting"]) == (FIRST_CONTACT_WAIT_S > 0)
        # the hub is down: the post is stored as pending and acknowledged at once
        started = time.monotonic()
        post_all(node, ["third 0"])
        answered_s = time.monotonic() - started
        assert answered_s < 2.0
        _, board = Phone(node.url).get("board")
        assert "third 0" in board and ("送信待ち" in board) == (FIRST_CONTACT_WAIT_S > 0)
        node.kill()  # the power is cut again before any peer answered
        node = start_node(data=data, port=port, config=config)
        _, board = Phone(node.url).get("board")
        assert "third 0" in board  # still there, still waiting
        post_all(node, ["third 1"])
        hub = _start_hub(tmp_path, hub_port, hub_log)
        with contextlib.suppress(TimeoutError):  # a reused number never gets there
            _wait_for("the hub holds the queued posts", hub_holds(9), 20)
        signed_s = time.monotonic() - started
        print(f"post while the hub was down: answered in {answered_s:.2f} s; signed")
        print(f"  {signed_s:.1f} s after it was made (a SIGKILL and a hub start in between)")
        post_all(node, ["third 2"])
        with contextlib.suppress(TimeoutError):  # a reused number never gets there
            _wait_for("the hub holds every post", hub_holds(10), 15)
        storage = health(node.url, port)["storage"]
        assert isinstance(storage, dict) and isinstance(storage["restore_detected_ms"], int)
        node.kill(signal.SIGTERM)
    finally:
        if hub.poll() is None:
            _stop(hub)

    at_node = _board_records(DataPaths(data).database, origin)
    at_hub = _board_records(hub_db, origin)
    # one record per number, the same at both ends: nothing was signed twice
    assert [seq for seq in at_node if at_node[seq][0] != at_hub.get(seq, (b"",))[0]] == []
    assert sorted(at_node) == sorted(at_hub) == list(range(1, 11))
    # nothing acknowledged was lost, and the posts after the restore came after the rest
    assert sorted(text for _, text in at_hub.values()) == sorted(acknowledged)
    assert [at_hub[seq][1] for seq in (8, 9, 10)] == [f"third {i}" for i in range(3)]
    assert "restored from an old image?" in node.log.read_text("utf-8")
    hub_said = hub_log.read_text("utf-8")
    assert "equivocation" not in hub_said and "fork:" not in hub_said  # no number reused

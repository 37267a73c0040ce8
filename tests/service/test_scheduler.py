"""Sync loops back off while a peer is unreachable, and retry at once when an uplink comes
up (the backhaul monitor calls ``wake``)."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time

import pytest

from shelterkit.errors import LinkError
from shelterkit.service import scheduler as scheduler_module
from shelterkit.service.node import Node
from shelterkit.service.scheduler import Backoff, SyncScheduler


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    backoff, rng = Backoff(first_s=2.0, max_s=300.0), random.Random(1)
    waits = [backoff.next_wait(rng) for _ in range(12)]
    assert 1.0 <= waits[0] <= 2.0 and 2.0 <= waits[1] <= 4.0
    assert all(150.0 <= w <= 300.0 for w in waits[8:])
    backoff.reset()
    assert backoff.next_wait(rng) <= 2.0


async def test_wake_retries_an_unreachable_peer_now(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[float] = []
    called = asyncio.Event()

    async def unreachable(*_args: object, **_kwargs: object) -> None:
        calls.append(time.monotonic())
        called.set()
        raise LinkError("no route to host")

    monkeypatch.setattr(scheduler_module, "sync_with", unreachable)
    sched = SyncScheduler(node, rng=random.Random(3))
    task = asyncio.create_task(sched.run(["http://127.0.0.1:9/"]))
    try:
        await asyncio.wait_for(called.wait(), 10)
        (peer,) = sched.peers.values()
        peer.backoff.first_s = 600.0  # the next retry would be minutes away …
        peer.backoff.failures = 0
        await asyncio.sleep(0.2)
        assert len(calls) == 1 or calls[1] - calls[0] > 0.5  # (the first wait was short)
        before = len(calls)
        called.clear()
        sched.wake()  # … but the uplink came back
        await asyncio.wait_for(called.wait(), 2)
        assert len(calls) == before + 1
        assert peer.last_error == "no route to host" and not peer.reachable
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

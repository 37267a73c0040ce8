"""The node's own status records: staff fields kept, measurements added, heartbeat and
rate limits, and battery readings from a (fake) sysfs tree through the real node service."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace
from pathlib import Path

from shelterkit.config import PowerSettings
from shelterkit.model.kinds import NeedLevel, StatusBody, Stream
from shelterkit.service.node import Node
from shelterkit.service.run import run_services, start_node
from shelterkit.service.status import STATUS_HEARTBEAT_S, StatusReporter
from shelterkit.sync import PeerSummarized, VersionVector
from tests.conftest import free_port_range, node_config


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def own_status(node: Node) -> StatusBody:
    body = node.heads[b"S" + node.identity.public].body
    assert isinstance(body, StatusBody)
    return body


async def test_staff_fields_kept_measurements_added(node: Node) -> None:
    await node.publish(StatusBody(shelter="S01", headcount=80, need_water=NeedLevel.HIGH))
    clients = [12]
    clock = Clock()
    reporter = StatusReporter(node, clients=lambda: clients[0], monotonic=clock)
    await reporter.report()
    body = own_status(node)
    assert (body.headcount, body.need_water, body.clients) == (80, NeedLevel.HIGH, 12)

    clients[0] = 14  # a small change soon after: no new record
    clock.now += 120
    before = node.record_count
    await reporter.report()
    assert node.record_count == before
    clients[0] = 40  # a big one after the minimum interval: a record
    await reporter.report()
    assert own_status(node).clients == 40
    clock.now += STATUS_HEARTBEAT_S  # nothing changes for half an hour: a heartbeat anyway
    before = node.record_count
    await reporter.report()
    assert node.record_count == before + 1


async def test_staff_status_queued_during_the_first_contact_wait_is_not_overwritten(
    tmp_path: Path,
) -> None:
    config = node_config(tmp_path / "data")
    hub = f"http://127.0.0.1:{free_port_range(1)}/"  # nothing listens there: the wait is on
    config = replace(config, node=replace(config.node, hub_url=hub, discovery=False))
    node = await Node.open(config, lambda: 1_800_000_000_000)
    try:
        await node.publish_or_queue(StatusBody(shelter="S01", headcount=42))  # staff, queued
        reporter = StatusReporter(node, clients=lambda: 7, monotonic=Clock())
        assert reporter.current().headcount == 42  # the queued one is the current one
        await asyncio.wait_for(reporter.report(), 1)  # skipped at once, not a 10 s wait
        assert reporter.last_sent is None and node.record_count == 0
        await node.learn_own_heads(
            PeerSummarized(VersionVector(), frozenset(Stream))  # the first contact
        )
        await reporter.report()
        body = own_status(node)
        assert (body.headcount, body.clients) == (42, 7)  # staff's count, fresh measurement
    finally:
        await node.close()


async def test_battery_from_sysfs_reaches_the_status_record(tmp_path: Path) -> None:
    supply = tmp_path / "sys" / "BAT0"
    supply.mkdir(parents=True)
    for key, value in {"type": "Battery", "status": "Discharging", "capacity": 64}.items():
        (supply / key).write_text(f"{value}\n")
    config = node_config(tmp_path / "d", f"127.0.0.1:{free_port_range(2)}")
    config = config.__class__(
        shelter=config.shelter,
        node=config.node,
        portal=config.portal,
        power=PowerSettings(source="sysfs", sysfs_root=str(tmp_path / "sys"), shutdown_command=[]),
    )
    service = await start_node(config)
    runner = asyncio.create_task(run_services([service]))
    try:
        for _ in range(100):
            head = service.node.heads.get(b"S" + service.node.identity.public)
            if (
                head is not None
                and isinstance(head.body, StatusBody)
                and head.body.battery_pct == 64
            ):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("no status record with the battery reading")
    finally:
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner

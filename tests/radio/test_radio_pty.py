"""Two nodes joined by a real pty pair (socat), with the real serial driver and transport.

The pair is made with ``socat pty,link=A pty,link=B``; killing socat makes both ports
vanish as a USB unplug does, and starting it again brings them back under the same names.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from shelterkit.links.radio import RadioLinkSettings, RadioTransport
from shelterkit.model.kinds import EnrolBody, StatusBody, Stream
from shelterkit.model.record import sign_record
from shelterkit.service.node import Node
from tests.conftest import CITY, node_config
from tests.helpers import alert
from tests.system import unavailable

try:
    from shelterkit.model.anpi import new_person
except ImportError:  # a model without safety registrations: the status record stands in
    new_person = None  # type: ignore[assignment]

HLC = 1_800_000_000_000 << 16
ALERTS = 40  # several batches and dozens of frames: long enough to cut in the middle

if shutil.which("socat") is None:
    unavailable("socat is not installed", module=True)


class PtyPair:
    def __init__(self, directory: Path) -> None:
        self.a, self.b = directory / "ttyA", directory / "ttyB"
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            "socat",
            f"pty,raw,echo=0,link={self.a}",
            f"pty,raw,echo=0,link={self.b}",
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(200):
            if self.a.exists() and self.b.exists():
                return
            await asyncio.sleep(0.02)
        raise RuntimeError("socat did not create the pty pair")

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            async with asyncio.timeout(10):
                await self.proc.wait()
        self.proc = None


@pytest.fixture
async def ptys(tmp_path: Path) -> AsyncIterator[PtyPair]:
    pair = PtyPair(tmp_path)
    yield pair
    await pair.stop()


@pytest.fixture
async def two_nodes(tmp_path: Path) -> AsyncIterator[tuple[Node, Node]]:
    a = await Node.open(node_config(tmp_path / "a"), lambda: 1_800_000_000_000)
    b = await Node.open(node_config(tmp_path / "b"), lambda: 1_800_000_000_000)
    enrol = [
        sign_record(CITY, i + 1, HLC + i, EnrolBody(node_key=n.identity.public, shelter=f"S0{i}"))
        for i, n in enumerate((a, b))
    ]
    for node in (a, b):
        assert not (await node.ingest([r.wire for r in enrol])).rejected
    yield a, b
    await a.close()
    await b.close()


def settings(port: Path, station: int) -> RadioLinkSettings:
    # A cable given a radio profile paces itself like that radio: SF7/BW500 under jp920,
    # so the transfer takes seconds and can be cut in the middle.
    return RadioLinkSettings(
        driver="cable",
        port=str(port),
        profile="jp920",
        spreading_factor=7,
        bandwidth_khz=500,
        station_id=station,
        beacon_idle_s=5.0,
    )


async def wait_for(predicate: Callable[[], Awaitable[bool]], timeout_s: float) -> None:
    """Check ``predicate`` every 50 ms (the nodes change it from their own tasks)."""
    for _ in range(int(timeout_s / 0.05)):
        if await predicate():
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(f"not within {timeout_s} s")


async def test_alert_and_status_cross_a_pty_pair_and_survive_an_unplug(
    ptys: PtyPair, two_nodes: tuple[Node, Node]
) -> None:
    a, b = two_nodes
    alerts = [
        alert(CITY, i, HLC + 100 + i, f"nasukarasuyama-2026-{i:04d}") for i in range(1, ALERTS + 1)
    ]
    assert not (await a.ingest([r.wire for r in alerts])).rejected
    status = await b.publish(StatusBody(shelter="S01", headcount=57, battery_pct=88))
    person_seq = 0
    if new_person is not None:  # a safety registration, where the model has them
        registration = new_person(
            person_id="p-0042",
            family_name="烏山",
            given_name="花子",
            reading="からすやま はなこ",
            age=34,
            contact="090-1234-5678",
            shelter="S01",
            consent=True,
            authority_key=CITY.public,
        )
        person_seq = (await b.publish(registration)).seq
    await ptys.start()
    ta, tb = RadioTransport(a, settings(ptys.a, 1)), RadioTransport(b, settings(ptys.b, 2))

    async def alerts_at_b() -> int:
        return (await b.have()).head(CITY.public, Stream.ALERTS)

    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(ta.run()), group.create_task(tb.run())]

        async def some_arrived() -> bool:
            return await alerts_at_b() >= 3

        await wait_for(some_arrived, 60.0)
        assert await alerts_at_b() < ALERTS, "the transfer finished before the unplug"
        await ptys.stop()  # both ports vanish mid-transfer

        async def both_down() -> bool:
            return ta.state == "reconnecting" and tb.state == "reconnecting"

        await wait_for(both_down, 20.0)
        assert tb.status().last_error
        await asyncio.sleep(1.0)
        await ptys.start()  # plugged back in: same names

        async def converged() -> bool:
            have_a = await a.have()
            return (
                await alerts_at_b() == ALERTS
                and have_a.head(b.identity.public, Stream.STATUS) == status.seq
                and have_a.head(b.identity.public, Stream.ANPI) == person_seq
            )

        await wait_for(converged, 120.0)
        for task in tasks:
            task.cancel()

    assert ta.reconnects >= 1 and tb.reconnects >= 1
    # every record once: 2 enrolments, the alerts, the status (and the registration)
    expected = 2 + ALERTS + 1 + (1 if person_seq else 0)
    assert await b.store.count() == expected
    assert await a.store.count() == expected
    status_b = tb.status()
    assert status_b.frames_corrupt >= 0 and status_b.neighbours[0].station == 1

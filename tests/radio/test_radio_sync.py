"""Real nodes (store, trust, sync sessions) syncing over radio links on the emulated medium."""

from __future__ import annotations

import hashlib
import random
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from shelterkit.links.radio import RadioSync, radio_safe
from shelterkit.links.radio_medium import EmulatedRadio
from shelterkit.model.kinds import EnrolBody, StatusBody, Stream
from shelterkit.model.record import Record, sign_record
from shelterkit.radio.airtime import LoraParams
from shelterkit.radio.governor import audit_grants
from shelterkit.radio.link import RadioLink
from shelterkit.radio.medium import PathLoss, RadioMedium
from shelterkit.radio.profiles import JP920_CS5MS, JP920_UPPER, RegionProfile
from shelterkit.service.node import Node
from tests.conftest import CITY, node_config
from tests.helpers import alert

SF9 = LoraParams(spreading_factor=9)
HLC = 1_800_000_000_000 << 16


def seeded(name: str) -> Callable[[int], bytes]:
    """Deterministic key material, so that every run puts the same bytes on air."""
    return lambda n: hashlib.sha256(name.encode()).digest()[:n]


def enrolments(nodes: list[Node]) -> list[Record]:
    return [
        sign_record(
            CITY, i + 1, HLC + i, EnrolBody(node_key=n.identity.public, shelter=f"S{i:02d}")
        )
        for i, n in enumerate(nodes)
    ]


@pytest.fixture
async def chain(tmp_path: Path) -> AsyncIterator[list[Node]]:
    nodes = [
        await Node.open(
            node_config(tmp_path / f"n{i}"), lambda: 1_800_000_000_000, seeded(f"node {i}")
        )
        for i in range(4)
    ]
    wires = [r.wire for r in enrolments(nodes)]
    for node in nodes:
        result = await node.ingest(wires)
        assert not result.rejected
    yield nodes
    for node in nodes:
        await node.close()


def radio(
    nodes: list[Node],
    spacing_m: float,
    *,
    seed: int = 7,
    profile: RegionProfile = JP920_CS5MS,
    lora: LoraParams = SF9,
    bit_error_rate: float = 0.0,
    beacon_idle_s: float = 900.0,
) -> EmulatedRadio:
    rng = random.Random(seed)
    medium = RadioMedium(
        rng, PathLoss(reliable_m=2_000.0, max_m=4_000.0), bit_error_rate, latency_s=0.01
    )
    engines = {}
    for i, node in enumerate(nodes):
        station = i + 1
        medium.add_station(station, spacing_m * i, 0.0)
        link = RadioLink(station, rng, profile=profile, lora=lora)
        engines[station] = RadioSync(node, link, rng, beacon_idle_s=beacon_idle_s)
    return EmulatedRadio(medium, engines, rng)


def audit(net: EmulatedRadio) -> int:
    grants = 0
    for engine in net.engines.values():
        gov = engine.link.governor
        assert audit_grants(list(gov.log), gov.profile) == []
        assert gov.violations == 0
        grants += len(gov.log)
    return grants


@pytest.mark.parametrize("seed", [1, 3, 5])
async def test_three_hop_chain_carries_an_alert_out_and_a_status_back(
    chain: list[Node], seed: int
) -> None:
    """hub – node – node – far node, 2.5 km apart: each hears only its neighbours.

    Links lose a quarter of their frames at that distance and the middle stations suffer
    hidden-terminal collisions; everything is the real code: stores, trust, sessions,
    compact bundles, ARQ and the governor, whose logs are audited against ``jp920``.
    """
    hub, far = chain[0], chain[3]
    net = radio(chain, 2_500.0, seed=seed)
    await net.run(60.0)  # beacons: everyone agrees, nothing else goes on air
    warning = alert(CITY, 1, HLC + 100, "nasukarasuyama-2026-0001")
    assert not (await hub.ingest([warning.wire])).rejected
    status = await far.publish(StatusBody(shelter="S03", headcount=142, battery_pct=63))
    started = net.now

    async def arrived() -> bool:
        return (await far.have()).head(CITY.public, Stream.ALERTS) == 1 and (await hub.have()).head(
            far.identity.public, Stream.STATUS
        ) == status.seq

    done = False

    def check() -> bool:
        return done

    for _ in range(200):
        await net.run(net.now + 30.0, done=check)
        done = await arrived()
        if done:
            break
    assert done, f"not delivered by t={net.now:.0f} s"
    assert net.now - started < 1_800.0
    assert audit(net) > 0
    for node in chain:  # relays hold both, each once
        assert (await node.have()).head(CITY.public, Stream.ALERTS) == 1
        assert (await node.have()).head(far.identity.public, Stream.STATUS) == status.seq


@pytest.mark.parametrize("seed", [2])
async def test_three_hop_chain_within_the_upper_channel_profile(
    chain: list[Node], seed: int
) -> None:
    """The same chain under ``jp920-upper``: 10 × airtime pauses and 360 s per hour."""
    hub, far = chain[0], chain[3]
    net = radio(chain, 2_500.0, seed=seed, profile=JP920_UPPER)
    await net.run(60.0)
    warning = alert(CITY, 1, HLC + 100, "nasukarasuyama-2026-0002")
    assert not (await hub.ingest([warning.wire])).rejected
    status = await far.publish(StatusBody(shelter="S03", headcount=12, battery_pct=40))
    for _ in range(400):
        await net.run(net.now + 30.0)
        if (await far.have()).head(CITY.public, Stream.ALERTS) == 1 and (await hub.have()).head(
            far.identity.public, Stream.STATUS
        ) == status.seq:
            break
    else:
        raise AssertionError(f"not delivered by t={net.now:.0f} s")
    assert audit(net) > 0


async def test_babbling_neighbour_and_foreign_frames_rejected(chain: list[Node]) -> None:
    """Noise and other protocols' frames between the frames of a real session."""
    a, b = chain[0], chain[1]
    net = radio([a, b], 1_000.0, seed=9)
    warning = alert(CITY, 1, HLC + 100, "nasukarasuyama-2026-0003")
    await net.run(30.0)
    assert not (await a.ingest([warning.wire])).rejected
    rng = random.Random(5)
    meshtastic = b"\x94\xc3\x00\x05hello"
    kiss = b"\xc0\x00payload\xc0"
    engine_b = net.engines[2]
    for _ in range(300):
        noise = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400)))
        await engine_b.receive(noise + meshtastic + kiss + b"\x00", net.now)
        await net.run(net.now + 1.0)
        if (await b.have()).head(CITY.public, Stream.ALERTS) == 1:
            break
    assert (await b.have()).head(CITY.public, Stream.ALERTS) == 1
    status = engine_b.status(net.now)
    assert status.frames_corrupt + status.frames_foreign > 0
    assert engine_b.link.deframer.buffered_bytes <= 258
    assert (await b.store.count()) == 4 + 1  # enrolments and the alert: nothing else


def test_records_that_may_not_cross_a_radio_stay_behind() -> None:
    anpi = pytest.importorskip("shelterkit.model.anpi")
    from shelterkit.model.kinds import PersonBody

    who = CITY
    public = anpi.new_person(
        person_id="p-1",
        family_name="烏山",
        given_name="花子",
        reading="からすやま はなこ",
        shelter="S01",
        consent=True,
        authority_key=None,
    )
    private_in_clear = PersonBody(person_id="p-2", family_name="那須", public=False)
    wires = [
        sign_record(who, 1, HLC, public).wire,
        sign_record(who, 2, HLC + 1, private_in_clear).wire,
        sign_record(who, 3, HLC + 2, public).wire,
    ]
    assert radio_safe(wires) == wires[:1]


def routed(nodes: list[Node], spacing_m: float, *, seed: int) -> EmulatedRadio:
    """``radio`` with the planned route of a chain: each station's uplink is the one
    before it; the first (city hall) has none."""
    net = radio(nodes, spacing_m, seed=seed)
    for station, engine in net.engines.items():
        net.engines[station] = RadioSync(
            engine.node,
            engine.link,
            engine.rng,
            beacon_idle_s=engine.beacon_idle_s,
            uplinks=[station - 1] if station > 1 else [],
        )
    return net


@pytest.mark.parametrize("seed", [1, 4])
async def test_routed_chain_pushes_the_alert_out_and_status_up_only(
    chain: list[Node], seed: int
) -> None:
    """With a route, the alert is flooded hop by hop within a minute (no summary rounds
    needed), and a status of the second station goes up to city hall but not down the
    chain: a status is not flooded to every shelter."""
    hub, second, third, far = chain
    net = routed(chain, 2_500.0, seed=seed)
    await net.run(60.0)
    warning = alert(CITY, 1, HLC + 100, "nasukarasuyama-2026-0001")
    assert not (await hub.ingest([warning.wire])).rejected
    status = await second.publish(StatusBody(shelter="S01", headcount=80, battery_pct=90))
    started = net.now
    got_alert: dict[int, float] = {}
    for _ in range(600):
        await net.run(net.now + 1.0)
        for i, node in enumerate(chain):
            if i not in got_alert and (await node.have()).head(CITY.public, Stream.ALERTS):
                got_alert[i] = net.now - started
        if len(got_alert) == 4 and (await hub.have()).head(second.identity.public, Stream.STATUS):
            break
    assert len(got_alert) == 4, got_alert
    assert max(got_alert.values()) < 60.0, got_alert
    assert (await hub.have()).head(second.identity.public, Stream.STATUS) == status.seq
    await net.run(net.now + 600.0)  # ten more minutes: beacons and rounds change nothing
    for node in (third, far):
        assert (await node.have()).head(second.identity.public, Stream.STATUS) == 0
    assert sum(e.counters.pushes_sent for e in net.engines.values()) >= 4
    assert audit(net) > 0


async def test_routed_settings_reach_the_engine(chain: list[Node]) -> None:
    from shelterkit.config import RadioSettings
    from shelterkit.links.radio import RadioLinkSettings, build_radio
    from shelterkit.service.run import radio_link_settings

    settings = radio_link_settings(RadioSettings(port="/dev/null", routed=True, uplinks=[3, 9]))
    assert settings == RadioLinkSettings(port="/dev/null", routed=True, uplinks=(3, 9))
    _driver, sync = build_radio(chain[1], settings, random.Random(1))
    assert sync.uplinks == (3, 9)
    assert Stream.STATUS not in sync.streams and Stream.ALERTS in sync.streams
    _driver, plain = build_radio(chain[1], RadioLinkSettings(port="/dev/null"), random.Random(1))
    assert plain.uplinks is None and Stream.STATUS in plain.streams

"""Real nodes (store, trust, sync sessions) syncing over radio links on the emulated medium."""

from __future__ import annotations

import hashlib
import random
import shutil
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from shelterkit.links.radio import RadioSync, radio_safe
from shelterkit.links.radio_medium import EmulatedRadio
from shelterkit.model.handover import HandoverTable
from shelterkit.model.kinds import EnrolBody, StatusBody, Stream
from shelterkit.model.record import MAX_SEQ, Record, sign_record
from shelterkit.radio.airtime import LoraParams
from shelterkit.radio.compact import Push
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


async def run_until_held(
    net: EmulatedRadio, node: Node, key: tuple[bytes, Stream], seq: int, failure: str
) -> None:
    """Run the radio second by second, at most ten minutes, until ``node`` holds ``seq``
    of ``key``; ``failure`` says what never arrived."""
    for _ in range(600):
        await net.run(net.now + 1.0)
        if (await node.have()).head(*key) == seq:
            return
    raise AssertionError(f"{failure} (t={net.now:.0f} s)")


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


# -- hand-over state across a power loss ------------------------------------------------------


async def restart(
    net: EmulatedRadio, nodes: list[Node], i: int, data_dir: Path, *, uplinks: list[int]
) -> RadioSync:
    """Station ``i + 1`` loses power and comes back: its node and engine are dropped (the
    ARQ, sessions and everything in memory with them), a new node opens the data
    directory and a new engine with a new link takes the station's place on the medium."""
    station = i + 1
    old = net.engines.pop(station)
    await nodes[i].close()
    nodes[i] = await Node.open(node_config(data_dir), lambda: 1_800_000_000_000, sign_at_once=True)
    link = RadioLink(station, net.rng, profile=JP920_CS5MS, lora=SF9)
    engine = RadioSync(nodes[i], link, net.rng, beacon_idle_s=old.beacon_idle_s, uplinks=uplinks)
    net.engines[station] = engine
    return engine


async def status_copies(node: Node, origin: bytes) -> int:
    have = await node.have()
    records = await node.store.records_range(origin, Stream.STATUS, 1, MAX_SEQ)
    assert len({r.seq for r in records}) == len(records) == have.head(origin, Stream.STATUS)
    return len(records)


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_relay_hands_on_after_power_loss_what_it_acknowledged(
    chain: list[Node], tmp_path: Path, seed: int
) -> None:
    """city hall ← relay ← far station, 2 km apart (city hall and the far station cannot
    hear each other). City hall is switched off; the far station's status reaches the
    relay, which acknowledges it; the relay loses power and starts again; city hall comes
    back: the status reaches it, once, by the relay's push (no rounds carry status on a
    route)."""
    nodes = chain[:3]
    hall, far = nodes[0], nodes[2]
    net = routed(nodes, 2_000.0, seed=seed)
    await net.run(60.0)
    hall_engine = net.engines.pop(1)  # switched off: hears nothing, sends nothing
    status = await far.publish(StatusBody(shelter="S02", headcount=31, battery_pct=77))
    key = (far.identity.public, Stream.STATUS)
    for _ in range(120):
        await net.run(net.now + 1.0)
        handed = {(h.origin, h.stream): h.handed for h in await far.store.handovers(3)}
        if handed.get(key) == status.seq:  # the relay acknowledged the push
            break
    else:
        raise AssertionError("the relay never acknowledged the far station's push")
    assert (await nodes[1].have()).head(*key) == status.seq
    await net.run(net.now + 120.0)  # the relay tries its switched-off uplink meanwhile
    assert net.engines[2].counters.pushes_sent >= 1
    assert (await hall.have()).head(*key) == 0

    relay = await restart(net, chain, 1, tmp_path / "n1", uplinks=[1])
    assert [(h.key, h.pending, h.came_from) for h in await chain[1].store.handovers(2)] == [
        (key, True, 3)
    ]
    net.engines[1] = hall_engine  # city hall is back
    await run_until_held(net, hall, key, status.seq, "the status never reached city hall")
    assert relay.counters.pushes_sent >= 1
    await net.run(net.now + 300.0)
    assert await status_copies(hall, far.identity.public) == 1
    assert await status_copies(chain[1], far.identity.public) == 1
    assert {(h.key, h.pending, h.handed) for h in await chain[1].store.handovers(2)} == {
        (key, False, status.seq)
    }
    assert audit(net) > 0


async def test_handover_is_durable_before_the_acknowledgement_goes_on_air(
    chain: list[Node], tmp_path: Path
) -> None:
    """The relay's power fails at the first moment its ACK could go on air: right after
    it handled the push (``receive``), before its next ``step``. A copy of its data
    directory taken then is what a power loss leaves; a relay started from it hands the
    status on to city hall."""
    nodes = chain[:3]
    hall, relay, far = nodes
    net = routed(nodes, 2_000.0, seed=5)
    await net.run(60.0)
    hall_engine = net.engines.pop(1)
    status = await far.publish(StatusBody(shelter="S02", headcount=12, battery_pct=50))
    key = (far.identity.public, Stream.STATUS)
    engine = net.engines[2]
    receive = engine.receive
    snapshot = tmp_path / "relay-at-ack"

    async def receive_then_lose_power(data: bytes, now: float) -> None:
        await receive(data, now)
        if not snapshot.exists() and (await relay.have()).head(*key):
            far_handed = [h for h in await far.store.handovers(3) if h.handed]
            assert far_handed == []  # the far station has no acknowledgement yet
            shutil.copytree(tmp_path / "n1", snapshot)  # the database and its WAL

    engine.receive = receive_then_lose_power  # type: ignore[method-assign]
    for _ in range(120):
        await net.run(net.now + 1.0)
        if snapshot.exists():
            break
    assert snapshot.exists()
    await net.run(net.now + 60.0)
    assert [h.handed for h in await far.store.handovers(3)] == [status.seq]

    chain[1] = await Node.open(node_config(snapshot), lambda: 1_800_000_000_000)
    await relay.close()
    net.engines.pop(2)
    link = RadioLink(2, net.rng, profile=JP920_CS5MS, lora=SF9)
    net.engines[2] = RadioSync(chain[1], link, net.rng, uplinks=[1])
    net.engines[1] = hall_engine
    await run_until_held(
        net, hall, key, status.seq, "the status acknowledged at the power loss never arrived"
    )


async def test_power_loss_between_mark_and_records_is_harmless(chain: list[Node]) -> None:
    """A relay marks pushed records as waiting before it stores them: a power loss in
    between leaves a mark with nothing behind it (no acknowledgement went out). The
    relay starts with that mark, finds nothing to hand on, and when the far station
    pushes again it stores the status and hands it on."""
    nodes = chain[:3]
    hall, relay, far = nodes
    status = await far.publish(StatusBody(shelter="S02", headcount=9, battery_pct=20))
    key = (far.identity.public, Stream.STATUS)
    await relay.store.save_handovers(2, HandoverTable().mark_pending(key, came_from=3))
    net = routed(nodes, 2_000.0, seed=6)
    await run_until_held(net, hall, key, status.seq, "the relay never handed on the status")
    await net.run(net.now + 60.0)
    assert [(h.key, h.handed, h.pending) for h in await relay.store.handovers(2)] == [
        (key, status.seq, False)
    ]


async def test_relay_does_not_hand_on_what_reached_it_another_way(chain: list[Node]) -> None:
    """A record the relay already holds (it came over backhaul, on its way to city hall
    there) is not marked when a push repeats it: the relay spends no airtime on it.
    A forged push in a trusted name marks nothing either."""
    nodes = chain[:3]
    _hall, relay, far = nodes
    status = await far.publish(StatusBody(shelter="S02", headcount=9, battery_pct=20))
    assert (await relay.ingest([status.wire])).stored
    net = routed(nodes, 2_000.0, seed=6)
    key = (far.identity.public, Stream.STATUS)
    for _ in range(300):
        await net.run(net.now + 1.0)
        if [h.handed for h in await far.store.handovers(3)] == [status.seq]:
            break
    else:
        raise AssertionError("the relay never acknowledged the far station's push")
    await net.run(net.now + 120.0)
    assert net.engines[2].counters.pushes_sent == 0
    assert await relay.store.handovers(2) == []
    forged = bytearray(status.wire)
    forged[-1] ^= 1  # the signature no longer holds
    await net.engines[2]._on_push(Push((bytes(forged),)), 3, net.now)
    assert await relay.store.handovers(2) == [] and not net.engines[2]._handover.has_pending
    assert (await relay.have()).head(*key) == status.seq


@pytest.mark.parametrize("keep_handover", [True, False])
async def test_station_does_not_push_its_handed_records_again_after_a_restart(
    chain: list[Node], tmp_path: Path, keep_handover: bool
) -> None:
    """A station whose six statuses city hall acknowledged restarts: it sends no push of
    them again (with ``keep_handover`` False its hand-over rows are deleted first, as
    before they were stored: then it pushes all six again). A status made after the
    restart goes up alone."""
    nodes = chain[:2]
    hall, station = nodes
    net = routed(nodes, 1_000.0, seed=8)
    records = 6
    for i in range(records):
        await station.publish(StatusBody(shelter="S01", headcount=100 + i, battery_pct=90))
        await net.run(net.now + 5.0)
    key = (station.identity.public, Stream.STATUS)
    for _ in range(600):
        await net.run(net.now + 1.0)
        if [h.handed for h in await station.store.handovers(2)] == [records]:
            break
    else:
        raise AssertionError("city hall never acknowledged the statuses")
    assert (await hall.have()).head(*key) == records
    await net.run(net.now + 60.0)
    if not keep_handover:
        db = sqlite3.connect(station.store.path)
        with db:
            db.execute("DELETE FROM radio_handover")
        db.close()
    engine = await restart(net, chain, 1, tmp_path / "n1", uplinks=[1])
    hall_received = net.engines[1].counters.records_received
    await net.run(net.now + 600.0)
    sent_after = engine.counters.pushes_sent
    airtime = sum(g.airtime_s for g in engine.link.governor.log)
    if not keep_handover:  # the control: without the stored state all six go again
        assert sent_after >= 1
        assert [h.handed for h in await chain[1].store.handovers(2)] == [records]
        return
    assert sent_after == 0
    assert net.engines[1].counters.records_received == hall_received
    # ten minutes after the restart: a beacon or two, no push (a push of six statuses is
    # several seconds on air at SF9)
    assert airtime < 1.0, airtime
    late = await chain[1].publish(StatusBody(shelter="S01", headcount=7, battery_pct=80))
    for _ in range(300):
        await net.run(net.now + 1.0)
        if (await hall.have()).head(*key) == late.seq:
            break
    assert (await hall.have()).head(*key) == late.seq == records + 1
    assert engine.counters.pushes_sent == 1


def test_two_routed_ports_with_one_station_id_rejected() -> None:
    """Hand-over state is kept per station id: two routed ports must not share one."""
    from shelterkit.config import parse_config
    from shelterkit.errors import ConfigError

    two = '[[radio]]\nport = "/dev/ttyUSB0"\nrouted = true\n{}[[radio]]\nport = "/dev/ttyUSB1"\n'
    with pytest.raises(ConfigError, match=r"\[\[radio\]\] 2: another routed port"):
        parse_config(two.format("") + "routed = true\n")
    with pytest.raises(ConfigError, match="station id 7"):
        parse_config(two.format("station_id = 7\n") + "routed = true\nstation_id = 7\n")
    assert len(parse_config(two.format("") + "routed = true\nstation_id = 7\n").radio) == 2
    assert len(parse_config(two.format("")).radio) == 2  # one routed port, one plain


def test_uplinks_from_a_config_file_reach_the_engine(chain: list[Node]) -> None:
    """``uplinks`` is a list of station ids in the TOML file (it was refused as not a list
    of strings); anything but integers is refused."""
    from shelterkit.config import parse_config
    from shelterkit.errors import ConfigError
    from shelterkit.links.radio import build_radio
    from shelterkit.service.run import radio_link_settings

    text = '[[radio]]\nport = "/dev/null"\nrouted = true\nuplinks = [{}]\n'
    (radio,) = parse_config(text.format("48, 12")).radio
    _driver, sync = build_radio(chain[1], radio_link_settings(radio), random.Random(1))
    assert sync.uplinks == (48, 12)
    for bad in ('"48"', "true", "4.5"):
        with pytest.raises(ConfigError, match="uplinks: expected a list of integers"):
            parse_config(text.format(bad))

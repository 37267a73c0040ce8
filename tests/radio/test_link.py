"""Links on the emulated medium: framing, ARQ and governor together, on a virtual clock."""

from __future__ import annotations

import random

from shelterkit.model.record import decode_record
from shelterkit.radio.airtime import LoraParams
from shelterkit.radio.arq import Acknowledged, ArqConfig, Delivered, LinkEvent
from shelterkit.radio.framing import Frame, FrameType, encode_frame
from shelterkit.radio.governor import audit_grants
from shelterkit.radio.link import RadioLink
from shelterkit.radio.medium import PathLoss, RadioMedium
from shelterkit.radio.profiles import JP920_CS5MS, JP920_CS128US, RegionProfile

from .harness import Network, alert_record, mutate, status_record

SF9 = LoraParams(spreading_factor=9)


def _network(
    positions: dict[int, float],
    *,
    seed: int = 1,
    profile: RegionProfile = JP920_CS5MS,
    lora: LoraParams = SF9,
    bit_error_rate: float = 0.0,
    path_loss: PathLoss | None = None,
    config: ArqConfig | None = None,
) -> Network:
    rng = random.Random(seed)
    medium = RadioMedium(
        rng, path_loss or PathLoss(), bit_error_rate=bit_error_rate, latency_s=0.01
    )
    links = {}
    for station, x in positions.items():
        medium.add_station(station, x, 0.0)
        links[station] = RadioLink(station, rng, profile=profile, lora=lora, config=config)
    return Network(medium, links, rng)


def _audit(net: Network) -> None:
    for link in net.links.values():
        assert audit_grants(list(link.governor.log), link.governor.profile) == []
        assert link.governor.violations == 0


def test_alert_and_status_cross_a_radio_link() -> None:
    net = _network({1: 0.0, 2: 1_500.0})
    alert, status = alert_record(), status_record()
    net.links[1].send(2, alert.wire, 0.0, priority=1)
    net.links[2].send(1, status.wire, 0.0, priority=4)
    net.run(until=120.0)
    assert [decode_record(p).id for p in net.delivered(2)] == [alert.id]
    assert [decode_record(p).id for p in net.delivered(1)] == [status.id]
    _audit(net)
    longest = max(g.airtime_us for link in net.links.values() for g in link.governor.log)
    assert longest <= 4_000_000


def test_bit_errors_never_pass_a_corrupt_payload() -> None:
    net = _network({1: 0.0, 2: 1_000.0}, bit_error_rate=2e-4, seed=3)
    sent = [alert_record(seq).wire for seq in range(1, 13)]
    for payload in sent:
        net.links[1].send(2, payload, 0.0)
    net.run(until=3_600.0)
    assert sorted(net.delivered(2)) == sorted(sent)  # each once, intact
    assert net.links[2].deframer.counters.corrupt > 0  # damage happened and was caught
    assert net.medium.counters.bits_flipped > 0
    _audit(net)


def test_hidden_terminals_collide_then_recover() -> None:
    # 1 and 3 cannot hear each other (6 km apart), 2 hears both: carrier sense cannot help
    net = _network(
        {1: 0.0, 2: 3_000.0, 3: 6_000.0}, path_loss=PathLoss(reliable_m=3_500.0, max_m=5_000.0)
    )
    net.links[1].send(2, b"from one" * 30, 0.0)
    net.links[3].send(2, b"from three" * 30, 0.0)
    net.run(until=600.0)
    assert sorted(net.delivered(2)) == sorted([b"from one" * 30, b"from three" * 30])
    assert net.medium.counters.lost_collision > 0
    _audit(net)


def test_three_hop_chain_within_the_japan_profile() -> None:
    """Hub 1 – node 2 – node 3 – node 4: an alert out to the far node, a status back.

    Each relay forwards what it receives to its next neighbour (sync does this for real).
    """
    chain = [1, 2, 3, 4]
    net = _network(
        {s: 2_500.0 * i for i, s in enumerate(chain)},
        path_loss=PathLoss(reliable_m=2_000.0, max_m=4_000.0),
        seed=11,
    )
    alert, status = alert_record(), status_record()

    def relay(net: Network, station: int, event: LinkEvent) -> None:
        if not isinstance(event, Delivered):
            return
        i = chain.index(station)
        if 0 < i < len(chain) - 1:
            towards = chain[i + 1] if event.src == chain[i - 1] else chain[i - 1]
            net.links[station].send(towards, event.payload, net.now)

    net.on_event = relay
    net.links[1].send(2, alert.wire, 0.0, priority=1)
    net.links[4].send(3, status.wire, 0.0, priority=4)
    net.run(until=1_800.0)
    assert [decode_record(p).id for p in net.delivered(4)] == [alert.id]
    assert [decode_record(p).id for p in net.delivered(1)] == [status.id]
    _audit(net)
    acked = [e for events in net.events.values() for e in events if isinstance(e, Acknowledged)]
    assert len(acked) == 6  # three hops each way


def test_short_regime_keeps_360_s_per_hour_under_load() -> None:
    config = ArqConfig(max_outgoing=400, max_attempts=20, max_backoff_s=600.0, dedupe_ttl_s=2e4)
    sf7 = LoraParams(spreading_factor=7)  # a full 200-byte frame is 317.7 ms < 400 ms
    net = _network({1: 0.0, 2: 500.0}, profile=JP920_CS128US, lora=sf7, config=config)
    for i in range(300):
        net.links[1].send(2, bytes([i % 256]) * 900, 0.0)  # 5 frames each: ~480 s of air
    net.run(until=2 * 3600.0, max_steps=2_000_000)
    gov = net.links[1].governor
    assert audit_grants(list(gov.log), JP920_CS128US) == []
    first_hour = sum(g.airtime_us for g in gov.log if g.end_us <= 3_600_000_000)
    assert 350_000_000 <= first_hour <= 360_000_000
    assert len(net.delivered(2)) == 300


def test_plain_serial_cable_in_odd_chunks() -> None:
    rng = random.Random(2)
    a, b = RadioLink(1, rng), RadioLink(2, rng)  # no LoRa: unlimited profile, no airtime
    records = [alert_record(seq).wire for seq in range(1, 6)]
    for wire in records:
        a.send(2, wire, 0.0)
    now, got = 0.0, []
    for _ in range(1000):
        for sender, receiver in ((a, b), (b, a)):
            out = sender.poll(now)
            data = out.data
            while data:  # the cable delivers bytes in arbitrary pieces
                n = rng.randint(1, 17)
                events = receiver.receive_bytes(data[:n], now)
                got += [e.payload for e in events if isinstance(e, Delivered)]
                data = data[n:]
        now += 0.01
    assert got == records
    assert a.arq.outgoing == 0
    assert all(g.airtime_us == 0 for g in a.governor.log)


def test_busy_lossy_neighbourhood_delivers_only_intact_messages_once() -> None:
    """Six stations, everyone talking to everyone, bit errors and collisions."""
    for seed in range(3):
        rng = random.Random(seed)
        positions = {s: rng.uniform(0.0, 3_000.0) for s in range(1, 7)}
        net = _network(positions, seed=seed, bit_error_rate=1e-4)
        sent: dict[tuple[int, int], bytes] = {}
        for src in positions:
            for n in range(3):
                dst = rng.choice([s for s in positions if s != src])
                payload = f"{src}->{dst} #{n} ".encode() * rng.randint(1, 40)
                seq = net.links[src].send(dst, payload, 0.0)
                sent[(src, seq)] = payload
        net.run(until=4 * 3600.0)
        _audit(net)
        for events in net.events.values():
            got = [(e.src, e.seq) for e in events if isinstance(e, Delivered)]
            assert len(got) == len(set(got))  # never twice
            for e in events:
                if isinstance(e, Delivered):
                    assert sent[(e.src, e.seq)] == e.payload  # never damaged
        finished = [
            e for events in net.events.values() for e in events if isinstance(e, Acknowledged)
        ]
        assert len(finished) == len(sent)  # with jitter and backoff, everyone gets through
        for link in net.links.values():
            assert link.arq.outgoing == 0
            assert link.arq.reassembling == 0
            assert link.deframer.buffered_bytes == 0


def test_mutated_record_streams_attack() -> None:
    """Damaged byte streams of a fragmented signed alert: whatever is delivered is intact."""
    rng = random.Random(1995)
    alert = alert_record()
    receiver = RadioLink(2, random.Random(0))
    delivered = 0
    for i in range(10_000):
        seq = i & 0xFFFF
        frames = [
            Frame(FrameType.DATA, 1, 2, seq, 0, 2, alert.wire[:184]),
            Frame(FrameType.DATA, 1, 2, seq, 1, 2, alert.wire[184:], poll=True),
        ]
        stream = b"".join(encode_frame(f) for f in frames)
        for event in receiver.receive_bytes(mutate(rng, stream) + b"\x00", float(i)):
            assert isinstance(event, Delivered)
            assert event.payload == alert.wire
            assert decode_record(event.payload).id == alert.id
            delivered += 1
        receiver.poll(float(i))  # let ACKs go, keep state bounded
    assert 0 < delivered < 10_000  # mutations that spared a frame still deliver
    assert receiver.arq.reassembling <= 16

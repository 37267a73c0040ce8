"""Frames and time on air of the radio link layer and of records on it (issue 4).

Part 1, the link layer: for payloads of 100, 150, 200 and 300 bytes and for a signed
alert as it is stored (45 Japanese characters), how many frames the link layer sends, the
bytes written to the module, the time on air at SF9 and SF10 (BW 125 kHz, CR 4/5,
8-symbol preamble, explicit header, CRC on), and how many such messages fit in an hour
under each Japanese profile.

Part 2, records on radio (``radio.compact``): each record's canonical size, its compact
size, the signed overhead (everything but the body: kind, range, seq, HLC, signature),
and the whole radio message answering a WANT for it, in frames and airtime.

Part 3, the idle cost of a converged link: the beacon, computed, and measured over an
emulated hour between two real nodes (stores, sessions, governor); then the cost of one
round that carries a new alert across one hop.

    .venv/bin/python bench/radio.py
"""

from __future__ import annotations

import asyncio
import random
import tempfile
from pathlib import Path

from shelterkit.config import Config, NodeSettings, ShelterSettings
from shelterkit.links.radio import BEACON_IDLE_S, BEACON_JITTER, RadioSync
from shelterkit.links.radio_medium import EmulatedRadio
from shelterkit.model.keys import Identity
from shelterkit.model.kinds import AlertBody, EnrolBody, Severity, StatusBody, Stream, Urgency
from shelterkit.model.record import sign_record
from shelterkit.radio.airtime import LoraParams, max_payload_within, time_on_air_s
from shelterkit.radio.compact import (
    BEACON_BYTES,
    BundleCodec,
    SyncBundle,
    compact_record,
    encode_bundle,
)
from shelterkit.radio.fragment import split_payload
from shelterkit.radio.framing import (
    E220_PACKET_BYTES,
    MAX_FRAGMENTS,
    ack_bitmap_bytes,
    encoded_size,
    payload_bytes_for_packet,
)
from shelterkit.radio.link import RadioLink
from shelterkit.radio.medium import PathLoss, RadioMedium
from shelterkit.radio.profiles import JP920_CS5MS, JP920_CS128US, JP920_UPPER, RegionProfile
from shelterkit.service.node import Node
from shelterkit.sync.messages import Records, Want, encode_payload
from shelterkit.sync.vector import SeqRange

HEADLINE_JA = (
    "那須烏山市全域に避難指示。那珂川が氾濫危険水位に到達。直ちに最寄りの避難所へ避難して下さい"
)
SETTINGS = {"SF9": LoraParams(spreading_factor=9), "SF10": LoraParams(spreading_factor=10)}


def _alert_wire() -> bytes:
    body = AlertBody(
        identifier="nasukarasuyama-2026-0001",
        headline={"ja": HEADLINE_JA},
        severity=Severity.SEVERE,
        urgency=Urgency.IMMEDIATE,
        sent_ms=1_790_000_000_000,
    )
    return sign_record(Identity(bytes(32)), 1, 1_790_000_000_000 << 16, body).wire


def _per_hour(profile: RegionProfile, frame_s: list[float]) -> str:
    """Messages per hour one sender can push (its own frames; the peer's ACKs are its own)."""
    if profile.max_transmission_s is not None and max(frame_s) > profile.max_transmission_s:
        return "—"
    pause = profile.min_pause_s + profile.carrier_sense_s
    cycle = sum(t + max(pause, profile.pause_factor * t) for t in frame_s)
    per_hour = 3600.0 / cycle
    if profile.hourly_budget_s is not None:
        per_hour = min(per_hour, profile.hourly_budget_s / sum(frame_s))
    return f"{per_hour:,.0f}"


def main() -> None:
    fragment = payload_bytes_for_packet(E220_PACKET_BYTES)
    print(f"module packet {E220_PACKET_BYTES} B -> {fragment} B of payload per frame")
    alert = _alert_wire()
    cases = [(f"{n} B", bytes(n)) for n in (100, 150, 200, 300)]
    cases.append((f"signed alert ({len(HEADLINE_JA)} ja chars)", alert))
    header = (
        f"{'payload':<28}{'bytes':>6}{'frames':>7}{'on port':>9}"
        f"{'':>2}{'setting':<6}{'air ms':>9}{'ack ms':>8}"
        f"{'jp920/h':>9}{'upper/h':>9}{'short/h':>9}"
    )
    print(header)
    print("-" * len(header))
    for name, payload in cases:
        pieces = split_payload(payload, fragment)
        port = [encoded_size(len(p)) for p in pieces]
        ack_port = encoded_size(ack_bitmap_bytes(len(pieces)))
        for label, lora in SETTINGS.items():
            frame_s = [time_on_air_s(lora, n) for n in port]
            ack_s = time_on_air_s(lora, ack_port)
            print(
                f"{name:<28}{len(payload):>6}{len(pieces):>7}{sum(port):>9}"
                f"{'':>2}{label:<6}{sum(frame_s) * 1000:>9.1f}{ack_s * 1000:>8.1f}"
                f"{_per_hour(JP920_CS5MS, frame_s):>9}"
                f"{_per_hour(JP920_UPPER, frame_s):>9}"
                f"{_per_hour(JP920_CS128US, frame_s):>9}"
            )
    print()
    for label, lora in SETTINGS.items():
        limit = max_payload_within(lora, 0.4)
        print(
            f"{label}: largest LoRa payload within 400 ms = {limit} B; "
            f"full frame {time_on_air_s(lora, E220_PACKET_BYTES) * 1000:.1f} ms; "
            f"largest message {fragment * MAX_FRAGMENTS} B in {MAX_FRAGMENTS} frames"
        )


AUTHORITY = Identity(bytes(32))
NODE = Identity(bytes(range(32)))
HLC = 1_790_000_000_000 << 16
# 300 characters, written for this bench (not in the dictionary's corpus).
LONG_ALERT_JA = (
    "【避難指示】那珂川上流の記録的な大雨により、烏山水位観測所の水位が午後二時に氾濫危険水位を"
    "超え、さらに上昇する見込みです。烏山、下境、大里、向田、大桶の各地区に避難指示を発令しました。"
    "対象地区の方は、直ちに烏山中学校、南那須公民館、境小学校、七合小学校のいずれかへ避難して"
    "ください。夜間や浸水で移動が危険な場合は、近くの頑丈な建物の二階以上へ移動し、身の安全を"
    "確保してください。高齢者や障がいのある方の避難には、近所の方もご協力をお願いします。避難の"
    "際は飲料水、常備薬、懐中電灯、携帯電話の充電器をお持ちください。今後の情報に十分注意して"
    "ください。なお、市内の国道と県道の一部は冠水のため通行止めです。那須烏山市災害対策本部。"
)[:300]
JP_HOURLY_BUDGET_S = 360.0  # the 360 s per hour of jp920-upper / jp920-short (profiles.py)


def _alert(seq: int, headline: str) -> bytes:
    body = AlertBody(
        identifier=f"nasukarasuyama-2026-{seq:04d}",
        headline={"ja": headline},
        severity=Severity.SEVERE,
        urgency=Urgency.IMMEDIATE,
        sent_ms=1_790_000_000_000,
    )
    return sign_record(AUTHORITY, seq, HLC, body).wire


def _status() -> bytes:
    body = StatusBody(shelter="S07", headcount=142, battery_pct=63, clients=37)
    return sign_record(NODE, 1, HLC, body).wire


def _person(contact: str) -> bytes | None:
    """A consenting person's registration; contact details are sealed to city hall."""
    try:
        from shelterkit.model.anpi import new_person
    except ImportError:
        return None
    body = new_person(
        person_id="p-7f3a9c2e41",
        family_name="烏山",
        given_name="花子",
        reading="からすやま はなこ",
        age=34,
        home_district="下境",
        contact=contact,
        shelter="S07",
        consent=True,
        authority_key=AUTHORITY.public,
    )
    return sign_record(NODE, 1, HLC, body).wire


def _radio_message(wire: bytes, ranges: tuple[SeqRange, ...]) -> bytes:
    """The bundle answering a WANT for this one record, as it goes on air."""
    sender, receiver = BundleCodec(), BundleCodec()
    receiver.decode(sender.encode(encode_payload(Want(1, ranges))), 8192)
    item = receiver.encode(encode_payload(Records(1, (wire,))))
    return encode_bundle(SyncBundle(1, (item,)))


def records_on_radio() -> None:
    fragment = payload_bytes_for_packet(E220_PACKET_BYTES)
    ranges = tuple(
        SeqRange(key, stream, 1, 1) for key in (AUTHORITY.public, NODE.public) for stream in Stream
    )
    cases = [
        (f"alert, typical ({len(HEADLINE_JA)} ja chars)", _alert(1, HEADLINE_JA)),
        (f"alert, {len(LONG_ALERT_JA)} ja chars", _alert(2, LONG_ALERT_JA)),
        ("status record", _status()),
    ]
    cases.append(("safety registration", _person(contact="090-1234-5678") or b""))
    cases.append(("  the same, no contact", _person(contact="") or b""))
    print("\nRecords on radio (compact form, answering a WANT; one frame = one 200 B packet)")
    header = (
        f"{'record':<30}{'wire':>6}{'compact':>8}{'signed ovh':>11}{'message':>8}"
        f"{'frames':>7}{'SF9 ms':>9}{'SF10 ms':>9}"
    )
    print(header)
    print("-" * len(header))
    for name, wire in cases:
        if not wire:
            print(f"{name:<30}{'(no PERSON kind in this model)':>40}")
            continue
        compact = compact_record(wire, ranges)
        seq_bytes = 1
        overhead = 2 + seq_bytes + 8 + 64  # kind, range, seq, hlc, signature
        message = _radio_message(wire, ranges)
        pieces = split_payload(message, fragment)
        port = [encoded_size(len(p)) for p in pieces]
        air = {k: sum(time_on_air_s(v, n) for n in port) * 1000 for k, v in SETTINGS.items()}
        print(
            f"{name:<30}{len(wire):>6}{len(compact):>8}{overhead:>11}{len(message):>8}"
            f"{len(pieces):>7}{air['SF9']:>9.1f}{air['SF10']:>9.1f}"
        )
    print(
        "signed overhead: kind+flags 1, range 1, seq 1, HLC 8, Ed25519 signature 64 = 75 B "
        "(LXMF 111 B signed; Meshtastic 16 B header, unsigned)"
    )


async def _two_nodes(root: Path) -> list[Node]:
    nodes = []
    for i in range(2):
        config = Config(
            shelter=ShelterSettings(id=f"S0{i}", name_ja="避難所", name_en="Shelter"),
            node=NodeSettings(
                data_dir=str(root / f"n{i}"), authority_keys=[AUTHORITY.public.hex()]
            ),
        )
        seed = bytes([i + 1]) * 32
        nodes.append(await Node.open(config, lambda: 1_790_000_000_000, lambda n, s=seed: s[:n]))
    enrol = [
        sign_record(
            AUTHORITY, i + 1, HLC + i, EnrolBody(node_key=n.identity.public, shelter=f"S0{i}")
        ).wire
        for i, n in enumerate(nodes)
    ]
    for node in nodes:
        await node.ingest(enrol)
    return nodes


def _airtime(net: EmulatedRadio, since_us: int = 0) -> dict[int, float]:
    return {
        s: sum(g.airtime_us for g in e.link.governor.log if g.start_us >= since_us) / 1e6
        for s, e in net.engines.items()
    }


async def _idle_and_change(label: str, lora: LoraParams) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        nodes = await _two_nodes(Path(tmp))
        rng = random.Random(1)
        medium = RadioMedium(rng, PathLoss(2_000.0, 4_000.0), latency_s=0.01)
        engines = {}
        for i, node in enumerate(nodes):
            medium.add_station(i + 1, 1_000.0 * i, 0.0)
            engines[i + 1] = RadioSync(
                node, RadioLink(i + 1, rng, profile=JP920_CS5MS, lora=lora), rng
            )
        net = EmulatedRadio(medium, engines, rng)
        await net.run(600.0)  # settle: first beacons
        start_us = round(net.now * 1e6)
        await net.run(net.now + 3600.0)
        idle = _airtime(net, start_us)
        frames = sum(
            1 for e in engines.values() for g in e.link.governor.log if g.start_us >= start_us
        )
        worst = max(idle.values())
        print(
            f"{label}: idle hour measured (2 nodes, emulated): {frames} frames, "
            f"{worst:.2f} s per station = {worst / JP_HOURLY_BUDGET_S:.2%} of 360 s"
        )
        before = net.now
        start_us = round(net.now * 1e6)
        await nodes[0].ingest([_alert(1, HEADLINE_JA)])
        for _ in range(600):
            await net.run(net.now + 5.0)
            if len(nodes[1].heads) and (await nodes[1].have()).head(
                AUTHORITY.public, Stream.ALERTS
            ):
                break
        spent = _airtime(net, start_us)
        print(
            f"{label}: one new alert across one hop: {net.now - before:.1f} s, airtime "
            f"{spent[1]:.2f} s (sender) + {spent[2]:.2f} s (receiver), beacons included"
        )
        for node in nodes:
            await node.close()


def idle_cost() -> None:
    print(
        "\nIdle cost of a converged link (beacon every "
        f"{BEACON_IDLE_S:.0f}-{BEACON_IDLE_S * (1 + BEACON_JITTER):.0f} s per station)"
    )
    on_port = encoded_size(BEACON_BYTES)
    for label, lora in SETTINGS.items():
        beacon_s = time_on_air_s(lora, on_port)
        per_hour = 3600.0 / BEACON_IDLE_S * beacon_s
        print(
            f"{label}: beacon {BEACON_BYTES} B -> {on_port} B on port, {beacon_s * 1000:.1f} ms; "
            f"at most {per_hour:.2f} s/h per station = {per_hour / JP_HOURLY_BUDGET_S:.2%} of 360 s"
        )
    for label, lora in SETTINGS.items():
        asyncio.run(_idle_and_change(label, lora))


if __name__ == "__main__":
    main()
    records_on_radio()
    idle_cost()

"""Frames and time on air of the radio link layer (issue 4).

For payloads of 100, 150, 200 and 300 bytes and for a signed alert with a 45-character
Japanese headline, prints how many frames the link layer sends, the bytes written to the
module, the time on air at SF9 and SF10 (BW 125 kHz, CR 4/5, 8-symbol preamble, explicit
header, CRC on), and how many such messages fit in an hour under each Japanese profile.
Record-level figures (compression, sync summaries, idle cost) belong to the sync bench.

    .venv/bin/python bench/radio.py
"""

from __future__ import annotations

from shelterkit.model.keys import Identity
from shelterkit.model.kinds import AlertBody, Severity, Urgency
from shelterkit.model.record import sign_record
from shelterkit.radio.airtime import LoraParams, max_payload_within, time_on_air_s
from shelterkit.radio.fragment import split_payload
from shelterkit.radio.framing import (
    E220_PACKET_BYTES,
    MAX_FRAGMENTS,
    ack_bitmap_bytes,
    encoded_size,
    payload_bytes_for_packet,
)
from shelterkit.radio.profiles import JP920_CS5MS, JP920_CS128US, JP920_UPPER, RegionProfile

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


if __name__ == "__main__":
    main()

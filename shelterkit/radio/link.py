"""A radio link endpoint, sans I/O: framing, ARQ and the airtime governor in one place.

A driver owns one ``RadioLink`` per port and runs a short loop: bytes read from the port
go to ``receive_bytes``; ``poll(now)`` says what to write now and when to call again.
Nothing leaves ``poll`` without a grant from the governor, and a frame is taken from the
ARQ only when a full-size frame could be granted, so retry timers start when a frame
really goes out.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass

from shelterkit.errors import LinkError
from shelterkit.radio.airtime import MAX_LORA_PAYLOAD_BYTES, LoraParams, time_on_air_s
from shelterkit.radio.arq import ArqConfig, ArqEndpoint, LinkEvent
from shelterkit.radio.framing import (
    E220_PACKET_BYTES,
    MAX_FRAGMENTS,
    Deframer,
    ack_bitmap_bytes,
    encode_frame,
    encoded_size,
    payload_bytes_for_packet,
)
from shelterkit.radio.governor import AirtimeGovernor, Grant
from shelterkit.radio.profiles import UNLIMITED, RegionProfile

POLL_MARGIN_S = 0.2  # serial transfer to the module and its processing, generously


@dataclass(frozen=True, slots=True)
class LinkOutput:
    """Result of ``RadioLink.poll``: bytes to write now (maybe none), events, next call."""

    data: bytes
    grant: Grant | None
    events: tuple[LinkEvent, ...]
    wake_at: float | None  # call poll again by then; None: only when something arrives


class RadioLink:
    __slots__ = ("arq", "deframer", "governor", "lora", "max_airtime_s", "packet_bytes")

    def __init__(
        self,
        station_id: int,
        rng: random.Random,
        *,
        profile: RegionProfile = UNLIMITED,
        lora: LoraParams | None = None,
        packet_bytes: int = E220_PACKET_BYTES,
        config: ArqConfig | None = None,
    ) -> None:
        if lora is not None and packet_bytes > MAX_LORA_PAYLOAD_BYTES:
            raise LinkError(f"a LoRa packet carries at most {MAX_LORA_PAYLOAD_BYTES} bytes")
        fragment_bytes = payload_bytes_for_packet(packet_bytes)
        if config is None:
            config = ArqConfig(fragment_bytes=fragment_bytes)
        if lora is not None:
            # room for the peer's carrier sense, an ACK of the longest bitmap, and margin
            ack_s = time_on_air_s(lora, encoded_size(ack_bitmap_bytes(MAX_FRAGMENTS)))
            wait_s = profile.carrier_sense_s + 2 * ack_s + POLL_MARGIN_S
            # the peer may be in its pause after a full frame (10 x airtime on upper channels)
            full_s = time_on_air_s(lora, encoded_size(config.fragment_bytes))
            peer_pause_s = max(profile.min_pause_s, profile.pause_factor * full_s)
            config = dataclasses.replace(
                config,
                poll_wait_s=max(config.poll_wait_s, wait_s),
                ack_timeout_s=max(config.ack_timeout_s, 2 * (wait_s + peer_pause_s)),
            )
        elif config.fragment_bytes > fragment_bytes:
            raise LinkError(
                f"fragments of {config.fragment_bytes} B exceed a {packet_bytes} B packet"
            )
        self.lora = lora
        self.packet_bytes = packet_bytes
        self.arq = ArqEndpoint(station_id, rng, config)
        self.deframer = Deframer()
        self.governor = AirtimeGovernor(profile)
        self.max_airtime_s = self.airtime_s(encoded_size(config.fragment_bytes))

    def airtime_s(self, encoded_bytes: int) -> float:
        """Time on air of ``encoded_bytes`` written to the module (0 on a cable)."""
        if self.lora is None:
            return 0.0
        return time_on_air_s(self.lora, encoded_bytes)

    def send(self, dst: int, payload: bytes, now: float, *, priority: int = 0) -> int:
        return self.arq.send(dst, payload, now, priority=priority)

    def receive_bytes(self, data: bytes, now: float) -> list[LinkEvent]:
        events: list[LinkEvent] = []
        for frame in self.deframer.feed(data):
            events.extend(self.arq.receive(frame, now))
        return events

    def poll(self, now: float) -> LinkOutput:
        events = tuple(self.arq.tick(now))
        data, grant = b"", None
        if self.arq.has_frames(now) and self.governor.earliest(now, self.max_airtime_s) <= now:
            frame = self.arq.next_frame(now)
            if frame is not None:
                data = encode_frame(frame)
                reserved = self.governor.reserve(now, self.airtime_s(len(data)))
                if not isinstance(reserved, Grant):  # cannot happen: a full frame fitted
                    raise LinkError(f"governor refused a checked frame: {reserved}")
                grant = reserved
        return LinkOutput(data, grant, events, self._wake_at(now))

    def _wake_at(self, now: float) -> float | None:
        if self.arq.has_frames(now):
            return max(now, self.governor.earliest(now, self.max_airtime_s))
        return self.arq.next_wakeup()

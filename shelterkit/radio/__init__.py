"""Link layer for serial radios (DESIGN §6; frame format and governor in docs/radio.md).

Pure: standard library plus ``cobs`` and ``crcmod`` (and ``shelterkit.model`` and
``shelterkit.sync`` for the compact forms of records and sync messages); no asyncio, no
serial, no clock, no randomness of its own. A driver owns one ``RadioLink`` per port:
bytes read go to ``receive_bytes``, ``poll(now)`` says what to write and when to come
back, and nothing is written without a grant from the ``AirtimeGovernor``.
"""

from shelterkit.radio.airtime import LoraParams, max_payload_within, time_on_air_s
from shelterkit.radio.arq import (
    Acknowledged,
    ArqConfig,
    ArqEndpoint,
    Delivered,
    LinkEvent,
    SendFailed,
)
from shelterkit.radio.compact import (
    Beacon,
    BundleCodec,
    SyncBundle,
    beacon_for,
    compact_record,
    decode_bundle,
    encode_beacon,
    encode_bundle,
    rebuild_record,
)
from shelterkit.radio.framing import (
    BROADCAST_ID,
    E220_PACKET_BYTES,
    MAX_FRAME_BYTES,
    Deframer,
    Frame,
    FrameType,
    decode_frame,
    encode_frame,
    payload_bytes_for_packet,
)
from shelterkit.radio.governor import AirtimeGovernor, BudgetReport, Grant, Wait, audit_grants
from shelterkit.radio.link import LinkOutput, RadioLink
from shelterkit.radio.medium import PathLoss, RadioMedium, Reception
from shelterkit.radio.profiles import PROFILES, RegionProfile, profile_by_name

__all__ = [
    "BROADCAST_ID",
    "E220_PACKET_BYTES",
    "MAX_FRAME_BYTES",
    "PROFILES",
    "Acknowledged",
    "AirtimeGovernor",
    "ArqConfig",
    "ArqEndpoint",
    "Beacon",
    "BudgetReport",
    "BundleCodec",
    "Deframer",
    "Delivered",
    "Frame",
    "FrameType",
    "Grant",
    "LinkEvent",
    "LinkOutput",
    "LoraParams",
    "PathLoss",
    "RadioLink",
    "RadioMedium",
    "Reception",
    "RegionProfile",
    "SendFailed",
    "SyncBundle",
    "Wait",
    "audit_grants",
    "beacon_for",
    "compact_record",
    "decode_bundle",
    "decode_frame",
    "encode_beacon",
    "encode_bundle",
    "encode_frame",
    "max_payload_within",
    "payload_bytes_for_packet",
    "profile_by_name",
    "rebuild_record",
    "time_on_air_s",
]

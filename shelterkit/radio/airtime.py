"""LoRa time on air (Semtech AN1200.13 "LoRa Modem Designer's Guide", SX127x datasheet §4.1.1.7).

::

    Tsym      = 2^SF / BW
    Tpreamble = (Npreamble + 4.25) · Tsym
    Npayload  = 8 + max(ceil((8·PL − 4·SF + 28 + 16·CRC − 20·IH) / (4·(SF − 2·DE))) · (CR + 4), 0)
    ToA       = Tpreamble + Npayload · Tsym

CR is 1..4 for 4/5..4/8, IH is 1 for an implicit header, DE (low-data-rate optimisation)
is 1 when a symbol lasts more than 16 ms, which at 125 kHz means SF11 and SF12 (AN1200.13).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MAX_LORA_PAYLOAD_BYTES = 255  # PHY payload length register is 8 bits (SX126x/SX127x)
LDRO_SYMBOL_S = 0.016  # DE is required above 16 ms per symbol (AN1200.13)
_BANDWIDTHS_HZ = (7_800, 10_400, 15_600, 20_800, 31_250, 41_700, 62_500, 125_000, 250_000, 500_000)


@dataclass(frozen=True, slots=True)
class LoraParams:
    """Modulation settings that decide time on air."""

    spreading_factor: int = 9
    bandwidth_hz: int = 125_000
    coding_rate: int = 1  # 1..4 for 4/5..4/8
    preamble_symbols: int = 8
    explicit_header: bool = True
    crc: bool = True
    low_data_rate: bool | None = None  # None: automatic, as AN1200.13 prescribes

    def __post_init__(self) -> None:
        if not 5 <= self.spreading_factor <= 12:
            raise ValueError(f"spreading factor {self.spreading_factor} not in 5..12")
        if self.bandwidth_hz not in _BANDWIDTHS_HZ:
            raise ValueError(f"bandwidth {self.bandwidth_hz} Hz is not a LoRa bandwidth")
        if not 1 <= self.coding_rate <= 4:
            raise ValueError(f"coding rate {self.coding_rate} not in 1..4 (4/5..4/8)")
        if not 6 <= self.preamble_symbols <= 65535:
            raise ValueError(f"preamble of {self.preamble_symbols} symbols")

    @property
    def symbol_s(self) -> float:
        return float(2**self.spreading_factor) / self.bandwidth_hz

    @property
    def ldro(self) -> bool:
        if self.low_data_rate is not None:
            return self.low_data_rate
        return self.symbol_s > LDRO_SYMBOL_S


def payload_symbols(params: LoraParams, payload_bytes: int) -> int:
    if not 0 <= payload_bytes <= MAX_LORA_PAYLOAD_BYTES:
        raise ValueError(f"LoRa payload of {payload_bytes} bytes not in 0..255")
    sf = params.spreading_factor
    numerator = (
        8 * payload_bytes
        - 4 * sf
        + 28
        + 16 * int(params.crc)
        - 20 * int(not params.explicit_header)
    )
    denominator = 4 * (sf - 2 * int(params.ldro))
    return 8 + max(math.ceil(numerator / denominator) * (params.coding_rate + 4), 0)


def time_on_air_s(params: LoraParams, payload_bytes: int) -> float:
    """Seconds one LoRa packet of ``payload_bytes`` occupies the channel."""
    preamble = params.preamble_symbols + 4.25
    return (preamble + payload_symbols(params, payload_bytes)) * params.symbol_s


def max_payload_within(params: LoraParams, limit_s: float) -> int:
    """Largest payload (bytes) whose time on air is at most ``limit_s``; -1 if none fits."""
    best = -1
    for size in range(MAX_LORA_PAYLOAD_BYTES + 1):
        if time_on_air_s(params, size) > limit_s:
            break
        best = size
    return best

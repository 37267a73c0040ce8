"""The Waveshare UPS HAT's battery readings, from its INA219 over I2C (a plug-in).

The HAT puts a TI INA219 current/voltage monitor on the Pi's I2C bus 1. Only two of its
registers are read, and nothing is written, so the plug-in cannot upset the HAT's charger
(TI INA219 datasheet SBOS448, §8.6): 0x01 shunt voltage (signed, 10 µV per bit) and 0x02
bus voltage (bits 15–3, 4 mV per bit). Current is shunt voltage over the HAT's 0.1 Ω shunt;
charge is estimated linearly from the pack's voltage between its empty and full levels, as
the vendor's own sample code does (Waveshare wiki, UPS HAT and UPS HAT (C) demo code).

The bus is anything with smbus2's ``read_i2c_block_data(address, register, length)``;
``open_bus`` opens the real one, tests hand in a fake.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from shelterkit.errors import ShelterkitError
from shelterkit.power.supply import PowerReading

REG_SHUNT_VOLTAGE = 0x01
REG_BUS_VOLTAGE = 0x02
SHUNT_LSB_V = 10e-6  # INA219 datasheet, shunt voltage register: 10 µV per bit
BUS_LSB_V = 4e-3  # INA219 datasheet, bus voltage register: 4 mV per bit, bits 15–3
# Currents smaller than this either way count as neither charging nor discharging
# (noise of the INA219 at its default 320 mV range is a few mA).
IDLE_CURRENT_A = 0.05


@dataclass(frozen=True, slots=True)
class UpsHat:
    """One HAT model: where its INA219 sits and its pack's voltage range."""

    name: str
    address: int
    empty_v: float
    full_v: float
    shunt_ohm: float = 0.1


# Waveshare's demo code: UPS HAT (2 × 18650 in series) at 0x42, 6.0–8.4 V;
# UPS HAT (C) for the Pi Zero (one cell) at 0x43, 3.0–4.2 V.
WAVESHARE_UPS_HAT = UpsHat("waveshare-ups-hat", 0x42, 6.0, 8.4)
WAVESHARE_UPS_HAT_C = UpsHat("waveshare-ups-hat-c", 0x43, 3.0, 4.2)
HATS = {hat.name: hat for hat in (WAVESHARE_UPS_HAT, WAVESHARE_UPS_HAT_C)}


class I2CBus(Protocol):
    def read_i2c_block_data(self, i2c_addr: int, register: int, length: int) -> list[int]: ...


class PowerHardwareError(ShelterkitError):
    """A power sensor could not be read (no bus, no device, no permission)."""


def open_bus(number: int = 1) -> I2CBus:
    """The real I2C bus ``/dev/i2c-<number>`` through smbus2."""
    try:
        from smbus2 import SMBus
    except ImportError as exc:  # pragma: no cover - smbus2 is a dependency
        raise PowerHardwareError("smbus2 is not installed") from exc
    try:
        bus: I2CBus = SMBus(number)
    except OSError as exc:
        raise PowerHardwareError(f"cannot open /dev/i2c-{number}: {exc.strerror}") from exc
    return bus


def _register(bus: I2CBus, hat: UpsHat, register: int) -> int:
    try:
        high, low = bus.read_i2c_block_data(hat.address, register, 2)
    except (OSError, ValueError) as exc:
        raise PowerHardwareError(f"{hat.name} at 0x{hat.address:02x}: {exc}") from exc
    return (high << 8) | low  # the INA219 sends the high byte first


def read_ups_hat(bus: I2CBus, hat: UpsHat = WAVESHARE_UPS_HAT) -> PowerReading:
    """One reading of the HAT's pack: voltage, current, estimated charge, charging."""
    raw_shunt = _register(bus, hat, REG_SHUNT_VOLTAGE)
    if raw_shunt & 0x8000:
        raw_shunt -= 0x10000
    volts = (_register(bus, hat, REG_BUS_VOLTAGE) >> 3) * BUS_LSB_V
    amps = raw_shunt * SHUNT_LSB_V / hat.shunt_ohm
    span = hat.full_v - hat.empty_v
    pct = round(max(0.0, min(1.0, (volts - hat.empty_v) / span)) * 100)
    if amps > IDLE_CURRENT_A:
        charging: bool | None = True
    elif amps < -IDLE_CURRENT_A:
        charging = False
    else:
        charging = None
    return PowerReading(
        source=f"ina219:0x{hat.address:02x}",
        battery_pct=pct,
        charging=charging,
        external_power=charging,  # the HAT only charges from its input supply
        voltage_v=round(volts, 3),
        current_a=round(amps, 4),
    )


__all__ = [
    "HATS",
    "WAVESHARE_UPS_HAT",
    "WAVESHARE_UPS_HAT_C",
    "I2CBus",
    "PowerHardwareError",
    "UpsHat",
    "open_bus",
    "read_ups_hat",
]

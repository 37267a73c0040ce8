"""Battery and mains readings from Linux's power_supply class (sysfs).

A Pi on a UPS or a power bank with a fuel-gauge driver shows up under
``/sys/class/power_supply/<name>/`` with one value per file (kernel
Documentation/ABI/testing/sysfs-class-power): ``type`` (Battery, Mains, USB, UPS),
``status`` (Charging, Discharging, Full, Not charging, Unknown), ``capacity`` (percent),
``online`` (0/1 for Mains and USB), ``voltage_now`` (µV), ``current_now`` (µA). The root is
a parameter, so tests lay out a fake tree and the reader never needs real hardware.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

SYSFS_POWER_SUPPLY = Path("/sys/class/power_supply")
# A machine has a handful of supplies; anything beyond this is not worth reading.
MAX_SUPPLIES = 16
# sysfs values are one short line; a longer file is not a power_supply attribute.
MAX_ATTRIBUTE_BYTES = 64
_BATTERY_TYPES = frozenset({"Battery", "UPS"})
_EXTERNAL_TYPES = frozenset({"Mains", "USB", "USB_C", "USB_PD", "Wireless"})


@dataclass(frozen=True, slots=True)
class PowerReading:
    """One look at the node's power; None where the hardware does not say."""

    source: str  # "sysfs:BAT0", "ina219:0x42" …
    battery_pct: int | None  # 0–100
    charging: bool | None  # True while the battery is taking charge
    external_power: bool | None  # mains / USB supply present
    voltage_v: float | None = None
    current_a: float | None = None  # positive into the battery


def _attribute(folder: Path, name: str) -> str | None:
    try:
        with (folder / name).open("rb") as f:
            raw = f.read(MAX_ATTRIBUTE_BYTES + 1)
    except OSError:
        return None
    if len(raw) > MAX_ATTRIBUTE_BYTES:
        return None
    text = raw.decode("ascii", "replace").strip()
    return text or None


def _int(folder: Path, name: str) -> int | None:
    text = _attribute(folder, name)
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def read_power_supply(root: Path = SYSFS_POWER_SUPPLY) -> PowerReading | None:
    """The first battery under ``root``, with mains presence from any external supply.

    None when there is no battery (a node on mains only: ``battery_pct`` stays unknown).
    """
    try:
        folders = sorted(p for p in root.iterdir() if p.is_dir())[:MAX_SUPPLIES]
    except OSError:
        return None
    battery: Path | None = None
    external: bool | None = None
    for folder in folders:
        kind = _attribute(folder, "type")
        if kind in _BATTERY_TYPES and battery is None:
            battery = folder
        elif kind in _EXTERNAL_TYPES:
            online = _int(folder, "online")
            if online is not None:
                external = bool(online) or bool(external)
    if battery is None:
        return None
    capacity = _int(battery, "capacity")
    if capacity is not None and not 0 <= capacity <= 100:
        capacity = max(0, min(100, capacity))
    status = _attribute(battery, "status")
    charging = None if status in (None, "Unknown") else status == "Charging"
    if external is None and status in ("Charging", "Full", "Discharging"):
        external = status != "Discharging"
    voltage = _int(battery, "voltage_now")
    current = _int(battery, "current_now")
    if current is not None and status == "Discharging" and current > 0:
        current = -current  # drivers differ in sign; this reading says "into the battery"
    return PowerReading(
        source=f"sysfs:{battery.name}",
        battery_pct=capacity,
        charging=charging,
        external_power=external,
        voltage_v=voltage / 1e6 if voltage is not None else None,
        current_a=current / 1e6 if current is not None else None,
    )


__all__ = ["SYSFS_POWER_SUPPLY", "PowerReading", "read_power_supply"]

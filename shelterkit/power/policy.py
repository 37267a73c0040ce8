"""The low-power policy: from a battery reading to what the node should do (DESIGN §9).

Pure: a reading and the previous level in, a plan out; no clock, no I/O. The plan says how
much of the radio's duty-cycle budget to use, whether Wi-Fi saves power, how often to sync,
send status and refresh pages, whether the local screen stays on, and when to shut down
cleanly so that the database is closed before the pack's protection cuts the power.
Levels get worse at once and better only ``HYSTERESIS_PCT`` above their threshold, so a
reading that wobbles around a threshold does not flap the radio and Wi-Fi settings.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass

from shelterkit.model.kinds import StatusBody
from shelterkit.power.supply import PowerReading

# Thresholds in percent of charge, while running on the battery. Half a charge left is
# where saving starts paying off over a night without mains (DESIGN §9: the 2011 blackout
# lasted days); a quarter is where only the essentials run.
SAVING_BELOW_PCT = 50
CRITICAL_BELOW_PCT = 25
# Shut down cleanly below this: a 2-cell Li-ion pack at 8 % reads about 6.2 V on the
# Waveshare HAT's linear scale (power/ina219.py), still above its protection cut-off of
# about 2.5–3.0 V per cell, which leaves minutes for systemd to stop the node.
SHUTDOWN_BELOW_PCT = 8
# A level only relaxes this many points above its threshold (INA219 readings move a few
# percent with the load alone).
HYSTERESIS_PCT = 5


class PowerLevel(enum.IntEnum):
    NORMAL = 0
    SAVING = 1
    CRITICAL = 2
    SHUTDOWN = 3


@dataclass(frozen=True, slots=True)
class PowerPlan:
    level: PowerLevel
    radio_duty_fraction: float  # share of the region's duty-cycle budget to use (1.0 = all)
    wifi_power_save: bool  # 802.11 power save on the access point's interface
    sync_interval_factor: float  # multiplies [node] sync_interval_s
    status_interval_s: int  # how often a status record goes upstream
    page_refresh_s: int  # how often portal pages ask phones to refresh
    screen_on: bool  # the staff screen, if one is attached
    shut_down: bool  # stop the node and power off now


_PLANS = {
    PowerLevel.NORMAL: PowerPlan(PowerLevel.NORMAL, 1.0, False, 1.0, 300, 60, True, False),
    PowerLevel.SAVING: PowerPlan(PowerLevel.SAVING, 0.5, True, 2.0, 600, 120, True, False),
    PowerLevel.CRITICAL: PowerPlan(PowerLevel.CRITICAL, 0.2, True, 6.0, 1800, 300, False, False),
    PowerLevel.SHUTDOWN: PowerPlan(PowerLevel.SHUTDOWN, 0.0, True, 6.0, 1800, 300, False, True),
}
_THRESHOLDS = (
    (PowerLevel.SHUTDOWN, SHUTDOWN_BELOW_PCT),
    (PowerLevel.CRITICAL, CRITICAL_BELOW_PCT),
    (PowerLevel.SAVING, SAVING_BELOW_PCT),
)


def on_battery(reading: PowerReading | None) -> bool:
    """True when the node is known to run from its battery alone."""
    if reading is None or reading.battery_pct is None:
        return False  # no battery, or no idea: behave as on mains
    return not (reading.charging or reading.external_power)


def power_level(
    reading: PowerReading | None, previous: PowerLevel = PowerLevel.NORMAL
) -> PowerLevel:
    """The level for ``reading``, given the level the node is at now."""
    if not on_battery(reading):
        return PowerLevel.NORMAL
    assert reading is not None and reading.battery_pct is not None
    pct = reading.battery_pct
    for level, below in _THRESHOLDS:
        # worse levels apply at once; the current one holds until HYSTERESIS_PCT above
        margin = HYSTERESIS_PCT if level <= previous else 0
        if pct < below + margin:
            return level
    return PowerLevel.NORMAL


def plan_for(reading: PowerReading | None, previous: PowerLevel = PowerLevel.NORMAL) -> PowerPlan:
    return _PLANS[power_level(reading, previous)]


def status_battery_pct(reading: PowerReading | None) -> int:
    """``StatusBody.battery_pct``: the charge in percent, or -1 when unknown / no battery."""
    if reading is None or reading.battery_pct is None:
        return -1
    return max(0, min(100, reading.battery_pct))


def status_with_power(body: StatusBody, reading: PowerReading | None) -> StatusBody:
    """The shelter's status with this reading's battery level (other fields unchanged)."""
    return dataclasses.replace(body, battery_pct=status_battery_pct(reading))


__all__ = [
    "CRITICAL_BELOW_PCT",
    "HYSTERESIS_PCT",
    "SAVING_BELOW_PCT",
    "SHUTDOWN_BELOW_PCT",
    "PowerLevel",
    "PowerPlan",
    "on_battery",
    "plan_for",
    "power_level",
    "status_battery_pct",
    "status_with_power",
]

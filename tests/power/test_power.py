"""Battery readings (sysfs tree, INA219 on a fake I2C bus), the low-power policy, the loop."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from shelterkit.model.kinds import StatusBody
from shelterkit.power.ina219 import (
    WAVESHARE_UPS_HAT,
    WAVESHARE_UPS_HAT_C,
    PowerHardwareError,
    read_ups_hat,
)
from shelterkit.power.monitor import STATUS_STEP_PCT, PowerMonitor
from shelterkit.power.policy import (
    CRITICAL_BELOW_PCT,
    HYSTERESIS_PCT,
    SAVING_BELOW_PCT,
    SHUTDOWN_BELOW_PCT,
    PowerLevel,
    PowerPlan,
    plan_for,
    power_level,
    status_with_power,
)
from shelterkit.power.supply import PowerReading, read_power_supply

# -- sysfs -------------------------------------------------------------------------------


def supply(root: Path, name: str, **attributes: object) -> None:
    folder = root / name
    folder.mkdir(parents=True)
    for key, value in attributes.items():
        (folder / key).write_text(f"{value}\n")


def test_sysfs_battery_on_mains(tmp_path: Path) -> None:
    supply(tmp_path, "AC", type="Mains", online=1)
    supply(
        tmp_path,
        "BAT0",
        type="Battery",
        status="Charging",
        capacity=64,
        voltage_now=8_012_000,
        current_now=412_000,
    )
    reading = read_power_supply(tmp_path)
    assert reading == PowerReading("sysfs:BAT0", 64, True, True, 8.012, 0.412)


def test_sysfs_discharging_current_is_negative_whatever_the_driver_says(tmp_path: Path) -> None:
    supply(tmp_path, "AC", type="Mains", online=0)
    supply(tmp_path, "ups", type="UPS", status="Discharging", capacity=30, current_now=900_000)
    reading = read_power_supply(tmp_path)
    assert reading is not None
    assert reading.charging is False and reading.external_power is False
    assert reading.current_a == -0.9


def test_sysfs_without_battery_or_tree(tmp_path: Path) -> None:
    supply(tmp_path, "AC", type="Mains", online=1)
    assert read_power_supply(tmp_path) is None
    assert read_power_supply(tmp_path / "missing") is None


def test_sysfs_garbage_attributes_rejected(tmp_path: Path) -> None:
    supply(tmp_path, "BAT0", type="Battery", status="Unknown", capacity="lots")
    (tmp_path / "BAT0" / "voltage_now").write_text("9" * 500)
    reading = read_power_supply(tmp_path)
    assert reading is not None
    assert reading.battery_pct is None and reading.charging is None
    assert reading.voltage_v is None


def test_sysfs_capacity_clamped(tmp_path: Path) -> None:
    supply(tmp_path, "BAT0", type="Battery", status="Full", capacity=104)
    reading = read_power_supply(tmp_path)
    assert reading is not None and reading.battery_pct == 100 and reading.external_power


# -- INA219 on the UPS HAT ---------------------------------------------------------------


class FakeBus:
    """An I2C bus with one INA219: registers as the chip sends them (high byte first)."""

    def __init__(self, address: int, shunt_raw: int, bus_mv: int) -> None:
        self.address = address
        self.registers = {0x01: shunt_raw & 0xFFFF, 0x02: (bus_mv // 4) << 3}
        self.writes = 0

    def read_i2c_block_data(self, i2c_addr: int, register: int, length: int) -> list[int]:
        if i2c_addr != self.address:
            raise OSError(121, "Remote I/O error")  # no ACK: nothing at that address
        value = self.registers[register]
        assert length == 2
        return [value >> 8, value & 0xFF]


def test_ups_hat_discharging() -> None:
    # -12.00 mV across 0.1 Ω = -120 mA (out of the pack); 7.2 V is half of 6.0–8.4 V
    reading = read_ups_hat(FakeBus(0x42, -1200, 7200))
    assert reading.source == "ina219:0x42"
    assert reading.voltage_v == 7.2
    assert reading.current_a == -0.12
    assert reading.battery_pct == 50
    assert reading.charging is False


def test_ups_hat_charging_and_full_scale() -> None:
    reading = read_ups_hat(FakeBus(0x42, 3000, 8600))
    assert reading.charging is True and reading.external_power is True
    assert reading.battery_pct == 100  # above full is full


def test_ups_hat_c_single_cell() -> None:
    reading = read_ups_hat(FakeBus(0x43, 10, 3300), WAVESHARE_UPS_HAT_C)
    assert reading.battery_pct == 25 and reading.charging is None  # 1 mA: idle


def test_ups_hat_absent_is_a_clear_error() -> None:
    with pytest.raises(PowerHardwareError, match="0x42"):
        read_ups_hat(FakeBus(0x40, 0, 7000), WAVESHARE_UPS_HAT)


# -- policy --------------------------------------------------------------------------------


def battery(pct: int, charging: bool = False) -> PowerReading:
    return PowerReading("test", pct, charging, charging)


def test_mains_or_unknown_is_normal() -> None:
    assert plan_for(None).level is PowerLevel.NORMAL
    assert plan_for(battery(3, charging=True)).level is PowerLevel.NORMAL
    assert plan_for(PowerReading("test", None, None, None)).level is PowerLevel.NORMAL


@pytest.mark.parametrize(
    ("pct", "level"),
    [
        (100, PowerLevel.NORMAL),
        (SAVING_BELOW_PCT, PowerLevel.NORMAL),
        (SAVING_BELOW_PCT - 1, PowerLevel.SAVING),
        (CRITICAL_BELOW_PCT - 1, PowerLevel.CRITICAL),
        (SHUTDOWN_BELOW_PCT - 1, PowerLevel.SHUTDOWN),
        (0, PowerLevel.SHUTDOWN),
    ],
)
def test_levels_going_down(pct: int, level: PowerLevel) -> None:
    assert power_level(battery(pct)) is level


def test_levels_relax_only_past_the_hysteresis() -> None:
    at = SAVING_BELOW_PCT + HYSTERESIS_PCT
    assert power_level(battery(at - 1), PowerLevel.SAVING) is PowerLevel.SAVING
    assert power_level(battery(at), PowerLevel.SAVING) is PowerLevel.NORMAL
    assert power_level(battery(CRITICAL_BELOW_PCT + 1), PowerLevel.CRITICAL) is (
        PowerLevel.CRITICAL
    )
    # a mains return relaxes everything at once
    assert power_level(battery(10, charging=True), PowerLevel.CRITICAL) is PowerLevel.NORMAL


def test_plans_save_more_as_the_battery_empties() -> None:
    plans = [plan_for(battery(p)) for p in (90, 40, 20, 5)]
    duties = [p.radio_duty_fraction for p in plans]
    assert duties == sorted(duties, reverse=True)
    assert [p.shut_down for p in plans] == [False, False, False, True]
    assert plans[1].wifi_power_save and not plans[0].wifi_power_save
    intervals = [p.sync_interval_factor for p in plans]
    assert intervals == sorted(intervals)


def test_readings_go_into_status_records() -> None:
    body = StatusBody(shelter="S01", headcount=120)
    assert status_with_power(body, battery(42)).battery_pct == 42
    assert status_with_power(body, None).battery_pct == -1  # unknown / mains
    assert status_with_power(body, battery(42)).headcount == 120


# -- the loop ------------------------------------------------------------------------------


async def test_monitor_drains_to_a_clean_shutdown_without_sleeping() -> None:
    charge = iter([80, 79, 60, 48, 47, 52, 30, 24, 12, 7, 6])
    applied: list[PowerPlan] = []
    reported: list[int] = []
    shutdowns = []
    slept: list[float] = []

    async def apply(plan: PowerPlan) -> None:
        applied.append(plan)

    async def report(pct: int) -> None:
        reported.append(pct)

    async def shut_down() -> None:
        shutdowns.append(True)

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    monitor = PowerMonitor(lambda: battery(next(charge)), apply, report, shut_down, sleep)
    await monitor.run(interval_s=30)
    assert [p.level for p in applied] == [
        PowerLevel.SAVING,  # 48
        PowerLevel.CRITICAL,  # 24
        PowerLevel.SHUTDOWN,  # 7
    ]
    assert shutdowns == [True]
    assert len(slept) == 9 and set(slept) == {30}  # no reading after the shutdown
    assert reported[0] == 80
    assert all(abs(b - a) >= STATUS_STEP_PCT for a, b in itertools.pairwise(reported))


async def test_monitor_survives_a_failing_sensor() -> None:
    def broken() -> PowerReading | None:
        raise PowerHardwareError("no HAT")

    reported: list[int] = []

    async def report(pct: int) -> None:
        reported.append(pct)

    async def nothing(*_args: object) -> None:
        return None

    monitor = PowerMonitor(broken, nothing, report, nothing)
    plan = await monitor.step()
    assert plan.level is PowerLevel.NORMAL and reported == [-1]

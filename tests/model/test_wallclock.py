from __future__ import annotations

from shelterkit.model.wallclock import PLAUSIBLE_AFTER_MS, WallClock

DAY = 86_400_000
NOW = PLAUSIBLE_AFTER_MS + 300 * DAY  # late 2026


class System:
    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


def test_booted_at_1970_uses_last_known_time_and_is_uncertain() -> None:
    system = System(5_000)  # no RTC: the Pi thinks it is 1970
    clock = WallClock(system, floor_ms=NOW - DAY)
    assert clock.now() == NOW - DAY
    assert not clock.certain
    clock.adopt(NOW)  # city hall tells the time
    assert clock.certain and clock.now() == NOW
    system.ms += 1000
    assert clock.now() == NOW + 1000


def test_ten_years_ahead_is_corrected_backwards() -> None:
    system = System(NOW + 3650 * DAY)
    clock = WallClock(system, floor_ms=NOW + 3650 * DAY - 10)
    assert clock.certain  # nothing local can tell a future clock is wrong …
    jump = clock.adopt(NOW)  # … until city hall answers
    assert jump == -3650 * DAY
    assert clock.now() == NOW


def test_small_drift_is_not_a_jump() -> None:
    clock = WallClock(System(NOW))
    assert clock.adopt(NOW + 500) == 0
    assert clock.now() == NOW

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from shelterkit.model.hlc import MAX_FORWARD_DRIFT_MS, HybridClock, pack, wall_ms_of

wall_times = st.lists(st.integers(0, 2**40), min_size=1, max_size=200)


@given(wall_times)
def test_never_goes_backwards(times: list[int]) -> None:
    clock = HybridClock()
    previous = -1
    for t in times:  # the wall clock may jump back (NTP, RTC-less boot)
        stamp = clock.now(t)
        assert stamp > previous
        previous = stamp


@given(wall_times, st.lists(st.integers(0, 2**40), max_size=50))
def test_observe_then_now_is_later(times: list[int], remotes: list[int]) -> None:
    clock = HybridClock()
    for t, r in zip(times, remotes, strict=False):
        remote = pack(r, 0)
        if clock.observe(remote, t):
            assert clock.now(t) > remote


def test_far_future_remote_is_not_followed() -> None:
    clock = HybridClock()
    now = 1_800_000_000_000
    ten_years = 10 * 365 * 24 * 3600 * 1000
    assert not clock.observe(pack(now + ten_years, 0), now)
    assert wall_ms_of(clock.now(now)) == now
    assert clock.observe(pack(now + MAX_FORWARD_DRIFT_MS // 2, 0), now)


def test_restart_resumes_from_persisted_value() -> None:
    clock = HybridClock()
    stamp = clock.now(5_000)
    restarted = HybridClock(clock.last)
    assert restarted.now(1_000) > stamp  # booted with the clock at 1970 + 1 s


def test_adopt_wall_time_moves_only_forward() -> None:
    clock = HybridClock(pack(10_000, 3))
    clock.adopt_wall_time(5_000)
    assert wall_ms_of(clock.last) == 10_000
    clock.adopt_wall_time(20_000)
    assert wall_ms_of(clock.now(0)) == 20_000


def test_counter_overflow_borrows_next_millisecond() -> None:
    clock = HybridClock()
    stamps = [clock.now(7) for _ in range(70_000)]
    assert stamps == sorted(set(stamps))
    assert wall_ms_of(stamps[-1]) == 8

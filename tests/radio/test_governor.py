from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shelterkit.errors import ConfigError, LinkError
from shelterkit.radio.airtime import LoraParams, time_on_air_s
from shelterkit.radio.governor import (
    MAX_LEDGER_ENTRIES,
    AirtimeGovernor,
    Grant,
    Wait,
    audit_grants,
)
from shelterkit.radio.profiles import (
    JP920_CS5MS,
    JP920_CS128US,
    JP920_UPPER,
    PROFILES,
    UNLIMITED,
    RegionProfile,
    profile_by_name,
)


def _send_greedily(gov: AirtimeGovernor, airtime_s: float, until_s: float) -> list[Grant]:
    """Ask for ``airtime_s`` again and again, at exactly the time the governor names."""
    now, grants = 0.0, []
    while now < until_s:
        result = gov.reserve(now, airtime_s)
        if isinstance(result, Grant):
            grants.append(result)
        else:
            assert result.until_s > now
            now = result.until_s
    return grants


def test_profiles_are_data_with_sources() -> None:
    assert set(PROFILES) == {"jp920", "jp920-short", "jp920-upper", "unlimited"}
    for profile in PROFILES.values():
        assert profile.source
    assert JP920_CS5MS.max_transmission_s == 4.0
    assert JP920_CS5MS.min_pause_s == 0.050 and JP920_CS5MS.carrier_sense_s == 0.005
    assert JP920_CS128US.max_transmission_s == 0.4 and JP920_CS128US.hourly_budget_s == 360.0
    assert profile_by_name("jp920") is JP920_CS5MS
    for jp in (JP920_CS5MS, JP920_CS128US, JP920_UPPER):
        assert jp.max_power_mw == 20.0 and jp.carrier_sense_dbm == -80.0
    assert UNLIMITED.band_mhz is None
    with pytest.raises(ConfigError):
        profile_by_name("us915")


def test_overlong_transmission_rejected() -> None:
    with pytest.raises(LinkError):
        AirtimeGovernor(JP920_CS5MS).reserve(0.0, 4.001)
    with pytest.raises(LinkError):
        AirtimeGovernor(JP920_CS128US).reserve(0.0, 0.401)
    # SF11 200 B is 4.018 s: not sendable under the Japanese profile at all
    with pytest.raises(LinkError):
        AirtimeGovernor(JP920_CS5MS).reserve(0.0, time_on_air_s(LoraParams(11), 200))


def test_exactly_four_seconds_granted() -> None:
    grant = AirtimeGovernor(JP920_CS5MS).reserve(10.0, 4.0)
    assert isinstance(grant, Grant)
    assert grant.airtime_us == 4_000_000
    assert grant.tx_start_us - grant.start_us == 5_000  # carrier sense
    assert grant.end_us == 10_000_000 + 5_000 + 4_000_000


def test_pause_of_50_ms_enforced() -> None:
    gov = AirtimeGovernor(JP920_CS5MS)
    first = gov.reserve(0.0, 1.0)
    assert isinstance(first, Grant)
    early = gov.reserve(first.end_s + 0.049, 0.1)
    assert isinstance(early, Wait) and early.reason == "pause"
    assert early.until_us == first.end_us + 50_000
    second = gov.reserve(early.until_s, 0.1)
    assert isinstance(second, Grant)
    assert second.start_us - first.end_us == 50_000


def test_four_second_regime_over_an_hour() -> None:
    gov = AirtimeGovernor(JP920_CS5MS)
    grants = _send_greedily(gov, 4.0, 3600.0)
    assert audit_grants(grants, JP920_CS5MS) == []
    assert all(g.airtime_us <= 4_000_000 for g in grants)
    pauses = [b.start_us - a.end_us for a, b in itertools.pairwise(grants)]
    assert min(pauses) >= 50_000
    assert len(grants) == pytest.approx(3600 / 4.055, abs=1)  # 98.6 % duty: no hourly cap here
    assert gov.report(3600.0).violations == 0


def test_hourly_360_s_regime() -> None:
    gov = AirtimeGovernor(JP920_CS128US)
    grants = _send_greedily(gov, 0.4, 3 * 3600.0)
    assert audit_grants(grants, JP920_CS128US) == []
    assert all(g.airtime_us <= 400_000 for g in grants)
    first_hour = sum(g.airtime_us for g in grants if g.end_us <= 3600 * 1_000_000)
    assert first_hour <= 360_000_000
    assert first_hour >= 359_000_000  # the budget is used, not wasted
    # greedy use fills the budget at the start of the hour, then waits for it to slide out
    waits = [b.start_us - a.end_us for a, b in itertools.pairwise(grants)]
    assert max(waits) > 3000 * 1_000_000
    report = gov.report(3600.0)
    assert report.window_budget_s == 360.0
    assert report.fraction == pytest.approx(1.0, abs=0.01)
    assert report.violations == 0


def test_sliding_hour_counts_partial_overlap() -> None:
    gov = AirtimeGovernor(JP920_CS128US)
    _send_greedily(gov, 0.4, 400.0)  # budget spent in the first ~363 s
    wait = gov.reserve(1000.0, 0.4)
    assert isinstance(wait, Wait) and wait.reason == "window"
    grant = gov.reserve(wait.until_s, 0.4)
    assert isinstance(grant, Grant)
    assert audit_grants(list(gov.log), JP920_CS128US) == []


def test_upper_channels_pause_ten_times_airtime() -> None:
    gov = AirtimeGovernor(JP920_UPPER)
    grants = _send_greedily(gov, 1.8452, 3600.0)  # SF10 200 B
    assert audit_grants(grants, JP920_UPPER) == []
    for a, b in itertools.pairwise(grants):
        assert b.start_us - a.end_us >= 10 * a.airtime_us
    assert sum(g.airtime_us for g in grants) <= 360_000_000


def test_unlimited_profile_always_grants() -> None:
    gov = AirtimeGovernor(UNLIMITED)
    now = 0.0
    for _ in range(1000):  # back to back: one transmitter sends one thing at a time
        grant = gov.reserve(now, 10.0)
        assert isinstance(grant, Grant)
        now = grant.end_s
    assert gov.report(now).window_budget_s is None


def test_earliest_does_not_book() -> None:
    gov = AirtimeGovernor(JP920_CS5MS)
    gov.reserve(0.0, 1.0)
    t = gov.earliest(0.5, 1.0)
    assert t == pytest.approx(1.055)
    assert gov.earliest(0.5, 1.0) == t
    assert gov.grants == 1


def test_many_tiny_transmissions_keep_ledger_bounded_attack() -> None:
    profile = RegionProfile(
        "tiny", 0.4, 0.0, 0.0, window_budget_s=1.0, window_s=100.0, source="test"
    )
    gov = AirtimeGovernor(profile)
    grants = _send_greedily(gov, 0.0001, 150.0)  # 10,000 transmissions fit in one window
    assert len(grants) > 2 * MAX_LEDGER_ENTRIES
    assert len(gov._ledger) <= MAX_LEDGER_ENTRIES
    assert audit_grants(grants, profile) == []  # merging is conservative


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from([JP920_CS5MS, JP920_CS128US, JP920_UPPER]),
    st.lists(
        st.tuples(st.floats(0.0, 30.0), st.floats(0.0, 1.0)),
        min_size=1,
        max_size=200,
    ),
)
def test_no_request_pattern_breaks_a_profile(
    profile: RegionProfile, requests: list[tuple[float, float]]
) -> None:
    gov = AirtimeGovernor(profile)
    now = 0.0
    limit = profile.max_transmission_s or 4.0
    for gap, fraction in requests:
        now += gap
        result = gov.reserve(now, fraction * limit)
        if isinstance(result, Wait):
            assert result.until_s > now
            assert isinstance(gov.reserve(result.until_s, fraction * limit), Grant)
            now = result.until_s
    assert audit_grants(list(gov.log), profile) == []
    assert gov.violations == 0


def test_audit_finds_broken_schedules() -> None:
    close = [Grant(0, 5_000, 1_005_000), Grant(1_010_000, 1_015_000, 2_015_000)]
    assert any("pause" in p for p in audit_grants(close, JP920_CS5MS))
    long = [Grant(0, 5_000, 4_105_000)]
    assert any("on air" in p for p in audit_grants(long, JP920_CS5MS))
    no_cs = [Grant(0, 0, 100_000)]
    assert any("carrier sense" in p for p in audit_grants(no_cs, JP920_CS5MS))

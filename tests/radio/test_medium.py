from __future__ import annotations

import random

import pytest

from shelterkit.radio.medium import PathLoss, RadioMedium


def _medium(**kwargs: float) -> RadioMedium:
    medium = RadioMedium(random.Random(5), **kwargs)  # type: ignore[arg-type]
    medium.add_station(1, 0.0, 0.0)
    medium.add_station(2, 1_000.0, 0.0)
    medium.add_station(3, 2_000.0, 0.0)
    medium.add_station(9, 50_000.0, 0.0)  # far away
    return medium


def test_delivery_in_range_after_airtime_and_latency() -> None:
    medium = _medium(latency_s=0.02)
    medium.transmit(1, b"hello", 0.0, 0.5)
    assert medium.next_event_s() == pytest.approx(0.52)
    assert medium.collect(0.51) == []
    got = medium.collect(0.52)
    assert sorted(r.station for r in got) == [2, 3]
    assert all(r.data == b"hello" and r.at_s == pytest.approx(0.52) for r in got)


def test_out_of_range_station_hears_nothing() -> None:
    medium = _medium()
    medium.transmit(9, b"far", 0.0, 0.1)
    assert medium.collect(1.0) == []
    assert medium.busy_until(1, 0.05) is None


def test_overlapping_transmissions_collide() -> None:
    medium = _medium()
    medium.transmit(1, b"from 1", 0.0, 1.0)
    medium.transmit(3, b"from 3", 0.5, 1.0)
    got = medium.collect(5.0)
    assert [(r.station, r.src) for r in got] == []  # 2 hears both: both lost; 1 and 3 are busy
    assert medium.counters.lost_collision == 2
    assert medium.counters.lost_half_duplex == 2


def test_back_to_back_transmissions_do_not_collide() -> None:
    medium = _medium()
    medium.transmit(1, b"a", 0.0, 1.0)
    medium.transmit(3, b"b", 1.0, 1.0)
    got = medium.collect(5.0)
    assert {(r.station, r.src) for r in got} == {(2, 1), (3, 1), (1, 3), (2, 3)}


def test_carrier_sense_sees_audible_transmissions() -> None:
    medium = _medium()
    medium.transmit(1, b"a", 0.0, 1.0)
    assert medium.busy_until(2, 0.5) == 1.0
    assert medium.busy_until(2, 1.0) is None


def test_distance_loss_is_a_probability() -> None:
    medium = RadioMedium(random.Random(1), PathLoss(reliable_m=100.0, max_m=300.0))
    medium.add_station(1, 0.0, 0.0)
    medium.add_station(2, 200.0, 0.0)  # half way: half lost
    for i in range(2000):
        medium.transmit(1, b"x", float(i), 0.1)
    got = medium.collect(3000.0)
    assert 900 < len(got) < 1100
    assert medium.counters.lost_distance == 2000 - len(got)


def test_bit_errors_at_the_given_rate() -> None:
    medium = _medium(bit_error_rate=1e-3)
    payload = bytes(200)
    for i in range(500):
        medium.transmit(1, payload, float(i), 0.5)
    got = medium.collect(1000.0)
    flipped = sum(bin(b).count("1") for r in got for b in r.data)
    assert flipped == medium.counters.bits_flipped
    expected = 1e-3 * 8 * 200 * len(got)
    assert 0.85 * expected < flipped < 1.15 * expected


def test_same_seed_same_outcome() -> None:
    def run() -> list[tuple[int, bytes]]:
        medium = _medium(bit_error_rate=1e-2)
        medium.transmit(1, bytes(100), 0.0, 0.2)
        return [(r.station, r.data) for r in medium.collect(1.0)]

    assert run() == run()


def test_time_going_backwards_rejected() -> None:
    medium = _medium()
    medium.collect(10.0)
    with pytest.raises(ValueError):
        medium.transmit(1, b"late", 9.0, 0.1)
    with pytest.raises(ValueError):
        medium.collect(9.0)


def test_state_stays_bounded() -> None:
    medium = _medium()
    for i in range(5000):
        medium.transmit(1, b"x", float(i), 0.1)
        medium.collect(float(i) + 0.5)
    assert len(medium._pending) == 0 and len(medium._recent) <= 1

"""Time on air against the figures in reference/anchors-tech.md §2.2."""

from __future__ import annotations

import pytest

from shelterkit.radio.airtime import LoraParams, max_payload_within, time_on_air_s

# BW 125 kHz, CR 4/5, 8-symbol preamble, explicit header, CRC on, LDRO auto (ms).
TABLE_MS = {
    7: (41.2, 97.5, 174.3, 317.7, 374.0, 399.6),
    8: (72.2, 174.6, 307.7, 563.7, 655.9, 707.1),
    9: (144.4, 328.7, 554.0, 1004.5, 1168.4, 1250.3),
    10: (288.8, 616.4, 1026.0, 1845.2, 2132.0, 2295.8),
    11: (577.5, 1314.8, 2215.9, 4018.2, 4673.5, 5001.2),
    12: (991.2, 2302.0, 3940.4, 7217.2, 8527.9, 9019.4),
}
SIZES = (10, 50, 100, 200, 237, 255)
MAX_PL_4S = {7: 255, 8: 255, 9: 255, 10: 255, 11: 198, 12: 100}
MAX_PL_400MS = {7: 255, 8: 138, 9: 66, 10: 24}


@pytest.mark.parametrize("sf", sorted(TABLE_MS))
def test_table_bw125_cr45(sf: int) -> None:
    params = LoraParams(spreading_factor=sf)
    for size, expected in zip(SIZES, TABLE_MS[sf], strict=True):
        assert time_on_air_s(params, size) * 1000 == pytest.approx(expected, abs=0.05)


@pytest.mark.parametrize("sf", sorted(TABLE_MS))
def test_max_payload_within_limits(sf: int) -> None:
    params = LoraParams(spreading_factor=sf)
    assert max_payload_within(params, 4.0) == MAX_PL_4S[sf]
    # "none" in the reference: no payload byte fits in 400 ms at SF11/SF12
    assert max_payload_within(params, 0.4) == MAX_PL_400MS.get(sf, -1 if sf == 12 else 0)


def test_cr48_and_wider_bandwidths() -> None:
    cr48 = {7: (143.6, 266.5, 495.9), 10: (886.8, 1542.1, 2852.9), 12: (3285.0, 5906.4, 11149.3)}
    for sf, figures in cr48.items():
        params = LoraParams(spreading_factor=sf, coding_rate=4)
        for size, expected in zip((50, 100, 200), figures, strict=True):
            assert time_on_air_s(params, size) * 1000 == pytest.approx(expected, abs=0.05)
    bw250 = (48.8, 87.3, 164.4, 308.2, 575.5, 1151.0)
    for sf, expected in zip(range(7, 13), bw250, strict=True):
        params = LoraParams(spreading_factor=sf, bandwidth_hz=250_000)
        assert time_on_air_s(params, 50) * 1000 == pytest.approx(expected, abs=0.05)
    assert time_on_air_s(LoraParams(12, 500_000), 50) * 1000 == pytest.approx(534.5, abs=0.05)


def test_published_sanity_values() -> None:
    # LoRaWAN SF12 51-byte application payload (64 B PHY) and SF7 13 B
    assert time_on_air_s(LoraParams(12), 64) * 1000 == pytest.approx(2793.5, abs=0.05)
    assert time_on_air_s(LoraParams(7), 13) * 1000 == pytest.approx(46.3, abs=0.05)
    # Meshtastic LongFast: SF11/BW250/CR4/5, 16-symbol preamble
    long_fast = LoraParams(11, 250_000, preamble_symbols=16)
    assert time_on_air_s(long_fast, 237) * 1000 == pytest.approx(2034, abs=0.5)
    assert time_on_air_s(long_fast, 50) * 1000 == pytest.approx(641, abs=0.5)


def test_low_data_rate_optimisation_is_automatic() -> None:
    assert not LoraParams(10).ldro
    assert LoraParams(11).ldro and LoraParams(12).ldro
    assert not LoraParams(12, 500_000).ldro
    forced = LoraParams(10, low_data_rate=True)
    assert time_on_air_s(forced, 100) > time_on_air_s(LoraParams(10), 100)


def test_implicit_header_is_shorter() -> None:
    implicit = LoraParams(9, explicit_header=False)
    assert time_on_air_s(implicit, 100) < time_on_air_s(LoraParams(9), 100)


@pytest.mark.parametrize(
    "kwargs",
    [{"spreading_factor": 13}, {"bandwidth_hz": 100_000}, {"coding_rate": 5}],
)
def test_bad_parameters_rejected(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        LoraParams(**kwargs)  # type: ignore[arg-type]


def test_oversize_payload_rejected() -> None:
    with pytest.raises(ValueError):
        time_on_air_s(LoraParams(), 256)

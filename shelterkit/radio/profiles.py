"""Region profiles: the transmit-time rules a station must keep, as data.

Figures and their sources are gathered in reference/anchors-tech.md §2.1; each profile
names its source so a change in the rules is a change of data here, not of code.
"""

from __future__ import annotations

from dataclasses import dataclass

from shelterkit.errors import ConfigError


@dataclass(frozen=True, slots=True)
class RegionProfile:
    """Rules for one kind of channel.

    A transmission starts with ``carrier_sense_s`` of listening, lasts at most
    ``max_transmission_s`` and is followed by a pause of at least ``min_pause_s`` (or
    ``pause_factor`` times its own airtime, whichever is longer) before the next
    carrier sense. Within any sliding window of ``window_s`` the total airtime stays at or
    below ``window_budget_s``. ``None`` means no such limit.

    ``band_mhz``, ``max_power_mw`` and ``carrier_sense_dbm`` are for drivers that configure
    a module (frequency plan, TX power, listen-before-talk threshold); the governor uses
    only the timing fields.
    """

    name: str
    max_transmission_s: float | None
    min_pause_s: float
    carrier_sense_s: float
    window_budget_s: float | None
    source: str
    pause_factor: float = 0.0
    window_s: float = 3600.0
    band_mhz: tuple[float, float] | None = None
    max_power_mw: float | None = None
    carrier_sense_dbm: float | None = None

    def __post_init__(self) -> None:
        if self.max_transmission_s is not None and self.max_transmission_s <= 0:
            raise ValueError("max_transmission_s must be positive")
        if self.min_pause_s < 0 or self.carrier_sense_s < 0 or self.pause_factor < 0:
            raise ValueError("pauses and carrier sense cannot be negative")
        if self.window_budget_s is not None and not 0 < self.window_budget_s <= self.window_s:
            raise ValueError("window budget must be within the window")

    @property
    def hourly_budget_s(self) -> float | None:
        """Airtime allowed per hour, ``None`` when unlimited."""
        if self.window_budget_s is None:
            return None
        return self.window_budget_s * 3600.0 / self.window_s


# 920.5–923.5 MHz, 20 mW 特定小電力, carrier sense ≥ 5 ms: TX ≤ 4 s then pause ≥ 50 ms, no hourly
# cap. 平成31年総務省告示第123号 (same figures for the 250 mW land-mobile station), ARIB
# STD-T108 §4.4 as quoted by MeshCore PR #2218, qiita openwave summary for 20 mW.
# Carrier sense at −80 dBm: LMIC AS923JP_LBT_DB_MAX, MeshCore PR #2218; 20 mW: 特定小電力.
JP920_CS5MS = RegionProfile(
    name="jp920",
    max_transmission_s=4.0,
    min_pause_s=0.050,
    carrier_sense_s=0.005,
    window_budget_s=None,
    source="ARIB STD-T108 / MIC notice H31-123: CS >= 5 ms, TX <= 4 s, pause >= 50 ms",
    band_mhz=(920.5, 923.5),
    max_power_mw=20.0,
    carrier_sense_dbm=-80.0,
)

# The short-carrier-sense regime, and the only one on 923.5–928.1 MHz in the secondary
# summary: carrier sense ≥ 128 µs, TX ≤ 400 ms, pause ≥ 2 ms, total ≤ 360 s per hour.
# 平成31年総務省告示第123号 note 1; qiita openwave summary of the 20 mW rules.
JP920_CS128US = RegionProfile(
    name="jp920-short",
    max_transmission_s=0.400,
    min_pause_s=0.002,
    carrier_sense_s=0.000128,
    window_budget_s=360.0,
    source="ARIB STD-T108 / MIC notice H31-123 note 1: CS >= 128 us, TX <= 400 ms, "
    "pause >= 2 ms, <= 360 s per hour",
    band_mhz=(920.5, 928.1),
    max_power_mw=20.0,
    carrier_sense_dbm=-80.0,
)

# Upper channels as the E220-900T22S(JP) paces them (BW125 ch 15–37): 4 s frames with a
# pause of 10 × the transmission, which keeps 360 s per hour (dragon-torch.tech E220 FAQ 234).
# The hourly cap is kept as well, so the profile is safe whichever reading of the rules holds.
JP920_UPPER = RegionProfile(
    name="jp920-upper",
    max_transmission_s=4.0,
    min_pause_s=0.050,
    carrier_sense_s=0.005,
    window_budget_s=360.0,
    pause_factor=10.0,
    source="E220-900T22S(JP) vendor pacing for ch 15-37 (pause = 10 x TX) and the "
    "360 s per hour rule of MIC notice H31-123",
    band_mhz=(923.5, 928.1),
    max_power_mw=20.0,
    carrier_sense_dbm=-80.0,
)

# A plain serial cable (RS-232, USB) is not a radio: no airtime rules.
UNLIMITED = RegionProfile(
    name="unlimited",
    max_transmission_s=None,
    min_pause_s=0.0,
    carrier_sense_s=0.0,
    window_budget_s=None,
    source="wired serial link, no radio regulation applies",
)

PROFILES: dict[str, RegionProfile] = {
    p.name: p for p in (JP920_CS5MS, JP920_CS128US, JP920_UPPER, UNLIMITED)
}


def profile_by_name(name: str) -> RegionProfile:
    try:
        return PROFILES[name]
    except KeyError:
        known = ", ".join(sorted(PROFILES))
        raise ConfigError(f"unknown region profile {name!r} (known: {known})") from None

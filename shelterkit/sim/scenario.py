"""The scenarios and their fault schedules (pure: times and randomness are parameters).

Every scenario issues one alert at city hall at ``event_s`` and, at the same moment (each
shelter up to ``EVENT_SPREAD_S`` later), every shelter that is on publishes a status and
one safety registration: these are the deliveries measured. Background statuses every
``STATUS_INTERVAL_S`` load the links in between. Each scenario ends with a quiet
``DRAIN_S`` with every fault lifted, so ``records_lost`` counts what never arrived.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from shelterkit.sim.topology import Topology

HOUR_S = 3600.0
# A shelter reports its status this often (a headcount changes slowly; one radio frame).
STATUS_INTERVAL_S = 1800.0
# The measured records of the shelters are published within this long after the alert.
EVENT_SPREAD_S = 30.0
# Every scenario ends with every fault lifted for this long before records are counted.
DRAIN_S = 1800.0


@dataclass(frozen=True, slots=True)
class Outage:
    start_s: float
    end_s: float


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    description: str
    duration_s: float  # before the drain
    event_s: float
    backhaul_down: dict[str, Outage] = field(default_factory=dict)  # shelter -> outage
    power_off: dict[str, Outage] = field(default_factory=dict)  # shelter -> off, back on
    radio_down: dict[tuple[str, str], Outage] = field(default_factory=dict)  # planned link

    @property
    def end_s(self) -> float:
        return self.duration_s + DRAIN_S


def normal_day(topology: Topology, rng: random.Random, hours: float = 24.0) -> Scenario:
    """Backhaul and radio as planned; an alert in the afternoon."""
    del topology, rng
    return Scenario(
        "normal",
        "a normal day: backhaul up, every node on, an alert in the afternoon",
        hours * HOUR_S,
        event_s=min(14 * HOUR_S, hours * HOUR_S / 2),
    )


def blackout(topology: Topology, rng: random.Random, hours: float = 8.0) -> Scenario:
    """City-wide blackout: all backhaul lost for hours; three shelters lose power and come
    back (two before the alert, one after); two planned radio links with a second path
    fail for an hour; the alert comes 10 minutes in."""
    start, end = 1 * HOUR_S, max(2.5 * HOUR_S, (hours - 1) * HOUR_S)
    down = {s.id: Outage(start, end) for s in topology.sites[1:] if s.backhaul != "none"}
    shelters = [s.id for s in topology.sites[1:]]
    power: dict[str, Outage] = {}
    restarted = rng.sample(shelters, min(3, len(shelters)))
    for sid in restarted[:2]:  # power fails with the grid and comes back on the UPS/generator
        off = start + rng.uniform(0.0, 120.0)
        power[sid] = Outage(off, off + rng.uniform(120.0, 300.0))
    for sid in restarted[2:]:  # and one more later, after the alert
        off = start + 1.5 * HOUR_S + rng.uniform(0.0, 600.0)
        power[sid] = Outage(off, off + rng.uniform(600.0, 1800.0))
    links: dict[tuple[str, str], Outage] = {}
    candidates = sorted((ln.a, ln.b) for ln in topology.links if "HUB" not in (ln.a, ln.b))
    rng.shuffle(candidates)
    for pair in candidates:  # links whose loss leaves another path (a cut is not a test)
        if len(links) == 2:
            break
        if topology.reachable_without({*links, pair}):
            links[pair] = Outage(start, start + HOUR_S)
    return Scenario(
        "blackout",
        "city-wide blackout: all backhaul down for hours, 3 shelters restart, 2 radio links fail",
        hours * HOUR_S,
        event_s=start + 600.0,
        backhaul_down=down,
        power_off=power,
        radio_down=links,
    )


def nodes_off(
    topology: Topology, rng: random.Random, hours: float = 6.0, share: float = 0.2
) -> Scenario:
    """A fifth of the shelters without power for two hours; the alert comes meanwhile."""
    shelters = [s.id for s in topology.sites[1:]]
    count = max(1, round(share * len(shelters)))
    start = 1 * HOUR_S
    off = {sid: Outage(start, start + 2 * HOUR_S) for sid in sorted(rng.sample(shelters, count))}
    return Scenario(
        "nodes-off",
        f"{count} of {len(shelters)} shelters ({share:.0%}) off for two hours; backhaul up",
        hours * HOUR_S,
        event_s=start + 600.0,
        power_off=off,
    )


def default_scenarios(topology: Topology, rng: random.Random) -> list[Scenario]:
    return [normal_day(topology, rng), blackout(topology, rng), nodes_off(topology, rng)]

"""Where the radios are and which of them talk: terrain, link quality, relay plan (pure).

**Terrain.** Each site gets a class from its distance to city hall, the centre of the
built-up area (a simple rule, since the inventory carries no land use):

| class | sites | a link through it: certain up to | nothing beyond |
|---|---|---|---|
| town | within 1.5 km of city hall (Karasuyama's centre: buildings) | 500 m | 1.5 km |
| suburban | 1.5–5 km | 2 km | 4 km |
| rural | beyond 5 km (farmland and hills; antennas on a mast or roof) | 3 km | 6 km |

A link takes the class of the ground it crosses, that of its midpoint; between its two
distances loss grows linearly (``radio.medium.PathLoss``). The figures
are the planning ranges of data/README.md and reference/anchors-tech.md §2.3: a few
hundred metres in a dense town, 2–5 km across open ground. Beyond ``max_m`` a pair does
not hear each other at all, so it neither talks nor collides.

**Relays.** A radio syncs only with its planned neighbours (``RadioSync(peers=…)``): each
site's ``RELAY_DEGREE`` best *usable* links (loss at most ``USABLE_LOSS``), made symmetric,
plus, for any site not yet reachable from city hall, its best usable link towards the
reachable part. A shelter without backhaul is thus served by whoever is near, over as
many hops as it takes; multi-hop falls out of syncing on both sides. One spreading factor
city-wide (SF9, 125 kHz): every radio shares one channel, as the modules of one city
would, so collisions and hidden terminals are part of the result.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass

from shelterkit.radio.medium import PathLoss
from shelterkit.sim.inventory import Inventory

TOWN_RADIUS_M = 1_500.0
SUBURB_RADIUS_M = 5_000.0
TERRAIN_LOSS = {
    "town": PathLoss(reliable_m=500.0, max_m=1_500.0),
    "suburban": PathLoss(reliable_m=2_000.0, max_m=4_000.0),
    "rural": PathLoss(reliable_m=3_000.0, max_m=6_000.0),
}
# A planned link loses at most this share of its frames at its distance (ARQ does the rest).
USABLE_LOSS = 0.35
# Planned radio neighbours per site (before symmetry): enough for a second path, few
# enough that one change does not start a dozen sessions on a shared channel.
RELAY_DEGREE = 2
HUB_SITE = "HUB"
# Metres per degree (equirectangular around city hall: a city is a few km across).
M_PER_DEG_LAT = 110_540.0
M_PER_DEG_LON_EQUATOR = 111_320.0


@dataclass(frozen=True, slots=True)
class Site:
    id: str  # shelter id, or HUB_SITE for city hall
    x_m: float  # east of city hall
    y_m: float  # north of city hall
    terrain: str
    backhaul: str  # fiber | mobile | none ("fiber" for city hall)


@dataclass(frozen=True, slots=True)
class RadioLinkPlan:
    a: str
    b: str
    distance_m: float
    terrain: str
    loss: float  # probability that one frame is lost at this distance (no collisions)


@dataclass(frozen=True, slots=True)
class Topology:
    sites: tuple[Site, ...]  # city hall first
    links: tuple[RadioLinkPlan, ...]  # the planned relay links
    hops: dict[str, int]  # radio hops from city hall along planned links (-1: unreachable)

    def reachable_without(self, cut: set[tuple[str, str]]) -> bool:
        """Whether every site still reaches city hall when the links ``cut`` fail."""
        kept = {frozenset((ln.a, ln.b)) for ln in self.links if (ln.a, ln.b) not in cut}
        return all(h >= 0 for h in _hops(self.sites, kept).values())

    def site(self, sid: str) -> Site:
        return next(s for s in self.sites if s.id == sid)

    def uplinks(self, sid: str) -> list[str]:
        """The planned neighbours of ``sid`` nearer city hall (best link first), then those
        as near (a detour when every nearer one is off): where status goes."""
        h = self.hops[sid]
        loss = {(ln.a, ln.b): ln.loss for ln in self.links}
        options = [
            (self.hops[n] >= h, loss.get((sid, n), loss.get((n, sid), 1.0)), n)
            for n in self.neighbours(sid)
            if 0 <= self.hops[n] <= h
        ]
        return [n for _farther, _loss, n in sorted(options)]

    def neighbours(self, sid: str) -> list[str]:
        return sorted(
            {ln.b for ln in self.links if ln.a == sid} | {ln.a for ln in self.links if ln.b == sid}
        )


def terrain_of(distance_to_hall_m: float) -> str:
    if distance_to_hall_m <= TOWN_RADIUS_M:
        return "town"
    if distance_to_hall_m <= SUBURB_RADIUS_M:
        return "suburban"
    return "rural"


def link_terrain(a: Site, b: Site) -> str:
    """The class of the ground a link crosses: that of its midpoint."""
    return terrain_of(math.hypot((a.x_m + b.x_m) / 2, (a.y_m + b.y_m) / 2))


def pair_loss(a: Site, b: Site) -> PathLoss:
    loss = TERRAIN_LOSS[link_terrain(a, b)]
    if HUB_SITE in (a.id, b.id):  # city hall's antenna is on its roof, above the town
        return max(loss, TERRAIN_LOSS["suburban"], key=lambda p: p.max_m)
    return loss


def distance_m(a: Site, b: Site) -> float:
    return math.hypot(a.x_m - b.x_m, a.y_m - b.y_m)


def sites_of(inventory: Inventory) -> tuple[Site, ...]:
    lat0, lon0 = inventory.city_hall
    per_lon = M_PER_DEG_LON_EQUATOR * math.cos(math.radians(lat0))
    out = [Site(HUB_SITE, 0.0, 0.0, "town", "fiber")]
    for s in inventory.shelters:
        x, y = (s.lon - lon0) * per_lon, (s.lat - lat0) * M_PER_DEG_LAT
        out.append(Site(s.id, x, y, terrain_of(math.hypot(x, y)), s.backhaul))
    return tuple(out)


def plan_links(sites: Sequence[Site]) -> Topology:
    """The relay plan for ``sites`` (city hall first); deterministic, no randomness."""
    by_id = {s.id: s for s in sites}
    usable: dict[str, list[tuple[float, str]]] = {s.id: [] for s in sites}
    for i, a in enumerate(sites):
        for b in sites[i + 1 :]:
            loss = pair_loss(a, b).loss_probability(distance_m(a, b))
            if loss <= USABLE_LOSS:
                usable[a.id].append((loss, b.id))
                usable[b.id].append((loss, a.id))
    everything = {frozenset((a, b)) for a, options in usable.items() for _l, b in options}
    # a site the usable links do not reach gets its best link towards those reached
    while True:
        hops = _hops(sites, everything)
        reached = [s for s in sites if hops[s.id] >= 0]
        bridges = sorted(
            (pair_loss(s, r).loss_probability(distance_m(s, r)), distance_m(s, r), s.id, r.id)
            for s in sites
            if hops[s.id] < 0
            for r in reached
        )
        if not bridges or bridges[0][0] >= 1.0:
            break
        _loss, _d, sid, other = bridges[0]
        usable[sid].append((_loss, other))
        usable[other].append((_loss, sid))
        everything.add(frozenset((sid, other)))
    # each site: its best link one hop nearer city hall, and RELAY_DEGREE - 1 more of its
    # best links no farther out (a second path when a relay is off)
    chosen: set[frozenset[str]] = set()
    for site in sites[1:]:
        h = hops[site.id]
        if h < 0:
            continue
        options = sorted(usable[site.id])
        parents = [o for o in options if hops[o[1]] == h - 1]
        if parents:
            chosen.add(frozenset((site.id, parents[0][1])))
        spare = [o for o in options if 0 <= hops[o[1]] <= h and o not in parents[:1]]
        for _loss, other in spare[: RELAY_DEGREE - 1]:
            chosen.add(frozenset((site.id, other)))
    links = []
    for pair in sorted(chosen, key=lambda p: tuple(sorted(p))):
        a_id, b_id = sorted(pair)
        a, b = by_id[a_id], by_id[b_id]
        d = distance_m(a, b)
        links.append(
            RadioLinkPlan(a_id, b_id, d, link_terrain(a, b), pair_loss(a, b).loss_probability(d))
        )
    return Topology(tuple(sites), tuple(links), _hops(sites, chosen))


def _hops(sites: Sequence[Site], links: set[frozenset[str]]) -> dict[str, int]:
    adjacent: dict[str, list[str]] = {s.id: [] for s in sites}
    for pair in links:
        a, b = sorted(pair)
        adjacent[a].append(b)
        adjacent[b].append(a)
    hops = {s.id: -1 for s in sites}
    hops[sites[0].id] = 0
    queue = [(0, sites[0].id)]
    while queue:
        h, sid = heapq.heappop(queue)
        for other in sorted(adjacent[sid]):
            if hops[other] < 0:
                hops[other] = h + 1
                heapq.heappush(queue, (h + 1, other))
    return hops


def topology_of(inventory: Inventory) -> Topology:
    return plan_links(sites_of(inventory))

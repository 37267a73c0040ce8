"""Run a scenario: every shelter's real node on emulated links, on a virtual clock.

Each shelter is a real ``Node`` over its own SQLite store in a temporary directory; city
hall is a real ``Hub``. Backhaul is an in-process sync session between a node and the hub
(``service.replica.drive`` on both ends, every record checked and committed as over
WebSockets), run as the node's scheduler would: a round every ``BACKHAUL_INTERVAL_S``
whenever the two hold different things. Radio is the real ``RadioSync`` over the real
link layer and airtime governor on the emulated medium (``links.radio_medium``), with the
loss of each pair from ``topology``. A node that loses power is closed and reopened on
the same data directory (its radio state starts afresh, its records are on disk).

Nothing sleeps: the clock jumps from event to event, so a day takes minutes.
"""

from __future__ import annotations

import hashlib
import random
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from shelterkit.config import Config, NodeSettings, ShelterSettings
from shelterkit.hub.service import Hub
from shelterkit.links.radio import RadioSync
from shelterkit.links.radio_medium import EmulatedRadio
from shelterkit.model.anpi import new_person, new_person_id
from shelterkit.model.kinds import AlertBody, Certainty, Severity, StatusBody, Stream, Urgency
from shelterkit.model.record import Record
from shelterkit.paths import DataPaths, write_private_file
from shelterkit.radio.airtime import LoraParams
from shelterkit.radio.arq import ArqConfig
from shelterkit.radio.governor import Grant, audit_grants
from shelterkit.radio.link import RadioLink
from shelterkit.radio.medium import PathLoss, RadioMedium
from shelterkit.radio.profiles import JP920_CS5MS
from shelterkit.service.node import Node
from shelterkit.service.replica import drive
from shelterkit.sim.scenario import EVENT_SPREAD_S, STATUS_INTERVAL_S, Scenario
from shelterkit.sim.topology import HUB_SITE, Topology, pair_loss
from shelterkit.sync import SessionConfig, Start, SyncSession

# 2026-11-27 00:00 JST: the virtual clock's zero on every node's wall clock.
BASE_WALL_MS = 1_795_964_400_000
# One spreading factor city-wide (docs/radio.md: SF9 is 1.0 s per full frame).
LORA = LoraParams(spreading_factor=9, bandwidth_hz=125_000)
RADIO_BIT_ERROR_RATE = 1e-5
# On a shared channel a lost burst is mostly a collision, gone a few seconds later: retry
# within half a minute rather than the default two (radio.arq.MAX_BACKOFF_S).
ARQ = ArqConfig(max_backoff_s=24.0, max_attempts=8)
RADIO_LATENCY_S = 0.01
# The node's backhaul scheduler (service/scheduler.py) syncs every 5 s while things change.
BACKHAUL_INTERVAL_S = 5.0
# Sessions of one backhaul round end within this many exchanges (a stuck pair is a bug).
MAX_BACKHAUL_EXCHANGES = 1_000
# The clock advances in ticks of this much between backhaul rounds and delivery checks
# (the resolution of the measured delivery times); radio runs event by event within.
TICK_S = 1.0
# Outside the 40 minutes after the measured event, checks are this far apart.
QUIET_TICK_S = 5.0
MEASURE_WINDOW_S = 2400.0


@dataclass(slots=True)
class Delivery:
    """One measured record and when it arrived where it was going (None: not yet)."""

    shelter: str
    published_s: float
    arrived_s: float | None = None

    @property
    def delay_s(self) -> float | None:
        return None if self.arrived_s is None else round(self.arrived_s - self.published_s, 3)


@dataclass(slots=True)
class ScenarioResult:
    scenario: Scenario
    alerts: dict[str, Delivery] = field(default_factory=dict)  # shelter <- city hall
    statuses: dict[str, Delivery] = field(default_factory=dict)  # shelter -> city hall
    registrations: dict[str, Delivery] = field(default_factory=dict)  # shelter -> city hall
    records_lost: int = 0
    lost_detail: list[str] = field(default_factory=list)
    airtime_violations: int = 0
    airtime: dict[str, dict[str, float]] = field(default_factory=dict)
    frames: dict[str, int] = field(default_factory=dict)
    backhaul_rounds: int = 0


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def wall_ms(self) -> int:
        return BASE_WALL_MS + int(self.now * 1000)


def _seeded_bytes(seed: int, name: str) -> Callable[[int], bytes]:
    counter = [0]

    def random_bytes(n: int) -> bytes:
        counter[0] += 1
        out = b""
        while len(out) < n:
            out += hashlib.sha256(f"{seed}/{name}/{counter[0]}/{len(out)}".encode()).digest()
        return out[:n]

    return random_bytes


@dataclass(slots=True)
class _Site:
    id: str
    station: int
    config: Config
    node: Node | None = None
    engine: RadioSync | None = None
    grants: list[list[Grant]] = field(default_factory=list)  # one list per power cycle
    next_backhaul_s: float = 0.0
    next_status_s: float = 0.0


class CitySimulation:
    def __init__(self, topology: Topology, scenario: Scenario, seed: int, root: Path) -> None:
        self.topology = topology
        self.scenario = scenario
        self.seed = seed
        self.root = root
        self.rng = random.Random(f"{seed}/{scenario.name}")
        self.clock = _Clock()
        self.hub: Hub | None = None
        self.sites: dict[str, _Site] = {}
        self.medium = RadioMedium(
            self.rng, PathLoss(0.0, 0.0), RADIO_BIT_ERROR_RATE, RADIO_LATENCY_S
        )
        self.net = EmulatedRadio(self.medium, {}, self.rng)
        self.result = ScenarioResult(scenario)
        self.alert_seq = 0

    # -- setting up ---------------------------------------------------------------------------

    async def open(self) -> None:
        authority_seed = _seeded_bytes(self.seed, "city hall")
        hub_config = Config(node=NodeSettings(data_dir=str(self.root / HUB_SITE)))
        self.hub = await Hub.open(hub_config, self.clock.wall_ms, authority_seed)
        authority = self.hub.authority.public.hex()
        for station, site in enumerate(self.topology.sites, start=1):
            self.medium.add_station(station, site.x_m, site.y_m)
            if site.id == HUB_SITE:
                self.sites[site.id] = _Site(site.id, station, hub_config, node=self.hub.node)
                continue
            config = Config(
                shelter=ShelterSettings(id=site.id, name_ja=site.id, name_en=site.id),
                node=NodeSettings(data_dir=str(self.root / site.id), authority_keys=[authority]),
            )
            # a new node: key and database are created together, as on a fresh card
            node = await Node.open(
                config, self.clock.wall_ms, _seeded_bytes(self.seed, f"node {site.id}")
            )
            record = await self.hub.enrol(node.identity.public, site.id, site.id)
            write_private_file(DataPaths(self.root / site.id).enrolment, record.wire)
            self.sites[site.id] = _Site(site.id, station, config, node=node)
        sites = self.topology.sites
        for i, a in enumerate(sites):
            for b in sites[i + 1 :]:
                self.medium.set_path_loss(
                    self.sites[a.id].station, self.sites[b.id].station, pair_loss(a, b)
                )
        # the city before the disaster: every node holds every enrolment (provisioning
        # and a day of sync), so the scenario starts converged
        enrolments = [r.wire for r in await self._records_of(self.hub.node, Stream.CONTROL)]
        for running in self.sites.values():
            if running.node is not None and running.id != HUB_SITE:
                await running.node.ingest(enrolments)
            self._attach_radio(running)
            running.next_backhaul_s = self.rng.uniform(0.0, BACKHAUL_INTERVAL_S)
            running.next_status_s = self.rng.uniform(0.0, STATUS_INTERVAL_S)

    async def _records_of(self, node: Node, stream: Stream) -> list[Record]:
        have = await node.have()
        out: list[Record] = []
        for (origin, s), head in sorted(have.items()):
            if s is stream:
                out.extend(await node.store.records_range(origin, s, 1, head, head))
        return out

    async def _power_on(self, site: _Site) -> None:
        site.node = await Node.open(
            site.config, self.clock.wall_ms, _seeded_bytes(self.seed, f"node {site.id}")
        )
        self._attach_radio(site)

    def _attach_radio(self, site: _Site) -> None:
        assert site.node is not None
        peers = frozenset(self.sites[n].station for n in self.topology.neighbours(site.id))
        link = RadioLink(site.station, self.rng, profile=JP920_CS5MS, lora=LORA, config=ARQ)
        uplinks = [self.sites[n].station for n in self.topology.uplinks(site.id)]
        site.engine = RadioSync(site.node, link, self.rng, peers=peers, uplinks=uplinks)
        site.grants.append([])
        self.net.engines[site.station] = site.engine

    async def _power_off(self, site: _Site) -> None:
        self._drain_grants(site)
        self.net.engines.pop(site.station, None)
        if site.node is not None:
            await site.node.close()
        site.node, site.engine = None, None

    def _drain_grants(self, site: _Site) -> None:
        if site.engine is not None:
            log = site.engine.link.governor.log
            site.grants[-1].extend(log)
            log.clear()

    async def close(self) -> None:
        for site in self.sites.values():
            if site.id != HUB_SITE and site.node is not None:
                await site.node.close()
        if self.hub is not None:
            await self.hub.close()

    # -- running ------------------------------------------------------------------------------

    async def run(self) -> ScenarioResult:
        sc = self.scenario
        event_done = False
        while self.clock.now < sc.end_s:
            now = self.clock.now
            await self._apply_faults(now)
            if not event_done and now >= sc.event_s:
                await self._event(now)
                event_done = True
            await self._publish_statuses(now)
            await self._backhaul(now)
            await self._check_deliveries(now)
            quiet = not (sc.event_s <= now < sc.event_s + MEASURE_WINDOW_S)
            tick = QUIET_TICK_S if quiet else TICK_S
            nxt = min(now + tick, sc.end_s)
            await self.net.run(nxt - 1e-9, max_steps=10_000_000)
            self.clock.now = max(nxt, self.net.now)
            for site in self.sites.values():
                self._drain_grants(site)
        await self._check_deliveries(self.clock.now)
        await self._count_lost()
        self._airtime()
        return self.result

    def _down(self, table: dict[str, object], key: str, now: float) -> bool:
        outage = table.get(key)
        return outage is not None and outage.start_s <= now < outage.end_s  # type: ignore[attr-defined]

    def _during(self, start_s: float, end_s: float, now: float) -> bool:
        return start_s <= now < end_s and now < self.scenario.duration_s

    async def _apply_faults(self, now: float) -> None:
        sc = self.scenario
        for sid, outage in sc.power_off.items():
            site = self.sites[sid]
            off = self._during(outage.start_s, outage.end_s, now)
            if off and site.node is not None:
                await self._power_off(site)
            elif not off and site.node is None:
                await self._power_on(site)
        for (a, b), outage in sc.radio_down.items():
            sa, sb = self.sites[a].station, self.sites[b].station
            cut = self._during(outage.start_s, outage.end_s, now)
            ta, tb = self.topology.site(a), self.topology.site(b)
            self.medium.set_path_loss(sa, sb, PathLoss(0.0, 0.0) if cut else pair_loss(ta, tb))

    def _backhaul_up(self, sid: str, now: float) -> bool:
        if self.topology.site(sid).backhaul == "none":
            return False
        outage = self.scenario.backhaul_down.get(sid)
        return outage is None or not self._during(outage.start_s, outage.end_s, now)

    async def _event(self, now: float) -> None:
        assert self.hub is not None
        record = await self.hub.issue_alert(_alert(self.clock.wall_ms(), self.scenario.name))
        self.alert_seq = record.seq
        for sid, site in self.sites.items():
            if sid == HUB_SITE:
                continue
            self.result.alerts[sid] = Delivery(sid, now)
            if site.node is None:
                continue
            # each shelter reports within EVENT_SPREAD_S; measured from its own publish
            at = now + self.rng.uniform(0.0, EVENT_SPREAD_S)
            self.result.statuses[sid] = Delivery(sid, at)
            self.result.registrations[sid] = Delivery(sid, at)
        pending = sorted(self.result.statuses.values(), key=lambda d: d.published_s)
        self._pending_publish = pending

    async def _publish_statuses(self, now: float) -> None:
        for d in list(getattr(self, "_pending_publish", [])):
            if d.published_s > now + TICK_S:
                continue
            self._pending_publish.remove(d)
            site = self.sites[d.shelter]
            if site.node is None:  # switched off meanwhile: nothing was published
                self.result.statuses.pop(d.shelter, None)
                self.result.registrations.pop(d.shelter, None)
                continue
            d.published_s = self.result.registrations[d.shelter].published_s = now
            await self._publish_status(site, now)
            person = new_person(
                person_id=new_person_id(self.rng.randbytes(8)),
                family_name="烏山",
                given_name="太郎",
                reading="からすやま たろう",
                shelter=site.id,
                consent=True,
                authority_key=None,
            )
            await site.node.publish(person)
        for site in self.sites.values():
            if site.id == HUB_SITE or site.node is None or now < site.next_status_s:
                continue
            site.next_status_s = now + STATUS_INTERVAL_S
            await self._publish_status(site, now)

    async def _publish_status(self, site: _Site, now: float) -> None:
        assert site.node is not None
        uplink = "up" if self._backhaul_up(site.id, now) else "down"
        await site.node.publish(
            StatusBody(
                shelter=site.id,
                headcount=self.rng.randrange(20, 400),
                battery_pct=self.rng.randrange(30, 100),
                links=f"http:{uplink} radio:up",
            )
        )
        site.next_status_s = now + STATUS_INTERVAL_S

    async def _backhaul(self, now: float) -> None:
        assert self.hub is not None
        hub = self.hub.node
        for site in self.sites.values():
            node = site.node
            if site.id == HUB_SITE or node is None or now < site.next_backhaul_s:
                continue
            site.next_backhaul_s = now + BACKHAUL_INTERVAL_S
            if not self._backhaul_up(site.id, now):
                continue
            if (await node.have()).digest() == (await hub.have()).digest():
                continue  # the round would end after the two HELLOs
            await _sync_pair(node, hub, now)
            self.result.backhaul_rounds += 1

    async def _check_deliveries(self, now: float) -> None:
        assert self.hub is not None
        authority = self.hub.authority.public
        hub_have = await self.hub.node.have()
        for sid, d in self.result.alerts.items():
            node = self.sites[sid].node
            if d.arrived_s is not None or node is None:
                continue
            if (await node.have()).head(authority, Stream.ALERTS) >= self.alert_seq:
                d.arrived_s = now
        for table, stream in (
            (self.result.statuses, Stream.STATUS),
            (self.result.registrations, Stream.ANPI),
        ):
            for sid, d in table.items():
                node = self.sites[sid].node
                if d.arrived_s is not None or node is None or d.published_s > now:
                    continue
                own = (await node.have()).head(node.identity.public, stream)
                if own and hub_have.head(node.identity.public, stream) >= own:
                    d.arrived_s = now

    async def _count_lost(self) -> None:
        assert self.hub is not None
        hub_have = await self.hub.node.have()
        authority = self.hub.authority.public
        lost = 0
        for sid, site in self.sites.items():
            if sid == HUB_SITE or site.node is None:
                continue
            have = await site.node.have()
            key = site.node.identity.public
            for stream in (Stream.STATUS, Stream.ANPI):
                missing = have.head(key, stream) - hub_have.head(key, stream)
                if missing > 0:
                    lost += missing
                    self.result.lost_detail.append(f"{sid} {stream.name.lower()}: {missing}")
            missing = hub_have.head(authority, Stream.ALERTS) - have.head(authority, Stream.ALERTS)
            if missing > 0:
                lost += missing
                self.result.lost_detail.append(f"{sid} alerts: {missing}")
        self.result.records_lost = lost

    def _airtime(self) -> None:
        profile = JP920_CS5MS
        for sid, site in self.sites.items():
            self._drain_grants(site)
            violations = sum(len(audit_grants(g, profile)) for g in site.grants)
            self.result.airtime_violations += violations
            grants = sorted((g for log in site.grants for g in log), key=lambda g: g.tx_start_us)
            self.result.airtime[sid] = {
                "total_s": round(sum(g.airtime_us for g in grants) / 1e6, 3),
                "max_hour_s": round(_max_window_us(grants, 3_600_000_000) / 1e6, 3),
            }
            self.result.frames[sid] = len(grants)


def _max_window_us(grants: list[Grant], window_us: int) -> int:
    best = total = 0
    first = 0
    for g in grants:
        total += g.airtime_us
        while grants[first].tx_start_us <= g.tx_start_us - window_us:
            total -= grants[first].airtime_us
            first += 1
        best = max(best, total)
    return best


async def _sync_pair(a: Node, b: Node, now: float) -> None:
    """One backhaul round between ``a`` and ``b``, both ends the real session and store."""
    sa = SyncSession(SessionConfig(a.identity.public), await a.have(), now)
    sb = SyncSession(SessionConfig(b.identity.public), await b.have(), now)
    to_b, to_a = sa.send(Start()), sb.send(Start())
    for _ in range(MAX_BACKHAUL_EXCHANGES):
        if not to_a and not to_b:
            return
        out_b = await drive(b, sb, sb.receive(to_b, now)) if to_b else b""
        out_a = await drive(a, sa, sa.receive(to_a, now)) if to_a else b""
        to_a, to_b = out_b, out_a
    raise RuntimeError("a backhaul round did not settle")


def _alert(now_ms: int, scenario: str) -> AlertBody:
    return AlertBody(
        identifier=f"urn:shelterkit:sim:{scenario}:{now_ms}",
        headline={"ja": "避難指示：那珂川が氾濫危険水位に達しました。直ちに避難してください。"},
        event={"ja": "避難指示"},
        severity=Severity.EXTREME,
        urgency=Urgency.IMMEDIATE,
        certainty=Certainty.OBSERVED,
        sent_ms=now_ms,
        expires_ms=now_ms + 12 * 3_600_000,
        sender_name="那須烏山市役所",
    )


async def run_scenario(topology: Topology, scenario: Scenario, seed: int) -> ScenarioResult:
    with tempfile.TemporaryDirectory(prefix="shelterkit-sim-") as tmp:
        sim = CitySimulation(topology, scenario, seed, Path(tmp))
        try:
            await sim.open()
            return await sim.run()
        finally:
            await sim.close()

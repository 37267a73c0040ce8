"""``shelterkit demo``: a whole small city on this machine.

A city-hall hub and four shelter nodes, each with its own portal. Three shelters reach city
hall over their backhaul; S48 has none (one of the city's seven uncovered shelters) and is
reached only through its neighbour S03 over 920 MHz LoRa — an emulated radio medium that
runs the real radio link layer, airtime governor (Japan profile) and sync in real time.
An alert is issued at the hub when the demo starts, so a visitor sees it arrive on every
portal: within seconds over backhaul, within a minute or so over the radio hop. CAP 1.2 files
dropped into the hub's inbox folder (``<data>/cap-inbox``) are imported like
``shelterkit alert import``.
"""

from __future__ import annotations

import dataclasses
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shelterkit.admin.tokens import mint_token
from shelterkit.config import (
    Config,
    HubSettings,
    NodeSettings,
    PortalSettings,
    ShelterSettings,
)
from shelterkit.hub.run import start_hub
from shelterkit.hub.service import Hub
from shelterkit.links.radio import RadioSync, station_id_for
from shelterkit.links.radio_medium import EmulatedRadio
from shelterkit.model.kinds import (
    AlertBody,
    Certainty,
    NoticeBody,
    PostBody,
    PostCategory,
    Severity,
    Urgency,
)
from shelterkit.paths import DataPaths, write_private_file
from shelterkit.radio.airtime import LoraParams
from shelterkit.radio.link import RadioLink
from shelterkit.radio.medium import PathLoss, RadioMedium
from shelterkit.radio.profiles import JP920_CS5MS
from shelterkit.service.node import Node, load_or_create_identity
from shelterkit.service.run import Service, run_services, start_node, wall_ms

DEMO_ALERT_TTL_MS = 6 * 3600 * 1000
PEER_PORT_OFFSET = 10
# S03 旧向田小学校 to S48 野上公民館 in the inventory: about 3.8 km across farmland.
RADIO_DISTANCE_M = 3_800.0
# Open and suburban ground: reliable to ~4 km, nothing beyond ~6 km (data/README.md).
RADIO_PATH_LOSS = PathLoss(reliable_m=4_000.0, max_m=6_000.0)
RADIO_BIT_ERROR_RATE = 1e-5
# A demo visitor should not wait 15 minutes for an idle beacon after a restart.
DEMO_BEACON_IDLE_S = 60.0
# The emulated medium steps at least once per event; a demo runs for hours at most.
RADIO_MAX_STEPS = 2**40


@dataclass(frozen=True, slots=True)
class DemoShelter:
    id: str
    name_ja: str
    name_en: str
    capacity: int
    via: str  # "hub", or the id of the shelter it is reached through


SHELTERS = (
    DemoShelter("S01", "烏山公民館", "Karasuyama Community Hall", 150, "hub"),
    DemoShelter("S02", "境公民館", "Sakai Community Hall", 150, "hub"),
    DemoShelter("S03", "旧向田小学校", "Former Mukoda Elementary School", 200, "hub"),
    DemoShelter("S48", "野上公民館", "Nokami Community Hall", 150, "S03"),
)


def demo_alert(now: int) -> AlertBody:
    return AlertBody(
        identifier=f"urn:shelterkit:demo:{now}",
        headline={
            "ja": "大雨警報：那珂川の水位が上昇しています。川に近づかないでください。",
            "en": "Heavy rain warning: the Naka River is rising. Keep away from rivers.",
        },
        event={"ja": "大雨警報", "en": "Heavy rain warning"},
        description={
            "ja": "市内全域で今後3時間に50ミリ以上の雨が予想されます。",
            "en": "More than 50 mm of rain is expected across the city in the next 3 hours.",
        },
        instruction={"ja": "避難所の外に出ないでください。", "en": "Stay inside the shelter."},
        severity=Severity.SEVERE,
        urgency=Urgency.IMMEDIATE,
        certainty=Certainty.LIKELY,
        sent_ms=now,
        expires_ms=now + DEMO_ALERT_TTL_MS,
        sender_name="那須烏山市役所",
    )


async def seed_shelter(node: Node) -> None:
    await node.publish(
        NoticeBody(
            notice_id="meals",
            title={"ja": "食事の時間", "en": "Meal times"},
            text={
                "ja": "朝 7 時、昼 12 時、夜 18 時に体育館で配ります。",
                "en": "Meals are handed out in the gym at 7:00, 12:00 and 18:00.",
            },
            shelter=node.config.shelter.id,
        )
    )
    await node.publish(
        PostBody(text="毛布が足りません。2枚お願いします。", category=PostCategory.NEEDS)
    )
    await node.publish(
        PostBody(
            text="充電器（USB-C）を貸せます。受付横にいます。",
            category=PostCategory.OFFERS,
            author="佐藤",
        )
    )


def shelter_config(
    root: Path, s: DemoShelter, port: int, peer_port: int, hub: Hub, hub_url: str
) -> Config:
    return Config(
        shelter=ShelterSettings(id=s.id, name_ja=s.name_ja, name_en=s.name_en, capacity=s.capacity),
        node=NodeSettings(
            data_dir=str(root / s.id),
            listen=f"127.0.0.1:{port}",
            peer_listen=f"127.0.0.1:{peer_port}",
            authority_keys=[hub.authority.public.hex()],
            hub_url=hub_url if s.via == "hub" else "",
        ),
        portal=PortalSettings(public_url=f"http://127.0.0.1:{port}/"),
    )


def radio_between(near: Service, far: Service) -> None:
    """Join two shelters by an emulated 920 MHz LoRa link (SF9/125 kHz, Japan 20 mW
    profile), run in real time as one more job of the far shelter."""
    rng = random.Random()
    medium = RadioMedium(rng, RADIO_PATH_LOSS, RADIO_BIT_ERROR_RATE, latency_s=0.01)
    engines: dict[int, RadioSync] = {}
    started = time.monotonic()
    for x_m, service in ((0.0, near), (RADIO_DISTANCE_M, far)):
        station = station_id_for(service.node.identity.public)
        medium.add_station(station, x_m, 0.0)
        link = RadioLink(station, rng, profile=JP920_CS5MS, lora=LoraParams(9, 125_000))
        engine = RadioSync(service.node, link, rng, beacon_idle_s=DEMO_BEACON_IDLE_S)
        engines[station] = engine
        service.node.link_reports["radio"] = _status_of(engine, started)
    net = EmulatedRadio(medium, engines, rng)

    async def run() -> None:
        await net.run(float("inf"), max_steps=RADIO_MAX_STEPS, realtime=True)

    far.jobs.append(run)


def _status_of(engine: RadioSync, started: float) -> Callable[[], dict[str, Any]]:
    return lambda: dataclasses.asdict(
        engine.status(time.monotonic() - started, driver="emulated", port="demo")
    )


async def enrol_if_needed(hub: Hub, config: Config, s: DemoShelter) -> None:
    paths = DataPaths(Path(config.node.data_dir))
    if paths.enrolment.exists():
        return
    identity = load_or_create_identity(paths.node_key, os.urandom)
    record = await hub.enrol(identity.public, s.id, s.name_ja)
    write_private_file(paths.enrolment, record.wire)


async def run_demo(data: str | None, port: int) -> None:
    root = Path(data) if data else Path(tempfile.mkdtemp(prefix="shelterkit-demo-"))
    fresh = not (root / "hub").exists()
    hub_url = f"http://127.0.0.1:{port}/"
    inbox = root / "cap-inbox"
    hub_config = Config(
        node=NodeSettings(data_dir=str(root / "hub"), listen=f"127.0.0.1:{port}"),
        hub=HubSettings(cap_inbox=str(inbox)),
    )
    hub_service, hub = await start_hub(hub_config)
    services: list[Service] = [hub_service]
    lines = [f"  city hall hub  {hub_url}", f"  CAP inbox      {inbox}/  (drop CAP 1.2 files here)"]
    try:
        by_id: dict[str, Service] = {}
        for i, s in enumerate(SHELTERS, start=1):
            portal_port, peer_port = port + i, port + i + PEER_PORT_OFFSET
            config = shelter_config(root, s, portal_port, peer_port, hub, hub_url)
            if fresh:  # keys made just now have signed nothing: no older image to fear
                node = dataclasses.replace(config.node, first_contact_wait_s=0)
                config = dataclasses.replace(config, node=node)
            await enrol_if_needed(hub, config, s)
            service = await start_node(config)
            services.append(service)
            by_id[s.id] = service
            if fresh:
                await seed_shelter(service.node)
            if s.via != "hub":
                radio_between(by_id[s.via], service)
            how = "backhaul to city hall" if s.via == "hub" else f"no backhaul: radio via {s.via}"
            lines.append(f"  {s.id} portal     {service.urls['portal']}  {s.name_ja} ({how})")
        if fresh:
            await hub.issue_alert(demo_alert(wall_ms()))
    except BaseException:
        for service in services:
            await service.close()
        raise
    token = mint_token(hub_service.secret, time.time(), node=hub_service.node.identity.public)

    async def announce() -> None:
        print(f"shelterkit demo: a city-hall hub and {len(SHELTERS)} shelters (data in {root})")
        print("\n".join(lines))
        print(f"export SHELTERKIT_HUB={hub_url} SHELTERKIT_TOKEN={token}")
        print("Open a shelter's portal in a browser; press Ctrl-C to stop.")
        sys.stdout.flush()

    await run_services(services, on_ready=announce)

"""``shelterkit demo``: a whole small city on this machine.

A city-hall hub and four shelter nodes, each with its own portal. Three shelters reach city
hall over their backhaul; S48 has none (one of the city's seven uncovered shelters) and is
reached only through its neighbour S03, as it would be by radio. An alert is issued at the
hub when the demo starts, so a visitor sees it arrive on every portal within seconds.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from shelterkit.admin.tokens import mint_token
from shelterkit.config import Config, NodeSettings, PortalSettings, ShelterSettings
from shelterkit.hub.run import start_hub
from shelterkit.hub.service import Hub
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
from shelterkit.service.node import Node, load_or_create_identity
from shelterkit.service.run import Service, run_services, start_node, wall_ms

DEMO_ALERT_TTL_MS = 6 * 3600 * 1000
PEER_PORT_OFFSET = 10


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
    root: Path,
    s: DemoShelter,
    port: int,
    peer_port: int,
    hub: Hub,
    hub_url: str,
    peer_urls: dict[str, str],
) -> Config:
    return Config(
        shelter=ShelterSettings(id=s.id, name_ja=s.name_ja, name_en=s.name_en, capacity=s.capacity),
        node=NodeSettings(
            data_dir=str(root / s.id),
            listen=f"127.0.0.1:{port}",
            peer_listen=f"127.0.0.1:{peer_port}",
            authority_keys=[hub.authority.public.hex()],
            hub_url=hub_url if s.via == "hub" else "",
            peers=[] if s.via == "hub" else [peer_urls[s.via]],
        ),
        portal=PortalSettings(public_url=f"http://127.0.0.1:{port}/"),
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
    hub_config = Config(node=NodeSettings(data_dir=str(root / "hub"), listen=f"127.0.0.1:{port}"))
    hub_service, hub = await start_hub(hub_config)
    services: list[Service] = [hub_service]
    lines = [f"  city hall hub            {hub_url}"]
    try:
        peer_urls: dict[str, str] = {}
        for i, s in enumerate(SHELTERS, start=1):
            portal_port, peer_port = port + i, port + i + PEER_PORT_OFFSET
            config = shelter_config(root, s, portal_port, peer_port, hub, hub_url, peer_urls)
            await enrol_if_needed(hub, config, s)
            service = await start_node(config)
            services.append(service)
            peer_urls[s.id] = service.urls["peer"]
            if fresh:
                await seed_shelter(service.node)
            how = (
                "backhaul to city hall" if s.via == "hub" else f"no backhaul: only through {s.via}"
            )
            lines.append(f"  {s.id} {s.name_ja:<10}\u3000 {service.urls['portal']}   ({how})")
        if fresh:
            await hub.issue_alert(demo_alert(wall_ms()))
    except BaseException:
        for service in services:
            await service.close()
        raise
    token = mint_token(hub_service.secret, time.time())

    async def announce() -> None:
        print(f"shelterkit demo: a city-hall hub and {len(SHELTERS)} shelters (data in {root})")
        print("\n".join(lines))
        print(f"export SHELTERKIT_HUB={hub_url} SHELTERKIT_TOKEN={token}")
        print("Open a shelter's portal in a browser; press Ctrl-C to stop.")
        sys.stdout.flush()

    await run_services(services, on_ready=announce)

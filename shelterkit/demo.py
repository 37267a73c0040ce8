"""``shelterkit demo``: a local shelter on this machine, with a city-hall alert to see.

It creates (or reuses) a data directory, a city-hall authority key that the node trusts,
and seeds one signed alert, one notice and two board posts on first start, so a visitor
sees every part of the portal at once.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from shelterkit.config import Config, NodeSettings, PortalSettings, ShelterSettings
from shelterkit.model.kinds import (
    AlertBody,
    Certainty,
    NoticeBody,
    PostBody,
    PostCategory,
    Severity,
    Urgency,
)
from shelterkit.model.record import sign_record
from shelterkit.service.node import Node, load_or_create_identity
from shelterkit.service.run import run_node, wall_ms

DEMO_ALERT_TTL_MS = 6 * 3600 * 1000


def demo_config(data_dir: Path, port: int, authority_key: bytes) -> Config:
    return Config(
        shelter=ShelterSettings(
            id="S01",
            name_ja="烏山公民館",
            name_en="Karasuyama Community Hall",
            address="栃木県那須烏山市",
            capacity=150,
        ),
        node=NodeSettings(
            data_dir=str(data_dir / "S01"),
            listen=f"127.0.0.1:{port}",
            authority_keys=[authority_key.hex()],
        ),
        portal=PortalSettings(public_url=f"http://127.0.0.1:{port}/"),
    )


async def seed(node: Node, authority_seed_path: Path) -> None:
    """Give a fresh demo node something to show (only when it holds nothing yet)."""
    if node.record_count:
        return
    authority = load_or_create_identity(authority_seed_path, os.urandom)
    now = wall_ms()
    alert = AlertBody(
        identifier=f"demo-{now}",
        headline={
            "ja": "大雨警報：那賀川の水位が上昇しています。河川に近づかないでください。",
            "en": "Heavy rain warning: the Naka River is rising. Keep away from rivers.",
        },
        event={"ja": "大雨警報", "en": "Heavy rain warning"},
        description={
            "ja": "市内全域で今後3時間に50ミリ以上の雨が予想されます。",
            "en": "More than 50 mm of rain is expected across the city in the next 3 hours.",
        },
        instruction={
            "ja": "避難所の外に出ないでください。",
            "en": "Stay inside the shelter.",
        },
        severity=Severity.SEVERE,
        urgency=Urgency.IMMEDIATE,
        certainty=Certainty.LIKELY,
        sent_ms=now,
        expires_ms=now + DEMO_ALERT_TTL_MS,
        sender_name="那須烏山市役所",
    )
    record = sign_record(authority, 1, node.clock.now(now), alert)
    await node.ingest([record.wire])
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


async def run_demo(data: str | None, port: int) -> None:
    root = Path(data) if data else Path(tempfile.mkdtemp(prefix="shelterkit-demo-"))
    authority_path = root / "cityhall" / "authority.key"
    authority = load_or_create_identity(authority_path, os.urandom)
    config = demo_config(root, port, authority.public)

    async def ready(node: Node) -> None:
        await seed(node, authority_path)
        print(f"shelterkit demo: data in {root}", flush=True)
        print(f"shelter S01 portal: http://127.0.0.1:{port}/", flush=True)
        print("Press Ctrl-C to stop.", flush=True)

    await run_node(config, on_ready=ready)

"""Running the city-hall hub: one listener with sync, the admin API and health."""

from __future__ import annotations

import logging
from pathlib import Path

from shelterkit.config import Config
from shelterkit.hub.api import install_hub_api
from shelterkit.hub.feed import CapFeed
from shelterkit.hub.inbox import CapInbox
from shelterkit.hub.service import Hub
from shelterkit.paths import DataPaths
from shelterkit.service.run import (
    Service,
    load_or_create_secret,
    peer_app,
    run_services,
    serve,
    service_url,
    wall_ms,
)
from shelterkit.service.scheduler import SyncScheduler
from shelterkit.sync import Role

log = logging.getLogger(__name__)


async def start_hub(config: Config) -> tuple[Service, Hub]:
    hub = await Hub.open(config, wall_ms)
    node = hub.node
    secret = load_or_create_secret(DataPaths(Path(config.node.data_dir)).admin_token)
    service = Service(node, secret, SyncScheduler(node, Role.HUB, config.node.sync_interval_s))
    service.log_ring.attach()
    try:
        app = peer_app(node, secret, Role.HUB, service.log_ring)
        install_hub_api(app, hub)
        service.runners.append(await serve(app, config.node.listen))
        service.urls["hub"] = service_url(config.node.listen)
        if config.hub.cap_inbox:
            service.jobs.append(CapInbox(hub, Path(config.hub.cap_inbox)).run)
        if config.hub.cap_feed_url:
            feed = CapFeed(hub, config.hub.cap_feed_url, config.hub.cap_feed_interval_s)
            service.jobs.append(feed.run)
        # city hall deletes expired registrations and wipes superseded ones of any origin
        service.jobs.append(lambda: node.sweep_loop(hub.authority))
    except BaseException:
        await service.close()
        raise
    return service, hub


async def run_hub(config: Config) -> None:
    service, hub = await start_hub(config)
    log.info("hub on %s (authority %s)", service.urls["hub"], hub.authority.public.hex())
    await run_services([service])

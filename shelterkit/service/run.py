"""Running node and hub processes: listeners, sync loops, systemd, clean shutdown.

A node has two listeners: the evacuee portal, and the peer/staff listener (sync, the
admin API, health) that the network layer keeps closed to the evacuee Wi-Fi. A hub has
only the second. All long-lived work runs in one TaskGroup; SIGTERM/SIGINT end it and
close the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from shelterkit.admin.api import install_admin_api
from shelterkit.admin.logring import LogRing
from shelterkit.admin.node_api import install_node_api
from shelterkit.config import Config, RadioSettings
from shelterkit.discovery.lan import LanDiscovery, discovery_for
from shelterkit.errors import ConfigError, ShelterkitError, StorageError
from shelterkit.links.radio import RadioLinkSettings, RadioTransport
from shelterkit.links.websocket import add_sync_route
from shelterkit.net.backhaul import BackhaulMonitor
from shelterkit.net.clients import active_leases, read_lease_file
from shelterkit.paths import DataPaths, write_private_file
from shelterkit.portal.app import create_portal_app
from shelterkit.portal.front import FrontSite, portal_front
from shelterkit.power.ina219 import open_bus, read_ups_hat
from shelterkit.power.monitor import PowerMonitor
from shelterkit.power.policy import PowerPlan
from shelterkit.power.supply import PowerReading, read_power_supply
from shelterkit.power.watchdog import sd_notify, watchdog_pinger
from shelterkit.service.node import Node
from shelterkit.service.scheduler import SyncScheduler
from shelterkit.service.status import StatusReporter
from shelterkit.sync import Role

log = logging.getLogger(__name__)

# Time allowed for in-flight requests to finish on shutdown.
SHUTDOWN_GRACE_S = 5.0
ADMIN_SECRET_BYTES = 32


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


def split_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)


def load_or_create_secret(path: Path) -> bytes:
    """The secret that staff tokens are minted with (``admin.tokens``)."""
    try:
        secret = bytes.fromhex(path.read_text("ascii").strip())
        if len(secret) == ADMIN_SECRET_BYTES:
            return secret
        raise StorageError(f"{path} has the wrong length")
    except FileNotFoundError:
        secret = os.urandom(ADMIN_SECRET_BYTES)
        write_private_file(path, secret.hex().encode() + b"\n")
        return secret
    except (ValueError, UnicodeDecodeError) as exc:
        raise StorageError(f"{path} is unreadable") from exc


async def serve(app: web.Application, listen: str, front: bool = False) -> web.AppRunner:
    """Listen on ``listen``; with ``front``, a portal's probes are answered in front of
    aiohttp (portal/front.py)."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_GRACE_S)
    await runner.setup()
    host, port = split_listen(listen)
    site: web.BaseSite
    if front:
        assert runner.server is not None  # set up above
        site = FrontSite(runner, portal_front(app, runner.server), host, port, backlog=1024)
    else:
        site = web.TCPSite(runner, host, port, backlog=1024, reuse_address=True)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise ConfigError(f"cannot listen on {listen}: {exc.strerror}") from exc
    return runner


def peer_app(
    node: Node, secret: bytes, roles: Role, log_ring: LogRing | None = None
) -> web.Application:
    """The peer/staff application: /healthz, /sync and the admin API (with ``log_ring``)."""
    app = web.Application(client_max_size=256 * 1024)

    async def healthz(_request: web.Request) -> web.StreamResponse:
        return web.json_response(
            {
                "status": "ok",
                "node": node.identity.public.hex(),
                "shelter": node.config.shelter.id,
                "records": node.record_count,
                "last_sync": node.last_sync_ms,
                "clock_certain": node.clock_certain,
                "links": {name: report() for name, report in node.link_reports.items()},
                # full disk, quarantined database, resync hold: staff see it here (DESIGN §9)
                "storage": node.store.health().as_json(),
                # own signing waiting for a first peer contact after the start
                "first_contact": node.contact_report(),
            }
        )

    app.router.add_get("/healthz", healthz)
    add_sync_route(app, node, roles)
    install_admin_api(app, node, secret, log_ring)
    install_node_api(app, node)
    return app


@dataclass
class Service:
    """One running node or hub: its listeners and its sync loops."""

    node: Node
    secret: bytes
    scheduler: SyncScheduler
    runners: list[web.AppRunner] = field(default_factory=list)
    urls: dict[str, str] = field(default_factory=dict)
    # Long-running work besides sync loops and discovery: radio ports, emulated links.
    jobs: list[Callable[[], Coroutine[Any, Any, None]]] = field(default_factory=list)
    poweroff: list[str] = field(default_factory=list)  # run after stopping (battery empty)
    # The recent log lines staff see (GET /api/admin/log); collecting from start to close.
    log_ring: LogRing = field(default_factory=LogRing)

    async def close(self) -> None:
        self.log_ring.detach()
        for runner in self.runners:
            await runner.cleanup()
        self.runners.clear()
        await self.node.close()

    def sync_peers(self) -> list[str]:
        cfg = self.node.config.node
        return [u for u in [cfg.hub_url, *cfg.peers] if u]

    def discovery(self) -> LanDiscovery | None:
        """Zeroconf for the listener that serves /sync (a hub has only one), or None."""
        config = self.node.config
        hub = bool(self.scheduler.roles & Role.HUB)
        return discovery_for(
            self.node.identity.public,
            config.shelter.id,
            "hub" if hub else "node",
            config.node.listen if hub else config.peer_listen,
            self.scheduler,
            enabled=config.node.discovery,
            interfaces=config.node.discovery_interfaces,
            # the evacuee Wi-Fi is no place to advertise or to find peers
            excluded=[config.network_settings().wifi_interface] if config.network else [],
            static_urls=self.sync_peers(),
        )


async def start_node(
    config: Config, extra: Callable[[web.Application, Node], None] | None = None
) -> Service:
    """Open a node and start its listeners (portal + peer); sync loops start in ``run``."""
    node = await Node.open(config, wall_ms)
    secret = load_or_create_secret(DataPaths(Path(config.node.data_dir)).admin_token)
    service = Service(node, secret, SyncScheduler(node, Role.NODE, config.node.sync_interval_s))
    service.log_ring.attach()
    try:
        service.runners.append(await serve(create_portal_app(node), config.node.listen, front=True))
        service.urls["portal"] = service_url(config.node.listen)
        app = peer_app(node, secret, Role.NODE, service.log_ring)
        if extra is not None:
            extra(app, node)
        service.runners.append(await serve(app, config.peer_listen))
        service.urls["peer"] = service_url(config.peer_listen)
        uplinks = _uplink_watcher(config, service)
        if uplinks is not None:
            service.jobs.append(uplinks)
        service.jobs.append(node.sign_pending_when_due)
        reporter = StatusReporter(node, clients=_client_counter(config))
        service.jobs.append(reporter.run)
        service.jobs.append(node.sweep_loop)  # expired and superseded registrations
        monitor = _power_monitor(config, service, reporter)
        if monitor is not None:
            service.jobs.append(monitor.run)
        for i, radio in enumerate(config.radio, start=1):
            transport = RadioTransport(node, radio_link_settings(radio))
            node.link_reports[f"radio{i}"] = _report(transport)
            service.jobs.append(transport.run)
    except BaseException:
        await service.close()
        raise
    return service


def _uplink_watcher(
    config: Config, service: Service
) -> Callable[[], Coroutine[Any, Any, None]] | None:
    """Netlink events on the uplink (no polling): when it becomes usable, sync at once."""
    if not config.network or not config.network_settings().uplink_interface:
        return None
    uplink = config.network_settings().uplink_interface
    assert uplink is not None

    async def watch() -> None:
        usable = False
        async for states in BackhaulMonitor([uplink]).states():
            now_usable = any(state.usable for state in states)
            if now_usable and not usable:
                log.info("uplink %s is usable: syncing now", uplink)
                service.scheduler.wake()
            usable = now_usable

    return watch


def _client_counter(config: Config) -> Callable[[], int | None]:
    """Phones on the shelter Wi-Fi, from dnsmasq's leases (None without [network])."""
    if not config.network:
        return lambda: None
    lease_file = Path(config.network_settings().dhcp_lease_file)

    def count() -> int | None:
        try:
            return len(active_leases(read_lease_file(str(lease_file)), time.time()))
        except (OSError, ShelterkitError):
            return None

    return count


def _power_monitor(
    config: Config, service: Service, reporter: StatusReporter
) -> PowerMonitor | None:
    """Battery readings → policy → status records; a clean stop before the battery dies."""
    power = config.power
    if power.source == "none":
        return None
    if power.source == "sysfs":
        root = Path(power.sysfs_root)

        def read() -> PowerReading | None:
            return read_power_supply(root)

    else:
        bus = open_bus(power.i2c_bus)

        def read() -> PowerReading | None:
            return read_ups_hat(bus)

    base_interval = service.scheduler.interval_s

    async def apply(plan: PowerPlan) -> None:
        # Fewer sync rounds on battery; the radio keeps its legal budget and beacons.
        service.scheduler.interval_s = base_interval * plan.sync_interval_factor

    async def shut_down() -> None:
        service.poweroff = list(power.shutdown_command)
        os.kill(os.getpid(), signal.SIGTERM)  # the same clean stop as systemd's

    return PowerMonitor(read, apply, reporter.set_battery, shut_down)


def radio_link_settings(radio: RadioSettings) -> RadioLinkSettings:
    values = dataclasses.asdict(radio)
    values["streams"] = tuple(radio.streams)
    values["uplinks"] = tuple(radio.uplinks)
    return RadioLinkSettings(**values)


def _report(transport: RadioTransport) -> Callable[[], dict[str, Any]]:
    return lambda: dataclasses.asdict(transport.status())


def service_url(listen: str) -> str:
    host, port = split_listen(listen)
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/"


async def run_services(
    services: list[Service], on_ready: Callable[[], Awaitable[None]] | None = None
) -> None:
    """Run sync loops, LAN discovery and the watchdog until SIGTERM/SIGINT; then close."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(s.scheduler.run(s.sync_peers())) for s in services]
            lan = [d for d in (s.discovery() for s in services) if d is not None]
            tasks.extend(group.create_task(d.run()) for d in lan)
            tasks.extend(group.create_task(job()) for s in services for job in s.jobs)
            tasks.append(group.create_task(watchdog_pinger()))
            if on_ready is not None:
                await on_ready()
            sd_notify("READY=1")
            await stop.wait()
            sd_notify("STOPPING=1")
            for task in tasks:
                task.cancel()
    finally:
        for service in services:
            await service.close()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)


async def run_node(config: Config) -> None:
    service = await start_node(config)
    log.info("portal on %s, peers and staff on %s", service.urls["portal"], service.urls["peer"])
    await run_services([service])
    if service.poweroff:
        log.error("powering off: %s", " ".join(service.poweroff))
        proc = await asyncio.create_subprocess_exec(*service.poweroff)
        await proc.wait()

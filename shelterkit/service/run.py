"""Running a node process: the portal server, signal handling, clean shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from shelterkit.config import Config
from shelterkit.errors import ConfigError
from shelterkit.portal.app import create_portal_app
from shelterkit.service.node import Node

log = logging.getLogger(__name__)

# Time allowed for in-flight requests to finish on shutdown.
SHUTDOWN_GRACE_S = 5.0


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


def split_listen(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)


async def start_portal(node: Node) -> web.AppRunner:
    runner = web.AppRunner(
        create_portal_app(node), access_log=None, shutdown_timeout=SHUTDOWN_GRACE_S
    )
    await runner.setup()
    host, port = split_listen(node.config.node.listen)
    site = web.TCPSite(runner, host, port, backlog=1024, reuse_address=True)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise ConfigError(f"cannot listen on {node.config.node.listen}: {exc.strerror}") from exc
    return runner


async def run_node(
    config: Config, on_ready: Callable[[Node], Awaitable[None]] | None = None
) -> None:
    """Run one node until SIGTERM/SIGINT; always closes the store cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    node = await Node.open(config, wall_ms)
    try:
        runner = await start_portal(node)
        try:
            log.info("portal listening on http://%s/", config.node.listen)
            if on_ready is not None:
                await on_ready(node)
            await stop.wait()
        finally:
            await runner.cleanup()
    finally:
        await node.close()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)

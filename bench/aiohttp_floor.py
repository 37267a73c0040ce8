"""The least an aiohttp server on uvloop can do per request, for comparison.

Serves the same gzip bytes for ``/`` and an empty 204 for the probe path from one handler
each, with no middleware, routing beyond a dictionary hit, or header work: what any page
answered through an aiohttp handler costs at the least, beside the node (whose front answers
the probe and cached pages without one) in ``bench/portal.py``.

    python bench/aiohttp_floor.py PORT HOME_GZ_FILE PROBE_PATH
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import uvloop
from aiohttp import web


async def serve(port: int, home_gz: bytes, probe_path: str) -> None:
    async def home(request: web.Request) -> web.Response:
        return web.Response(
            body=home_gz,
            headers={"Content-Type": "text/html; charset=utf-8", "Content-Encoding": "gzip"},
        )

    async def probe(request: web.Request) -> web.Response:
        return web.Response(status=204)

    app = web.Application()
    app.router.add_get("/", home)
    app.router.add_get(probe_path, probe)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, backlog=1024).start()
    await asyncio.Event().wait()


def main() -> None:
    port, home_file, probe_path = int(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(serve(port, home_file.read_bytes(), probe_path))


if __name__ == "__main__":
    main()

"""A standard asyncio loop in a thread of its own, for pyroute2's netlink sockets.

Long-lived services run on uvloop (``cli.run_service``): it serves the portal with about a
third less CPU per request. uvloop cannot register ``AF_NETLINK`` sockets ("invalid family"),
so everything that talks netlink through pyroute2's asyncio API — the uplink monitor and
discovery's interface listing — runs its coroutines on a stock ``SelectorEventLoop`` in a
worker thread and hands the results back to the caller's loop. Each ``run`` is a coroutine of
the worker loop; cancelling the caller cancels it there too.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Coroutine
from types import TracebackType
from typing import Any, TypeVar

T = TypeVar("T")

# Seconds allowed for the worker loop to finish its last callbacks and stop.
STOP_TIMEOUT_S = 5.0


class LoopThread:
    """``async with LoopThread("name") as lt: result = await lt.run(coro)``."""

    def __init__(self, name: str) -> None:
        self._loop = asyncio.SelectorEventLoop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)

    async def __aenter__(self) -> LoopThread:
        self._thread.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        await asyncio.to_thread(self._thread.join, STOP_TIMEOUT_S)
        if not self._thread.is_alive():
            self._loop.close()

    async def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the worker loop and return its result here."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self._loop))

    async def iterate(self, source: AsyncIterator[T]) -> AsyncGenerator[T, None]:
        """Pull ``source`` (an async iterator of the worker loop) item by item."""
        try:
            while True:
                try:
                    item = await self.run(_next(source))
                except StopAsyncIteration:
                    return
                yield item
        finally:
            closer = getattr(source, "aclose", None)
            if closer is not None:
                await asyncio.shield(self.run(closer()))


async def _next(source: AsyncIterator[T]) -> T:
    return await anext(source)

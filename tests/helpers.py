"""Helpers shared by the test modules."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aiohttp import web


def aiotofu_tasks() -> set[asyncio.Task[Any]]:
    """Tasks of the running loop that run aiotofu code, other than the caller's own."""
    current = asyncio.current_task()
    return {
        task
        for task in asyncio.all_tasks()
        if task is not current and "aiotofu" in repr(task.get_coro())
    }


@contextlib.asynccontextmanager
async def serving(
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]], host: str = "127.0.0.1"
) -> AsyncIterator[str]:
    """A local server answering ``GET /api/v2/batches`` with ``handler``; yields its base URL."""
    app = web.Application()
    app.router.add_get("/api/v2/batches", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, host, 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://{host}:{port}/api"
    finally:
        await runner.cleanup()

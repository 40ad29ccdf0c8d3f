"""Helpers shared by the test modules."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit

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


def page_cursors(log: Sequence[Any], resource: str = "batches") -> list[int]:
    """The cursors of the list requests to ``resource`` in an emulator's ``log``, each once, in
    order. Each page after the first starts back past the last record taken, to the record
    before its tie group, so where pages start depends on the world: tests that inject a fault
    into a page read its cursor from a listing without faults."""
    found: dict[int, None] = {}
    for request in log:
        split = urlsplit(request.path_qs)
        if split.path.endswith(f"/v2/{resource}"):
            found[int(parse_qs(split.query).get("cursor", ["0"])[0])] = None
    return list(found)


async def listed_cursors(emu: Any, resource: str = "batches", **options: Any) -> list[int]:
    """``page_cursors`` of a listing of ``resource`` with ``options`` on ``emu`` (an Emulator)
    without faults nor prefetch (which changes no page's cursor). Resets its stats (and the
    faults injected so far): call it before injecting."""
    emu.reset_stats()
    async with emu.client(retry=None) as client:
        await getattr(client, resource).list(**options, prefetch=0).collect()
    cursors = page_cursors(emu.log, resource)
    emu.reset_stats()
    return cursors


def sync_listed_cursors(emu: Any, resource: str = "batches", **options: Any) -> list[int]:
    """``listed_cursors`` from a thread outside the emulator's loop, through a SyncClient."""
    import aiotofu

    emu.reset_stats()
    with aiotofu.SyncClient(emu.api_key, base_url=emu.base_url, retry=None) as client:
        getattr(client, resource).list(**options, prefetch=0).collect()
    cursors = page_cursors(emu.log, resource)
    emu.reset_stats()
    return cursors

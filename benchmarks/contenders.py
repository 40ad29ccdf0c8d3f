"""The ways of reading every batch (or run) that the benchmarks compare, on the same server and
data.

Each contender reads ``total`` records in pages of ``page_size`` and returns how many it got.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

import aiotofu

loads: Callable[[bytes], Any] = json.loads  # the floor is the standard library's decoder

Contender = Callable[[str, str, int], Awaitable[int]]


def raw_listing(path: str = "/v2/batches", params: dict[str, str] | None = None) -> Contender:
    """The floor: a hand-written aiohttp loop over ``path`` that decodes the JSON and
    structures nothing."""

    async def run(base_url: str, key: str, page_size: int) -> int:
        headers = {"Authorization": f"Bearer {key}"}
        count = 0
        cursor: int | None = 0
        async with aiohttp.ClientSession() as session:
            while cursor is not None:
                query = {**(params or {}), "limit": str(page_size), "cursor": str(cursor)}
                async with session.get(base_url + path, params=query, headers=headers) as r:
                    body = loads(await r.read())
                count += len(body["data"])
                cursor = body["meta"]["next_cursor"] if body["meta"]["has_more"] else None
        return count

    return run


raw_aiohttp = raw_listing()

# Runs as a daemon collecting results reads them: with their metadata and sequence calls.
RUN_OPTIONS = {"include_metadata": True, "include_sequences": True}
raw_runs = raw_listing("/v2/runs", dict.fromkeys(RUN_OPTIONS, "true"))


async def aiotofu_runs(base_url: str, key: str, page_size: int) -> int:
    """aiotofu over runs, defaults otherwise."""
    async with aiotofu.Client(key, base_url=base_url) as client:
        count = 0
        async for _ in client.runs.list(page_size=page_size, **RUN_OPTIONS):
            count += 1
        return count


async def sdk_async_runs(base_url: str, key: str, page_size: int) -> int:
    """The official SDK's asynchronous loop over runs."""
    count = 0
    cursor: int | None = 0
    async with _sdk(base_url, key) as sdk:
        while cursor is not None:
            page = await sdk.runs.list_async(limit=page_size, cursor=cursor, **RUN_OPTIONS)
            count += len(page.data)
            cursor = page.meta.next_cursor if page.meta.has_more else None
    return count


def known_offsets(total: int, window: int = 8) -> Contender:
    """The latency floor: a client that already knows every offset. After the first page, every
    page is requested at once through a window of ``window`` requests; JSON is decoded, nothing
    is structured."""

    async def run(base_url: str, key: str, page_size: int) -> int:
        headers = {"Authorization": f"Bearer {key}"}
        gate = asyncio.Semaphore(window)
        async with aiohttp.ClientSession() as session:

            async def page(cursor: int) -> int:
                params = {"limit": str(page_size), "cursor": str(cursor)}
                async with (
                    gate,
                    session.get(
                        f"{base_url}/v2/batches", params=params, headers=headers
                    ) as response,
                ):
                    return len(loads(await response.read())["data"])

            first = await page(0)
            rest = await asyncio.gather(*(page(c) for c in range(page_size, total, page_size)))
        return first + sum(rest)

    return run


def aiotofu_contender(*, prefetch: int, max_concurrency: int = 4) -> Contender:
    """aiotofu with the given prefetch and concurrency."""

    async def run(base_url: str, key: str, page_size: int) -> int:
        async with aiotofu.Client(key, base_url=base_url, max_concurrency=max_concurrency) as c:
            count = 0
            async for _ in c.batches.list(page_size=page_size, prefetch=prefetch):
                count += 1
            return count

    return run


def _sdk(base_url: str, key: str) -> Any:
    from tofupilot.v2 import TofuPilot

    return TofuPilot(api_key=key, server_url=base_url)


async def sdk_sync(base_url: str, key: str, page_size: int) -> int:
    """The official SDK's synchronous loop, as its users write it (run in a worker thread)."""

    def loop() -> int:
        count = 0
        cursor: int | None = 0
        with _sdk(base_url, key) as sdk:
            while cursor is not None:
                page = sdk.batches.list(limit=page_size, cursor=cursor)
                count += len(page.data)
                cursor = page.meta.next_cursor if page.meta.has_more else None
        return count

    return await asyncio.to_thread(loop)


async def sdk_async(base_url: str, key: str, page_size: int) -> int:
    """The official SDK's asynchronous loop (``list_async``)."""
    count = 0
    cursor: int | None = 0
    async with _sdk(base_url, key) as sdk:
        while cursor is not None:
            page = await sdk.batches.list_async(limit=page_size, cursor=cursor)
            count += len(page.data)
            cursor = page.meta.next_cursor if page.meta.has_more else None
    return count

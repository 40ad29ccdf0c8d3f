"""Shutting down in the middle of a listing is quiet (issue 25, item 8): the prefetches that the
exit cancels are cancelled, never failed and retried, so nothing logs "retrying ... Connector is
closed" and nothing warns "coroutine ... was never awaited"."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator

import pytest

import aiotofu
from aiotofu.testing import Emulator


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    """A small emulator: a few pages are all these tests need."""
    async with Emulator(batches=100) as server:
        yield server


# Real time (the emulator's latency is real): retries, if any, come quickly and are seen.
FAST = aiotofu.RetryPolicy(initial_backoff=0.001, max_backoff=0.001)


async def in_flight(emu: Emulator, count: int) -> None:
    """Wait until ``count`` requests are being answered by the emulator (in its latency): its
    counter has no event to wait on, so it is polled, for at most 10 s."""
    stats = emu._server.state.stats
    for _ in range(10_000):
        if stats.in_flight >= count:
            return
        await asyncio.sleep(0.001)
    raise AssertionError(f"{count} requests never were in flight at once")


async def settle() -> None:
    """Wait until every other task of this loop has ended (the prefetches the exit left)."""
    current = asyncio.current_task()
    others = [task for task in asyncio.all_tasks() if task is not current]
    await asyncio.wait_for(asyncio.gather(*others, return_exceptions=True), 10)


async def test_an_exception_inside_async_for_logs_no_retry_while_the_client_closes(
    emu: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    emu.set_faults(latency=0.2)  # the prefetched pages are on their way when the caller fails
    caplog.set_level(logging.DEBUG, logger="aiotofu")
    retries: list[object] = []

    async def iterate() -> None:
        async with emu.client(on_retry=retries.append, retry=FAST) as client:
            listing = client.batches.list(page_size=10, prefetch=3)
            async for _ in listing:
                await in_flight(emu, 3)
                raise ValueError("the caller's own bug")

    with pytest.raises(ValueError, match="the caller's own"):
        await iterate()
    await settle()
    assert retries == []
    # At DEBUG, the requests the exit cut off read as cancelled, not as failures.
    tries = [r.request for r in caplog.records if hasattr(r, "request")]
    assert {t.error for t in tries if t.status is None} <= {"CancelledError"}
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text
    assert "Connector is closed" not in caplog.text


async def test_a_kept_paginator_whose_client_closes_is_not_retried(
    emu: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    """Without an exception: the client closes while its listing's prefetches are in flight.
    They end with the client, unretried; iterating again says the client is closed."""
    emu.set_faults(latency=0.2)
    caplog.set_level(logging.WARNING, logger="aiotofu")
    async with emu.client(retry=FAST) as client:
        listing = client.batches.list(page_size=10, prefetch=3)
        await listing.__anext__()
        await in_flight(emu, 3)
    await settle()
    assert not caplog.records, caplog.text
    with pytest.raises(aiotofu.StateError, match="closed"):
        async for _ in listing:
            pass


@pytest.mark.slow
def test_a_sync_client_never_closed_exits_quietly(threaded_emu: Emulator) -> None:
    """A script that leaves a SyncClient and a live listing behind: at exit, no retry logged,
    no "never awaited" warning, exit status 0."""
    threaded_emu.set_faults(latency=0.05)
    script = textwrap.dedent(
        f"""
        import logging
        import aiotofu

        logging.basicConfig(level=logging.DEBUG)
        client = aiotofu.SyncClient({threaded_emu.api_key!r}, base_url={threaded_emu.base_url!r})
        listing = client.batches.list(page_size=10, prefetch=3)
        print(next(listing).number)
        """
    )
    done = subprocess.run(
        [sys.executable, "-X", "dev", "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()
    assert "never awaited" not in done.stderr
    assert "retrying" not in done.stderr
    assert "Connector is closed" not in done.stderr
    assert "Traceback" not in done.stderr

"""Adaptive concurrency and the client's rate limit against the emulator's token bucket
(40 requests per second after a burst of 5), on a real socket and in real time: a second or two
each, so they count requests (from the emulator's log) rather than time the client."""

from __future__ import annotations

import asyncio

import pytest

import aiotofu
from aiotofu.testing import Emulator

RATE, BURST = 40.0, 5.0
PATIENT = aiotofu.RetryPolicy(attempts=50)  # a fixed window meets many 429s per page


async def ids_in_order(emu: Emulator, sort_order: str = "desc") -> list[str]:
    """Every batch id in server order, read before the bucket is on."""
    async with emu.client() as client:
        listing = client.batches.list(page_size=100, sort_order=sort_order)  # type: ignore[arg-type]
        return [b.id for b in await listing.collect()]


def busiest_second(emu: Emulator) -> int:
    """The most requests the emulator saw arrive within one second."""
    times = sorted(r.at for r in emu.log)
    return max(
        (sum(1 for t in times[i:] if t < start + 1.0) for i, start in enumerate(times)), default=0
    )


def answered(emu: Emulator) -> tuple[int, int]:
    """(200s, 429s) the emulator answered."""
    statuses = [r.status for r in emu.log]
    return statuses.count(200), statuses.count(429)


@pytest.mark.slow
async def test_adaptive_keeps_429s_under_a_tenth_at_the_servers_rate() -> None:
    async with Emulator(batches=540) as emu:
        expected = await ids_in_order(emu)
        emu.set_faults(rate_limit=RATE, rate_burst=BURST)
        emu.reset_stats()
        async with emu.client(max_concurrency=16, retry=PATIENT) as client:
            got = [b.id for b in await client.batches.list(page_size=10).collect()]
        ok, limited = answered(emu)
        span = emu.log[-1].at - emu.log[0].at
    assert got == expected  # every record once, in order
    assert limited < 0.1 * (ok + limited)
    assert ok / span >= 0.8 * RATE


async def test_a_fixed_window_draws_far_more_429s() -> None:
    async with Emulator(batches=150) as emu:
        expected = await ids_in_order(emu)
        emu.set_faults(rate_limit=RATE, rate_burst=BURST)
        emu.reset_stats()
        async with emu.client(max_concurrency=16, adaptive=False, retry=PATIENT) as client:
            got = [b.id for b in await client.batches.list(page_size=10).collect()]
        ok, limited = answered(emu)
    assert got == expected
    # Each pause ends with every listing's requests going out at once: one token, one 200.
    assert limited >= ok


@pytest.mark.slow
async def test_a_rate_limit_at_the_servers_rate_holds_across_two_listings() -> None:
    async with Emulator(batches=200) as emu:
        newest, oldest = await ids_in_order(emu), await ids_in_order(emu, "asc")
        emu.set_faults(rate_limit=RATE, rate_burst=BURST)
        emu.reset_stats()
        async with emu.client(max_concurrency=16, rate_limit=RATE, retry=PATIENT) as client:
            got = await asyncio.gather(
                client.batches.list(page_size=10).collect(),
                client.batches.list(page_size=10, sort_order="asc").collect(),
            )
        ok, limited = answered(emu)
        busiest = busiest_second(emu)
    assert [[b.id for b in listing] for listing in got] == [newest, oldest]
    assert ok >= 40  # both listings together, through one cap
    assert limited <= 1  # almost none: the cap keeps the client under the server's rate
    assert busiest <= 1.1 * RATE

"""The client against the emulator on a real socket: faults, limits, prefetch, writers, cleanup."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from typing import Any

import anyio
import pytest

import aiotofu
from aiotofu.testing import Emulator, VirtualClock
from tests.helpers import aiotofu_tasks, listed_cursors

FAST_RETRIES = aiotofu.RetryPolicy(attempts=6, jitter=False)


async def all_ids(emu: Emulator, **filters: Any) -> list[str]:
    """The ids in server order, read with no fault and no prefetch."""
    async with emu.client(retry=None) as client:
        return [
            b.id for b in await client.batches.list(page_size=100, prefetch=0, **filters).collect()
        ]


@pytest.mark.parametrize("prefetch", [0, 3])
async def test_5xx_and_drops_on_every_page_lose_and_repeat_nothing(
    emu: Emulator, clock: VirtualClock, prefetch: int
) -> None:
    expected = await all_ids(emu)
    # Pages of 100: the first at 0, each later one back past the last record taken.
    for cursor in (await listed_cursors(emu, page_size=100))[:10]:
        emu.inject(500, 502, "drop", 503, 504, cursor=cursor)
    async with emu.client(retry=FAST_RETRIES) as client:
        got = [b.id for b in await client.batches.list(page_size=100, prefetch=prefetch).collect()]
    assert got == expected
    assert emu.stats["faults"] == {"500": 10, "502": 10, "drop": 10, "503": 10, "504": 10}
    assert clock.sleeps.count(0.5) >= 10  # the first retry of each page, after 0.5 s


async def test_429_with_retry_after_is_waited_for_then_followed(
    emu: Emulator, clock: VirtualClock
) -> None:
    expected = await all_ids(emu)
    cursors = await listed_cursors(emu, page_size=100)
    emu.set_faults(retry_after=7)
    emu.inject(429, cursor=cursors[2])
    emu.inject(429, cursor=cursors[6])
    async with emu.client() as client:
        got = [b.id for b in await client.batches.list(page_size=100).collect()]
    assert got == expected
    assert clock.sleeps.count(7.0) >= 2


async def test_a_429_pauses_every_request_of_the_client(emu: Emulator) -> None:
    """While one request waits out its Retry-After, no other request of the client is sent."""
    seventh = (await listed_cursors(emu, page_size=50))[6]  # the 7th page of 50
    emu.set_faults(retry_after=0.5, latency=0.02)
    emu.inject(429, cursor=seventh)
    async with emu.client(max_concurrency=4) as client:
        newest_first = client.batches.list(page_size=50, prefetch=3)
        oldest_first = client.batches.list(page_size=50, prefetch=3, sort_order="asc")
        results = await asyncio.gather(newest_first.collect(), oldest_first.collect())
    assert [len(r) for r in results] == [1000, 1000]
    [limited] = [r for r in emu.log if r.status == 429]
    after = [r for r in emu.log if r.at > limited.at]
    # Requests already under way when the 429 came back may arrive just after it; none later
    # until the pause is over, and then both listings carry on.
    resumed = [r for r in after if r.at > limited.at + 0.05]
    assert resumed, "nothing was left to fetch after the 429: the test proves nothing"
    assert min(r.at for r in resumed) >= limited.at + 0.45
    assert {"sort_order=asc" in r.path_qs for r in resumed} == {True, False}


async def test_retry_after_above_the_cap_raises_rate_limit_error(
    emu: Emulator, clock: VirtualClock
) -> None:
    emu.set_faults(retry_after=600)
    emu.inject(429)
    async with emu.client(retry=aiotofu.RetryPolicy(max_retry_after=60)) as client:
        with pytest.raises(aiotofu.RateLimitError) as info:
            await client.batches.list().collect()
    assert info.value.retry_after == 600
    assert clock.sleeps == []


async def test_attempts_run_out_on_the_last_error(emu: Emulator, clock: VirtualClock) -> None:
    emu.inject(503, 503, 502)
    async with emu.client(retry=aiotofu.RetryPolicy(attempts=3, jitter=False)) as client:
        with pytest.raises(aiotofu.ServerError) as info:
            await client.batches.list().collect()
    assert info.value.status == 502
    assert clock.sleeps == [0.5, 1.0]


async def test_a_server_that_never_answers_is_a_transport_error(
    emu: Emulator, clock: VirtualClock
) -> None:
    emu.inject("hang", "hang")
    async with emu.client(timeout=0.2, retry=aiotofu.RetryPolicy(attempts=2)) as client:
        with pytest.raises(aiotofu.TransportError, match=r"no complete answer within 0\.2 s"):
            await client.batches.list().collect()


async def test_max_concurrency_bounds_requests_in_flight_across_paginators(emu: Emulator) -> None:
    emu.set_faults(latency=0.02)
    async with emu.client(max_concurrency=3) as client:
        lists = [client.batches.list(page_size=50, prefetch=5) for _ in range(4)]
        results = await asyncio.gather(*(p.collect() for p in lists))
    assert [len(r) for r in results] == [1000] * 4
    assert emu.stats["peak_in_flight"] == 3


async def test_prefetch_keeps_several_requests_in_flight(emu: Emulator) -> None:
    emu.set_faults(latency=0.03)
    async with emu.client(max_concurrency=8) as client:
        assert len(await client.batches.list(page_size=50, prefetch=7).collect()) == 1000
    assert emu.stats["peak_in_flight"] == 8


async def test_a_single_page_stream_sends_exactly_one_request(emu: Emulator) -> None:
    async with emu.client() as client:
        batches = await client.batches.list(page_size=100, max_items=100, prefetch=5).collect()
        assert len(batches) == 100
        assert emu.stats["requests"] == 1
        emu.reset_stats()
        small = await client.batches.list(numbers=[batches[0].number], prefetch=5).collect()
        assert len(small) == 1
        assert emu.stats["requests"] == 1


@pytest.mark.parametrize(
    ("sort_by", "sort_order"),
    [("created_at", "desc"), ("created_at", "asc"), ("number", "asc"), ("number", "desc")],
)
@pytest.mark.parametrize("prefetch", [0, 2])
async def test_writers_inserting_between_pages_cause_no_duplicates_and_no_gaps(
    emu: Emulator, sort_by: str, sort_order: str, prefetch: int
) -> None:
    before = set(await all_ids(emu))
    created = []
    seen: list[str] = []
    async with emu.client() as client:
        paginator = client.batches.list(
            page_size=37, sort_by=sort_by, sort_order=sort_order, prefetch=prefetch
        )
        async with paginator:
            async for batch in paginator:
                seen.append(batch.id)
                if len(seen) % 20 == 0:  # other stations create batches as we read...
                    for prefix in ("0", "C", "Z"):  # sorting before, among and after the rest
                        created.append(emu.add_batch(f"{prefix}-LIVE-{len(seen):05d}"))
                if len(seen) == 100:  # ...sometimes more than a page's worth at once
                    for k in range(40):
                        created.append(emu.add_batch(f"0-BULK-{k:02d}"))
                        created.append(emu.add_batch(f"Z-BULK-{k:02d}"))
    assert len(seen) == len(set(seen)), "a record was yielded twice"
    assert before <= set(seen), "a record that existed at the start was skipped"
    assert set(seen) <= before | set(created)


async def test_batches_sharing_a_timestamp_across_a_boundary(emu: Emulator) -> None:
    moment = datetime(2030, 1, 1, tzinfo=timezone.utc)
    for k in range(30):
        emu.add_batch(f"SAME-{k:02d}", created_at=moment)
    seen = []
    async with emu.client() as client:
        async for batch in client.batches.list(page_size=7, created_after=moment - timedelta(1)):
            seen.append(batch.number)
            if len(seen) == 10:
                emu.add_batch("SAME-LATE", created_at=moment)  # ties with the pin itself
    assert len(seen) == len(set(seen))
    assert {f"SAME-{k:02d}" for k in range(30)} <= set(seen)


async def test_break_inside_async_with_leaves_nothing_running(emu: Emulator) -> None:
    emu.set_faults(latency=0.02)
    async with emu.client() as client:
        async with client.batches.list(page_size=20, prefetch=4) as paginator:
            async for batch in paginator:
                if batch.number:
                    await asyncio.sleep(0.005)
                    break
        assert not aiotofu_tasks()
        await asyncio.sleep(0.05)
    assert emu.stats["peak_in_flight"] <= 5


async def test_cancelling_the_consumer_leaves_nothing_running(emu: Emulator) -> None:
    emu.set_faults(latency=0.02)
    async with emu.client() as client:
        started = asyncio.Event()

        async def consume() -> None:
            async with client.batches.list(page_size=20, prefetch=4) as paginator:
                async for _ in paginator:
                    started.set()

        task = asyncio.create_task(consume())
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not aiotofu_tasks()


async def test_a_timeout_around_the_stream_leaves_nothing_running(emu: Emulator) -> None:
    emu.set_faults(latency=0.02)
    async with emu.client() as client:
        with anyio.move_on_after(0.1) as scope:
            async with client.batches.list(page_size=10, prefetch=4) as paginator:
                async for _ in paginator:
                    pass
        assert scope.cancelled_caught
        assert not aiotofu_tasks()
        # The client is still usable afterwards.
        assert len(await client.batches.list(max_items=5).collect()) == 5


async def test_an_error_mid_stream_can_be_retried_by_iterating_again(
    emu: Emulator, clock: VirtualClock
) -> None:
    expected = await all_ids(emu)
    emu.inject(503, cursor=(await listed_cursors(emu, page_size=100))[5])
    seen: list[str] = []
    async with emu.client(retry=None) as client:
        paginator = client.batches.list(page_size=100)

        async def drain() -> None:
            async for batch in paginator:
                seen.append(batch.id)

        with pytest.raises(aiotofu.ServerError):
            await drain()
        await drain()
    assert seen == expected

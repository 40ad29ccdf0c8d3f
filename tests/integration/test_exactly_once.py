"""Exactly once on a real socket: start cursors, writes inside the pin, deletions, answers out of
order, failed collect(), empty pages, two consumers and resume, each a defect that was found.

Writers act between two requests of the listing (or while a retry waits), through
``aiotofu.testing.Emulator``'s ``add_batch`` and ``delete_batch``, as another user of the API
would.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web

import aiotofu
from aiotofu._clock import set_clock
from aiotofu.testing import Emulator, VirtualClock
from tests.helpers import listed_cursors, serving


@pytest.fixture
async def emu100() -> Any:
    async with Emulator(batches=100, seed=3) as server:
        yield server


async def everything(emu: Emulator, **options: Any) -> list[aiotofu.Batch]:
    async with emu.client(retry=None) as client:
        return await client.batches.list(page_size=100, prefetch=0, **options).collect()


class WritingClock(VirtualClock):
    """A virtual clock that runs ``write`` during the first wait: a writer acting while a
    retry waits, after the pages fetched ahead of the failed one were answered."""

    def __init__(self, write: Callable[[], None]) -> None:
        super().__init__()
        self._write: Callable[[], None] | None = write

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(0.05)  # let the pages in flight be answered first
        if self._write is not None:
            self._write()
            self._write = None
        await super().sleep(seconds)


@contextlib.contextmanager
def clock_writing(write: Callable[[], None]) -> Iterator[WritingClock]:
    clock = WritingClock(write)
    previous = set_clock(clock)
    try:
        yield clock
    finally:
        set_clock(previous)


# -- 1. any start cursor ------------------------------------------------------------------


@pytest.mark.parametrize("prefetch", [0, 3])
async def test_a_start_cursor_newest_first_yields_everything_after_it(
    emu100: Emulator, prefetch: int
) -> None:
    full = await everything(emu100)
    async with emu100.client() as client:
        got = await client.batches.list(cursor=20, page_size=10, prefetch=prefetch).collect()
    assert [b.id for b in got] == [b.id for b in full[20:]]


async def test_a_token_read_before_the_first_page_resumes_at_its_cursor(emu100: Emulator) -> None:
    full = await everything(emu100)
    async with emu100.client() as client:
        token = client.batches.list(cursor=30, page_size=10).resume_token
        got = await client.batches.resume(token).collect()
    assert [b.id for b in got] == [b.id for b in full[30:]]


# -- 2. writes inside the pin, with answers out of order ----------------------------------


@pytest.mark.parametrize("when", ["in the past", "in the newest millisecond"])
async def test_a_write_inside_the_pin_while_a_page_is_retried_loses_nothing(
    emu100: Emulator, when: str
) -> None:
    full = await everything(emu100)
    stamp = full[5].created_at if when == "in the past" else full[0].created_at
    second = (await listed_cursors(emu100, page_size=10))[1]
    emu100.inject(503, cursor=second)  # the second page
    with clock_writing(lambda: emu100.add_batch("LATE-1", created_at=stamp)):
        async with emu100.client(retry=aiotofu.RetryPolicy(jitter=False)) as client:
            got = await client.batches.list(page_size=10, prefetch=3).collect()
    ids = [b.id for b in got]
    assert len(ids) == len(set(ids))
    assert [i for i in ids if i in {b.id for b in full}] == [b.id for b in full]


@pytest.mark.parametrize("prefetch", [0, 2])
async def test_more_backfilled_writes_than_a_page_between_two_requests(
    emu100: Emulator, prefetch: int
) -> None:
    full = await everything(emu100)
    got: list[str] = []
    async with (
        emu100.client() as client,
        client.batches.list(page_size=10, prefetch=prefetch) as batches,
    ):
        async for batch in batches:
            got.append(batch.id)
            if len(got) == 25:
                for n in range(15):  # backfills, some tied with records already yielded
                    emu100.add_batch(f"BACKFILL-{n}", created_at=full[n].created_at)
    assert len(got) == len(set(got))
    assert [i for i in got if i in {b.id for b in full}] == [b.id for b in full]


# -- 3. deletions -------------------------------------------------------------------------


SORTS = [("created_at", "desc"), ("created_at", "asc"), ("number", "desc")]


@pytest.mark.parametrize("sort", SORTS)
@pytest.mark.parametrize("deleted", ["behind", "the last yielded", "a whole page behind"])
async def test_deletions_during_a_listing_skip_no_surviving_record(
    emu100: Emulator, sort: tuple[str, str], deleted: str
) -> None:
    sort_by, sort_order = sort
    full = await everything(emu100, sort_by=sort_by, sort_order=sort_order)
    got: list[aiotofu.Batch] = []
    gone: set[str] = set()
    async with (
        emu100.client() as client,
        client.batches.list(
            page_size=10,
            prefetch=2,
            sort_by=sort_by,
            sort_order=sort_order,  # type: ignore[arg-type]
        ) as batches,
    ):
        async for batch in batches:
            got.append(batch)
            if len(got) == 25:
                victims = {
                    "behind": [full[3]],
                    "the last yielded": [batch],
                    "a whole page behind": full[10:20],
                }[deleted]
                for victim in victims:
                    emu100.delete_batch(victim.id)
                    gone.add(victim.id)
    ids = [b.id for b in got]
    assert len(ids) == len(set(ids))
    survivors = [b.id for b in full if b.id not in gone]
    assert [i for i in ids if i not in gone] == survivors


async def test_the_emulator_deletes_by_id_or_number_and_refuses_an_unknown_batch(
    emu100: Emulator,
) -> None:
    full = await everything(emu100)
    emu100.delete_batch(full[0].id)
    emu100.delete_batch(full[1].number)
    assert len(await everything(emu100)) == 98
    with pytest.raises(aiotofu.InvalidParameterError, match="no batch"):
        emu100.delete_batch(full[0].id)


# -- 4. a failed collect() ----------------------------------------------------------------


async def test_a_failed_collect_counts_nothing_and_a_second_one_continues(
    emu100: Emulator,
) -> None:
    full = await everything(emu100)
    fourth = (await listed_cursors(emu100, page_size=10))[3]  # the fourth page of 10
    emu100.inject(503, cursor=fourth)
    async with emu100.client(retry=None) as client:
        batches = client.batches.list(page_size=10, prefetch=2)
        first = [await batches.__anext__() for _ in range(5)]
        token = batches.resume_token
        with pytest.raises(aiotofu.ServerError):
            await batches.collect()
        assert batches.resume_token == token
        rest = await batches.collect()
    assert [b.id for b in first + rest] == [b.id for b in full]


# -- 5. empty pages forever ---------------------------------------------------------------


async def test_a_server_answering_empty_pages_forever_is_a_pagination_error() -> None:
    requests = 0

    async def empty(request: web.Request) -> web.Response:
        nonlocal requests
        requests += 1
        cursor = int(request.query.get("cursor", "0"))
        limit = int(request.query["limit"])
        return web.json_response(
            {"data": [], "meta": {"has_more": True, "next_cursor": cursor + limit}}
        )

    async with serving(empty) as base_url, aiotofu.Client("k", base_url=base_url) as client:
        with pytest.raises(aiotofu.PaginationError, match="empty pages in a row") as info:
            await client.batches.list(sort_order="asc").collect()
    assert "has_more" in str(info.value)
    assert requests < 3 * 20  # 20 pages, and what prefetch had asked for ahead of them


# -- 6. one consumer ----------------------------------------------------------------------


async def test_two_tasks_on_one_paginator_get_a_state_error(emu100: Emulator) -> None:
    emu100.set_faults(latency=0.02)
    async with emu100.client() as client:
        batches = client.batches.list(page_size=10)
        first = asyncio.create_task(batches.collect())
        await asyncio.sleep(0.005)
        with pytest.raises(aiotofu.StateError, match="one consumer"):
            await batches.__anext__()
        assert len(await first) == 100


async def test_aclose_from_another_task_stops_the_listing(emu100: Emulator) -> None:
    emu100.set_faults(latency=0.01)
    async with emu100.client() as client:
        batches = client.batches.list(page_size=10, prefetch=2)
        got: list[str] = []
        ten = asyncio.Event()

        async def consume() -> None:
            async for batch in batches:
                got.append(batch.id)
                if len(got) == 10:
                    ten.set()
                await asyncio.sleep(0)

        task = asyncio.create_task(consume())
        await ten.wait()
        await batches.aclose()
        served = emu100.stats["requests"]
        await asyncio.wait_for(task, 2)
        await asyncio.sleep(0.05)
        assert emu100.stats["requests"] == served  # nothing new was sent after aclose()
    assert len(got) < 100


# -- 7. resume after a write inside the pin -----------------------------------------------


@pytest.mark.parametrize("sort_by", ["created_at", "number"])
async def test_resume_after_a_backfill_repeats_nothing(emu100: Emulator, sort_by: str) -> None:
    full = await everything(emu100, sort_by=sort_by)
    async with emu100.client() as client:
        batches = client.batches.list(page_size=10, sort_by=sort_by)  # type: ignore[arg-type]
        first = [await batches.__anext__() for _ in range(15)]
        token = batches.resume_token
        await batches.aclose()
        # A batch stamped in the past lands before the position and shifts every offset.
        emu100.add_batch("BACKFILL", created_at=full[3].created_at - timedelta(milliseconds=1))
        rest = await client.batches.resume(token).collect()
    ids = [b.id for b in first + rest]
    assert len(ids) == len(set(ids))
    assert [i for i in ids if i in {b.id for b in full}] == [b.id for b in full]

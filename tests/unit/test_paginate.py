"""The pagination state machine (pure) and the Paginator driver over a fake page source."""

from __future__ import annotations

import asyncio
import gc
import operator
from collections.abc import Callable
from datetime import datetime
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiotofu import Page, PaginationError
from aiotofu._paginate import PageState, Paginator


@attrs.frozen
class Rec:
    id: str


def recs(*ids: str) -> tuple[Rec, ...]:
    return tuple(Rec(i) for i in ids)


KEY: Callable[[Rec], str] = operator.attrgetter("id")


# -- PageState: pure ----------------------------------------------------------------------


def test_state_follows_next_cursor_and_ends_on_has_more_false() -> None:
    state = PageState(cursor=0, page_size=2)
    offsets, items = state.accept(Page(recs("a", "b"), 0, True, 2), KEY)
    assert (list(offsets), [r.id for r in items], state.cursor, state.done) == (
        [0, 1],
        ["a", "b"],
        2,
        False,
    )
    offsets, items = state.accept(Page(recs("c"), 2, False, None), KEY)
    assert (list(offsets), state.done) == ([2], True)


def test_state_follows_an_empty_page_with_has_more() -> None:
    state = PageState(cursor=0, page_size=2)
    offsets, items = state.accept(Page((), 0, True, 2), KEY)
    assert (list(offsets), list(items)) == ([], [])
    assert (state.cursor, state.done) == (2, False)


def test_state_does_not_end_on_a_short_page() -> None:
    state = PageState(cursor=0, page_size=5)
    state.accept(Page(recs("a"), 0, True, 5), KEY)
    assert not state.done


def test_state_drops_records_repeated_across_a_boundary() -> None:
    state = PageState(cursor=0, page_size=3)
    state.accept(Page(recs("a", "b", "c"), 0, True, 3), KEY)
    offsets, items = state.accept(Page(recs("c", "d", "e"), 3, True, 6), KEY)
    assert ([r.id for r in items], list(offsets)) == (["d", "e"], [4, 5])


def test_state_drops_duplicates_within_a_page() -> None:
    state = PageState(cursor=0, page_size=3)
    _, items = state.accept(Page(recs("a", "a", "b"), 0, False, None), KEY)
    assert [r.id for r in items] == ["a", "b"]


def test_max_items_truncates_and_ends() -> None:
    state = PageState(cursor=10, page_size=4, remaining=6)
    assert state.limit_at(10) == 4
    state.accept(Page(recs("a", "b", "c", "d"), 10, True, 14), KEY)
    assert state.limit_at(14) == 2
    offsets, items = state.accept(Page(recs("e", "f", "g", "h"), 14, True, 18), KEY)
    assert (len(items), list(offsets), state.done, state.remaining) == (2, [14, 15], True, 0)


def test_max_items_zero_is_done_at_once() -> None:
    assert PageState(cursor=0, page_size=4, remaining=0).done


def test_ahead_predicts_offsets_within_max_items() -> None:
    assert PageState(cursor=100, page_size=50).ahead(3) == [100, 150, 200]
    assert PageState(cursor=0, page_size=50, remaining=120).ahead(8) == [0, 50, 100]
    assert PageState(cursor=0, page_size=50, done=True).ahead(3) == []


def test_a_cursor_off_the_prediction_stops_speculation() -> None:
    state = PageState(cursor=0, page_size=10)
    state.accept(Page(recs("a"), 0, True, 7), KEY)
    assert not state.speculate
    assert state.ahead(4) == [7]


def test_a_page_for_another_cursor_is_refused() -> None:
    with pytest.raises(PaginationError):
        PageState(cursor=0, page_size=2).accept(Page(recs("a"), 5, False, None), KEY)


# -- the driver ---------------------------------------------------------------------------


class FakeSource:
    """Pages at offsets over ``records``; counts requests and how many are in flight."""

    def __init__(self, count: int, *, delay: float = 0.0) -> None:
        self.records = [Rec(f"r{i}") for i in range(count)]
        self.delay = delay
        self.requests: list[tuple[int, int, datetime | None]] = []
        self.in_flight = 0
        self.peak = 0
        self.hold: set[int] = set()  # cursors whose requests never complete
        self.fail_at: dict[int, int] = {}  # cursor -> failures left
        self.cancelled = 0

    async def fetch(self, cursor: int, limit: int, pinned_before: datetime | None) -> Page[Rec]:
        self.requests.append((cursor, limit, pinned_before))
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            if cursor in self.hold:
                await asyncio.Event().wait()  # never answers
            await asyncio.sleep(self.delay)
            if self.fail_at.get(cursor):
                self.fail_at[cursor] -= 1
                raise RuntimeError(f"failure at {cursor}")
            items = tuple(self.records[cursor : cursor + limit])
            more = cursor + limit < len(self.records)
            return Page(items, cursor, more, cursor + limit if more else None)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        finally:
            self.in_flight -= 1

    def paginator(self, **kwargs: Any) -> Paginator[Rec]:
        options: dict[str, Any] = {"cursor": 0, "page_size": 10, "max_items": None, "prefetch": 2}
        options.update(kwargs)
        return Paginator(self.fetch, key=KEY, **options)


def other_tasks() -> set[asyncio.Task[Any]]:
    return {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}


async def test_yields_every_record_in_order() -> None:
    source = FakeSource(95)
    assert [r.id for r in await source.paginator().collect()] == [f"r{i}" for i in range(95)]
    assert not other_tasks()


async def test_a_single_page_stream_sends_exactly_one_request() -> None:
    source = FakeSource(7)
    assert len(await source.paginator(prefetch=5).collect()) == 7
    assert [c for c, _, _ in source.requests] == [0]


async def test_speculation_starts_only_after_has_more() -> None:
    source = FakeSource(100)
    paginator = source.paginator(prefetch=3)
    await paginator.__anext__()
    await asyncio.sleep(0)
    # The first page alone; once it said has_more, `prefetch` pages behind it...
    assert [c for c, _, _ in source.requests] == [0, 10, 20, 30]
    for _ in range(10):
        await paginator.__anext__()
    await asyncio.sleep(0)
    # ...and when the consumer moves on, the window slides by one page.
    assert [c for c, _, _ in source.requests] == [0, 10, 20, 30, 40]
    await paginator.aclose()


async def test_prefetch_zero_is_one_request_at_a_time() -> None:
    source = FakeSource(50, delay=0.001)
    await source.paginator(prefetch=0).collect()
    assert source.peak == 1
    assert [c for c, _, _ in source.requests] == [0, 10, 20, 30, 40]


async def test_prefetch_keeps_several_requests_in_flight() -> None:
    source = FakeSource(400, delay=0.002)
    await source.paginator(prefetch=5).collect()
    assert source.peak == 6
    cursors = sorted(c for c, _, _ in source.requests)
    assert cursors[:40] == list(range(0, 400, 10))
    # Speculation cannot know where the stream ends: requests past it are cancelled.
    assert len(cursors) - 40 <= 5
    assert source.in_flight == 0


async def test_buffered_records_never_exceed_prefetch_plus_one_pages() -> None:
    source = FakeSource(300)
    paginator = source.paginator(prefetch=3, page_size=10)
    peak = 0
    async for _ in paginator:
        await asyncio.sleep(0)  # let every speculative request complete
        done = sum(len(t.result().items) for _, t in paginator._pending if t.done())
        peak = max(peak, done + len(paginator._items) - paginator._index)
    assert 0 < peak <= (3 + 1) * 10


async def test_max_items_sends_no_request_beyond_what_it_needs() -> None:
    source = FakeSource(1000)
    items = await source.paginator(page_size=10, max_items=25, prefetch=8).collect()
    assert len(items) == 25
    assert sorted((c, limit) for c, limit, _ in source.requests) == [(0, 10), (10, 10), (20, 5)]


async def test_max_items_zero_sends_nothing() -> None:
    source = FakeSource(10)
    assert await source.paginator(max_items=0).collect() == []
    assert source.requests == []


async def test_start_cursor() -> None:
    source = FakeSource(30)
    items = await source.paginator(cursor=25).collect()
    assert [r.id for r in items] == ["r25", "r26", "r27", "r28", "r29"]


async def test_break_inside_async_with_cancels_what_is_in_flight() -> None:
    source = FakeSource(1000, delay=0.01)
    async with source.paginator(prefetch=4) as paginator:
        async for record in paginator:
            if record.id == "r3":
                await asyncio.sleep(0.001)  # the speculative requests are under way
                break
    assert source.cancelled == 4
    assert source.in_flight == 0
    assert not other_tasks()


async def test_cancelling_the_consumer_leaves_nothing_running() -> None:
    source = FakeSource(1000, delay=0.01)
    started = asyncio.Event()

    async def consume() -> None:
        async with source.paginator(prefetch=3) as paginator:
            async for _ in paginator:
                started.set()

    task = asyncio.create_task(consume())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert source.in_flight == 0
    assert not other_tasks()


async def test_a_timeout_around_the_stream_leaves_nothing_running() -> None:
    import anyio

    source = FakeSource(1000, delay=0.01)
    with anyio.move_on_after(0.05):
        async with source.paginator(prefetch=3) as paginator:
            async for _ in paginator:
                pass
    assert source.in_flight == 0
    assert not other_tasks()


async def test_a_dropped_paginator_cancels_its_requests_when_collected() -> None:
    source = FakeSource(1000)
    source.hold = {10, 20, 30}
    paginator = source.paginator(prefetch=3)
    await paginator.__anext__()
    await asyncio.sleep(0)
    assert source.in_flight == 3
    del paginator
    gc.collect()
    for _ in range(3):
        await asyncio.sleep(0)
    assert source.in_flight == 0
    assert source.cancelled == 3


async def test_an_error_cancels_the_speculation_and_iterating_again_retries() -> None:
    source = FakeSource(60)
    source.fail_at = {20: 1}
    paginator = source.paginator(prefetch=3)
    seen = []

    async def consume() -> None:
        async for record in paginator:
            seen.append(record.id)

    with pytest.raises(RuntimeError, match="failure at 20"):
        await consume()
    assert not other_tasks()
    seen += [r.id async for r in paginator]
    assert seen == [f"r{i}" for i in range(60)]


async def test_a_cursor_off_the_prediction_falls_back_to_sequential() -> None:
    pages = {
        0: Page(recs("a", "b"), 0, True, 7),
        7: Page(recs("c", "d"), 7, True, 9),
        9: Page(recs("e"), 9, False, None),
    }
    requested: list[int] = []

    async def fetch(cursor: int, limit: int, pin: datetime | None) -> Page[Rec]:
        requested.append(cursor)
        return pages.get(cursor, Page(recs("WRONG"), cursor, False, None))

    paginator = Paginator(fetch, cursor=0, page_size=2, max_items=None, prefetch=4, key=KEY)
    assert [r.id for r in await paginator.collect()] == ["a", "b", "c", "d", "e"]
    assert requested[0] == 0
    assert requested[-2:] == [7, 9]


async def test_pages_yields_whole_pages_and_the_rest_of_a_started_one() -> None:
    source = FakeSource(25)
    paginator = source.paginator(page_size=10)
    first = await paginator.__anext__()
    assert first.id == "r0"
    pages = [page async for page in paginator.pages()]
    assert [(p.cursor, len(p.items)) for p in pages] == [(1, 9), (10, 10), (20, 5)]
    assert [(p.has_more, p.next_cursor) for p in pages] == [(True, 10), (True, 20), (False, None)]


async def test_pin_from_the_first_page_is_sent_with_every_later_request() -> None:
    source = FakeSource(30)
    pin = datetime(2024, 1, 1).astimezone()
    paginator = source.paginator(page_size=10, prefetch=1, pin_from_page=lambda page: pin)
    await paginator.collect()
    assert [p for _, _, p in sorted(source.requests, key=lambda r: r[0])] == [None, pin, pin]


async def test_a_probe_pins_even_the_first_request() -> None:
    source = FakeSource(30)
    pin = datetime(2024, 1, 1).astimezone()
    probes = []

    async def probe() -> datetime:
        probes.append(1)
        return pin

    await source.paginator(page_size=10, probe=probe).collect()
    assert probes == [1]
    assert {p for _, _, p in source.requests} == {pin}


async def test_closed_paginator_yields_nothing_more() -> None:
    source = FakeSource(30)
    paginator = source.paginator()
    await paginator.__anext__()
    await paginator.aclose()
    assert [r async for r in paginator] == []
    assert "closed" in repr(paginator)


# -- the property: any sequence of pages ------------------------------------------------

PAGE_SHAPES = st.lists(
    st.tuples(st.integers(0, 6), st.integers(1, 9)),  # (records on the page, cursor step)
    min_size=1,
    max_size=8,
)


@settings(deadline=None, max_examples=150)
@given(shapes=PAGE_SHAPES, prefetch=st.integers(0, 4), start=st.integers(0, 50))
async def test_any_page_sequence_yields_the_concatenation_and_chains_cursors(
    shapes: list[tuple[int, int]], prefetch: int, start: int
) -> None:
    pages: dict[int, Page[Rec]] = {}
    cursor = start
    for index, (size, step) in enumerate(shapes):
        last = index == len(shapes) - 1
        items = recs(*(f"p{index}-{i}" for i in range(size)))
        pages[cursor] = Page(items, cursor, not last, None if last else cursor + step)
        cursor += step
    served: list[int] = []

    async def fetch(cursor: int, limit: int, pin: datetime | None) -> Page[Rec]:
        await asyncio.sleep(0)
        page = pages.get(cursor)
        if page is None:  # a speculative request the prediction got wrong
            return Page(recs("bogus"), cursor, False, None)
        served.append(cursor)
        return page

    paginator = Paginator(
        fetch, cursor=start, page_size=5, max_items=None, prefetch=prefetch, key=KEY
    )
    got = [r.id for r in await paginator.collect()]
    assert got == [r.id for page in pages.values() for r in page.items]
    chain = [p.cursor for p in pages.values()]
    assert [c for c in served if c in pages][: len(chain)] == chain or set(chain) <= set(served)
    assert not other_tasks()

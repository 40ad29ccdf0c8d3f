"""The Paginator driver over a fake page source: prefetch, cancellation, errors, one consumer.

The state machine it drives is tested on its own in ``test_pagestate.py``.
"""

from __future__ import annotations

import asyncio
import gc
import operator
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any, overload

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiotofu import Page, StateError
from aiotofu._pagestate import Fetch, Position
from aiotofu._paginate import PageSource, Paginator


@attrs.frozen
class Rec:
    id: str


def recs(*ids: str) -> tuple[Rec, ...]:
    return tuple(Rec(i) for i in ids)


KEY: Callable[[Rec], str] = operator.attrgetter("id")


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
        self.holding = asyncio.Event()  # set once a request of ``hold`` is in flight

    async def fetch(self, fetch: Fetch) -> Page[Rec]:
        cursor, limit = fetch.cursor, fetch.limit
        self.requests.append((cursor, limit, fetch.pin))
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            if cursor in self.hold:
                self.holding.set()
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
        options: dict[str, Any] = {"page_size": 10, "max_items": None, "prefetch": 2}
        listing = {
            name: kwargs.pop(name) for name in ("pin_from", "time_of", "token") if name in kwargs
        }
        options.update(kwargs)
        return Paginator(PageSource(self.fetch, KEY, **listing), **options)


def other_tasks() -> set[asyncio.Task[Any]]:
    return {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}


async def test_yields_every_record_in_order() -> None:
    source = FakeSource(95)
    assert [r.id for r in await source.paginator().collect()] == [f"r{i}" for i in range(95)]
    assert not other_tasks()


class Shelf(Sequence[Rec]):
    """Records in a sequence of another kind than a tuple or a list (a slice is one too): its
    iterator does not say how many are left, so the driver must not count on that."""

    def __init__(self, items: Sequence[Rec]) -> None:
        self._items = list(items)

    @overload
    def __getitem__(self, index: int) -> Rec: ...
    @overload
    def __getitem__(self, index: slice) -> Shelf: ...
    def __getitem__(self, index: int | slice) -> Rec | Shelf:
        if isinstance(index, slice):
            return Shelf(self._items[index])
        return self._items[index]

    def __len__(self) -> int:
        return len(self._items)


class ShelvedList(list[Rec]):
    """A list whose own iterator, unlike a list's, says nothing of what is left."""

    def __iter__(self) -> Iterator[Rec]:
        return (item for item in super().__iter__())


@pytest.mark.parametrize("kind", [Shelf, ShelvedList])
async def test_records_in_any_sequence_are_handed_out_once_and_resumed_where_they_stand(
    kind: Callable[[Sequence[Rec]], Sequence[Rec]],
) -> None:
    """Part of a page taken one by one, the rest a page at a time: each record once."""
    source = FakeSource(25)
    fetch = source.fetch

    async def shelved(request: Fetch) -> Page[Rec]:
        page = await fetch(request)
        return attrs.evolve(page, items=kind(page.items))

    paginator = Paginator(PageSource(shelved, KEY), page_size=10, max_items=None, prefetch=1)
    first = [(await paginator.__anext__()).id for _ in range(3)]
    assert paginator._index == 3
    rest = [r.id for r in await paginator.collect()]
    assert first + rest == [f"r{i}" for i in range(25)]


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
    # (each a record early: it starts with the last record of the page before, to check it)
    assert [c for c, _, _ in source.requests] == [0, 9, 19, 29]
    for _ in range(10):
        await paginator.__anext__()
    await asyncio.sleep(0)
    # ...and when the consumer moves on, the window slides by one page.
    assert [c for c, _, _ in source.requests] == [0, 9, 19, 29, 39]
    await paginator.aclose()


async def test_prefetch_zero_is_one_request_at_a_time() -> None:
    source = FakeSource(50, delay=0.001)
    await source.paginator(prefetch=0).collect()
    assert source.peak == 1
    assert [c for c, _, _ in source.requests] == [0, 9, 19, 29, 39]


async def test_prefetch_keeps_several_requests_in_flight() -> None:
    source = FakeSource(400, delay=0.002)
    await source.paginator(prefetch=5).collect()
    assert source.peak == 6
    cursors = sorted(c for c, _, _ in source.requests)
    assert cursors[:40] == [0, *range(9, 399, 10)]
    # Speculation cannot know where the stream ends: requests past it are cancelled.
    assert len(cursors) - 40 <= 5
    assert source.in_flight == 0


async def test_buffered_records_never_exceed_prefetch_plus_one_pages() -> None:
    source = FakeSource(300)
    paginator = source.paginator(prefetch=3, page_size=10)
    peak = 0
    async for _ in paginator:
        await asyncio.sleep(0)  # let every speculative request complete
        # Each page fetched ahead repeats the last record of the page before it (to verify
        # it): that one is not buffered, it was handed out already.
        # (A page fetched ahead is an answer, decoded when called.)
        done = sum(len(t.result()().items) - 1 for _, t in paginator._pending if t.done())
        peak = max(peak, done + len(paginator._records) - paginator._index)
    assert 0 < peak <= (3 + 1) * 10


async def test_max_items_sends_no_request_beyond_what_it_needs() -> None:
    source = FakeSource(1000)
    items = await source.paginator(page_size=10, max_items=25, prefetch=8).collect()
    assert len(items) == 25
    assert sorted((c, limit) for c, limit, _ in source.requests) == [(0, 10), (9, 11), (19, 6)]


async def test_max_items_zero_sends_nothing() -> None:
    source = FakeSource(10)
    assert await source.paginator(max_items=0).collect() == []
    assert source.requests == []


async def test_start_cursor() -> None:
    source = FakeSource(30)
    items = await source.paginator(start=Position(25)).collect()
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


async def test_a_consumer_cancelled_waiting_for_a_prefetched_page_goes_on_exactly_once() -> None:
    """The consumer waits for a page fetched ahead (its own waiter on the task, not
    asyncio.wait): cancelling that wait cancels what is in flight, hands out nothing, and
    iterating again continues with the next record, each record once."""
    source = FakeSource(40)
    source.hold = {19}  # the third page never answers, until released
    paginator = source.paginator(prefetch=2)
    got = [(await paginator.__anext__()).id for _ in range(20)]
    waiting = asyncio.create_task(paginator.__anext__())
    await source.holding.wait()
    for _ in range(3):
        await asyncio.sleep(0)
    assert not waiting.done()  # waiting for the page at cursor 19, which is in flight
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert source.in_flight == 0
    assert not other_tasks()
    source.hold = set()
    got += [record.id async for record in paginator]
    assert got == [f"r{i}" for i in range(40)]
    assert not other_tasks()


async def test_each_page_is_requested_once_with_a_deep_prefetch() -> None:
    """What is in flight is matched to the predictions in place: nothing is asked twice."""
    source = FakeSource(300, delay=0.0005)
    assert len(await source.paginator(prefetch=5).collect()) == 300
    cursors = [c for c, _, _ in source.requests]
    assert len(cursors) == len(set(cursors))
    # (speculation past the end may or may not have started before it was cancelled)
    assert sorted(cursors)[:31] == [0, *range(9, 300, 10)]


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
    source.hold = {9, 19, 29}
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


async def test_async_for_again_after_break_goes_on_with_the_next_record() -> None:
    """``async for`` steps through a generator of the paginator's: one left behind by
    ``break`` holds no record, and the next loop (or ``__anext__``) goes on from there."""
    source = FakeSource(35)
    paginator = source.paginator(prefetch=1)
    got = []
    for stop in ("r3", "r12", "r20"):
        async for record in paginator:
            got.append(record.id)
            if record.id == stop:
                break
        got.append((await paginator.__anext__()).id)  # interleaved with the loops
    got += [record.id async for record in paginator]
    assert got == [f"r{i}" for i in range(35)]
    assert [record async for record in paginator] == []  # the end stays the end


async def test_a_loop_goes_on_with_the_records_a_failed_collect_put_back() -> None:
    """``collect()`` fails inside an ``async for`` (or beside a held iterator): what it took
    is put back, and the loop hands it out next, each record once."""
    source = FakeSource(40)
    source.fail_at = {19: 1}
    paginator = source.paginator(prefetch=0)
    got = []
    async for record in paginator:
        got.append(record.id)
        if record.id == "r2":
            with pytest.raises(RuntimeError, match="failure at 19"):
                await paginator.collect()
    assert got == [f"r{i}" for i in range(40)]


async def test_aclose_from_another_task_ends_an_async_for_mid_page() -> None:
    """The consumer is between two records of a page when another task closes the
    paginator: its loop gets no record more, and the position counts what it got."""
    source = FakeSource(100)
    paginator = source.paginator(prefetch=2)
    got: list[str] = []
    between, closed = asyncio.Event(), asyncio.Event()

    async def consume() -> None:
        async for record in paginator:
            got.append(record.id)
            if record.id == "r12":
                between.set()
                await closed.wait()

    consumer = asyncio.create_task(consume())
    await between.wait()
    await paginator.aclose()
    closed.set()
    await consumer
    assert got == [f"r{i}" for i in range(13)]
    assert paginator.position.cursor == 13
    assert not other_tasks()


async def test_a_paginator_dropped_after_break_cancels_its_requests() -> None:
    """Without ``async with``: the loop's generator, left behind by ``break``, is closed by
    the event loop, and the paginator it held is freed with its requests cancelled."""
    source = FakeSource(1000)
    source.hold = {9, 19, 29}

    async def first() -> str:
        async for record in source.paginator(prefetch=3):
            await asyncio.sleep(0)  # the requests ahead are under way
            return record.id
        raise AssertionError("no record")

    assert await first() == "r0"
    for _ in range(5):
        # The loop closes the generator left behind, and the requests end, in steps of their
        # own; a collection (seconds, in a test process) frees the paginator if a cycle holds it.
        for _ in range(5):
            await asyncio.sleep(0)
        if source.in_flight == 0 and source.cancelled == 3:
            break
        gc.collect()
    assert source.in_flight == 0
    assert source.cancelled == 3
    assert not other_tasks()


async def test_an_error_cancels_the_speculation_and_iterating_again_retries() -> None:
    source = FakeSource(60)
    source.fail_at = {19: 1}
    paginator = source.paginator(prefetch=3)
    seen = []

    async def consume() -> None:
        async for record in paginator:
            seen.append(record.id)

    with pytest.raises(RuntimeError, match="failure at 19"):
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

    async def fetch(fetch: Fetch) -> Page[Rec]:
        requested.append(fetch.cursor)
        return pages.get(fetch.cursor, Page(recs("WRONG"), fetch.cursor, False, None))

    paginator = Paginator(PageSource(fetch, KEY), page_size=2, max_items=None, prefetch=4)
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
    paginator = source.paginator(page_size=10, prefetch=1, pin_from="page", time_of=lambda r: pin)
    await paginator.collect()
    assert [p for _, _, p in sorted(source.requests, key=lambda r: r[0])] == [None, pin, pin]


async def test_a_probe_pins_even_the_first_request() -> None:
    source = FakeSource(30)
    pin = datetime(2024, 1, 1).astimezone()
    await source.paginator(page_size=10, pin_from="probe", time_of=lambda r: pin).collect()
    probe, *pages = source.requests
    assert probe == (0, 1, None)  # one record, unpinned: the newest
    assert pages
    assert {p for _, _, p in pages} == {pin}


async def test_a_probe_that_finds_nothing_leaves_the_listing_unpinned() -> None:
    source = FakeSource(0)
    assert await source.paginator(pin_from="probe", time_of=lambda r: 1).collect() == []
    assert source.requests == [(0, 1, None), (0, 10, None)]


async def test_closed_paginator_yields_nothing_more() -> None:
    source = FakeSource(30)
    paginator = source.paginator()
    await paginator.__anext__()
    await paginator.aclose()
    assert [r async for r in paginator] == []
    assert "closed" in repr(paginator)


# -- the property: any sequence of pages ------------------------------------------------

# A server whose cursors are not offsets (a step never equal to the limit, 5): nothing can be
# predicted or verified, and the paginator must follow next_cursor exactly.
PAGE_SHAPES = st.lists(
    st.tuples(st.integers(0, 6), st.integers(1, 9).filter(lambda step: step != 5)),
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

    async def fetch(fetch: Fetch) -> Page[Rec]:
        cursor = fetch.cursor
        await asyncio.sleep(0)
        page = pages.get(cursor)
        if page is None:  # a speculative request the prediction got wrong
            return Page(recs("bogus"), cursor, False, None)
        served.append(cursor)
        return page

    paginator = Paginator(
        PageSource(fetch, KEY),
        start=Position(start),
        page_size=5,
        max_items=None,
        prefetch=prefetch,
    )
    got = [r.id for r in await paginator.collect()]
    assert got == [r.id for page in pages.values() for r in page.items]
    chain = [p.cursor for p in pages.values()]
    assert [c for c in served if c in pages][: len(chain)] == chain or set(chain) <= set(served)
    assert not other_tasks()


# -- errors, one consumer, closing from elsewhere ------------------------------------------


async def test_a_failed_collect_loses_nothing_and_a_second_one_continues() -> None:
    source = FakeSource(60)
    source.fail_at = {39: 1}
    paginator = source.paginator(prefetch=0, token=lambda position: str(position.cursor))
    first = await paginator.__anext__()
    with pytest.raises(RuntimeError, match="failure at 39"):
        await paginator.collect()
    # Nothing that collect() gathered counts as handed out: the token and a second collect()
    # both start right after the one record the caller did receive.
    assert paginator.resume_token == "1"
    rest = await paginator.collect()
    assert [first.id] + [r.id for r in rest] == [f"r{i}" for i in range(60)]


async def test_a_second_consumer_gets_a_clear_state_error() -> None:
    source = FakeSource(100, delay=0.01)
    paginator = source.paginator(prefetch=0)

    async def drain() -> list[str]:
        return [record.id async for record in paginator]

    first = asyncio.create_task(drain())
    await asyncio.sleep(0.001)  # the first consumer waits for its page
    with pytest.raises(StateError, match="one consumer"):
        await drain()
    assert len(await first) == 100


async def test_aclose_from_another_task_stops_the_consumer_and_starts_nothing() -> None:
    source = FakeSource(1000, delay=0.01)
    paginator = source.paginator(prefetch=2)
    got: list[str] = []
    fifteen = asyncio.Event()

    async def consume() -> None:
        async for record in paginator:
            got.append(record.id)
            if len(got) == 15:
                fifteen.set()
            await asyncio.sleep(0.001)

    task = asyncio.create_task(consume())
    await fifteen.wait()
    await paginator.aclose()
    sent = len(source.requests)
    handed = len(got)
    await asyncio.wait_for(task, 1)  # ends normally: closing is not an error for the consumer
    assert len(source.requests) == sent  # no request started after aclose() returned
    assert len(got) <= handed + 1  # at most the record it was already being handed
    assert got == [f"r{i}" for i in range(len(got))]
    assert not other_tasks()


@pytest.mark.parametrize("ending", ["aclose", "dropped"])
async def test_a_prefetched_page_that_failed_unused_logs_nothing(ending: str) -> None:
    """A page fetched ahead fails, and the consumer stops before it: closed or dropped, no
    "Task exception was never retrieved" is logged for it when its task is collected."""
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _, context: reported.append(context))
    try:
        source = FakeSource(1000)
        source.fail_at = {19: 1, 29: 1}
        paginator = source.paginator(prefetch=3)
        await paginator.__anext__()
        for _ in range(5):
            await asyncio.sleep(0)
        assert source.fail_at == {19: 0, 29: 0}  # both failed, ahead of the consumer
        if ending == "aclose":
            await paginator.aclose()
        del paginator
        gc.collect()
        for _ in range(3):
            await asyncio.sleep(0)
        gc.collect()
    finally:
        loop.set_exception_handler(previous)
    assert reported == []


@pytest.mark.parametrize("ending", ["aclose", "dropped", "aclose interrupted"])
async def test_a_prefetch_that_answers_its_cancellation_with_an_error_logs_nothing(
    ending: str,
) -> None:
    """A request cancelled while it waits that raises something else instead (a transport
    translating the cancellation, say): seen all the same, nothing logged. Also when the
    close itself is cancelled while it waits for the requests to end (a plain asyncio
    cancellation, from ``asyncio.timeout`` or a TaskGroup's teardown: anyio's shield does not
    hold against those), and they end after it."""
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _, context: reported.append(context))
    waiting = asyncio.Event()

    async def fetch(fetch: Fetch) -> Page[Rec]:
        if fetch.cursor == 0:
            return Page(recs(*(f"r{i}" for i in range(10))), 0, True, 10)
        waiting.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            await asyncio.sleep(0.02)  # letting go takes the transport a moment
            raise RuntimeError("cut off") from None
        raise AssertionError("never answered")

    try:
        paginator = Paginator(PageSource(fetch, KEY), page_size=10, max_items=None, prefetch=2)
        await paginator.__anext__()
        await waiting.wait()
        if ending == "aclose":
            await paginator.aclose()
        elif ending == "aclose interrupted":
            closing = asyncio.create_task(paginator.aclose())
            await asyncio.sleep(0.005)  # the close waits for the cancelled requests
            closing.cancel()
            with pytest.raises(asyncio.CancelledError):
                await closing
            await asyncio.sleep(0.05)  # the requests end, with their error, after it
            del closing
        del paginator
        gc.collect()
        for _ in range(5):
            await asyncio.sleep(0)
        gc.collect()
    finally:
        loop.set_exception_handler(previous)
    assert reported == []

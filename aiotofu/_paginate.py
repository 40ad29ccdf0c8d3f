"""Pagination: a pure state machine over pages, and the async Paginator that drives it.

``PageState`` knows where the next page starts, when the stream ends and which records to drop;
it does no I/O, so every transition is tested without a loop. ``Paginator`` turns it into an async
iterator that fetches pages ahead of the consumer.

Prefetch rests on the cursor being an offset: the page after the one at ``c`` is predicted at
``c + limit``. Speculative requests start only once a page has said ``has_more``; every answer's
``next_cursor`` is checked against the prediction, and on a mismatch the speculation is cancelled
and the rest of the stream is fetched one page at a time.

No task group or cancel scope is held across the points where records are handed to the consumer
(anyio calls that "cancel scope stack corruption"): the prefetch tasks belong to the Paginator
object and are cancelled when the stream ends, reaches ``max_items``, is closed, or is collected.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Hashable, Sequence
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

import anyio
import attrs

from ._models import Page
from .errors import PaginationError, TofuPilotError

__all__ = ["PageFetcher", "PageState", "Paginator"]

T = TypeVar("T")


class PageFetcher(Protocol[T]):
    """Fetch the page at ``cursor`` with ``limit`` records, pinned to ``created_before`` if set."""

    def __call__(
        self, cursor: int, limit: int, pinned_before: datetime | None
    ) -> Coroutine[Any, Any, Page[T]]: ...


@attrs.define
class PageState:
    """Where a listing stands between pages. Pure: no I/O, no clock.

    ``cursor`` is where the next page starts; ``remaining`` counts the records ``max_items`` still
    allows (None: no limit). ``previous_ids`` holds the ids of the last page accepted: a record that
    writers pushed across a page boundary shows up again at the start of the next page, and is
    dropped there so that nothing is yielded twice.
    """

    cursor: int
    page_size: int
    remaining: int | None = None
    done: bool = False
    speculate: bool = True
    previous_ids: frozenset[Hashable] = frozenset()

    def __attrs_post_init__(self) -> None:
        if self.remaining == 0:
            self.done = True

    def limit_at(self, cursor: int) -> int:
        """The ``limit`` at ``cursor``: a full page, or what ``max_items`` still needs."""
        if self.remaining is None:
            return self.page_size
        needed = self.remaining - (cursor - self.cursor)
        return max(1, min(self.page_size, needed))

    def ahead(self, pages: int) -> list[int]:
        """Cursors of the next ``pages`` pages, predicted from offsets, within ``max_items``.

        The first is known (the server's ``next_cursor``); the rest are predictions, offered only
        while the server's cursors have matched them.
        """
        if self.done:
            return []
        count = pages if self.speculate else min(pages, 1)
        if self.remaining is not None:
            count = min(count, math.ceil(self.remaining / self.page_size))
        return [self.cursor + k * self.page_size for k in range(count)]

    def accept(
        self, page: Page[T], key: Callable[[T], Hashable]
    ) -> tuple[Sequence[int], Sequence[T]]:
        """Take the page at ``self.cursor``; return the raw offsets and the records to yield."""
        if page.cursor != self.cursor:
            raise PaginationError(
                f"internal error: got the page at {page.cursor}, expected {self.cursor}"
            )
        items: Sequence[T] = page.items
        unique = frozenset(map(key, items))
        offsets: Sequence[int]
        if len(unique) == len(items) and self.previous_ids.isdisjoint(unique):
            offsets = range(page.cursor, page.cursor + len(items))  # the usual case
        else:
            seen = set(self.previous_ids)
            kept = []
            for index, item in enumerate(items):
                item_id = key(item)
                if item_id not in seen:
                    seen.add(item_id)
                    kept.append(index)
            offsets = [page.cursor + index for index in kept]
            items = [items[index] for index in kept]
        predicted = page.cursor + self.limit_at(page.cursor)
        if self.remaining is not None:
            offsets, items = offsets[: self.remaining], items[: self.remaining]
            self.remaining -= len(items)
        self.previous_ids = unique
        if not page.has_more or self.remaining == 0:
            self.done = True
            return offsets, items
        assert page.next_cursor is not None  # decode_page guarantees it when has_more
        if page.next_cursor != predicted:
            # Not the offset arithmetic prefetch relies on: stop predicting, follow the server.
            self.speculate = False
        self.cursor = page.next_cursor
        return offsets, items


def _retrieve(task: asyncio.Task[Any]) -> None:
    """Mark a finished task's exception as seen, so a cancelled prefetch logs nothing at exit."""
    if not task.cancelled():
        task.exception()


class Paginator(Generic[T]):
    """An async iterator over the records of a list endpoint, fetched page by page.

    ``async for record in paginator`` yields records in server order; ``pages()`` yields whole
    pages; ``collect()`` gathers everything in a list. Use ``async with paginator:`` (or call
    ``aclose()``) when you may stop early, so that requests in flight are cancelled at once.
    After an error, iterating again retries from the same position.
    """

    def __init__(
        self,
        fetch: PageFetcher[T],
        *,
        cursor: int,
        page_size: int,
        max_items: int | None,
        prefetch: int,
        key: Callable[[T], Hashable],
        probe: Callable[[], Awaitable[datetime | None]] | None = None,
        pin_from_page: Callable[[Page[T]], datetime | None] | None = None,
        pinned_before: datetime | None = None,
        token: Callable[[int, datetime | None], str] | None = None,
    ) -> None:
        self._fetch = fetch
        self._state = PageState(cursor=cursor, page_size=page_size, remaining=max_items)
        self._prefetch = prefetch
        self._key = key
        # Consistency under writes: once known, every request carries created_before=<pin>, so
        # records created after the listing started cannot shift the offsets under it.
        self._probe = probe
        self._pin_from_page = pin_from_page
        self._pinned_before = pinned_before
        self._pinned = pinned_before is not None
        self._token = token
        self._pending: deque[tuple[int, asyncio.Task[Page[T]]]] = deque()
        # The current page's records, their offsets, and how many were handed out. Records are
        # handed out by index (no per-record bookkeeping on the hot path); the position for
        # resume tokens is derived from the offsets only when asked for.
        self._page: Page[T] | None = None
        self._items: Sequence[T] = ()
        self._offsets: Sequence[int] = ()
        self._index = 0
        self._start = cursor  # the position when nothing of the current page was handed out
        self._has_more_seen = False
        self._closed = False

    # -- the consumer's side -------------------------------------------------------------

    def __aiter__(self) -> Paginator[T]:
        return self

    async def __anext__(self) -> T:
        index = self._index
        if index < len(self._items):
            self._index = index + 1
            return self._items[index]
        if not await self._load_next_page():
            raise StopAsyncIteration
        self._index = 1
        return self._items[0]

    def pages(self) -> AsyncIterator[Page[T]]:
        """Iterate page by page; each Page holds the records not yet yielded, in server order."""
        return _Pages(self)

    async def collect(self) -> list[T]:
        """Every remaining record in a list (bounded by ``max_items`` if given)."""
        async with self:
            records: list[T] = []
            while (chunk := await self._take_rest()) is not None:
                records += chunk[1]
            return records

    async def __aenter__(self) -> Paginator[T]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop: cancel every request in flight, and wait until they have let go of the network."""
        self._closed = True
        # Nothing more is handed out; what was stays counted, for the resume token.
        self._items, self._offsets = self._items[: self._index], self._offsets[: self._index]
        await self._cancel_pending()

    @property
    def resume_token(self) -> str:
        """An opaque, URL-safe token for the position just after the last record yielded.

        Pass it to ``client.batches.resume()`` (in this process or another) to continue exactly
        there, with the same filters and the same consistency pin.
        """
        return self._token_at(self._position())

    def _position(self) -> int:
        """The offset just after the last record handed out."""
        return self._offsets[self._index - 1] + 1 if self._index else self._start

    def _token_at(self, position: int) -> str:
        if self._token is None:
            raise TofuPilotError("this listing cannot be resumed")
        return self._token(position, self._pinned_before)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "done" if self._state.done else "open"
        return f"<aiotofu.Paginator {state} at cursor {self._position()}>"

    def __del__(self) -> None:
        # Dropped without aclose(): cancel what is in flight. Nothing can be awaited here, and
        # the collector may run in another thread, hence call_soon_threadsafe.
        for _, task in getattr(self, "_pending", ()):
            if not task.done():
                with contextlib.suppress(RuntimeError):  # the loop is already closed
                    task.get_loop().call_soon_threadsafe(task.cancel)

    async def _take_rest(self) -> tuple[Sequence[int], Sequence[T]] | None:
        """Hand out, at once, the rest of the current page, else the next page; None at the end.

        For ``pages()``, ``collect()`` and SyncClient, which take records a page at a time.
        """
        if self._index >= len(self._items) and not await self._load_next_page():
            return None
        offsets, items = self._offsets[self._index :], self._items[self._index :]
        self._index = len(self._items)
        return offsets, items

    async def _next_whole_page(self) -> Page[T]:
        """For pages(): the rest of the current page if records were taken singly, else the next."""
        rest = await self._take_rest()
        if rest is None:
            raise StopAsyncIteration
        offsets, items = rest
        assert self._page is not None
        return attrs.evolve(self._page, cursor=offsets[0], items=tuple(items))

    async def _load_next_page(self) -> bool:
        """Make the next page with records the current one; False at the end of the stream."""
        result = await self._next_page()
        if result is None:
            return False
        self._start = self._position()
        self._page, self._offsets, self._items = result
        self._index = 0
        return True

    # -- fetching ------------------------------------------------------------------------

    async def _next_page(self) -> tuple[Page[T], Sequence[int], Sequence[T]] | None:
        """The next page with records to yield, their offsets, the records; None at the end."""
        if self._closed:
            return None
        while not self._state.done:
            if not self._pinned and self._probe is not None:
                # The pin cannot come from the first page (sorted by number): ask for it first.
                self._pinned_before = await self._probe()
                self._pinned = True
            if self._prefetch and self._has_more_seen:
                # The consumer waits for the next page: it and `prefetch` more may be in flight,
                # and nothing is buffered, so the bound of (prefetch + 1) pages holds.
                self._schedule(self._state.ahead(self._prefetch + 1))
            page = await self._take(self._state.cursor)
            if not self._pinned and self._pin_from_page is not None:
                self._pinned_before = self._pin_from_page(page)
                self._pinned = self._pinned_before is not None
            offsets, items = self._state.accept(page, self._key)
            if self._state.done or not self._state.speculate:
                # Past the end, or the predictions were wrong: what is in flight is of no use.
                await self._cancel_pending()
            if not self._state.done and self._prefetch:
                # Speculation starts only once a page has said has_more. While the consumer
                # works through this page, `prefetch` pages may be fetched behind it.
                self._has_more_seen = True
                self._schedule(self._state.ahead(self._prefetch))
            if items:
                return page, offsets, items
        return None

    async def _take(self, cursor: int) -> Page[T]:
        """The page at ``cursor``: prefetched if it was predicted right, else a new request."""
        if self._pending and self._pending[0][0] != cursor:
            await self._cancel_pending()
        if not self._pending:
            # Nothing fetched ahead: fetch in the consumer's own task, with no task to schedule
            # and wake (the first page, and every page when prefetch is 0).
            return await self._fetch(cursor, self._state.limit_at(cursor), self._pinned_before)
        _, task = self._pending[0]
        try:
            page = await task
        except BaseException:
            # This page failed (after its retries) or the consumer was cancelled: the pages
            # fetched ahead of it are of no use now. The state is untouched, so iterating
            # again retries from the same position.
            await self._cancel_pending()
            raise
        self._pending.popleft()
        return page

    def _schedule(self, cursors: list[int]) -> None:
        """Start requests for the given page cursors that are not in flight yet."""
        loop = asyncio.get_running_loop()
        in_flight = {cursor for cursor, _ in self._pending}
        for cursor in cursors:
            if cursor in in_flight:
                continue
            limit = self._state.limit_at(cursor)
            task = loop.create_task(self._fetch(cursor, limit, self._pinned_before))
            task.add_done_callback(_retrieve)
            self._pending.append((cursor, task))

    async def _cancel_pending(self) -> None:
        tasks = [task for _, task in self._pending]
        self._pending.clear()
        for task in tasks:
            task.cancel()
        if tasks:
            # Shielded: this is cleanup, and it must finish even inside a cancelled scope,
            # or the cancelled requests would outlive the stream.
            with anyio.CancelScope(shield=True):
                await asyncio.wait(tasks)


class _Pages(Generic[T]):
    """``paginator.pages()``: the same stream, a Page at a time."""

    def __init__(self, paginator: Paginator[T]) -> None:
        self._paginator = paginator

    def __aiter__(self) -> _Pages[T]:
        return self

    async def __anext__(self) -> Page[T]:
        return await self._paginator._next_whole_page()

    async def aclose(self) -> None:
        """Close the underlying paginator."""
        await self._paginator.aclose()

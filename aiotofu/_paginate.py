"""The Paginator: the async driver of the pagination state machine, with prefetch.

``PageState`` (``_pagestate``) decides which page comes next, what it yields and how continuity
is verified; it does no I/O. ``Paginator`` performs the requests it asks for, and fetches pages
ahead of the consumer: the state machine predicts them from offsets once a page has said
``has_more``, every answer is checked as if it had been fetched in order (so out-of-order answers
are harmless), and whatever the state machine no longer asks for is cancelled.

No task group or cancel scope is held across the points where records are handed to the consumer
(anyio calls that "cancel scope stack corruption"): the prefetch tasks belong to the Paginator
object and are cancelled when the stream ends, reaches ``max_items``, is closed, or is collected.
"""

from __future__ import annotations

import asyncio
import contextlib
import operator
from collections import deque
from collections.abc import AsyncIterator, Callable, Coroutine, Hashable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import anyio
import attrs

from ._models import Page
from ._pagestate import Chunk, Fetch, PageState, PinFrom, Position
from .errors import StateError, TofuPilotError

if TYPE_CHECKING:  # the tables' extras: imported only by the methods that need them
    import pandas
    import pyarrow

__all__ = ["AheadFetcher", "PageFetcher", "PageSource", "Paginator"]

T = TypeVar("T")


class PageFetcher(Protocol[T]):
    """Fetch one page: ``fetch.limit`` records from ``fetch.cursor``, bounded by ``fetch.pin``
    and ``fetch.start``."""

    def __call__(self, fetch: Fetch) -> Coroutine[Any, Any, Page[T]]: ...


class AheadFetcher(Protocol[T]):
    """Fetch one page ahead of the consumer: its answer, decoded when called (a page that waits
    for the consumer holds its bytes, not its records: see ``_requester.Received``)."""

    def __call__(self, fetch: Fetch) -> Coroutine[Any, Any, Callable[[], Page[T]]]: ...


@attrs.frozen
class PageSource(Generic[T]):
    """Everything a Paginator needs to know of one listing, in one value.

    ``fetch`` answers a page request (``_pages.EndpointPages.fetch``: the query string from
    the listing's filters, the request, the answer decoded); ``id_of`` gives a record's unique
    id and ``key_of`` its sort key (None: the order's key is unknown); ``restart`` says the key
    can bound a request, so that a lost position restarts from it; ``mutable`` that it changes
    while the listing runs (see ``PageState``). ``pin_from`` says where the consistency pin
    comes from (a probe, the first page, or nowhere), ``time_of`` the time of a record it is
    read from. ``token`` turns a Position into a resume token. ``span``: how many records a
    window holds before the listing re-anchors on its key (see ``PageState``; None: never);
    ``nullable``: the key may be null (its nulls come last, in a tail no bound holds);
    ``descending``: the key's order. ``record_type``: the class of the records (None: not
    known), which a table of the listing takes its schema from before any page.
    ``fetch_ahead``, where given, fetches the pages asked for ahead of the consumer: the same
    pages as ``fetch``, decoded when the consumer takes them (None: ``fetch`` does).
    """

    fetch: PageFetcher[T]
    id_of: Callable[[T], Hashable]
    key_of: Callable[[T], Any] | None = None
    restart: bool = False
    mutable: bool = False
    pin_from: PinFrom = None
    time_of: Callable[[T], Any] | None = None
    token: Callable[[Position], str] | None = None
    span: int | None = None
    nullable: bool = False
    descending: bool = False
    record_type: type[Any] | None = None
    fetch_ahead: AheadFetcher[T] | None = None


_FETCH_OF = operator.itemgetter(0)  # of a pending (fetch, task)
_drain: Callable[[Iterator[Any]], None] = deque(maxlen=0).extend  # exhausts an iterator, in C


def _same(one: Fetch, other: Fetch) -> bool:
    """Whether two requests are the same: most often the very object (a page's predictions are
    worked out once), so identity is tried before the fields are compared."""
    return one is other or one == other


async def _finished(task: asyncio.Task[Any]) -> None:
    """Wait until ``task`` is done, without cancelling it if the waiting is cancelled (what
    ``asyncio.wait((task,))`` does, with one future and one callback instead of a set of each)."""
    waiter = task.get_loop().create_future()

    def wake(_: object) -> None:
        if not waiter.done():
            waiter.set_result(None)

    task.add_done_callback(wake)
    try:
        await waiter
    finally:
        task.remove_done_callback(wake)


def _decoded(pages: PageFetcher[T]) -> AheadFetcher[T]:
    """``pages`` as an AheadFetcher, for a source without one: its pages come decoded."""

    async def fetch_ahead(fetch: Fetch) -> Callable[[], Page[T]]:
        page = await pages(fetch)
        return lambda: page

    return fetch_ahead


def _retrieve(task: asyncio.Task[Any]) -> None:
    """Mark a finished task's exception as seen, so that a prefetch nobody took logs nothing
    when it is collected ("Task exception was never retrieved")."""
    if not task.cancelled():
        task.exception()


def _abandon(task: asyncio.Task[Any]) -> None:
    """Cancel a prefetch nobody will take, and see what it ends with."""
    task.cancel()
    task.add_done_callback(_retrieve)


class Paginator(Generic[T]):
    """An async iterator over the records of a list endpoint, fetched page by page.

    ``async for record in paginator`` yields records in server order; ``pages()`` yields whole
    pages; ``collect()`` gathers everything in a list. Use ``async with paginator:`` (or call
    ``aclose()``) when you may stop early, so that requests in flight are cancelled at once.
    After an error, iterating again (or calling ``collect()`` again) continues from the same
    position. A paginator has one consumer: a second task iterating it raises StateError.
    """

    def __init__(
        self,
        listing: PageSource[T],
        *,
        page_size: int,
        max_items: int | None,
        prefetch: int,
        start: Position | None = None,
    ) -> None:
        self._fetch = listing.fetch
        self._start = start = start or Position(0)
        self._state = PageState(
            cursor=start.cursor,
            page_size=page_size,
            id_of=listing.id_of,
            key_of=listing.key_of,
            remaining=max_items,
            pin=start.pin,
            anchor=start.anchor,
            restart=listing.restart,
            mutable=listing.mutable,
            start=start.start,
            recent=start.known,
            # Consistency under writes: once known, every request carries the pin, so that
            # records created after the listing started cannot shift the offsets under it.
            pin_from=listing.pin_from,
            time_of=listing.time_of,
            span=listing.span,
            nullable=listing.nullable,
            descending=listing.descending,
            base=start.base,
            # The most requests asked for between two pages: the page waited for and prefetch.
            lookahead=prefetch + 1,
        )
        self._prefetch = prefetch
        self._token = listing.token
        self._record_type = listing.record_type
        # Pages fetched ahead: a task per request, each ending with the page's answer, decoded
        # when it is taken (a waiting page holds its bytes, not its records).
        self._fetch_ahead = listing.fetch_ahead or _decoded(listing.fetch)
        self._pending: deque[tuple[Fetch, asyncio.Task[Callable[[], Page[T]]]]] = deque()
        # The current chunk (an accepted page's records) and an iterator over those not handed
        # out yet. Records are handed out by the iterator (no per-record bookkeeping on the hot
        # path: one step of it in C); how many were handed out, and from that the position for
        # resume tokens, is derived only when asked for.
        self._chunk: Chunk[T] | None = None
        self._records: Sequence[T] = ()
        self._unread: Iterator[T] = iter(())
        self._has_more_seen = False
        self._busy = False
        self._closed = False

    # -- the consumer's side -------------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[T]:
        return self._stream()

    async def _stream(self) -> AsyncIterator[T]:
        """What ``async for`` steps through: the records ``__anext__`` would hand out, from a
        generator, whose step resumes its frame where ``__anext__`` makes a coroutine (about
        half the cost of a record's step). Its state is the paginator's: a generator left
        behind by ``break`` holds no record of its own, and the next ``async for`` goes on
        from there."""
        while True:
            # The iterator is the paginator's own, drained before it is replaced (see
            # _hand_out): a record taken otherwise (``__anext__``, ``take_chunk()``) or let go
            # by ``aclose()`` is not handed out here.
            unread = self._unread
            for record in unread:
                yield record
            if self._unread is not unread:
                continue  # records put back meanwhile (a failed collect(): _restore)
            if not await self._load_next_chunk():
                return

    async def __anext__(self) -> T:
        for record in self._unread:  # the hot path: the next record of the page at hand
            return record
        if not await self._load_next_chunk():
            raise StopAsyncIteration
        return next(self._unread)  # an accepted chunk holds records

    @property
    def _index(self) -> int:
        """How many records of the current chunk were handed out."""
        # Exact: the records are a tuple or a list (see _hand_out), whose iterators know how
        # many are left.
        return len(self._records) - operator.length_hint(self._unread)

    def _save(self) -> tuple[PageState[T], Chunk[T] | None, Sequence[T], int]:
        """What ``_restore`` goes back to: the state, and what was handed out of which chunk."""
        return self._state.snapshot(), self._chunk, self._records, self._index

    def _restore(self, saved: tuple[PageState[T], Chunk[T] | None, Sequence[T], int]) -> None:
        self._state, self._chunk, records, handed_out = saved
        self._hand_out(records, handed_out)

    def _hand_out(self, records: Sequence[T], handed_out: int = 0) -> None:
        """Make ``records`` the current chunk's, the first ``handed_out`` of them handed out."""
        if type(records) is not tuple and type(records) is not list:
            # Not a subclass either: its iterator may not say how many are left (_index).
            records = tuple(records)
        self._records = records
        # Drained first: a generator stepping through the old one (_stream) gets no more.
        _drain(self._unread)
        self._unread = iter(records[handed_out:] if handed_out else records)

    def pages(self) -> AsyncIterator[Page[T]]:
        """Iterate page by page; each Page holds the records not yet yielded, in server order."""
        return _Pages(self)

    async def collect(self) -> list[T]:
        """Every remaining record in a list (bounded by ``max_items`` if given).

        If it fails, nothing it gathered counts as handed out: calling it again (or iterating)
        continues from where it started, and so does ``resume_token``.
        """
        saved = self._save()
        records: list[T] = []
        try:
            while (taken := await self._take_rest()) is not None:
                chunk, first = taken
                records += chunk.records[first:]
        except BaseException:
            await self._cancel_pending()
            self._restore(saved)
            raise
        await self.aclose()
        return records

    async def __aenter__(self) -> Paginator[T]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop: cancel every request in flight, and wait until they have let go of the network.

        Safe from another task: the consumer gets no record more, and no request starts after
        this returns.
        """
        self._closed = True
        # Nothing more is handed out; what was stays counted, for the resume token.
        handed_out = self._index
        self._hand_out(self._records[:handed_out], handed_out)
        await self._cancel_pending()

    @property
    def resume_token(self) -> str:
        """An opaque, URL-safe token for the position just after the last record yielded.

        Pass it to ``client.batches.resume()`` (in this process or another) to continue exactly
        there, with the same filters and the same consistency pin.
        """
        return self.token_at(self.position)

    @property
    def done(self) -> bool:
        """Whether the listing has reached its end (or ``max_items``): no page is to come."""
        return self._state.done

    @property
    def position(self) -> Position:
        """Where the listing stands: just after the last record handed out."""
        return self._chunk.position(self._index) if self._chunk else self._start

    def token_at(self, position: Position) -> str:
        """The resume token of ``position`` (for wrappers that hand records out themselves)."""
        if self._token is None:
            raise TofuPilotError("this listing cannot be resumed")
        return self._token(position)

    def __repr__(self) -> str:
        state = "closed" if self._closed else "done" if self._state.done else "open"
        return f"<aiotofu.Paginator {state} at cursor {self.position.cursor}>"

    def __del__(self) -> None:
        # Dropped without aclose(): cancel what is in flight. Nothing can be awaited here, and
        # the collector may run in another thread, hence call_soon_threadsafe.
        for _, task in getattr(self, "_pending", ()):
            if task.done():
                _retrieve(task)  # it failed, perhaps: nobody will take what it ended with
            else:
                with contextlib.suppress(RuntimeError):  # the loop is already closed
                    task.get_loop().call_soon_threadsafe(_abandon, task)

    async def take_chunk(self) -> tuple[Chunk[T], int] | None:
        """Hand out, at once, the rest of the current page, else the next page; None at the end.

        Returns the chunk and the index of its first record not handed out before. For
        ``pages()``, ``collect()`` and SyncClient, which take records a page at a time.
        """
        return await self._take_rest()

    async def _take_rest(self) -> tuple[Chunk[T], int] | None:
        if not operator.length_hint(self._unread) and not await self._load_next_chunk():
            return None
        assert self._chunk is not None
        first = self._index
        _drain(self._unread)  # all handed out now, here and to a generator (_stream)
        return self._chunk, first

    async def _next_whole_page(self) -> Page[T]:
        """For pages(): the rest of the current page if records were taken singly, else the next."""
        taken = await self._take_rest()
        if taken is None:
            raise StopAsyncIteration
        chunk, first = taken
        offsets = chunk.offsets[first:]
        more = not self._state.done
        return Page(
            items=tuple(chunk.records[first:]),
            cursor=offsets[0],
            has_more=more,
            next_cursor=offsets[-1] + 1 if more else None,
        )

    async def _load_next_chunk(self) -> bool:
        """Make the next page with records the current one; False at the end of the stream."""
        if self._busy:
            raise StateError(
                "this paginator is already being iterated by another task: a paginator has "
                "one consumer (share the records, or start one listing per task)"
            )
        self._busy = True
        try:
            chunk = await self._next_chunk()
        finally:
            self._busy = False
        if chunk is None:
            return False
        self._chunk = chunk
        self._hand_out(chunk.records)
        return True

    # -- fetching ------------------------------------------------------------------------

    async def _next_chunk(self) -> Chunk[T] | None:
        """The next accepted page with records to yield; None at the end."""
        state, ahead = self._state, self._prefetch + 1
        while not state.done and not self._closed:
            # The next request, and the `prefetch` predicted after it (the first k of a plan
            # are the plan of k: see PageState.next_fetches).
            plan = state.next_fetches(ahead)
            if self._prefetch and self._has_more_seen:
                # The consumer waits for the next page: it and `prefetch` more may be in flight,
                # and nothing is buffered, so the bound of (prefetch + 1) pages holds.
                self._schedule(plan)
            fetch = plan[0]
            page = await self._take(fetch)
            if page is None:  # closed by another task while this page was on its way
                return None
            try:
                chunk = state.accept(fetch, page)
            except BaseException:
                await self._cancel_pending()
                raise
            following = state.next_fetches(ahead)
            if self._pending and (not following or not _same(self._pending[0][0], following[0])):
                # Past the end, or the predictions were wrong: what is in flight is of no use.
                await self._cancel_pending()
            if following and self._prefetch and fetch.kind != "probe":
                # Speculation starts only once a page has said has_more. While the consumer
                # works through this page, `prefetch` pages may be fetched behind it.
                self._has_more_seen = True
                self._schedule(following[: self._prefetch])
            if chunk.records:
                return chunk
        return None

    async def _take(self, fetch: Fetch) -> Page[T] | None:
        """The answer to ``fetch``: prefetched if it was predicted right, else a new request.
        None if the paginator was closed meanwhile."""
        if self._pending and not _same(self._pending[0][0], fetch):
            await self._cancel_pending()
        if not self._pending:
            # Nothing fetched ahead: fetch in the consumer's own task, with no task to schedule
            # and wake (the first page, and every page when prefetch is 0).
            page = await self._fetch(fetch)
            return None if self._closed else page
        _, task = self._pending[0]
        try:
            # wait() rather than await: a task cancelled by aclose() in another task must end
            # the stream, not cancel this consumer.
            if not task.done():
                await _finished(task)
            if task.cancelled() and self._closed:
                return None
            answer = task.result()
            self._pending.popleft()
            # Decoded now that it is taken (see AheadFetcher): DecodeError here, if it must.
            return answer()
        except BaseException:
            # This page failed (after its retries, or decoding) or the consumer was cancelled:
            # the pages fetched ahead of it are of no use now. The state is untouched, so
            # iterating again retries from the same position.
            await self._cancel_pending()
            raise

    def _schedule(self, fetches: list[Fetch]) -> None:
        """Start the given requests that are not in flight yet."""
        pending = self._pending
        in_flight = list(map(_FETCH_OF, pending))
        if in_flight == fetches[: len(in_flight)]:
            # The usual case, compared in C (a list's == tries identity first, and a page's
            # predictions are the same objects from page to page): what is in flight is what
            # is predicted first, in the same order. The rest are predictions past it.
            starting = fetches[len(in_flight) :]
        else:
            starting = [f for f in fetches if not any(_same(o, f) for o in in_flight)]
        for fetch in starting:
            # A task nobody takes from here is cancelled (_cancel_pending, __del__), and what
            # it ended with is seen there: no done callback per page.
            task = asyncio.get_running_loop().create_task(self._fetch_ahead(fetch))
            pending.append((fetch, task))

    async def _cancel_pending(self) -> None:
        tasks = [task for _, task in self._pending]
        self._pending.clear()
        for task in tasks:
            if task.done() and not task.cancelled() and task.exception() is None:
                # Answered and let go: decoded all the same, so that every page answered is
                # reported (see Received); what it would raise is of no use now.
                with contextlib.suppress(Exception):
                    task.result()()
            # What each ends with (an error before it was cancelled, or instead) is seen when it
            # ends, even if this wait is cut short: only here, not on every page.
            _abandon(task)
        if tasks:
            # Shielded: this is cleanup, and it must finish even inside a cancelled anyio scope,
            # or the cancelled requests would outlive the stream. A plain asyncio cancellation
            # (asyncio.timeout, a TaskGroup's teardown) still ends the wait early.
            with anyio.CancelScope(shield=True):
                await asyncio.wait(tasks)

    # -- tables (aiotofu._tables): thin methods, the work is done there ------------------------

    async def feed_pages(self, take: Callable[[Sequence[T]], None]) -> None:
        """Hand every remaining page's records to ``take`` as each arrives, then close (for
        ``to_arrow()``: no page is kept here). As ``collect()``: if it fails, nothing it took
        counts as handed out, and iterating again continues from where it started."""
        saved = self._save()
        try:
            while (taken := await self._take_rest()) is not None:
                chunk, first = taken
                take(chunk.records[first:])
        except BaseException:
            await self._cancel_pending()
            self._restore(saved)
            raise
        await self.aclose()

    async def to_arrow(self) -> pyarrow.Table:
        """Every remaining record as a ``pyarrow.Table`` with ``aiotofu.schema()`` of the
        records' class (the same for an empty listing), built a page at a time: each page
        becomes a record batch as it arrives and its records are let go. If it fails, nothing
        counts as handed out (as ``collect()``). Needs ``pip install 'aiotofu[arrow]'``."""
        from ._tables import TableBuilder, record_type_of

        builder = TableBuilder(record_type_of(self))
        await self.feed_pages(builder.add)
        return builder.table()

    async def to_pandas(self) -> pandas.DataFrame:
        """``to_arrow()`` as a pandas DataFrame, with the same dtypes whatever the data
        (nullable ``Int64`` and ``boolean``, UTC timestamps, timedeltas, categoricals, strings).
        Needs ``pip install 'aiotofu[pandas]'``."""
        from ._tables import record_type_of, to_pandas

        return to_pandas(await self.to_arrow(), record_type_of(self))


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

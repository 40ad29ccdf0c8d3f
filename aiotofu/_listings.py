"""The listing engine: ``list()``, ``resume()`` and ``watch()`` of any endpoint described by an
``Endpoint``, on one client's requester.

It checks what the caller gave (the options, a token), builds the endpoint's ``Query`` and hands
a Paginator the pages of that query (``_pages.EndpointPages``), which the Paginator walks one way:
the page state says which page comes next, the pages fetch it, the state takes the answer.

A lost position restarts from the last record's sort key wherever the API filters that key
inclusively (the endpoint's ``SortKey.bounds``: the time field, runs' ``started_at``), as a
lower bound oldest first and an upper bound newest first; in other orders it is searched for.

Shards (``plan()``, ``shards()``, ``read()``) are the same listing cut in time: planned by the
bounded probes of ``_planning``, each read oldest first by the time field from its start, with
a pin at its last instant. A listing oldest first has no pin of its own, so a pin there is a
shard's end: the API's ``created_before`` is inclusive, and what it holds at the end itself is
cut off on the client (``_ending``), so that every record read satisfies ``start <= t < end``
whatever the server stores, and the resume token (which keeps the pin) ends there too.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import operator
import typing
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, Generic, TypeVar

import attrs

from ._endpoint import DEFAULT, Endpoint, Query
from ._filters import Filters, Instant, check_int
from ._models import Page
from ._options import DEFAULT_PAGE_SIZE, MAX_CURSOR, MAX_PAGE_SIZE
from ._pages import TICK, EndpointPages, anchor_from_payload
from ._pagestate import Fetch, Position
from ._paginate import AheadFetcher, PageFetcher, PageSource, Paginator
from ._planning import ShardSearch
from ._requester import Requester
from ._retry import is_seconds
from ._shardreader import ShardReader, start_of
from ._shards import Shard, shardable
from ._tokens import ListingToken, WatchToken, decode_payload, encode_payload
from ._watch import MAX_REMEMBERED, Watcher, WatchState
from .errors import InvalidParameterError, StateError

__all__ = ["MAX_PREFETCH", "EndpointEngine"]

T = TypeVar("T")
F = TypeVar("F", bound=Filters)

MAX_PREFETCH = 64


class EndpointEngine(Generic[T, F]):
    """``list()`` and ``resume()`` of one endpoint, on one client's requester."""

    def __init__(self, endpoint: Endpoint[T, F], requester: Requester) -> None:
        self.endpoint = endpoint
        self.requester = requester

    def list(
        self,
        filters: F,
        *,
        sort_by: Any = DEFAULT,
        sort_order: Any = "desc",
        page_size: int = DEFAULT_PAGE_SIZE,
        max_items: int | None = None,
        cursor: int = 0,
        prefetch: int = 2,
    ) -> Paginator[T]:
        """Stream the records that match ``filters`` (already checked), in the given order.

        Every other argument is checked here, before any request.
        """
        query = self.endpoint.query(filters, sort_by=sort_by, sort_order=sort_order)
        return self.paginate(
            query,
            page_size=check_int("page_size", page_size, 1, MAX_PAGE_SIZE),
            max_items=None if max_items is None else check_int("max_items", max_items, 0),
            prefetch=check_int("prefetch", prefetch, 0, MAX_PREFETCH),
            start=Position(check_int("cursor", cursor, 0, MAX_CURSOR)),
        )

    def resume(
        self, token: str, *, max_items: int | None = None, prefetch: int = 2
    ) -> Paginator[T]:
        """Continue a listing just after the last record its token had yielded."""
        payload = decode_payload(token, ListingToken, resource=self.endpoint.name, name="token")
        query = Query.from_json(self.endpoint, payload.query, "token")
        try:
            page_size = check_int("page_size", payload.page_size, 1, MAX_PAGE_SIZE)
            start = Position(
                check_int("cursor", payload.cursor, 0, MAX_CURSOR),
                payload.pin,
                anchor_from_payload(payload.anchor),
                payload.start,
                base=check_int("base", payload.base, 0, MAX_CURSOR),
            )
        except InvalidParameterError as exc:
            raise InvalidParameterError("token", f"not a valid resume token ({exc})") from None
        return self.paginate(
            query,
            page_size=page_size,
            max_items=None if max_items is None else check_int("max_items", max_items, 0),
            prefetch=check_int("prefetch", prefetch, 0, MAX_PREFETCH),
            start=start,
        )

    def paginate(
        self,
        query: Query[F],
        *,
        page_size: int,
        max_items: int | None,
        prefetch: int,
        start: Position,
    ) -> Paginator[T]:
        """A Paginator over ``query`` from ``start`` (arguments already checked)."""
        return Paginator(
            self._source(query, page_size, start),
            page_size=page_size,
            max_items=max_items,
            prefetch=prefetch,
            start=start,
        )

    def _source(self, query: Query[F], page_size: int, start: Position) -> PageSource[T]:
        """The pages of ``query`` from ``start``, cut at the end of a shard if it reads one."""
        source = EndpointPages(self.endpoint, query, self.requester, page_size).source(start)
        end = _shard_end(query, start)
        if end is not None:
            time_of = operator.attrgetter(self._time_field())
            ahead = source.fetch_ahead
            source = attrs.evolve(
                source,
                fetch=_ending(source.fetch, time_of, end),
                fetch_ahead=None if ahead is None else _ending_ahead(ahead, time_of, end),
            )
        return source

    async def newest_time(self, query: Query[F]) -> Any:
        """The time of the newest record that matches ``query`` now (None: there is none)."""
        pages = EndpointPages(self.endpoint, query, self.requester, MAX_PAGE_SIZE)
        page = await pages.fetch(Fetch(0, 1, kind="probe"))
        return max(map(operator.attrgetter(self._time_field()), page.items), default=None)

    # -- shards: the listing cut in time ---------------------------------------------------

    def shards(self, filters: F, *, target_size: int) -> ShardSearch:
        """The shards of the listing of ``filters``, found as the planning goes (see
        ``_planning``); ``target_size`` is checked here, before any request."""
        time_field = self._shard_field()
        target = check_int("target_size", target_size, 1, MAX_CURSOR)
        after, before = self.endpoint.time_bounds or ("", "")
        given_after = getattr(filters, after)
        oldest = self.endpoint.query(filters, sort_by=time_field, sort_order="asc")
        time_of = operator.attrgetter(time_field)

        async def bounds() -> tuple[datetime, datetime] | None:
            # The two ends at once: the newest first is where as_of comes from.
            newest, first = await asyncio.gather(self.newest_time(oldest), self._first_time(oldest))
            if newest is None:
                return None
            return (newest if first is None else first), newest

        async def probe(start: datetime, end: datetime, cursor: int) -> datetime | None:
            window = oldest.with_bounds(
                after=start if given_after is None else max(given_after, start),
                before=_earlier(getattr(filters, before), end),
            )
            pages = EndpointPages(self.endpoint, window, self.requester, 1)
            page = await pages.fetch(Fetch(cursor, 1))
            return time_of(page.items[0]) if page.items else None

        # With no record, the horizon is just before the listing's own start: a watch from
        # there yields whatever it would have held.
        earliest = datetime.min.replace(tzinfo=timezone.utc) + TICK
        empty = earliest if given_after is None else max(earliest, given_after - TICK)
        return ShardSearch(
            resource=self.endpoint.name,
            filters=filters,
            target_size=target,
            bounds=bounds,
            probe=probe,
            empty_as_of=empty,
        )

    def read(
        self,
        shard: Shard,
        *,
        page_size: int = DEFAULT_PAGE_SIZE,
        prefetch: int = 2,
        budget: int | None = None,
    ) -> ShardReader[T]:
        """Every record of ``shard``, oldest first, with the guarantees of one listing: the
        records that match its filters and whose time ``t`` satisfies ``start <= t < end``
        (for a remainder, but for its ``taken`` records of ``start``); after ``budget``
        records if given, it stops, and its ``remainder`` is the rest."""
        time_field = self._shard_field()
        if not isinstance(shard, Shard):
            raise InvalidParameterError(
                "shard", f"expected an aiotofu.Shard, got {type(shard).__name__}"
            )
        if shard.resource != self.endpoint.name:
            raise InvalidParameterError(
                "shard",
                f"a shard of {shard.resource}, not of {self.endpoint.name}: read it with "
                f"client.{shard.resource}.read()",
            )
        page_size = check_int("page_size", page_size, 1, MAX_PAGE_SIZE)
        prefetch = check_int("prefetch", prefetch, 0, MAX_PREFETCH)
        budget = None if budget is None else check_int("budget", budget, 0, MAX_CURSOR)
        after = (self.endpoint.time_bounds or ("",))[0]
        filters = typing.cast(F, shard.filters)  # of this endpoint (Shard checks it)
        given = getattr(filters, after)
        if shard.taken and given is not None and given > shard.start:
            # The offsets of a remainder count from its start: a later bound would move them.
            raise InvalidParameterError(
                "shard", f"a remainder that starts before its own filter {after}"
            )
        start = shard.start if given is None else max(given, shard.start)
        query = self.endpoint.query(
            attrs.evolve(filters, **{after: start}), sort_by=time_field, sort_order="asc"
        )
        # The pin is the shard's last instant: every request sends created_before=end.
        source = self._source(query, page_size, start_of(shard))
        return ShardReader(
            source, shard=shard, page_size=page_size, budget=budget, prefetch=prefetch
        )

    def _shard_field(self) -> str:
        if not shardable(self.endpoint):
            raise StateError(f"{self.endpoint.name} have no creation time to shard by")
        return str(self.endpoint.time_field)

    async def _first_time(self, oldest: Query[F]) -> Any:
        """The time of the oldest record of ``oldest`` (a query oldest first), or None."""
        pages = EndpointPages(self.endpoint, oldest, self.requester, 1)
        page = await pages.fetch(Fetch(0, 1))
        return getattr(page.items[0], self._shard_field()) if page.items else None

    # -- watching: new records, oldest first, by the endpoint's time field -----------------

    def watch(
        self,
        filters: F,
        *,
        poll_interval: float = 30.0,
        since: datetime | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        lookback: timedelta | float = 0.0,
    ) -> Watcher[T]:
        """Follow the records that match ``filters`` as they are created (see Batches.watch)."""
        time_field = self._time_field()
        interval = _seconds("poll_interval", poll_interval)
        page_size = check_int("page_size", page_size, 1, MAX_PAGE_SIZE)
        back = timedelta(seconds=_seconds("lookback", lookback))
        query = self.endpoint.query(filters, sort_by=time_field, sort_order="asc")
        start: WatchState | Callable[[], Awaitable[WatchState]]
        if since is not None:
            start = WatchState.exclusive(Instant(reach=back).check("since", since), back)
        else:
            start = functools.partial(self._state_now, query, back)
        return self._watcher(query, page_size, interval, start)

    def resume_watch(self, token: str, *, poll_interval: float = 30.0) -> Watcher[T]:
        """Continue a watch from its token, with its filters and look-back."""
        self._time_field()
        interval = _seconds("poll_interval", poll_interval)
        name = "resume_token"
        payload = decode_payload(token, WatchToken, resource=self._watch_resource, name=name)
        query = Query.from_json(self.endpoint, payload.query, name)
        try:
            page_size = check_int("page_size", payload.page_size, 1, MAX_PAGE_SIZE)
            skipped = check_int("skipped", payload.skipped, 0, MAX_CURSOR)
            lookback = _seconds("lookback", payload.lookback)
        except InvalidParameterError as exc:
            raise InvalidParameterError(name, f"not a valid resume token ({exc})") from None
        state = WatchState(
            payload.since,
            tuple(payload.seen),
            skipped,
            timedelta(seconds=lookback),
            tuple(payload.recent),
            payload.floor,
        )
        return self._watcher(query, page_size, interval, state)

    @property
    def _watch_resource(self) -> str:
        return f"{self.endpoint.name}-watch"

    def _time_field(self) -> str:
        if self.endpoint.time_field is None or self.endpoint.time_bounds is None:
            raise StateError(f"{self.endpoint.name} have no creation time to watch by")
        return self.endpoint.time_field

    def _watcher(
        self,
        query: Query[F],
        page_size: int,
        interval: float,
        start: WatchState | Callable[[], Awaitable[WatchState]],
    ) -> Watcher[T]:
        def poll(poll_query: Query[F], position: Position) -> Paginator[T]:
            return self.paginate(
                poll_query, page_size=page_size, max_items=None, prefetch=1, start=position
            )

        return Watcher(
            query=query,
            time_field=self._time_field(),
            token=functools.partial(self._watch_token, query, page_size),
            poll_interval=interval,
            start=start,
            listing=poll,
            clock=self.requester.clock,
            probe=self._probe,
        )

    async def _state_now(self, query: Query[F], lookback: timedelta) -> WatchState:
        """The newest record on the server now, and every record that shares its time (with a
        look-back, every record of the window up to it)."""
        newest = await self.newest_time(query)
        if newest is None:
            return WatchState(None, lookback=lookback)
        # Oldest first: the order of the watch's polls, whose offsets `skipped` counts. The
        # upper bound is one millisecond late: a server that stores microseconds and answers
        # milliseconds reads `created_before=newest` as "before newest.000", which leaves out
        # the records stored later in that millisecond (each would be yielded as new). What
        # was created after `newest` in the meantime is not taken here: the watch yields it.
        floor = WatchState(newest, lookback=lookback).window_floor or newest
        window = query.with_bounds(after=floor, before=newest + TICK, sort_order="asc")
        time_of = operator.attrgetter(self._time_field())
        records = [
            record
            for record in await self._collect(window, prefetch=1 if lookback else 0)
            if time_of(record) <= newest
        ]
        ids = [record.id for record in records if time_of(record) == newest]  # type: ignore[attr-defined]
        kept = ids[-MAX_REMEMBERED:]
        # With a look-back, what exists now within the window is not news either.
        recent = [(record.id, time_of(record)) for record in records] if lookback else []  # type: ignore[attr-defined]
        return WatchState(newest, tuple(kept), len(ids) - len(kept), lookback, recent)

    async def _collect(self, query: Query[F], *, prefetch: int) -> Sequence[T]:
        paginator = self.paginate(
            query, page_size=MAX_PAGE_SIZE, max_items=None, prefetch=prefetch, start=Position(0)
        )
        return await paginator.collect()

    async def _probe(self, query: Query[F], cursor: int, count: int) -> Sequence[T]:
        """The ``count`` records of ``query`` from offset ``cursor`` (fewer at its end)."""
        paginator = self.paginate(
            query, page_size=count, max_items=count, prefetch=0, start=Position(cursor)
        )
        return await paginator.collect()

    def _watch_token(self, query: Query[F], page_size: int, state: WatchState) -> str:
        return encode_payload(
            WatchToken(
                resource=self._watch_resource,
                query=query.to_json(),
                page_size=page_size,
                since=state.since,
                seen=list(state.seen),
                skipped=state.skipped,
                lookback=state.lookback.total_seconds(),
                recent=list(state.recent),
                floor=state.floor,
            )
        )


def _earlier(given: datetime | None, bound: datetime) -> datetime:
    """``bound``, or the caller's own bound if it is earlier (narrowed, never widened)."""
    return bound if given is None else min(given, bound)


def _shard_end(query: Query[Any], start: Position) -> datetime | None:
    """Where a listing ends if it reads a shard: one TICK after its pin, where the listing is
    oldest first by its time field and pinned. Such a listing is a shard's read, and nothing
    else: oldest first a listing has no pin of its own (new records land after everything),
    so a pin there is the one ``read()`` set at the shard's last instant, or the one a resume
    token of that read carries back (which says nothing more of the shard)."""
    if start.pin is not None and query.by_time and query.sort_order == "asc":
        end: datetime = start.pin + TICK
        return end
    return None


def _ending(pages: PageFetcher[T], time_of: Callable[[T], Any], end: datetime) -> PageFetcher[T]:
    """``pages``, its pages cut before the first record at or after ``end``, where the listing
    ends. Oldest first, those are the last of a page: cutting them moves no offset."""

    async def fetch_until_end(fetch: Fetch) -> Page[T]:
        return _until_end(await pages(fetch), time_of, end)

    return fetch_until_end


def _ending_ahead(
    pages: AheadFetcher[T], time_of: Callable[[T], Any], end: datetime
) -> AheadFetcher[T]:
    """``_ending`` of the pages fetched ahead: each cut once it is decoded."""

    async def fetch_until_end(fetch: Fetch) -> Callable[[], Page[T]]:
        answer = await pages(fetch)
        return lambda: _until_end(answer(), time_of, end)

    return fetch_until_end


def _until_end(page: Page[T], time_of: Callable[[T], Any], end: datetime) -> Page[T]:
    """``page`` without its records at or after ``end``; then it is the last."""
    items = page.items
    if not items or time_of(items[-1]) < end:
        return page
    kept = tuple(itertools.takewhile(lambda record: time_of(record) < end, items))
    return Page(kept, page.cursor, False, None)


def _seconds(name: str, value: Any) -> float:
    """Finite seconds >= 0, from a number or a timedelta; InvalidParameterError naming ``name``."""
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    if not is_seconds(seconds):
        raise InvalidParameterError(
            name, f"expected a timedelta or a finite number of seconds >= 0, got {value!r}"
        )
    return float(seconds)

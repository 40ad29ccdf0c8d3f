"""The listing engine: ``list()``, ``resume()`` and ``watch()`` of any endpoint described by an
``Endpoint``, on one client's requester.

It checks what the caller gave (the options, a token), builds the endpoint's ``Query`` and hands
a Paginator the pages of that query (``_pages.EndpointPages``), which the Paginator walks one way:
the page state says which page comes next, the pages fetch it, the state takes the answer.

A lost position restarts from the last record's sort key wherever the API filters that key
inclusively (the endpoint's ``SortKey.bounds``: the time field, runs' ``started_at``), as a
lower bound oldest first and an upper bound newest first; in other orders it is searched for.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from ._endpoint import DEFAULT, Endpoint, Query
from ._filters import Filters, Instant, check_int
from ._options import MAX_CURSOR, MAX_PAGE_SIZE
from ._pages import TICK, EndpointPages, anchor_from_payload
from ._pagestate import Fetch, Position
from ._paginate import Paginator
from ._requester import Requester
from ._retry import is_seconds
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
        page_size: int = 50,
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
        pages = EndpointPages(self.endpoint, query, self.requester, page_size)
        return Paginator(
            pages.source(start),
            page_size=page_size,
            max_items=max_items,
            prefetch=prefetch,
            start=start,
        )

    async def newest_time(self, query: Query[F]) -> Any:
        """The time of the newest record that matches ``query`` now (None: there is none)."""
        pages = EndpointPages(self.endpoint, query, self.requester, MAX_PAGE_SIZE)
        page = await pages.fetch(Fetch(0, 1, kind="probe"))
        return max(map(operator.attrgetter(self._time_field()), page.items), default=None)

    # -- watching: new records, oldest first, by the endpoint's time field -----------------

    def watch(
        self,
        filters: F,
        *,
        poll_interval: float = 30.0,
        since: datetime | None = None,
        page_size: int = 100,
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


def _seconds(name: str, value: Any) -> float:
    """Finite seconds >= 0, from a number or a timedelta; InvalidParameterError naming ``name``."""
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    if not is_seconds(seconds):
        raise InvalidParameterError(
            name, f"expected a timedelta or a finite number of seconds >= 0, got {value!r}"
        )
    return float(seconds)

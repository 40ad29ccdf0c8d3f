"""The listing engine: ``list()`` and ``resume()`` of any endpoint described by an ``Endpoint``.

From the endpoint's value alone it builds the PageSource a Paginator drives: how a page is fetched
(the query string from the Query, the request through the Requester, the answer decoded into the
endpoint's model), each record's id and sort key, where the consistency pin comes from, and the
resume token of a position. How a listing is kept consistent depends on its order:

- by the endpoint's time field, newest first: that field of the newest record is the pin (an
  upper bound on every request), read from the first page when the listing starts at 0, else
  asked for first;
- by the time field, oldest first: new records land after everything and shift nothing, so no
  pin;
- in any other order (a number, a name, another time): new records land anywhere, so the
  newest time is asked for first;
- an endpoint with no time filter has no pin at all: verified continuity alone.

A lost position restarts from the last record's sort key wherever the API filters that key
inclusively (the endpoint's ``SortKey.bounds``: the time field, runs' ``started_at``), as a
lower bound oldest first and an upper bound newest first; in other orders it is searched for.
"""

from __future__ import annotations

import functools
import json
import operator
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from ._endpoint import DEFAULT, Endpoint, Query, SortKey
from ._filters import Filters, Instant, check_int
from ._models import Page
from ._options import MAX_CURSOR, MAX_PAGE_SIZE
from ._pagestate import Anchor, Fetch, Position
from ._paginate import PageSource, Paginator
from ._requester import Requester
from ._retry import is_seconds
from ._sansio import decode_page
from ._tokens import AnchorPayload, ListingToken, WatchToken, decode_payload, encode_payload
from ._watch import MAX_REMEMBERED, Watcher, WatchState
from .errors import InvalidParameterError, StateError

__all__ = ["MAX_PREFETCH", "EndpointEngine"]

T = TypeVar("T")
F = TypeVar("F", bound=Filters)

MAX_PREFETCH = 64
# The most ids of a tie group a resume token holds: 40 UUIDs keep it under 4 KB.
TOKEN_TIES = 40


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
                _anchor(payload.anchor),
                payload.start,
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
        time_field = self.endpoint.time_field
        probe = pin_of_page = None
        if start.pin is None and time_field is not None and self.endpoint.time_bounds:
            if not query.by_time or (query.sort_order == "desc" and start.cursor > 0):
                probe = functools.partial(self.newest_time, query)
            elif query.sort_order == "desc":
                pin_of_page = functools.partial(_newest_in_page, time_field)
        key = self.endpoint.sort_key(query.sort_by)
        listing: PageSource[T] = PageSource(
            fetch=functools.partial(self.fetch_page, query, key),
            id_of=operator.attrgetter("id"),
            key_of=None if key is None else key.value,
            restart=key is not None and key.bounds is not None,
            mutable=key is not None and key.mutable,
            probe=probe,
            pin_of_page=pin_of_page,
            token=functools.partial(self._token, query, page_size),
        )
        return Paginator(
            listing, page_size=page_size, max_items=max_items, prefetch=prefetch, start=start
        )

    async def fetch_page(self, query: Query[F], key: SortKey | None, fetch: Fetch) -> Page[T]:
        """The page ``fetch`` asks for. The pin is an upper bound on the time field (newest
        first, and in orders by anything else); a restart bounds the sort key from the side
        the listing goes to (a lower bound oldest first), which overrides the pin when both are
        the same filter (the restart's is the tighter)."""
        bounds: dict[str, datetime] = {}
        time_bounds = self.endpoint.time_bounds
        if fetch.pin is not None and time_bounds is not None:
            bounds[time_bounds[1]] = fetch.pin
        if fetch.start is not None and key is not None and key.bounds is not None:
            bounds[key.bounds[0] if query.sort_order == "asc" else key.bounds[1]] = fetch.start
        params = query.to_query(cursor=fetch.cursor, limit=fetch.limit, bounds=bounds)
        return await self.requester.send(
            self.requester.request(self.endpoint.path, params),
            functools.partial(decode_page, cls=self.endpoint.model, cursor=fetch.cursor),
        )

    async def newest_time(self, query: Query[F]) -> Any:
        """The time of the newest record that matches ``query`` now (None: there is none)."""
        time_field = self.endpoint.time_field
        assert time_field is not None
        newest = self.endpoint.query(query.filters, sort_by=time_field, sort_order="desc")
        page = await self.fetch_page(newest, None, Fetch(0, 1))
        return _newest_in_page(time_field, page)

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
        )

    async def _state_now(self, query: Query[F], lookback: timedelta) -> WatchState:
        """The newest record on the server now, and every record that shares its time."""
        newest = await self.newest_time(query)
        if newest is None:
            return WatchState(None, lookback=lookback)
        # Oldest first: the order of the watch's polls, whose offsets `skipped` counts.
        instant = query.with_bounds(after=newest, before=newest, sort_order="asc")
        ids = [record.id for record in await self._collect(instant, prefetch=0)]  # type: ignore[attr-defined]
        kept = ids[-MAX_REMEMBERED:]
        # With a look-back, what exists now within the window is not news either.
        recent: tuple[tuple[str, datetime], ...] = ()
        if lookback:
            window = query.with_bounds(after=newest - lookback, before=newest)
            time_of = operator.attrgetter(self._time_field())
            records = await self._collect(window, prefetch=1)
            recent = tuple((record.id, time_of(record)) for record in records)  # type: ignore[attr-defined]
        return WatchState(newest, tuple(kept), len(ids) - len(kept), lookback, recent)

    async def _collect(self, query: Query[F], *, prefetch: int) -> Sequence[T]:
        paginator = self.paginate(
            query, page_size=MAX_PAGE_SIZE, max_items=None, prefetch=prefetch, start=Position(0)
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
            )
        )

    def _token(self, query: Query[F], page_size: int, position: Position) -> str:
        anchor = position.anchor
        return encode_payload(
            ListingToken(
                resource=self.endpoint.name,
                query=query.to_json(),
                page_size=page_size,
                cursor=position.cursor,
                pin=position.pin,
                start=position.start,
                anchor=None if anchor is None else _anchor_payload(anchor),
            )
        )


def _newest_in_page(time_field: str, page: Page[Any]) -> Any:
    return max((getattr(record, time_field) for record in page.items), default=None)


def _anchor_payload(anchor: Anchor) -> AnchorPayload:
    """What a token holds of an anchor: a time key as such, any other key as JSON, and the ids
    of its ties while they are few. Past that, their count, where it says which they are: the
    records of the anchor's key from where they begin up to the anchor (the token stays a few
    KB); where it does not (a server that reordered ties), the ids, so as not to repeat any."""
    key = anchor.key
    timed = isinstance(key, datetime)
    in_place = anchor.first >= 0 and anchor.offset - anchor.first + 1 == anchor.rank
    ties = anchor.ties if len(anchor.ties) <= TOKEN_TIES or not in_place else ()
    return AnchorPayload(
        id=str(anchor.id),
        offset=anchor.offset,
        key=key if timed else None,
        ties=sorted(str(tie) for tie in ties),
        rank=anchor.rank,
        value=None if timed else json.dumps(key),
        first=anchor.first,
    )


def _anchor(payload: AnchorPayload | None) -> Anchor | None:
    """The anchor a token carries, its offset, rank and key checked."""
    if payload is None:
        return None
    offset = check_int("offset", payload.offset, 0, MAX_CURSOR)
    ties = frozenset(payload.ties)
    rank = check_int("rank", payload.rank, len(ties), MAX_CURSOR)
    first = check_int("first", payload.first, -1, offset)
    if payload.value is None:
        key = payload.key
    else:
        try:
            key = json.loads(payload.value)
        except ValueError:
            raise InvalidParameterError("key", "not JSON") from None
        if not isinstance(key, (str, int, float, bool, type(None))):
            raise InvalidParameterError("key", f"not a sort key: {key!r}")
    return Anchor(payload.id, offset, key, ties, rank, first)


def _seconds(name: str, value: Any) -> float:
    """Finite seconds >= 0, from a number or a timedelta; InvalidParameterError naming ``name``."""
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    if not is_seconds(seconds):
        raise InvalidParameterError(
            name, f"expected a timedelta or a finite number of seconds >= 0, got {value!r}"
        )
    return float(seconds)

"""``client.batches``: the batches endpoint's ``list()``, ``resume()`` and ``watch()``.

The listing is the engine's (``_listings``) driven by the endpoint's value
(``endpoints/batches.py``); this module gives it precise keyword parameters for type checkers
and IDEs (a test holds them to the filters class), and adds the watch.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta

from ._endpoint import Query
from ._filters import Instant
from ._listings import Listings
from ._models import Batch
from ._pagestate import Position
from ._paginate import Paginator
from ._params import MAX_CURSOR, MAX_PAGE_SIZE, SortBy, SortOrder, check_int
from ._requester import Requester
from ._retry import is_seconds
from ._tokens import WatchToken, decode_payload, encode_payload
from ._watch import MAX_REMEMBERED, Watcher, WatchState
from .endpoints.batches import BATCHES, BatchFilters
from .errors import InvalidParameterError

__all__ = ["Batches"]


class Batches:
    """The batches of a TofuPilot organisation: ``client.batches``."""

    def __init__(self, requester: Requester) -> None:
        self._requester = requester
        self._listings = Listings(BATCHES, requester)

    def __repr__(self) -> str:
        return f"<aiotofu batches of {self._requester.base_url}>"

    def list(
        self,
        *,
        ids: str | Iterable[str] | None = None,
        numbers: str | Iterable[str] | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        search_query: str | None = None,
        part_numbers: str | Iterable[str] | None = None,
        revision_numbers: str | Iterable[str] | None = None,
        sort_by: SortBy = "created_at",
        sort_order: SortOrder = "desc",
        page_size: int = 50,
        max_items: int | None = None,
        cursor: int = 0,
        prefetch: int = 2,
    ) -> Paginator[Batch]:
        """Stream the batches that match every given filter, following the cursor for you.

        Filters are TofuPilot's (``GET /v2/batches``): ``ids``, ``numbers``, ``part_numbers`` and
        ``revision_numbers`` take a string or a list of strings; ``created_after`` and
        ``created_before`` are inclusive and must be timezone-aware; ``search_query`` matches a
        batch number or a unit serial number. ``page_size`` is the API's ``limit`` (1..100),
        ``max_items`` stops after that many records, ``cursor`` is the offset to start from and
        ``prefetch`` the number of pages requested ahead of the consumer (0: one request at a time).

        Every argument is checked here, before any request: a bad one raises
        InvalidParameterError naming it. Records created by others while the stream runs do not
        make it repeat or skip a record (see the README's "Guarantees").
        """
        filters = BatchFilters(
            ids=ids,
            numbers=numbers,
            created_after=created_after,
            created_before=created_before,
            search_query=search_query,
            part_numbers=part_numbers,
            revision_numbers=revision_numbers,
        )
        return self._listings.list(
            filters,
            sort_by=sort_by,
            sort_order=sort_order,
            page_size=page_size,
            max_items=max_items,
            cursor=cursor,
            prefetch=prefetch,
        )

    def resume(
        self, token: str, *, max_items: int | None = None, prefetch: int = 2
    ) -> Paginator[Batch]:
        """Continue a listing just after the last record its ``resume_token`` had yielded.

        The token carries the filters, the page size, the consistency pin and the last record
        handed out, which the first page is checked against; ``max_items`` and ``prefetch``
        apply to this run. A malformed or altered token raises InvalidParameterError.
        """
        return self._listings.resume(token, max_items=max_items, prefetch=prefetch)

    def watch(
        self,
        *,
        poll_interval: float = 30.0,
        since: datetime | None = None,
        ids: str | Iterable[str] | None = None,
        numbers: str | Iterable[str] | None = None,
        search_query: str | None = None,
        part_numbers: str | Iterable[str] | None = None,
        revision_numbers: str | Iterable[str] | None = None,
        page_size: int = 100,
        resume_token: str | None = None,
        lookback: timedelta | float = 0.0,
    ) -> Watcher:
        """Yield batches as they are created, oldest first, each exactly once, until you stop.

        Batches created after ``since`` (timezone-aware); by default after the newest batch that
        exists when watching starts (when the watch is entered with ``async with`` or first
        iterated, whichever comes first), as the server reports it, so a skewed local clock
        loses nothing. Polls every ``poll_interval`` seconds once it has
        caught up. The filters are those of ``list()``. Transient errors are retried per the
        client's RetryPolicy; if one outlasts it, it is raised, and iterating again carries on
        from the same position.

        ``resume_token`` (from ``watcher.resume_token``) continues a watch where it stopped,
        with its filters: give no ``since`` and no filters with it.

        ``lookback`` (a timedelta, or seconds) also yields batches that become visible late
        with a ``created_at`` up to that much older than the newest already yielded (a slow
        commit, a station clock behind): each poll re-reads that window, and ids yielded in it
        are remembered so that none is yielded twice. Zero by default.
        """
        interval = poll_interval
        if not is_seconds(interval):
            raise InvalidParameterError(
                "poll_interval", f"expected a finite number of seconds >= 0, got {interval!r}"
            )
        page_size = check_int("page_size", page_size, 1, MAX_PAGE_SIZE)
        window = lookback.total_seconds() if isinstance(lookback, timedelta) else lookback
        if not is_seconds(window):
            raise InvalidParameterError(
                "lookback", f"expected a timedelta or finite seconds >= 0, got {lookback!r}"
            )
        back = timedelta(seconds=window)
        filters = {
            "ids": ids,
            "numbers": numbers,
            "search_query": search_query,
            "part_numbers": part_numbers,
            "revision_numbers": revision_numbers,
        }
        start: WatchState | Callable[[], Awaitable[WatchState]]
        if resume_token is not None:
            given = [
                name for name, value in {**filters, "since": since}.items() if value is not None
            ]
            if given:
                raise InvalidParameterError(
                    given[0], "the resume token carries the filters and the position"
                )
            if lookback:
                raise InvalidParameterError("lookback", "the resume token carries the look-back")
            query, page_size, start = _decode_watch_token(resume_token)
        else:
            query = BATCHES.query(
                BatchFilters(
                    ids=ids,
                    numbers=numbers,
                    search_query=search_query,
                    part_numbers=part_numbers,
                    revision_numbers=revision_numbers,
                )
            )
            after = None if since is None else Instant().check("since", since)
            if after is not None:
                start = WatchState.exclusive(after, back)
            else:
                start = functools.partial(self._state_now, query, back)

        def listing(poll: Query[BatchFilters], position: Position) -> Paginator[Batch]:
            return self._listings.paginate(
                poll, page_size=page_size, max_items=None, prefetch=1, start=position
            )

        return Watcher(
            query=query,
            token=functools.partial(watch_token, query, page_size),
            poll_interval=float(interval),
            start=start,
            listing=listing,
            clock=self._requester.clock,
        )

    async def _state_now(self, query: Query[BatchFilters], lookback: timedelta) -> WatchState:
        """The newest batch on the server now, and every batch that shares its timestamp."""
        newest = await self._listings.newest_time(query)
        if newest is None:
            return WatchState(None, lookback=lookback)
        # Oldest first: the order of the watch's polls, whose offsets `skipped` counts.
        instant = query.with_bounds(after=newest, before=newest, sort_order="asc")
        ids = [batch.id for batch in await _collect(self._listings, instant, prefetch=0)]
        kept = ids[-MAX_REMEMBERED:]
        # With a look-back, what exists now within the window is not news either.
        recent: tuple[tuple[str, datetime], ...] = ()
        if lookback:
            window = query.with_bounds(after=newest - lookback, before=newest)
            batches = await _collect(self._listings, window, prefetch=1)
            recent = tuple((batch.id, batch.created_at) for batch in batches)
        return WatchState(newest, tuple(kept), len(ids) - len(kept), lookback, recent)


async def _collect(
    listings: Listings[Batch, BatchFilters], query: Query[BatchFilters], *, prefetch: int
) -> list[Batch]:
    paginator = listings.paginate(
        query, page_size=MAX_PAGE_SIZE, max_items=None, prefetch=prefetch, start=Position(0)
    )
    return await paginator.collect()


def watch_token(query: Query[BatchFilters], page_size: int, state: WatchState) -> str:
    """The token of a watch of ``query`` that stands at ``state``."""
    return encode_payload(
        WatchToken(
            resource="batches-watch",
            query=query.to_json(),
            page_size=page_size,
            since=state.since,
            seen=list(state.seen),
            skipped=state.skipped,
            lookback=state.lookback.total_seconds(),
            recent=list(state.recent),
        )
    )


def _decode_watch_token(token: str) -> tuple[Query[BatchFilters], int, WatchState]:
    payload = decode_payload(token, WatchToken, resource="batches-watch", name="resume_token")
    query = Query.from_json(BATCHES, payload.query, "resume_token")
    try:
        page_size = check_int("page_size", payload.page_size, 1, MAX_PAGE_SIZE)
        skipped = check_int("skipped", payload.skipped, 0, MAX_CURSOR)
        if not is_seconds(payload.lookback):
            raise InvalidParameterError("lookback", "expected finite seconds >= 0")
    except InvalidParameterError as exc:
        raise InvalidParameterError("resume_token", f"not a valid resume token ({exc})") from None
    state = WatchState(
        payload.since,
        tuple(payload.seen),
        skipped,
        timedelta(seconds=payload.lookback),
        tuple(payload.recent),
    )
    return query, page_size, state

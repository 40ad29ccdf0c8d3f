"""``client.batches``: the batches endpoints, and how a listing is kept consistent under writes."""

from __future__ import annotations

import functools
import operator
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime, timedelta

import attrs

from ._models import Batch, Page
from ._pagestate import Anchor, Fetch, Position
from ._paginate import Listing, Paginator
from ._params import (
    MAX_CURSOR,
    MAX_PAGE_SIZE,
    ListQuery,
    SortBy,
    SortOrder,
    check_datetime,
    check_int,
    make_list_query,
)
from ._requester import Requester
from ._retry import is_seconds
from ._sansio import decode_page
from ._tokens import (
    AnchorPayload,
    ListingToken,
    WatchToken,
    decode_payload,
    encode_payload,
)
from ._watch import MAX_REMEMBERED, Watcher, WatchState
from .errors import InvalidParameterError

__all__ = ["Batches"]

MAX_PREFETCH = 64
_BATCHES = "/v2/batches"


class Batches:
    """The batches of a TofuPilot organisation: ``client.batches``."""

    def __init__(self, requester: Requester) -> None:
        self._requester = requester

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
        query = make_list_query(
            ids=ids,
            numbers=numbers,
            part_numbers=part_numbers,
            revision_numbers=revision_numbers,
            created_after=created_after,
            created_before=created_before,
            search_query=search_query,
            sort_by=sort_by,
            sort_order=sort_order,
        )
        return self._paginate(
            query,
            page_size=check_int("page_size", page_size, 1, MAX_PAGE_SIZE),
            cursor=check_int("cursor", cursor, 0, MAX_CURSOR),
            max_items=None if max_items is None else check_int("max_items", max_items, 0),
            prefetch=check_int("prefetch", prefetch, 0, MAX_PREFETCH),
        )

    def resume(
        self, token: str, *, max_items: int | None = None, prefetch: int = 2
    ) -> Paginator[Batch]:
        """Continue a listing just after the last record its ``resume_token`` had yielded.

        The token carries the filters, the page size, the consistency pin and the last record
        handed out, which the first page is checked against; ``max_items`` and ``prefetch``
        apply to this run. A malformed or altered token raises InvalidParameterError.
        """
        payload = decode_payload(token, ListingToken, resource="batches", name="token")
        query = ListQuery.from_json(payload.query)
        try:
            page_size = check_int("page_size", payload.page_size, 1, MAX_PAGE_SIZE)
            start = Position(
                check_int("cursor", payload.cursor, 0, MAX_CURSOR),
                payload.pin,
                _anchor(payload.anchor),
            )
        except InvalidParameterError as exc:
            raise InvalidParameterError("token", f"not a valid resume token ({exc})") from None
        return self._paginate(
            query,
            page_size=page_size,
            cursor=start.cursor,
            max_items=None if max_items is None else check_int("max_items", max_items, 0),
            prefetch=check_int("prefetch", prefetch, 0, MAX_PREFETCH),
            start=start,
        )

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
            query = make_list_query(**filters)
            after = check_datetime("since", since)
            if after is not None:
                start = WatchState.exclusive(after, back)
            else:
                start = functools.partial(self._state_now, query, back)

        def listing(poll: ListQuery, position: Position) -> Paginator[Batch]:
            return self._paginate(
                poll, page_size=page_size, cursor=0, max_items=None, prefetch=1, start=position
            )

        return Watcher(
            query=query,
            token=functools.partial(watch_token, query, page_size),
            poll_interval=float(interval),
            start=start,
            listing=listing,
            clock=self._requester.clock,
        )

    async def _state_now(self, query: ListQuery, lookback: timedelta) -> WatchState:
        """The newest batch on the server now, and every batch that shares its timestamp."""
        newest = await self._newest_created_at(query)
        if newest is None:
            return WatchState(None, lookback=lookback)
        instant = attrs.evolve(
            query,
            created_after=newest,
            created_before=newest,
            sort_by="created_at",
            sort_order="asc",  # the order of the watch's polls, whose offsets `skipped` counts
        )
        paginator = self._paginate(instant, page_size=100, cursor=0, max_items=None, prefetch=0)
        ids = [batch.id for batch in await paginator.collect()]
        kept = ids[-MAX_REMEMBERED:]
        # With a look-back, what exists now within the window is not news either.
        recent: tuple[tuple[str, datetime], ...] = ()
        if lookback:
            window = attrs.evolve(query, created_after=newest - lookback, created_before=newest)
            listing = self._paginate(window, page_size=100, cursor=0, max_items=None, prefetch=1)
            recent = tuple((batch.id, batch.created_at) for batch in await listing.collect())
        return WatchState(newest, tuple(kept), len(ids) - len(kept), lookback, recent)

    def _paginate(
        self,
        query: ListQuery,
        *,
        page_size: int,
        cursor: int,
        max_items: int | None,
        prefetch: int,
        start: Position | None = None,
    ) -> Paginator[Batch]:
        # How the result set is frozen against writers depends on the order (see DESIGN.md):
        # newest first: the newest record's created_at is the pin (created_before), read from
        # the first page when it starts at 0, else asked for first; oldest first: new records
        # land after everything else and shift nothing, so no pin; by number: new records land
        # anywhere, so the newest created_at is asked for first. What the pin does not stop
        # (late commits, ties, deletions) the paginator's verified continuity catches; ordered
        # by created_at it recovers by restarting from the last record's created_at.
        start = start or Position(cursor)
        probe = pin_from_page = None
        if start.pin is None:
            if query.sort_by == "number" or (query.sort_order == "desc" and start.cursor > 0):
                probe = functools.partial(self._newest_created_at, query)
            elif query.sort_order == "desc":
                pin_from_page = _newest_in_page
        by_time = query.sort_by == "created_at"
        listing = Listing(
            fetch=functools.partial(self._fetch_page, query),
            id_of=operator.attrgetter("id"),
            key_of=operator.attrgetter("created_at") if by_time else None,
            probe=probe,
            pin_of_page=pin_from_page,
            token=functools.partial(_token, query, page_size),
        )
        return Paginator(
            listing, page_size=page_size, max_items=max_items, prefetch=prefetch, start=start
        )

    async def _fetch_page(self, query: ListQuery, fetch: Fetch) -> Page[Batch]:
        # The pin bounds the side that writers move: created_before newest first (and by
        # number), created_after oldest first (set only when restarting from a record's key).
        if query.sort_by == "created_at" and query.sort_order == "asc":
            params = query.to_query(cursor=fetch.cursor, limit=fetch.limit, created_after=fetch.pin)
        else:
            params = query.to_query(
                cursor=fetch.cursor, limit=fetch.limit, created_before=fetch.pin
            )
        return await self._requester.send(
            self._requester.request(_BATCHES, params),
            functools.partial(decode_page, cls=Batch, cursor=fetch.cursor),
        )

    async def _newest_created_at(self, query: ListQuery) -> datetime | None:
        newest = attrs.evolve(query, sort_by="created_at", sort_order="desc")
        page = await self._fetch_page(newest, Fetch(0, 1))
        return _newest_in_page(page)


def _newest_in_page(page: Page[Batch]) -> datetime | None:
    return max((batch.created_at for batch in page.items), default=None)


def _token(query: ListQuery, page_size: int, position: Position) -> str:
    anchor = position.anchor
    return encode_payload(
        ListingToken(
            resource="batches",
            query=query.to_json(),
            page_size=page_size,
            cursor=position.cursor,
            pin=position.pin,
            anchor=None
            if anchor is None
            else AnchorPayload(
                id=str(anchor.id),
                offset=anchor.offset,
                key=anchor.key,
                ties=sorted(str(tie) for tie in anchor.ties),
            ),
        )
    )


def _anchor(payload: AnchorPayload | None) -> Anchor | None:
    """The anchor a token carries, its offset checked."""
    if payload is None:
        return None
    offset = check_int("offset", payload.offset, 0, MAX_CURSOR)
    return Anchor(payload.id, offset, payload.key, frozenset(payload.ties))


def watch_token(query: ListQuery, page_size: int, state: WatchState) -> str:
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


def _decode_watch_token(token: str) -> tuple[ListQuery, int, WatchState]:
    payload = decode_payload(token, WatchToken, resource="batches-watch", name="resume_token")
    query = ListQuery.from_json(payload.query, "resume_token")
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

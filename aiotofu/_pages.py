"""The requests of one listing: a ``Fetch`` in, a ``Page`` of the endpoint's records out.

``EndpointPages`` is one listing's query on one client's requester. The Paginator hands it each
``Fetch`` the page state asks for, and it returns the decoded page; nothing calls back the other
way. It also says how the listing is kept consistent (``source()``: the order's sort key, where
the consistency pin comes from) and turns a position into a resume token.

How a listing is kept consistent depends on its order:

- by the endpoint's time field, newest first: that field of the newest record is the pin (an
  upper bound on every request), read from the first page when the listing starts at 0, else
  asked for first (a ``probe``);
- by the time field, oldest first: new records land after everything and shift nothing, so no
  pin;
- in any other order (a number, a name, another time): new records land anywhere, so the
  newest time is asked for first;
- an endpoint with no time filter has no pin at all: verified continuity alone.
"""

from __future__ import annotations

import functools
import json
import operator
from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

import attrs

from ._endpoint import Endpoint, Query
from ._filters import Filters, check_int
from ._models import Page
from ._options import MAX_CURSOR
from ._pagestate import RECORD_ID, Anchor, Fetch, PinFrom, Position
from ._paginate import PageSource
from ._requester import Received, Requester
from ._sansio import decode_page, page_of
from ._tokens import AnchorPayload, ListingToken, encode_payload
from .errors import InvalidParameterError

__all__ = ["SPAN", "TICK", "TOKEN_TIES", "EndpointPages", "anchor_from_payload", "anchor_payload"]

T = TypeVar("T")
F = TypeVar("F", bound=Filters)

# The most ids of a tie group a resume token holds: 40 UUIDs keep it under 4 KB.
TOKEN_TIES = 40
# Records per window before a listing re-anchors on its time key (see PageState.span): the
# offsets it sends stay below this plus the pages in flight, however deep it goes. Chosen by
# `python -m benchmarks --only depth` (README, "Depth-independent listings"): 1 000 walks a fifth
# to two fifths fewer rows than 2 000 for the same wall time; below twice the pages in flight a
# shorter span changes nothing.
SPAN = 1000
# The precision of the API's timestamps: a JavaScript server answers milliseconds, and may
# store microseconds (PostgreSQL). An upper bound at a time read from a record is sent one
# millisecond later, so that it holds every record that reads as that time.
TICK = timedelta(milliseconds=1)


@attrs.frozen
class EndpointPages(Generic[T, F]):
    """The pages of ``query`` on ``endpoint``, fetched through ``requester``; ``page_size`` is
    what its resume tokens carry."""

    endpoint: Endpoint[T, F]
    query: Query[F]
    requester: Requester = attrs.field(repr=False)
    page_size: int
    # The query string of each (kind, pin, start) with where its cursor and limit go: a
    # listing's pages differ in those two only, until the pin or the window changes.
    _templates: dict[tuple[object, ...], tuple[list[tuple[str, str]], int, int]] = attrs.field(
        factory=dict, init=False, eq=False, repr=False
    )

    def source(self, start: Position) -> PageSource[T]:
        """What a Paginator needs to walk these pages from ``start``."""
        endpoint, query = self.endpoint, self.query
        time_field = endpoint.time_field
        pin_from: PinFrom = None
        if start.pin is None and time_field is not None and endpoint.time_bounds:
            if not query.by_time or (query.sort_order == "desc" and start.cursor > 0):
                pin_from = "probe"
            elif query.sort_order == "desc":
                pin_from = "page"
        key = endpoint.sort_key(query.sort_by)
        restart = key is not None and key.bounds is not None and not key.mutable
        return PageSource(
            fetch=self.fetch,
            fetch_ahead=self.fetch_ahead,
            id_of=RECORD_ID,
            key_of=None if key is None else key.value,
            restart=key is not None and key.bounds is not None,
            mutable=key is not None and key.mutable,
            pin_from=pin_from,
            time_of=None if pin_from is None else operator.attrgetter(str(time_field)),
            token=self.token,
            span=SPAN if restart else None,
            nullable=key is not None and key.nullable,
            descending=query.sort_order == "desc",
            record_type=endpoint.model,
        )

    def params(self, fetch: Fetch) -> list[tuple[str, str]]:
        """The query string of ``fetch`` (see ``_params``), its cursor and limit put into the
        one kept for its kind, pin and start."""
        key = (fetch.kind == "probe", fetch.pin, fetch.start)
        kept = self._templates.get(key)
        if kept is None:
            if len(self._templates) >= 16:  # windows and pins come and go: keep the recent
                self._templates.clear()
            pairs = self._params(fetch)
            names = [name for name, _ in pairs]
            kept = self._templates[key] = (pairs, names.index("cursor"), names.index("limit"))
        template, cursor, limit = kept
        pairs = template.copy()
        pairs[cursor] = ("cursor", str(fetch.cursor))
        pairs[limit] = ("limit", str(fetch.limit))
        return pairs

    def _params(self, fetch: Fetch) -> list[tuple[str, str]]:
        """The query string of ``fetch``. The pin is an upper bound on the time field (newest
        first, and in orders by anything else); a window's start (a restart, a re-anchoring)
        bounds the sort key from the side the listing goes to (a lower bound oldest first).
        Each narrows the caller's own filter of that name, never widens it, and an upper bound
        is sent a TICK late. A probe asks for the newest record."""
        endpoint, query = self.endpoint, self.query
        if fetch.kind == "probe":
            assert endpoint.time_field is not None
            newest = endpoint.query(query.filters, sort_by=endpoint.time_field, sort_order="desc")
            return newest.to_query(cursor=fetch.cursor, limit=fetch.limit)
        bounds: dict[str, datetime] = {}
        time_bounds = endpoint.time_bounds
        if fetch.pin is not None and time_bounds is not None:
            self._narrow(bounds, time_bounds[1], fetch.pin + TICK, min)
        key = endpoint.sort_key(query.sort_by)
        if fetch.start is not None and key is not None and key.bounds is not None:
            if query.sort_order == "asc":
                self._narrow(bounds, key.bounds[0], fetch.start, max)
            else:
                self._narrow(bounds, key.bounds[1], fetch.start + TICK, min)
        return query.to_query(cursor=fetch.cursor, limit=fetch.limit, bounds=bounds)

    def _narrow(
        self,
        bounds: dict[str, datetime],
        name: str,
        value: datetime,
        tighter: Callable[[datetime, datetime], datetime],
    ) -> None:
        """Bound the filter ``name`` by ``value``, or by what already bounds it if tighter."""
        given = bounds.get(name, getattr(self.query.filters, name))
        bounds[name] = value if given is None else tighter(given, value)

    def fetch(self, fetch: Fetch) -> Coroutine[Any, Any, Page[T]]:
        """The page ``fetch`` asks for, decoded into the endpoint's model: the requester's
        coroutine that sends it (one frame less on every step of the request; what it sends
        is worked out now)."""
        request = self.requester.request(self.endpoint.path, self.params(fetch))
        decode = functools.partial(decode_page, cls=self.endpoint.model, cursor=fetch.cursor)
        return self.requester.send(request, decode)

    async def fetch_ahead(self, fetch: Fetch) -> Received[T]:
        """``fetch()`` for a page asked for ahead of the consumer: received now, decoded when
        the answer is called (see ``_requester.Received``)."""
        request = self.requester.request(self.endpoint.path, self.params(fetch))
        decode = functools.partial(page_of, cls=self.endpoint.model, cursor=fetch.cursor)
        return await self.requester.receive(request, decode)

    def token(self, position: Position) -> str:
        """The resume token of ``position`` in these pages."""
        anchor = position.anchor
        return encode_payload(
            ListingToken(
                resource=self.endpoint.name,
                query=self.query.to_json(),
                page_size=self.page_size,
                cursor=position.cursor,
                pin=position.pin,
                start=position.start,
                base=position.base,
                anchor=None if anchor is None else anchor_payload(anchor),
            )
        )


def anchor_payload(anchor: Anchor) -> AnchorPayload:
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


def anchor_from_payload(payload: AnchorPayload | None) -> Anchor | None:
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

"""``client.batches``: the batches endpoint's ``list()``, ``resume()`` and ``watch()``.

Listing and watching are the engine's (``_listings``), driven by the endpoint's value
(``endpoints/batches.py``); this module gives them precise keyword parameters for type
checkers and IDEs (a test holds them to the filters class).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, ClassVar, Generic, Literal, TypeVar

from ._endpoint import Endpoint
from ._filters import Filters
from ._listings import Listings
from ._models import Batch, Part, Station, User
from ._paginate import Paginator
from ._params import SortBy, SortOrder
from ._requester import Requester
from ._sansio import decode_records
from ._watch import Watcher
from .endpoints.batches import BATCHES, BatchFilters
from .endpoints.parts import PARTS, PartFilters
from .endpoints.stations import STATIONS, StationFilters
from .errors import InvalidParameterError

__all__ = ["Batches", "Parts", "Stations", "Users"]

T = TypeVar("T")
F = TypeVar("F", bound=Filters)


class _Resource(Generic[T, F]):
    """What every listed resource shares: its engine, its repr and ``resume()``."""

    endpoint: ClassVar[Endpoint[Any, Any]]

    def __init__(self, requester: Requester) -> None:
        self._listings: Listings[T, F] = Listings(self.endpoint, requester)

    def __repr__(self) -> str:
        return f"<aiotofu {self.endpoint.name} of {self._listings.requester.base_url}>"

    def resume(
        self, token: str, *, max_items: int | None = None, prefetch: int = 2
    ) -> Paginator[T]:
        """Continue a listing just after the last record its ``resume_token`` had yielded.

        The token carries the filters, the page size, the consistency pin and the last record
        handed out, which the first page is checked against; ``max_items`` and ``prefetch``
        apply to this run. A malformed or altered token raises InvalidParameterError.
        """
        return self._listings.resume(token, max_items=max_items, prefetch=prefetch)


class Batches(_Resource[Batch, BatchFilters]):
    """The batches of a TofuPilot organisation: ``client.batches``."""

    endpoint = BATCHES

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
    ) -> Watcher[Batch]:
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
        filters = BatchFilters(
            ids=ids,
            numbers=numbers,
            search_query=search_query,
            part_numbers=part_numbers,
            revision_numbers=revision_numbers,
        )
        if resume_token is not None:
            named = ["since"] * (since is not None) + list(filters.to_json())
            if named:
                raise InvalidParameterError(
                    named[0], "the resume token carries the filters and the position"
                )
            if lookback:
                raise InvalidParameterError("lookback", "the resume token carries the look-back")
            return self._listings.resume_watch(resume_token, poll_interval=poll_interval)
        return self._listings.watch(
            filters,
            poll_interval=poll_interval,
            since=since,
            page_size=page_size,
            lookback=lookback,
        )


class Parts(_Resource[Part, PartFilters]):
    """The parts of a TofuPilot organisation: ``client.parts``."""

    endpoint = PARTS

    def list(
        self,
        *,
        search_query: str | None = None,
        procedure_ids: str | Iterable[str] | None = None,
        metadata: Mapping[str, Any] | None = None,
        include_metadata: bool = False,
        sort_by: Literal["created_at", "name", "number"] = "created_at",
        sort_order: SortOrder = "desc",
        page_size: int = 50,
        max_items: int | None = None,
        cursor: int = 0,
        prefetch: int = 2,
    ) -> Paginator[Part]:
        """Stream the parts that match every given filter, following the cursor for you.

        ``search_query`` matches a part number or name; ``procedure_ids`` takes a string or a
        list; ``metadata`` filters on custom metadata (at most 5 keys, each ``{"in": [...]}``,
        ``{"contains": "..."}``, ``{"eq": bool}`` or numbers under ``gte``/``lte``/``gt``/
        ``lt``/``eq``); ``include_metadata`` returns each part's metadata. The other arguments
        are those of ``client.batches.list()``. Parts have no time filter, so the listing is
        kept consistent by verifying every page against the last part handed out.
        """
        filters = PartFilters(
            search_query=search_query,
            procedure_ids=procedure_ids,
            metadata=metadata,
            include_metadata=include_metadata,
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


class Stations(_Resource[Station, StationFilters]):
    """The test stations of a TofuPilot organisation: ``client.stations``."""

    endpoint = STATIONS

    def list(
        self,
        *,
        search_query: str | None = None,
        procedure_ids: str | Iterable[str] | None = None,
        metadata: Mapping[str, Any] | None = None,
        include_metadata: bool = False,
        page_size: int = 50,
        max_items: int | None = None,
        cursor: int = 0,
        prefetch: int = 2,
    ) -> Paginator[Station]:
        """Stream the stations that match every given filter, in the server's order.

        ``search_query`` matches a station name; ``procedure_ids`` takes a string or a list;
        ``metadata`` and ``include_metadata`` as for ``client.parts.list()``. The API has no
        sort parameter and no time filter: the listing is kept consistent by verifying every
        page against the last station handed out.
        """
        filters = StationFilters(
            search_query=search_query,
            procedure_ids=procedure_ids,
            metadata=metadata,
            include_metadata=include_metadata,
        )
        return self._listings.list(
            filters, page_size=page_size, max_items=max_items, cursor=cursor, prefetch=prefetch
        )


class Users:
    """The members of a TofuPilot organisation: ``client.users``."""

    def __init__(self, requester: Requester) -> None:
        self._requester = requester

    def __repr__(self) -> str:
        return f"<aiotofu users of {self._requester.base_url}>"

    async def list(self) -> list[User]:
        """Every member, in one request (``GET /v2/users`` is not paginated)."""
        request = self._requester.request("/v2/users")
        return await self._requester.send(request, functools.partial(decode_records, cls=User))

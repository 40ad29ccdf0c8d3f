"""``GET /v2/batches``: its filters and how it is listed, as TofuPilot's reference documents."""

from __future__ import annotations

import typing
from collections.abc import Iterable
from datetime import datetime
from typing import Literal

import attrs

from .._convert import table_time
from .._endpoint import Column, Endpoint, by
from .._filters import Filters, Instant, Strings, Text, filter_field
from .._models import Batch
from .._options import PlanOptions, SortedListOptions, WatchOptions
from ..errors import InvalidParameterError

__all__ = ["BATCHES", "BatchFilters", "BatchList", "BatchPlan", "BatchSort", "BatchWatch"]

MAX_SEARCH_QUERY = 100


@attrs.frozen(kw_only=True, cache_hash=True)
class BatchFilters(Filters):
    """The filters of ``GET /v2/batches``; every one optional, all of them combined.

    Lists accept a string (a one-item list) or an iterable of strings and are kept as tuples.
    """

    ids: str | Iterable[str] | None = filter_field(Strings(), flag="--id", help="batch id")
    numbers: str | Iterable[str] | None = filter_field(
        Strings(), flag="--number", help="batch number"
    )
    created_after: datetime | None = filter_field(
        Instant(), help="RFC 3339, inclusive, e.g. 2024-01-15T00:00:00Z"
    )
    created_before: datetime | None = filter_field(Instant(), help="RFC 3339, inclusive")
    search_query: str | None = filter_field(
        Text(max_length=MAX_SEARCH_QUERY), flag="--search", help="batch or serial number"
    )
    part_numbers: str | Iterable[str] | None = filter_field(
        Strings(), flag="--part-number", help="part number of a unit in the batch"
    )
    revision_numbers: str | Iterable[str] | None = filter_field(
        Strings(), flag="--revision", help="revision of a unit in the batch"
    )

    def check_together(self) -> None:
        """No batch could match a window that ends before it starts."""
        after, before = self.created_after, self.created_before
        if after is not None and before is not None and after > before:
            raise InvalidParameterError(
                "created_after", "must not be later than created_before (no batch could match)"
            )


def _user(batch: Batch) -> str:
    user = batch.created_by_user
    # A user without a name is not a cut-off UUID: `aiotofu users list` shows who it is.
    return (user.name or "(no name)") if user else "-"


BatchSort = Literal["created_at", "number"]
"""The values of ``sort_by``, the default first."""


@attrs.frozen(kw_only=True)
class BatchList(BatchFilters, SortedListOptions[Batch]):
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

    sort_by: BatchSort = "created_at"


@attrs.frozen(kw_only=True)
class BatchWatch(BatchFilters, WatchOptions[Batch]):
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

    # The window is the watch's own (since): declared again as None, left out.
    created_after: None = None
    created_before: None = None


@attrs.frozen(kw_only=True)
class BatchPlan(BatchFilters, PlanOptions):
    """Cut the listing of the batches that match every given filter into shards of at most
    ``target_size`` records, by their created_at: half-open windows ``[start, end)``
    that any number of workers read with ``read(shard)``, together every record up to the
    plan's ``as_of`` (the newest when planning began) exactly once.

    The filters are those of ``list()``; its ``created_after`` / ``created_before`` window narrows
    the plan. Planning asks bounded questions (a probe walks at most ``target_size``
    records, whatever the depth). ``shards()`` yields the shards as they are found, so
    that reading can start while planning goes on; ``plan()`` returns them all as a
    ``Plan``, in time order.
    """


BATCHES: Endpoint[Batch, BatchFilters] = Endpoint(
    name="batches",
    path="/v2/batches",
    model=Batch,
    filters=BatchFilters,
    sorts=typing.get_args(BatchSort),
    # Where the official SDK (its BatchListRequest model) sends the keys that are not filters.
    sent_after={
        "created_before": ("limit", "cursor"),
        "revision_numbers": ("sort_by", "sort_order"),
    },
    time_field="created_at",
    time_bounds=("created_after", "created_before"),
    columns=(
        Column("NUMBER", 20, lambda batch: batch.number),
        Column("CREATED (UTC)", 23, lambda batch: table_time(batch.created_at)),
        Column("UNITS", 5, lambda batch: str(batch.unit_count)),
        Column("USER", 20, _user),
        Column("STATION", 0, lambda b: b.created_by_station.name if b.created_by_station else "-"),
    ),
    keys={"number": by("number")},
)

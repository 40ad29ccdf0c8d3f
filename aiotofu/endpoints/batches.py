"""``GET /v2/batches``: its filters and how it is listed, as TofuPilot's reference documents."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import attrs

from .._convert import table_time
from .._endpoint import Column, Endpoint, by
from .._filters import Filters, Instant, Strings, Text, filter_field
from .._models import Batch
from ..errors import InvalidParameterError

__all__ = ["BATCHES", "BatchFilters"]

MAX_SEARCH_QUERY = 100


@attrs.frozen(cache_hash=True)
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
    return (user.name or user.id) if user else "-"


BATCHES: Endpoint[Batch, BatchFilters] = Endpoint(
    name="batches",
    path="/v2/batches",
    model=Batch,
    filters=BatchFilters,
    sorts=("created_at", "number"),
    # The official SDK's order (its BatchListRequest model).
    wire_order=(
        "ids",
        "numbers",
        "created_after",
        "created_before",
        "limit",
        "cursor",
        "search_query",
        "part_numbers",
        "revision_numbers",
        "sort_by",
        "sort_order",
    ),
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

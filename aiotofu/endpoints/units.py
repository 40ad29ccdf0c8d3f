"""``GET /v2/units``: its filters and how it is listed, from the official SDK's models.

Units are pinned and restarted on ``created_at`` (``created_after`` / ``created_before``), and
watched by it.
"""

from __future__ import annotations

import typing
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Literal

import attrs

from .._convert import table_time
from .._endpoint import Column, Endpoint, by
from .._filters import Filters, Flag, Instant, Integer, Metadata, filter_field
from .._models import Outcome, SampleFilter, Unit
from .._options import PlanOptions, SortedListOptions, WatchOptions
from ._common import OUTCOMES, SAMPLES_WITH_PRODUCTION, choices, search, strings

__all__ = ["UNITS", "UnitFilters", "UnitList", "UnitPlan", "UnitSort", "UnitWatch"]


@attrs.frozen(kw_only=True, cache_hash=True)
class UnitFilters(Filters):
    """The filters of ``GET /v2/units``."""

    ranges = (
        ("created_after", "created_before"),
        ("started_after", "started_before"),
        ("run_count_min", "run_count_max"),
    )

    search_query: str | None = search("serial number")
    ids: str | Iterable[str] | None = strings("--id", "unit id")
    serial_numbers: str | Iterable[str] | None = strings("--serial-number", "serial number")
    part_numbers: str | Iterable[str] | None = strings("--part-number", "part number")
    revision_numbers: str | Iterable[str] | None = strings("--revision", "part revision")
    batch_numbers: str | Iterable[str] | None = strings("--batch-number", "batch number")
    procedure_ids: str | Iterable[str] | None = strings(
        "--procedure-id", "procedure the unit was tested by"
    )
    outcomes: Outcome | Iterable[Outcome] | None = choices(
        OUTCOMES, "--outcome", "outcome of a run"
    )
    started_after: datetime | None = filter_field(
        Instant(), help="a run started at or after this time (RFC 3339)"
    )
    started_before: datetime | None = filter_field(
        Instant(), help="a run started at or before this time"
    )
    latest_only: bool = filter_field(
        Flag(), help="match the run filters on each unit's latest run only", default=False
    )
    run_count_min: int | None = filter_field(Integer(low=0), help="at least this many runs")
    run_count_max: int | None = filter_field(Integer(low=0), help="at most this many runs")
    created_after: datetime | None = filter_field(
        Instant(), help="created at or after (RFC 3339, e.g. 2024-01-15T00:00:00Z)"
    )
    created_before: datetime | None = filter_field(Instant(), help="created at or before")
    created_by_user_ids: str | Iterable[str] | None = strings(
        "--created-by-user-id", "user who created the unit"
    )
    created_by_station_ids: str | Iterable[str] | None = strings(
        "--created-by-station-id", "station that created the unit"
    )
    exclude_units_with_parent: bool = filter_field(
        Flag(), help="leave out units assembled into another", default=False
    )
    samples: SampleFilter | Iterable[SampleFilter] | None = choices(
        SAMPLES_WITH_PRODUCTION, "--sample", "sample class"
    )
    metadata: Mapping[str, Any] | None = filter_field(
        Metadata(), help='custom metadata, e.g. {"rework": {"eq": true}} (at most 5 keys)'
    )
    include_metadata: bool = filter_field(
        Flag(), help="include each unit's metadata", default=False
    )


def _last_run(unit: Unit) -> str:
    run = unit.last_run
    return f"{run.outcome} {table_time(run.started_at)}" if run else "-"


UnitSort = Literal[
    "created_at",
    "serial_number",
    "last_run_at",
    "part_number",
    "last_run_procedure",
]
"""The values of ``sort_by``, the default first."""


@attrs.frozen(kw_only=True)
class UnitList(UnitFilters, SortedListOptions[Unit]):
    """Stream the units that match every given filter, following the cursor for you.

    Filters are the API's (``GET /v2/units``), under its names and defaults: lists take a
    string or a list of strings, enums (``outcomes``, ``samples``) are checked against the
    API's values, datetimes must be timezone-aware, ``metadata`` filters on custom metadata
    (at most 5 keys, as for ``client.parts.list()``). The run filters (``procedure_ids``,
    ``outcomes``, ``started_*``, ``run_count_*``) match a unit by its runs, or by its latest
    run only with ``latest_only``. The listing options are those of
    ``client.batches.list()``; every argument is checked here, before any request.
    """

    sort_by: UnitSort = "created_at"


@attrs.frozen(kw_only=True)
class UnitWatch(UnitFilters, WatchOptions[Unit]):
    """Yield units as they are created, oldest first, each exactly once, until you stop.

    As ``client.batches.watch()``, by the units' ``created_at``, with the filters of
    ``list()`` except the creation window.
    """

    # The window is the watch's own (since): declared again as None, left out.
    created_after: None = None
    created_before: None = None


@attrs.frozen(kw_only=True)
class UnitPlan(UnitFilters, PlanOptions):
    """Cut the listing of the units that match every given filter into shards of at most
    ``target_size`` records, by their created_at: half-open windows ``[start, end)``
    that any number of workers read with ``read(shard)``, together every record up to the
    plan's ``as_of`` (the newest when planning began) exactly once.

    The filters are those of ``list()``; its ``created_after`` / ``created_before`` window narrows
    the plan. Planning asks bounded questions (a probe walks at most ``target_size``
    records, whatever the depth). ``shards()`` yields the shards as they are found, so
    that reading can start while planning goes on; ``plan()`` returns them all as a
    ``Plan``, in time order.
    """


UNITS: Endpoint[Unit, UnitFilters] = Endpoint(
    name="units",
    path="/v2/units",
    model=Unit,
    filters=UnitFilters,
    sorts=typing.get_args(UnitSort),
    # Where the official SDK (its UnitListRequest model) sends the keys that are not filters.
    sent_after={"samples": ("limit", "cursor", "sort_by", "sort_order")},
    time_field="created_at",
    time_bounds=("created_after", "created_before"),
    columns=(
        Column("SERIAL", 16, lambda unit: unit.serial_number),
        Column("PART", 10, lambda unit: unit.part.number),
        Column("REV", 4, lambda unit: unit.part.revision.number),
        Column("CREATED (UTC)", 23, lambda unit: table_time(unit.created_at)),
        Column("BATCH", 14, lambda unit: unit.batch.number if unit.batch else "-"),
        Column("LAST RUN", 0, _last_run),
    ),
    keys={
        "serial_number": by("serial_number"),
        "part_number": by("part.number"),
        # A new run moves its unit in these two orders.
        "last_run_at": by("last_run.started_at", mutable=True),
        "last_run_procedure": by("last_run.procedure.name", mutable=True),
    },
)

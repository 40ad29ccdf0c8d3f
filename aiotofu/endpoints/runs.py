"""``GET /v2/runs``: its filters and how it is listed, from the official SDK's models.

Runs are sorted by ``started_at`` by default, but a run is uploaded after it ended, with a start
in the past: the pin is ``created_before`` (the time the API recorded the run), which no run
uploaded later can pass, and a watch follows ``created_at`` for the same reason.
"""

from __future__ import annotations

import typing
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, Literal

import attrs

from .._convert import table_time
from .._endpoint import Column, Endpoint, by
from .._filters import Duration, Filters, Flag, Instant, Metadata, filter_field
from .._models import Environment, Outcome, Run, SampleFilter
from .._options import PlanOptions, SortedListOptions, WatchOptions
from ._common import (
    ENVIRONMENTS,
    OUTCOMES,
    SAMPLES_WITH_PRODUCTION,
    choices,
    duration,
    search,
    strings,
)

__all__ = ["RUNS", "RunFilters", "RunList", "RunPlan", "RunSort", "RunWatch"]


@attrs.frozen(kw_only=True, cache_hash=True)
class RunFilters(Filters):
    """The filters of ``GET /v2/runs``."""

    ranges = (
        ("started_after", "started_before"),
        ("ended_after", "ended_before"),
        ("created_after", "created_before"),
    )

    search_query: str | None = search("serial number, procedure or run id")
    ids: str | Iterable[str] | None = strings("--id", "run id")
    outcomes: Outcome | Iterable[Outcome] | None = choices(OUTCOMES, "--outcome", "run outcome")
    procedure_ids: str | Iterable[str] | None = strings("--procedure-id", "procedure id")
    procedure_versions: str | Iterable[str] | None = strings(
        "--procedure-version", "procedure version tag"
    )
    deployment_ids: str | Iterable[str] | None = strings("--deployment-id", "deployment id")
    execution_ids: str | Iterable[str] | None = strings("--execution-id", "multi-slot execution id")
    slot_keys: str | Iterable[str] | None = strings("--slot-key", "fixture slot key")
    slot_names: str | Iterable[str] | None = strings("--slot-name", "fixture slot name")
    environments: Environment | Iterable[Environment] | None = choices(
        ENVIRONMENTS, "--environment", "deployment environment"
    )
    serial_numbers: str | Iterable[str] | None = strings("--serial-number", "unit serial number")
    samples: SampleFilter | Iterable[SampleFilter] | None = choices(
        SAMPLES_WITH_PRODUCTION, "--sample", "sample class of the unit"
    )
    part_numbers: str | Iterable[str] | None = strings("--part-number", "part number")
    revision_numbers: str | Iterable[str] | None = strings("--revision", "part revision")
    batch_numbers: str | Iterable[str] | None = strings("--batch-number", "batch number")
    duration_min: timedelta | str | None = filter_field(
        Duration(), help="at least this long (ISO 8601, e.g. PT30S)"
    )
    duration_max: timedelta | str | None = filter_field(Duration(), help="at most this long")
    started_after: datetime | None = filter_field(
        Instant(), help="started at or after (RFC 3339, e.g. 2024-06-01T00:00:00Z)"
    )
    started_before: datetime | None = filter_field(Instant(), help="started at or before")
    ended_after: datetime | None = filter_field(Instant(), help="ended at or after")
    ended_before: datetime | None = filter_field(Instant(), help="ended at or before")
    created_after: datetime | None = filter_field(Instant(), help="uploaded at or after")
    created_before: datetime | None = filter_field(Instant(), help="uploaded at or before")
    created_by_user_ids: str | Iterable[str] | None = strings(
        "--created-by-user-id", "user whose key uploaded the run"
    )
    created_by_station_ids: str | Iterable[str] | None = strings(
        "--created-by-station-id", "station whose key uploaded the run"
    )
    operated_by_ids: str | Iterable[str] | None = strings("--operated-by-id", "operator id")
    operated_by_names: str | Iterable[str] | None = strings("--operated-by-name", "operator name")
    metadata: Mapping[str, Any] | None = filter_field(
        Metadata(), help='custom metadata, e.g. {"fixture": {"in": ["F1"]}} (at most 5 keys)'
    )
    include_metadata: bool = filter_field(Flag(), help="include each run's metadata", default=False)
    include_sequences: bool = filter_field(
        Flag(), help="include each run's top-level sequence calls", default=False
    )


RunSort = Literal[
    "started_at",
    "created_at",
    "duration",
    "outcome",
    "serial_number",
    "part_number",
    "revision_number",
]
"""The values of ``sort_by``, the default first."""


@attrs.frozen(kw_only=True)
class RunList(RunFilters, SortedListOptions[Run]):
    """Stream the runs that match every given filter, newest start first by default.

    Filters are the API's (``GET /v2/runs``): lists take a string or a list of strings;
    ``outcomes``, ``environments`` and ``samples`` are checked against the API's values;
    datetimes must be timezone-aware; ``duration_min`` / ``duration_max`` take a
    ``timedelta`` or an ISO 8601 duration (sent in ISO 8601); ``metadata`` filters on
    custom metadata (at most 5 keys); ``include_metadata`` and ``include_sequences`` add
    each run's metadata and top-level sequence calls. The listing options are those of
    ``client.batches.list()``. Runs are uploaded after they end, so the listing is pinned
    on ``created_before`` (upload time): runs uploaded while it streams are not yielded.
    """

    sort_by: RunSort = "started_at"


@attrs.frozen(kw_only=True)
class RunWatch(RunFilters, WatchOptions[Run]):
    """Yield runs as they are uploaded, oldest first, each exactly once, until you stop.

    As ``client.batches.watch()``, by the runs' ``created_at`` (when the API recorded the
    run, not when it started: a run uploaded late with an old start is still seen), with
    the filters of ``list()`` except the upload window.
    """

    # The window is the watch's own (since): declared again as None, left out.
    created_after: None = None
    created_before: None = None


@attrs.frozen(kw_only=True)
class RunPlan(RunFilters, PlanOptions):
    """Cut the listing of the runs that match every given filter into shards of at most
    ``target_size`` records, by their created_at (upload time): half-open windows ``[start, end)``
    that any number of workers read with ``read(shard)``, together every record up to the
    plan's ``as_of`` (the newest when planning began) exactly once.

    The filters are those of ``list()``; its ``created_after`` / ``created_before`` window narrows
    the plan. Planning asks bounded questions (a probe walks at most ``target_size``
    records, whatever the depth). ``shards()`` yields the shards as they are found, so
    that reading can start while planning goes on; ``plan()`` returns them all as a
    ``Plan``, in time order.
    """


RUNS: Endpoint[Run, RunFilters] = Endpoint(
    name="runs",
    path="/v2/runs",
    model=Run,
    filters=RunFilters,
    sorts=typing.get_args(RunSort),
    # Where the official SDK (its RunListRequest model) sends the keys that are not filters.
    sent_after={"operated_by_names": ("limit", "cursor", "sort_by", "sort_order")},
    time_field="created_at",
    time_bounds=("created_after", "created_before"),
    columns=(
        Column("STARTED (UTC)", 23, lambda run: table_time(run.started_at)),
        Column("OUTCOME", 7, lambda run: run.outcome),
        Column("PROCEDURE", 16, lambda run: run.procedure.name),
        Column("SERIAL", 16, lambda run: run.unit.serial_number),
        Column("DURATION", 0, lambda run: duration(run.duration)),
    ),
    keys={
        # Immutable, never null and filtered inclusively: a lost position restarts from it.
        "started_at": by("started_at", bounds=("started_after", "started_before")),
        "duration": by("duration"),
        "outcome": by("outcome"),
        "serial_number": by("unit.serial_number"),
        "part_number": by("unit.part.number"),
        "revision_number": by("unit.part.revision.number"),
    },
)

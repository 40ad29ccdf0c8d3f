"""``GET /v2/runs``: its filters and how it is listed, from the official SDK's models.

Runs are sorted by ``started_at`` by default, but a run is uploaded after it ended, with a start
in the past: the pin is ``created_before`` (the time the API recorded the run), which no run
uploaded later can pass, and a watch follows ``created_at`` for the same reason.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

import attrs

from .._convert import table_time
from .._endpoint import Column, Endpoint, by
from .._filters import Duration, Filters, Flag, Instant, Metadata, filter_field
from .._models import Environment, Outcome, Run, SampleFilter
from ._common import ENVIRONMENTS, OUTCOMES, SAMPLES_WITH_PRODUCTION, choices, search, strings

__all__ = ["RUNS", "RunFilters"]


@attrs.frozen(cache_hash=True)
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


RUNS: Endpoint[Run, RunFilters] = Endpoint(
    name="runs",
    path="/v2/runs",
    model=Run,
    filters=RunFilters,
    sorts=(
        "started_at",
        "created_at",
        "duration",
        "outcome",
        "serial_number",
        "part_number",
        "revision_number",
    ),
    # The official SDK's order (its RunListRequest model).
    wire_order=(
        "search_query",
        "ids",
        "outcomes",
        "procedure_ids",
        "procedure_versions",
        "deployment_ids",
        "execution_ids",
        "slot_keys",
        "slot_names",
        "environments",
        "serial_numbers",
        "samples",
        "part_numbers",
        "revision_numbers",
        "batch_numbers",
        "duration_min",
        "duration_max",
        "started_after",
        "started_before",
        "ended_after",
        "ended_before",
        "created_after",
        "created_before",
        "created_by_user_ids",
        "created_by_station_ids",
        "operated_by_ids",
        "operated_by_names",
        "limit",
        "cursor",
        "sort_by",
        "sort_order",
        "metadata",
        "include_metadata",
        "include_sequences",
    ),
    time_field="created_at",
    time_bounds=("created_after", "created_before"),
    columns=(
        Column("STARTED (UTC)", 23, lambda run: table_time(run.started_at)),
        Column("OUTCOME", 7, lambda run: run.outcome),
        Column("PROCEDURE", 16, lambda run: run.procedure.name),
        Column("SERIAL", 16, lambda run: run.unit.serial_number),
        Column("DURATION", 0, lambda run: run.duration),
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

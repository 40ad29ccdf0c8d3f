"""``GET /v2/logs``: its filters and how it is listed, from the official SDK's models.

Log lines are pinned and restarted on ``created_at``, which the API filters with
``timestamp_after`` / ``timestamp_before``, and watched by it.
"""

from __future__ import annotations

import typing
from collections.abc import Iterable
from datetime import datetime

import attrs

from .._convert import table_time
from .._endpoint import Column, Endpoint, by
from .._filters import Filters, Instant, filter_field
from .._models import Environment, Log, LogLevel, Outcome, Sample
from ._common import ENVIRONMENTS, OUTCOMES, SAMPLES, choices, search, strings

__all__ = ["LOGS", "LogFilters"]


@attrs.frozen(cache_hash=True)
class LogFilters(Filters):
    """The filters of ``GET /v2/logs``."""

    ranges = (("timestamp_after", "timestamp_before"),)

    procedure_ids: str | Iterable[str] | None = strings("--procedure-id", "procedure id")
    search_query: str | None = search("text of the message")
    levels: LogLevel | Iterable[LogLevel] | None = choices(
        typing.get_args(LogLevel), "--level", "level"
    )
    timestamp_after: datetime | None = filter_field(Instant(), help="logged at or after (RFC 3339)")
    timestamp_before: datetime | None = filter_field(Instant(), help="logged at or before")
    source_files: str | Iterable[str] | None = strings("--source-file", "source file")
    run_ids: str | Iterable[str] | None = strings("--run-id", "run id")
    run_outcomes: Outcome | Iterable[Outcome] | None = choices(
        OUTCOMES, "--run-outcome", "run outcome"
    )
    procedure_versions: str | Iterable[str] | None = strings(
        "--procedure-version", "procedure version tag"
    )
    deployment_ids: str | Iterable[str] | None = strings("--deployment-id", "deployment id")
    environments: Environment | Iterable[Environment] | None = choices(
        ENVIRONMENTS, "--environment", "deployment environment"
    )
    serial_numbers: str | Iterable[str] | None = strings("--serial-number", "unit serial number")
    part_numbers: str | Iterable[str] | None = strings("--part-number", "part number")
    revision_numbers: str | Iterable[str] | None = strings("--revision", "part revision")
    batch_numbers: str | Iterable[str] | None = strings("--batch-number", "batch number")
    samples: Sample | Iterable[Sample] | None = choices(SAMPLES, "--sample", "sample class")
    created_by_station_ids: str | Iterable[str] | None = strings(
        "--created-by-station-id", "station that logged"
    )
    created_by_user_ids: str | Iterable[str] | None = strings(
        "--created-by-user-id", "user who logged"
    )


LOGS: Endpoint[Log, LogFilters] = Endpoint(
    name="logs",
    path="/v2/logs",
    model=Log,
    filters=LogFilters,
    sorts=("created_at", "level", "run_id", "outcome"),
    # The official SDK's order (its LogListRequest model).
    wire_order=(
        "procedure_ids",
        "search_query",
        "levels",
        "timestamp_after",
        "timestamp_before",
        "source_files",
        "run_ids",
        "run_outcomes",
        "procedure_versions",
        "deployment_ids",
        "environments",
        "serial_numbers",
        "part_numbers",
        "revision_numbers",
        "batch_numbers",
        "samples",
        "created_by_station_ids",
        "created_by_user_ids",
        "sort_by",
        "sort_order",
        "limit",
        "cursor",
    ),
    time_field="created_at",
    time_bounds=("timestamp_after", "timestamp_before"),
    columns=(
        Column("CREATED (UTC)", 23, lambda log: table_time(log.created_at)),
        Column("LEVEL", 8, lambda log: log.level),
        Column("SERIAL", 16, lambda log: log.unit.serial_number),
        Column("MESSAGE", 0, lambda log: log.message),
    ),
    keys={"level": by("level"), "run_id": by("run.id"), "outcome": by("run.outcome")},
)

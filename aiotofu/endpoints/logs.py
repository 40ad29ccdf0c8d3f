"""``GET /v2/logs``: its filters and how it is listed, from the official SDK's models.

Log lines are pinned and restarted on ``created_at``, which the API filters with
``timestamp_after`` / ``timestamp_before``, and watched by it.
"""

from __future__ import annotations

import typing
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Literal

import attrs

from .._convert import table_time
from .._endpoint import Column, Endpoint, by
from .._filters import Filters, Instant, filter_field
from .._models import Environment, Log, LogLevel, Outcome, Sample
from .._options import PlanOptions, SortedListOptions, WatchOptions
from ._common import ENVIRONMENTS, OUTCOMES, SAMPLES, choices, search, strings

__all__ = [
    "LINE_FILTERS",
    "LOGS",
    "RUN_FILTERS",
    "LogFilters",
    "LogList",
    "LogPlan",
    "LogSort",
    "LogWatch",
]


@attrs.frozen(kw_only=True, cache_hash=True)
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


LogSort = Literal["created_at", "level", "run_id", "outcome"]
"""The values of ``sort_by``, the default first."""


# The log filters that are filters of the line's run, with the name the runs endpoint gives the
# same filter: they narrow the runs a watch of lines follows (``_log_watch``), and are still sent
# on every listing of lines, so that what is yielded is what the API's filter means.
RUN_FILTERS: Mapping[str, str] = {
    "procedure_ids": "procedure_ids",
    "run_ids": "ids",
    "run_outcomes": "outcomes",
    "procedure_versions": "procedure_versions",
    "deployment_ids": "deployment_ids",
    "environments": "environments",
    "serial_numbers": "serial_numbers",
    "part_numbers": "part_numbers",
    "revision_numbers": "revision_numbers",
    "batch_numbers": "batch_numbers",
    "samples": "samples",
    "created_by_station_ids": "created_by_station_ids",
    "created_by_user_ids": "created_by_user_ids",
}
# Filters of the lines themselves, sent on the listings of lines only. The runs endpoint's
# ``search_query`` searches serial numbers and procedures, not messages: not the same filter.
LINE_FILTERS = ("search_query", "levels", "source_files", "timestamp_after", "timestamp_before")


@attrs.frozen(kw_only=True)
class LogList(LogFilters, SortedListOptions[Log]):
    """Stream the log lines that match every given filter, newest first by default.

    Filters are the API's (``GET /v2/logs``): ``levels``, ``run_outcomes``,
    ``environments`` and ``samples`` are checked against the API's values; the
    ``timestamp_*`` window is on each line's ``created_at`` and must be timezone-aware.
    The listing options are those of ``client.batches.list()``.
    """

    sort_by: LogSort = "created_at"


@attrs.frozen(kw_only=True)
class LogWatch(LogFilters, WatchOptions[Log]):
    """Yield the log lines of runs as they are uploaded, each line exactly once, until you
    stop.

    A line's ``created_at`` is the station's clock when it logged it, so the watch does not
    follow it: it follows runs by their upload time (``client.runs.watch()``, the run's
    ``created_at`` as the server recorded it), and yields each new run's lines, run after
    run in upload order, each run's lines oldest first. A run uploaded late, or by a
    station whose clock is off, loses nothing and holds nothing back.

    ``since`` (timezone-aware): the lines of runs uploaded strictly after it; by default,
    of runs uploaded after the newest run on the server when the watch is entered
    (``async with``) or first iterated. ``lookback`` is the runs watch's (runs whose upload
    is recorded late, see ``client.runs.watch()``); ``poll_interval`` how often it asks for
    new runs; ``page_size`` the page of both runs and lines. The filters are those of
    ``list()`` except the ``timestamp_*`` window: every one is sent on each listing of
    lines, and those that are run filters (``procedure_ids``, ``run_ids``,
    ``run_outcomes``, ``procedure_versions``, ``deployment_ids``, ``environments``,
    ``serial_numbers``, ``part_numbers``, ``revision_numbers``, ``batch_numbers``,
    ``samples``, ``created_by_station_ids``, ``created_by_user_ids``) also narrow the runs
    watched. ``watcher.since`` is the upload time reached.

    ``resume_token`` (from ``watcher.resume_token``) continues just after the last line
    handed out, inside a run's lines too, with the watch's filters: give no ``since``, no
    filters and no ``lookback`` with it. A malformed token raises InvalidParameterError.
    """

    # The window is the watch's own (since): declared again as None, left out.
    timestamp_after: None = None
    timestamp_before: None = None


@attrs.frozen(kw_only=True)
class LogPlan(LogFilters, PlanOptions):
    """Cut the listing of the log lines that match every given filter into shards of at most
    ``target_size`` records, by their created_at: half-open windows ``[start, end)``
    that any number of workers read with ``read(shard)``, together every record up to the
    plan's ``as_of`` (the newest when planning began) exactly once.

    The filters are those of ``list()``; its ``timestamp_after`` / ``timestamp_before``
    window narrows the plan. Planning asks bounded questions (a probe walks at most ``target_size``
    records, whatever the depth). ``shards()`` yields the shards as they are found, so
    that reading can start while planning goes on; ``plan()`` returns them all as a
    ``Plan``, in time order.
    """


LOGS: Endpoint[Log, LogFilters] = Endpoint(
    name="logs",
    path="/v2/logs",
    model=Log,
    filters=LogFilters,
    sorts=typing.get_args(LogSort),
    # Where the official SDK (its LogListRequest model) sends the keys that are not filters.
    sent_after={"created_by_user_ids": ("sort_by", "sort_order", "limit", "cursor")},
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

"""``GET /v2/phases``: its filters and how it is listed, from the official SDK's models.

Phases are scoped to one procedure (``procedure_id`` is required). Their ``started_at`` may be
null, so a time pin (``started_before``) would silently leave out the phases without one: the
listing has no pin and no watch, and its continuity is verified alone.
"""

from __future__ import annotations

import typing
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Literal

import attrs

from .._endpoint import Column, Endpoint, by
from .._filters import Duration, Filters, Flag, Instant, Text, about, filter_field
from .._models import Environment, Outcome, Phase, PhaseOutcome, SampleFilter
from .._options import SortedListOptions
from ._common import (
    ENVIRONMENTS,
    OUTCOMES,
    SAMPLES_WITH_PRODUCTION,
    choices,
    duration,
    strings,
    when,
)

__all__ = ["PHASES", "PhaseFilters", "PhaseList", "PhaseSort"]


@attrs.frozen(kw_only=True, cache_hash=True)
class PhaseFilters(Filters):
    """The filters of ``GET /v2/phases``; ``procedure_id`` is required."""

    ranges = (("started_after", "started_before"),)

    procedure_id: str = attrs.field(
        metadata=about(
            Text(non_empty=True), help="the procedure whose phases to list", required=True
        )
    )
    names: str | Iterable[str] | None = strings("--name", "phase name")
    outcomes: PhaseOutcome | Iterable[PhaseOutcome] | None = choices(
        typing.get_args(PhaseOutcome), "--outcome", "phase outcome"
    )
    sequence_paths: str | Iterable[str] | None = strings(
        "--sequence-path", "path of the sequence call"
    )
    started_after: datetime | None = filter_field(Instant(), help="started at or after (RFC 3339)")
    started_before: datetime | None = filter_field(Instant(), help="started at or before")
    exclude_retries: bool = filter_field(
        Flag(), help="keep only the final attempt of a retried phase", default=True
    )
    run_outcomes: Outcome | Iterable[Outcome] | None = choices(
        OUTCOMES, "--run-outcome", "run outcome"
    )
    ids: str | Iterable[str] | None = strings("--id", "phase id")
    duration_min: timedelta | str | None = filter_field(
        Duration(), help="at least this long (ISO 8601, e.g. PT2S)"
    )
    duration_max: timedelta | str | None = filter_field(Duration(), help="at most this long")
    deployment_ids: str | Iterable[str] | None = strings("--deployment-id", "deployment id")
    procedure_versions: str | Iterable[str] | None = strings(
        "--procedure-version", "procedure version tag"
    )
    environments: Environment | Iterable[Environment] | None = choices(
        ENVIRONMENTS, "--environment", "deployment environment"
    )
    operated_by_ids: str | Iterable[str] | None = strings("--operated-by-id", "operator id")
    operated_by_names: str | Iterable[str] | None = strings("--operated-by-name", "operator name")
    created_by_station_ids: str | Iterable[str] | None = strings(
        "--created-by-station-id", "station that uploaded the run"
    )
    created_by_user_ids: str | Iterable[str] | None = strings(
        "--created-by-user-id", "user who uploaded the run"
    )
    serial_numbers: str | Iterable[str] | None = strings("--serial-number", "unit serial number")
    part_numbers: str | Iterable[str] | None = strings("--part-number", "part number")
    revision_numbers: str | Iterable[str] | None = strings("--revision", "part revision")
    batch_numbers: str | Iterable[str] | None = strings("--batch-number", "batch number")
    samples: SampleFilter | Iterable[SampleFilter] | None = choices(
        SAMPLES_WITH_PRODUCTION, "--sample", "sample class of the unit"
    )


PhaseSort = Literal["started_at", "duration", "outcome", "serial_number", "phase_name"]
"""The values of ``sort_by``, the default first."""


@attrs.frozen(kw_only=True)
class PhaseList(PhaseFilters, SortedListOptions[Phase]):
    """Stream the phases of one procedure (``procedure_id`` is required).

    Filters are the API's (``GET /v2/phases``): ``outcomes`` are phase outcomes (PASS,
    FAIL, SKIP, ERROR), ``run_outcomes`` those of their runs; ``exclude_retries`` (True,
    the API's default) keeps only the final attempt of a retried phase;
    ``duration_min`` / ``duration_max`` take a ``timedelta`` or an ISO 8601 duration.
    A phase may have no start time, so the listing is not pinned on one (no phase is
    left out); its continuity is verified page by page instead.
    """

    sort_by: PhaseSort = "started_at"


def _duration(phase: Phase) -> str:
    """As a run's duration reads (the API gives a phase's in milliseconds)."""
    ms = phase.duration_ms
    return duration(None if ms is None else timedelta(milliseconds=ms))


PHASES: Endpoint[Phase, PhaseFilters] = Endpoint(
    name="phases",
    path="/v2/phases",
    model=Phase,
    filters=PhaseFilters,
    sorts=typing.get_args(PhaseSort),
    # Where the official SDK (its PhaseListRequest model) sends the keys that are not filters.
    sent_after={"samples": ("sort_by", "sort_order", "limit", "cursor")},
    columns=(
        Column("STARTED (UTC)", 23, lambda phase: when(phase.started_at)),
        Column("OUTCOME", 7, lambda phase: phase.outcome),
        Column("PHASE", 20, lambda phase: phase.name),
        Column("SERIAL", 16, lambda phase: phase.serial_number or "-"),
        Column("DURATION", 0, _duration),
    ),
    keys={
        # Nullable (nulls last, left out by its bounds): restarted from for the records that
        # have one, then the nulls are listed where those end.
        "started_at": by("started_at", bounds=("started_after", "started_before"), nullable=True),
        "duration": by("duration_ms"),
        "outcome": by("outcome"),
        "serial_number": by("serial_number"),
        "phase_name": by("name"),
    },
)

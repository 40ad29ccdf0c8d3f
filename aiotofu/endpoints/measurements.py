"""``GET /v2/measurements``: its filters and how it is listed, from the official SDK's models.

Measurements are scoped to one procedure (``procedure_id`` is required). Their ``started_at``
(their phase's) may be null, so, as for phases, the listing has no time pin and no watch, and
its continuity is verified alone.
"""

from __future__ import annotations

import typing
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Literal

import attrs

from .._endpoint import Column, Endpoint, by
from .._filters import Duration, Filters, Flag, Instant, Number, Text, about, filter_field
from .._models import Environment, Measurement, MeasurementOutcome, MeasurementType, Outcome
from .._options import SortedListOptions
from ._common import ENVIRONMENTS, OUTCOMES, choices, strings, when

__all__ = ["MEASUREMENTS", "MeasurementFilters", "MeasurementList", "MeasurementSort"]


@attrs.frozen(kw_only=True, cache_hash=True)
class MeasurementFilters(Filters):
    """The filters of ``GET /v2/measurements``; ``procedure_id`` is required."""

    ranges = (("started_after", "started_before"), ("value_min", "value_max"))

    procedure_id: str = attrs.field(
        metadata=about(
            Text(non_empty=True), help="the procedure whose measurements to list", required=True
        )
    )
    phase_name: str | None = filter_field(Text(), help="name of the phase")
    measurement_name: str | None = filter_field(Text(), help="name of the measurement")
    phase_names: str | Iterable[str] | None = strings("--phase-names", "phase name (any of)")
    outcomes: Outcome | Iterable[Outcome] | None = choices(OUTCOMES, "--outcome", "run outcome")
    ids: str | Iterable[str] | None = strings("--id", "measurement id")
    duration_min: timedelta | str | None = filter_field(
        Duration(), help="run at least this long (ISO 8601)"
    )
    duration_max: timedelta | str | None = filter_field(Duration(), help="run at most this long")
    deployment_ids: str | Iterable[str] | None = strings("--deployment-id", "deployment id")
    procedure_versions: str | Iterable[str] | None = strings(
        "--procedure-version", "procedure version tag"
    )
    environments: Environment | Iterable[Environment] | None = choices(
        ENVIRONMENTS, "--environment", "deployment environment"
    )
    serial_numbers: str | Iterable[str] | None = strings("--serial-number", "unit serial number")
    part_numbers: str | Iterable[str] | None = strings("--part-number", "part number")
    revision_numbers: str | Iterable[str] | None = strings("--revision", "part revision")
    batch_numbers: str | Iterable[str] | None = strings("--batch-number", "batch number")
    operated_by_ids: str | Iterable[str] | None = strings("--operated-by-id", "operator id")
    operated_by_names: str | Iterable[str] | None = strings("--operated-by-name", "operator name")
    created_by_station_ids: str | Iterable[str] | None = strings(
        "--created-by-station-id", "station that uploaded the run"
    )
    created_by_user_ids: str | Iterable[str] | None = strings(
        "--created-by-user-id", "user who uploaded the run"
    )
    started_after: datetime | None = filter_field(
        Instant(), help="phase started at or after (RFC 3339)"
    )
    started_before: datetime | None = filter_field(Instant(), help="phase started at or before")
    exclude_retries: bool = filter_field(
        Flag(), help="keep only the final attempt of a retried phase", default=True
    )
    value_min: float | None = filter_field(Number(), help="numeric value at least")
    value_max: float | None = filter_field(Number(), help="numeric value at most")
    value_bool: bool | None = filter_field(Flag(), help="boolean value")
    value_strings: str | Iterable[str] | None = strings("--value-string", "string value")
    measurement_outcomes: MeasurementOutcome | Iterable[MeasurementOutcome] | None = choices(
        typing.get_args(MeasurementOutcome), "--measurement-outcome", "measurement outcome"
    )
    measurement_types: MeasurementType | Iterable[MeasurementType] | None = choices(
        typing.get_args(MeasurementType), "--measurement-type", "value type"
    )


def _value(measurement: Measurement) -> str:
    for value in (measurement.value, measurement.bool_value, measurement.string_value):
        if value is not None:
            return f"{value:g}" if isinstance(value, float) else str(value)
    return "-"


def _limits(measurement: Measurement) -> str:
    """The limits a measurement was checked against, as their expressions (``x >= 3.2,
    x <= 3.4``)."""
    validators = measurement.validators or ()
    return ", ".join(v.expression for v in validators) or "-"


MeasurementSort = Literal[
    "started_at",
    "value",
    "outcome",
    "serial_number",
    "phase_name",
    "measurement_name",
]
"""The values of ``sort_by``, the default first."""


@attrs.frozen(kw_only=True)
class MeasurementList(MeasurementFilters, SortedListOptions[Measurement]):
    """Stream the measurements of one procedure (``procedure_id`` is required).

    Filters are the API's (``GET /v2/measurements``): ``outcomes`` are those of the runs,
    ``measurement_outcomes`` and ``measurement_types`` the measurements' own;
    ``value_min`` / ``value_max`` bound numeric values, ``value_bool`` and
    ``value_strings`` the others; ``exclude_retries`` (True by default) keeps the final
    attempt of each phase. Like phases, the listing is verified page by page, not pinned.
    """

    sort_by: MeasurementSort = "started_at"


MEASUREMENTS: Endpoint[Measurement, MeasurementFilters] = Endpoint(
    name="measurements",
    path="/v2/measurements",
    model=Measurement,
    filters=MeasurementFilters,
    sorts=typing.get_args(MeasurementSort),
    # Where the official SDK (its MeasurementListRequest model) sends the keys that are not filters.
    sent_after={"measurement_types": ("sort_by", "sort_order", "limit", "cursor")},
    columns=(
        Column("STARTED (UTC)", 23, lambda m: when(m.started_at)),
        Column("PHASE", 16, lambda m: m.phase_name),
        Column("MEASUREMENT", 16, lambda m: m.measurement_name),
        Column("VALUE", 10, _value),
        Column("UNITS", 5, lambda m: m.units or ""),
        Column("OUTCOME", 7, lambda m: m.measurement_outcome),
        Column("LIMITS", 16, _limits),
        Column("SERIAL", 0, lambda m: m.serial_number or "-"),
    ),
    keys={
        # Nullable (nulls last, left out by its bounds): restarted from for the records that
        # have one, then the nulls are listed where those end.
        "started_at": by("started_at", bounds=("started_after", "started_before"), nullable=True),
        "value": by("value"),
        "outcome": by("measurement_outcome"),
        "serial_number": by("serial_number"),
        "phase_name": by("phase_name"),
        "measurement_name": by("measurement_name"),
    },
)

"""``GET /v2/stations``: its filters and how it is listed, from the official SDK's models.

Stations have no time filter and no sort parameter: the server's own order is followed, with
no pin, and the listing's continuity is verified alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from .._endpoint import Column, Endpoint
from .._filters import Filters, Flag, Metadata, Strings, Text, filter_field
from .._models import Station

__all__ = ["STATIONS", "StationFilters"]


@attrs.frozen(cache_hash=True)
class StationFilters(Filters):
    """The filters of ``GET /v2/stations``."""

    search_query: str | None = filter_field(
        Text(max_length=100), flag="--search", help="station name"
    )
    procedure_ids: str | Iterable[str] | None = filter_field(
        Strings(), flag="--procedure-id", help="procedure linked to the station"
    )
    metadata: Mapping[str, Any] | None = filter_field(
        Metadata(), help='custom metadata, e.g. {"line": {"in": ["L2"]}} (at most 5 keys)'
    )
    include_metadata: bool = filter_field(
        Flag(), help="include each station's metadata", default=False
    )


STATIONS: Endpoint[Station, StationFilters] = Endpoint(
    name="stations",
    path="/v2/stations",
    model=Station,
    filters=StationFilters,
    # No sort parameter: the one order is the server's, and nothing about it is sent.
    sorts=("default",),
    # The official SDK's order (its StationListRequest model).
    wire_order=(
        "limit",
        "cursor",
        "search_query",
        "procedure_ids",
        "metadata",
        "include_metadata",
    ),
    columns=(
        Column("NAME", 28, lambda station: station.name),
        Column("TEAM", 16, lambda station: station.team.name if station.team else "-"),
        Column("PROCEDURES", 0, lambda station: ", ".join(p.name for p in station.procedures)),
    ),
)

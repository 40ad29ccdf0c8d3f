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
from .._options import ListOptions

__all__ = ["STATIONS", "StationFilters", "StationList"]


@attrs.frozen(kw_only=True, cache_hash=True)
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


@attrs.frozen(kw_only=True)
class StationList(StationFilters, ListOptions[Station]):
    """Stream the stations that match every given filter, in the server's order.

    ``search_query`` matches a station name; ``procedure_ids`` takes a string or a list;
    ``metadata`` and ``include_metadata`` as for ``client.parts.list()``. The API has no
    sort parameter and no time filter: the listing is kept consistent by verifying every
    page against the last station handed out.
    """


STATIONS: Endpoint[Station, StationFilters] = Endpoint(
    name="stations",
    path="/v2/stations",
    model=Station,
    filters=StationFilters,
    # No sort parameter: the one order is the server's, and nothing about it is sent.
    sorts=("default",),
    # Where the official SDK (its StationListRequest model) sends the keys that are not filters.
    sent_after={None: ("limit", "cursor")},
    columns=(
        Column("NAME", 28, lambda station: station.name),
        Column("TEAM", 16, lambda station: station.team.name if station.team else "-"),
        Column("PROCEDURES", 0, lambda station: ", ".join(p.name for p in station.procedures)),
    ),
)

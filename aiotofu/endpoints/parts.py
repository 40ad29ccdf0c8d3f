"""``GET /v2/parts``: its filters and how it is listed, from the official SDK's models.

Parts have no time filter: a listing has no pin, and its continuity is verified alone (a lost
position is searched for around where it was).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from .._convert import table_time
from .._endpoint import Column, Endpoint, by
from .._filters import Filters, Flag, Metadata, Strings, Text, filter_field
from .._models import Part

__all__ = ["PARTS", "PartFilters"]


@attrs.frozen(cache_hash=True)
class PartFilters(Filters):
    """The filters of ``GET /v2/parts``."""

    search_query: str | None = filter_field(
        Text(max_length=100), flag="--search", help="part number or name"
    )
    procedure_ids: str | Iterable[str] | None = filter_field(
        Strings(), flag="--procedure-id", help="procedure the part is tested by"
    )
    metadata: Mapping[str, Any] | None = filter_field(
        Metadata(), help='custom metadata, e.g. {"family": {"in": ["boards"]}} (at most 5 keys)'
    )
    include_metadata: bool = filter_field(
        Flag(), help="include each part's metadata", default=False
    )


PARTS: Endpoint[Part, PartFilters] = Endpoint(
    name="parts",
    path="/v2/parts",
    model=Part,
    filters=PartFilters,
    sorts=("created_at", "name", "number"),
    # The official SDK's order (its PartListRequest model).
    wire_order=(
        "limit",
        "cursor",
        "search_query",
        "procedure_ids",
        "sort_by",
        "sort_order",
        "metadata",
        "include_metadata",
    ),
    columns=(
        Column("NUMBER", 20, lambda part: part.number),
        Column("NAME", 24, lambda part: part.name),
        Column("CREATED (UTC)", 23, lambda part: table_time(part.created_at)),
        Column("REVISIONS", 0, lambda part: ", ".join(r.number for r in part.revisions)),
    ),
    keys={"created_at": by("created_at"), "name": by("name"), "number": by("number")},
)

"""``GET /v2/parts``: its filters and how it is listed, from the official SDK's models.

Parts have no time filter: a listing has no pin, and its continuity is verified alone (a lost
position is searched for around where it was).
"""

from __future__ import annotations

import typing
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import attrs

from .._convert import table_time
from .._endpoint import Column, Endpoint, by
from .._filters import Filters, Flag, Metadata, Strings, Text, filter_field
from .._models import Part
from .._options import SortedListOptions

__all__ = ["PARTS", "PartFilters", "PartList", "PartSort"]


@attrs.frozen(kw_only=True, cache_hash=True)
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


PartSort = Literal["created_at", "name", "number"]
"""The values of ``sort_by``, the default first."""


@attrs.frozen(kw_only=True)
class PartList(PartFilters, SortedListOptions[Part]):
    """Stream the parts that match every given filter, following the cursor for you.

    ``search_query`` matches a part number or name; ``procedure_ids`` takes a string or a
    list; ``metadata`` filters on custom metadata (at most 5 keys, each ``{"in": [...]}``,
    ``{"contains": "..."}``, ``{"eq": bool}`` or numbers under ``gte``/``lte``/``gt``/
    ``lt``/``eq``); ``include_metadata`` returns each part's metadata. The other arguments
    are those of ``client.batches.list()``. Parts have no time filter, so the listing is
    kept consistent by verifying every page against the last part handed out.
    """

    sort_by: PartSort = "created_at"


PARTS: Endpoint[Part, PartFilters] = Endpoint(
    name="parts",
    path="/v2/parts",
    model=Part,
    filters=PartFilters,
    sorts=typing.get_args(PartSort),
    # Where the official SDK (its PartListRequest model) sends the keys that are not filters.
    sent_after={None: ("limit", "cursor"), "procedure_ids": ("sort_by", "sort_order")},
    columns=(
        Column("NUMBER", 20, lambda part: part.number),
        Column("NAME", 24, lambda part: part.name),
        Column("CREATED (UTC)", 23, lambda part: table_time(part.created_at)),
        Column("REVISIONS", 0, lambda part: ", ".join(r.number for r in part.revisions)),
    ),
    keys={"created_at": by("created_at"), "name": by("name"), "number": by("number")},
)

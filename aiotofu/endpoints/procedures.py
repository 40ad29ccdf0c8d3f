"""``GET /v2/procedures``: its filters and how it is listed, from the official SDK's models.

The API takes no order for procedures, so nothing says which records a time pin would keep:
the server's order is followed with no pin, and the listing's continuity is verified alone.
(The SDK types this endpoint's cursor as a float and sends ``cursor=50.0``; the API's cursors
are integers, and aiotofu sends them as such.)
"""

from __future__ import annotations

from datetime import datetime

import attrs

from .._convert import table_time
from .._endpoint import Column, Endpoint
from .._filters import Filters, Instant, filter_field
from .._models import Procedure
from .._options import ListOptions
from ._common import search

__all__ = ["PROCEDURES", "ProcedureFilters", "ProcedureList"]


@attrs.frozen(kw_only=True, cache_hash=True)
class ProcedureFilters(Filters):
    """The filters of ``GET /v2/procedures``."""

    ranges = (("created_after", "created_before"),)

    search_query: str | None = search("procedure name")
    created_after: datetime | None = filter_field(Instant(), help="created at or after (RFC 3339)")
    created_before: datetime | None = filter_field(Instant(), help="created at or before")


@attrs.frozen(kw_only=True)
class ProcedureList(ProcedureFilters, ListOptions[Procedure]):
    """Stream the procedures that match every given filter, in the server's order.

    ``search_query`` matches a procedure name; ``created_after`` / ``created_before`` must
    be timezone-aware. The API takes no sort for procedures; the listing is kept
    consistent by verifying every page against the last procedure handed out.
    """


PROCEDURES: Endpoint[Procedure, ProcedureFilters] = Endpoint(
    name="procedures",
    path="/v2/procedures",
    model=Procedure,
    filters=ProcedureFilters,
    # No sort parameter: the one order is the server's, and nothing about it is sent.
    sorts=("default",),
    # Where the official SDK (its ProcedureListRequest model) sends the keys that are not filters.
    sent_after={None: ("limit", "cursor")},
    columns=(
        # The id first: what `phases list` and `measurements list` take as --procedure-id.
        Column("ID", 36, lambda procedure: procedure.id),
        Column("NAME", 24, lambda procedure: procedure.name),
        Column("CREATED (UTC)", 23, lambda procedure: table_time(procedure.created_at)),
        Column(
            "REPOSITORY",
            0,
            lambda p: p.linked_repository.full_name if p.linked_repository else "-",
        ),
    ),
)

"""The options of a listing and of a watch, declared once for every endpoint.

An endpoint module declares what its ``list()``, ``watch()`` and ``plan()`` take as attrs
classes that join its filters class with one of these
(``class RunList(RunFilters, SortedListOptions[Run])``): the facades (``_facades``) copy those
classes' parameters, so that a type checker, ``help()`` and ``inspect.signature()`` see every
keyword with its type and default, written nowhere else.

These classes are declarations, never built: the values are checked by the engine
(``_listings``), which checks the same options of resume tokens and of the command line, so
that each bound is written once. The type parameter is the record the endpoint yields, which
the facades read to type what ``list()`` and ``watch()`` return.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Generic, Literal, TypeVar

import attrs

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "HELP",
    "MAX_CURSOR",
    "MAX_PAGE_SIZE",
    "ListOptions",
    "PlanOptions",
    "SortedListOptions",
    "WatchOptions",
    "help_of",
    "option",
]

T = TypeVar("T")
HELP = "aiotofu.help"

# The API's bounds on `limit` and `cursor`.
MAX_PAGE_SIZE = 100
MAX_CURSOR = 2**53 - 1
# One default page size for list(), read(), watch(), the Dask and dlt readers and the command
# line: 50, the API's own default for `limit` and the one aiotofu's public contract gives
# list() (code that pages by hand against aiotofu's requests relies on it). Streaming wants
# the maximum: pass page_size=100 for half the round trips.
DEFAULT_PAGE_SIZE = 50


def option(help: str) -> dict[str, Any]:
    """The metadata of an option field: its help text, shown by ``help()`` on the facade."""
    return {HELP: help}


def help_of(field: attrs.Attribute[Any]) -> str:
    """The help text of an option field (empty if it has none)."""
    return str(field.metadata.get(HELP, ""))


# Not slotted: an endpoint's class joins one of these with its (slotted) filters class, and two
# slotted bases with fields cannot be joined.
@attrs.frozen(kw_only=True, slots=False)
class ListOptions(Generic[T]):
    """What every ``list()`` takes besides its filters."""

    page_size: int = attrs.field(
        default=DEFAULT_PAGE_SIZE, metadata=option("records per request, 1..100")
    )
    max_items: int | None = attrs.field(
        default=None, metadata=option("stop after this many records (None: all of them)")
    )
    cursor: int = attrs.field(default=0, metadata=option("the offset to start from"))
    prefetch: int = attrs.field(
        default=2,
        metadata=option(
            "pages requested ahead of the consumer, 0..64 (0: one request at a time); "
            "speculative requests start once a page said it has more"
        ),
    )


@attrs.frozen(kw_only=True, slots=False)
class SortedListOptions(ListOptions[T]):
    """``ListOptions`` of an endpoint that takes an order: the endpoint's class adds
    ``sort_by`` (a ``Literal`` of its sort values, the first the default)."""

    sort_order: Literal["asc", "desc"] = attrs.field(
        default="desc", metadata=option("'asc' or 'desc'")
    )


@attrs.frozen(kw_only=True, slots=False)
class WatchOptions(Generic[T]):
    """What every ``watch()`` takes besides its filters (which lose their creation window:
    the endpoint's class overrides those two fields with ``None``, so that a type checker
    refuses them, and the facade leaves them out)."""

    poll_interval: float = attrs.field(
        default=30.0, metadata=option("seconds between polls once the watch has caught up")
    )
    since: datetime | None = attrs.field(
        default=None,
        metadata=option(
            "yield records created strictly after this (timezone-aware); by default after the "
            "newest one on the server when the watch is entered or first iterated"
        ),
    )
    page_size: int = attrs.field(
        default=DEFAULT_PAGE_SIZE, metadata=option("records per request, 1..100")
    )
    resume_token: str | None = attrs.field(
        default=None,
        metadata=option(
            "continue a watch from its ``resume_token``, with its filters: give no ``since`` "
            "and no filters with it"
        ),
    )
    lookback: timedelta | float = attrs.field(
        default=0.0,
        metadata=option(
            "also yield records that become visible late, created up to this much (a "
            "timedelta, or seconds) before the newest already yielded"
        ),
    )


@attrs.frozen(kw_only=True, slots=False)
class PlanOptions:
    """What ``plan()`` and ``shards()`` take besides the filters (all of them, the creation
    window too: it narrows the plan)."""

    target_size: int = attrs.field(
        metadata=option(
            "the most records a shard should hold, 1..2^53-1 (a shard of one instant, whose "
            "records share one millisecond, may hold more)"
        )
    )

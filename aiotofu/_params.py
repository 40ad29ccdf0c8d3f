"""The bounds every listing shares: page size, cursor, sort order, and the integer check.

What is left of the batches era's parameter module, each piece waiting for its home:
``MAX_PAGE_SIZE``, ``MAX_CURSOR`` and ``SortOrder`` belong with the list options the endpoints
declare; ``SortBy`` (the batches' sorts) with the batches endpoint, whose module declares them
too; ``check_int`` is the filters' ``Integer`` rule under the name ``_listings`` and
``_log_watch`` call it by. Filters themselves are each endpoint's own (``aiotofu/endpoints/``,
in the vocabulary of ``_filters``). A failure raises InvalidParameterError naming the argument,
before any request.
"""

from __future__ import annotations

from typing import Any, Literal

from ._filters import Integer

__all__ = ["MAX_CURSOR", "MAX_PAGE_SIZE", "SortBy", "SortOrder", "check_int"]

MAX_PAGE_SIZE = 100
MAX_CURSOR = 2**53 - 1

SortBy = Literal["created_at", "number"]
SortOrder = Literal["asc", "desc"]


def check_int(name: str, value: Any, low: int, high: int | None = None) -> int:
    """An ``int`` (not a ``bool``) in ``low..high``, or InvalidParameterError naming ``name``.

    The filters' own rule (``_filters.Integer``), so that a listing option and an integer
    filter are refused in the same words.
    """
    checked: int = Integer(low=low, high=high).check(name, value)
    return checked

"""The arguments every listing shares: page size, cursor, and how integers are checked.

Filters are each endpoint's own (``aiotofu/endpoints/``, in the vocabulary of ``_filters``);
what is checked here is common to all of them, before any request, against the bounds of
TofuPilot's reference. A failure raises InvalidParameterError naming the argument.
"""

from __future__ import annotations

from typing import Any, Literal

from ._convert import format_datetime
from .errors import InvalidParameterError

__all__ = ["MAX_CURSOR", "MAX_PAGE_SIZE", "SortBy", "SortOrder", "check_int", "format_datetime"]

MAX_PAGE_SIZE = 100
MAX_CURSOR = 2**53 - 1

SortBy = Literal["created_at", "number"]
SortOrder = Literal["asc", "desc"]


def check_int(name: str, value: Any, low: int, high: int | None = None) -> int:
    """An ``int`` (not a ``bool``) in ``low..high``, or InvalidParameterError naming ``name``."""
    if type(value) is not int:
        raise InvalidParameterError(name, f"expected an integer, got {type(value).__name__}")
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise InvalidParameterError(name, f"must be {bounds}, got {value}")
    return value

"""Validation of ``batches.list()`` filters, and their encoding as a query string.

Everything here is checked when ``list()`` is called, before any request, against the bounds of
TofuPilot's reference for ``GET /v2/batches``. A failure raises InvalidParameterError naming the
argument as the caller spelled it.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Literal

import attrs

from ._convert import format_datetime, parse_datetime
from .errors import InvalidParameterError

__all__ = [
    "MAX_CURSOR",
    "MAX_PAGE_SIZE",
    "ListQuery",
    "check_datetime",
    "check_int",
    "format_datetime",
    "make_list_query",
]

MAX_PAGE_SIZE = 100
MAX_CURSOR = 2**53 - 1
MAX_SEARCH_QUERY = 100
SORT_BY = ("created_at", "number")
SORT_ORDER = ("asc", "desc")

SortBy = Literal["created_at", "number"]
SortOrder = Literal["asc", "desc"]


@attrs.frozen(cache_hash=True)
class ListQuery:
    """The validated, normalised filters of one listing; the page position is kept elsewhere."""

    ids: tuple[str, ...] = ()
    numbers: tuple[str, ...] = ()
    part_numbers: tuple[str, ...] = ()
    revision_numbers: tuple[str, ...] = ()
    created_after: datetime | None = None
    created_before: datetime | None = None
    search_query: str | None = None
    sort_by: SortBy = "created_at"
    sort_order: SortOrder = "desc"

    def to_query(
        self,
        *,
        cursor: int,
        limit: int,
        created_before: datetime | None = None,
        created_after: datetime | None = None,
    ) -> list[tuple[str, str]]:
        """The query string of one page request, arrays as repeated keys.

        ``created_before`` and ``created_after`` override the filter's own (the paginator's
        consistency pin).
        """
        head, tail = _fixed_parts(self)
        after = created_after if created_after is not None else self.created_after
        before = created_before if created_before is not None else self.created_before
        bounds = [("created_after", _format_cached(after))] if after is not None else []
        if before is not None:
            bounds.append(("created_before", _format_cached(before)))
        return [*head, *bounds, ("limit", str(limit)), ("cursor", str(cursor)), *tail]

    def to_json(self) -> dict[str, Any]:
        """The filters as JSON, unset ones left out (for resume tokens)."""
        fields: dict[str, Any] = {}
        for name, value in attrs.asdict(self, recurse=False).items():
            if isinstance(value, datetime):
                value = format_datetime(value)
            elif isinstance(value, tuple):
                value = list(value)
            if value:
                fields[name] = value
        return fields

    @classmethod
    def from_json(cls, fields: Any, token: str = "token") -> ListQuery:
        """The inverse of ``to_json``, validating everything again (the JSON came from outside);
        ``token`` names the argument the JSON came in."""
        if not isinstance(fields, dict):
            raise InvalidParameterError(token, "not a valid resume token (no filters)")
        unknown = set(fields) - {field.name for field in attrs.fields(cls)}
        if unknown:
            raise InvalidParameterError(token, f"not a valid resume token ({sorted(unknown)[0]})")
        fields = dict(fields)
        for name in ("created_after", "created_before"):
            if isinstance(fields.get(name), str):
                try:
                    fields[name] = parse_datetime(fields[name])
                except ValueError as exc:
                    raise InvalidParameterError(name, str(exc)) from None
        return make_list_query(**fields)


Pairs = tuple[tuple[str, str], ...]


@functools.lru_cache(maxsize=64)
def _fixed_parts(query: ListQuery) -> tuple[Pairs, Pairs]:
    """What every page request of a listing sends before and after its position: built once."""
    head = [("ids", v) for v in query.ids] + [("numbers", v) for v in query.numbers]
    tail = [] if query.search_query is None else [("search_query", query.search_query)]
    tail += [("part_numbers", v) for v in query.part_numbers]
    tail += [("revision_numbers", v) for v in query.revision_numbers]
    tail += [("sort_by", query.sort_by), ("sort_order", query.sort_order)]
    return tuple(head), tuple(tail)


def make_list_query(
    *,
    ids: Any = None,
    numbers: Any = None,
    part_numbers: Any = None,
    revision_numbers: Any = None,
    created_after: Any = None,
    created_before: Any = None,
    search_query: Any = None,
    sort_by: Any = "created_at",
    sort_order: Any = "desc",
) -> ListQuery:
    """Check every filter, return them normalised; InvalidParameterError on the first bad one."""
    after = check_datetime("created_after", created_after)
    before = check_datetime("created_before", created_before)
    if after is not None and before is not None and after > before:
        raise InvalidParameterError(
            "created_after", "must not be later than created_before (no batch could match)"
        )
    if search_query is not None:
        if not isinstance(search_query, str):
            raise InvalidParameterError(
                "search_query", f"expected a string, got {type(search_query).__name__}"
            )
        if len(search_query) > MAX_SEARCH_QUERY:
            raise InvalidParameterError(
                "search_query",
                f"at most {MAX_SEARCH_QUERY} characters, got {len(search_query)}",
            )
    return ListQuery(
        ids=_check_strings("ids", ids),
        numbers=_check_strings("numbers", numbers),
        part_numbers=_check_strings("part_numbers", part_numbers),
        revision_numbers=_check_strings("revision_numbers", revision_numbers),
        created_after=after,
        created_before=before,
        search_query=search_query,
        sort_by=_check_choice("sort_by", sort_by, SORT_BY),
        sort_order=_check_choice("sort_order", sort_order, SORT_ORDER),
    )


def check_int(name: str, value: Any, low: int, high: int | None = None) -> int:
    """An ``int`` (not a ``bool``) in ``low..high``, or InvalidParameterError naming ``name``."""
    if type(value) is not int:
        raise InvalidParameterError(name, f"expected an integer, got {type(value).__name__}")
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise InvalidParameterError(name, f"must be {bounds}, got {value}")
    return value


def _check_strings(name: str, value: Any) -> tuple[str, ...]:
    """None, a bare string (a one-item list) or an iterable of non-empty strings."""
    if value is None:
        return ()
    if isinstance(value, str):
        value = (value,)
    elif isinstance(value, (bytes, bytearray, Mapping)) or not isinstance(value, Iterable):
        raise InvalidParameterError(
            name, f"expected a string or a list of strings, got {type(value).__name__}"
        )
    items = tuple(value)
    if not items:
        # An empty list would send no filter at all and so match everything: never what was meant.
        raise InvalidParameterError(name, "must not be empty; pass None for no filter")
    for item in items:
        if not isinstance(item, str):
            raise InvalidParameterError(
                name, f"expected strings, got an item of type {type(item).__name__}"
            )
        if not item:
            raise InvalidParameterError(name, "must not contain an empty string")
    return items


def check_datetime(name: str, value: Any) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise InvalidParameterError(
            name, f"expected a timezone-aware datetime, got {type(value).__name__}"
        )
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidParameterError(
            name, "naive datetimes are ambiguous; give it a tzinfo (e.g. timezone.utc)"
        )
    return value


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> Any:
    if value not in choices or not isinstance(value, str):
        options = " or ".join(repr(c) for c in choices)
        raise InvalidParameterError(name, f"expected {options}, got {value!r}")
    return value


# The consistency pin is the same on every page of a listing: format it once.
_format_cached = functools.lru_cache(maxsize=256)(format_datetime)

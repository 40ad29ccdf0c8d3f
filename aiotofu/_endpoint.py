"""An endpoint as a value: everything aiotofu derives a listing, its tokens and its command line
from, declared once per endpoint (see ``aiotofu/endpoints/``).

``Endpoint`` names the path, the record model, the filters class (the vocabulary of
``_filters``), the sort fields, the order of the query string, how a listing is kept consistent
(the time field it is pinned and restarted on, and the filters that bound it) and the columns
of the command line's table. ``Query`` is one validated listing of it: filters and order, which
writes the query string of any page.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Generic, TypeVar

import attrs

from ._convert import format_datetime
from ._filters import Filters
from .errors import InvalidParameterError

__all__ = ["DEFAULT", "Column", "Endpoint", "Query", "SortKey", "by"]

T = TypeVar("T")
F = TypeVar("F", bound=Filters)

SORT_ORDERS = ("asc", "desc")
# The position of a page, and the order, in the query string of every endpoint.
PAGING = ("limit", "cursor")
ORDER = ("sort_by", "sort_order")
DEFAULT: Any = object()  # "the endpoint's default", where None is a value to refuse


@attrs.frozen
class Column:
    """A column of the command line's table: its header, its width and how a record fills it."""

    header: str
    width: int
    value: Callable[[Any], str] = attrs.field(eq=False)


@attrs.frozen
class SortKey:
    """What a record is ordered by for one ``sort_by``: ``value`` reads it from a record (only
    compared for equality: records with equal keys are ties, whose order a server may change
    between requests); ``bounds`` the (after, before) filters the API applies to it inclusively,
    so that a listing can restart from a record's key (None: it cannot); ``mutable`` says the
    key changes while records are listed (a unit's last run moves with every upload);
    ``nullable`` that it may be null, sorted last in both orders and left out by its bounds."""

    value: Callable[[Any], Any] = attrs.field(eq=False)
    bounds: tuple[str, str] | None = None
    mutable: bool = False
    nullable: bool = False


def by(
    path: str,
    *,
    bounds: tuple[str, str] | None = None,
    mutable: bool = False,
    nullable: bool = False,
) -> SortKey:
    """The SortKey of a dotted attribute path (``"unit.part.number"``); a None on the way makes
    the key None (a null sorts as one group)."""
    names = path.split(".")
    if len(names) == 1:
        return SortKey(operator.attrgetter(path), bounds, mutable, nullable)

    def value(record: Any) -> Any:
        for name in names:
            if record is None:
                return None
            record = getattr(record, name)
        return record

    return SortKey(value, bounds, mutable, nullable)


@attrs.frozen
class Endpoint(Generic[T, F]):
    """A list endpoint of the API, described once.

    ``name`` is the client attribute, the resource in tokens and the command-line noun;
    ``sorts`` the values of ``sort_by`` (the first is the default); ``sent_after`` where the
    official SDK puts the query keys that are not filters (``limit``, ``cursor``, and
    ``sort_by``, ``sort_order`` if the endpoint takes an order): after which filter (None:
    before them all) each group goes; ``wire_order``, every query key in the SDK's order, is
    the filters class's declaration order with those groups in place; ``time_field`` the
    record attribute that a listing is pinned on and restarted from, with ``time_bounds`` the
    (after, before) filters that bound it (None: the endpoint has no time filter, and lost
    positions are searched for instead); ``keys`` the SortKey of each value of ``sort_by``
    (the time field's is derived from ``time_bounds``).
    """

    name: str
    path: str
    model: type[T]
    filters: type[F]
    sorts: tuple[str, ...]
    sent_after: Mapping[str | None, tuple[str, ...]] = attrs.field(eq=False)
    time_field: str | None = None
    time_bounds: tuple[str, str] | None = None
    columns: tuple[Column, ...] = ()
    keys: Mapping[str, SortKey] = attrs.field(factory=dict, eq=False)
    wire_order: tuple[str, ...] = attrs.field(init=False, eq=False)
    # The time field's key, derived once (``sort_key`` is asked for on every page).
    _time_key: SortKey | None = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        names = [name for name, _ in self.filters.declared()]
        groups = dict(self.sent_after)
        placed = sorted(key for group in groups.values() for key in group)
        if placed not in (sorted(PAGING), sorted(PAGING + ORDER)):
            raise ValueError(f"{self.name}: sent_after must place {PAGING} (and {ORDER})")
        if not set(groups) <= {None, *names}:
            raise ValueError(f"{self.name}: sent_after names a filter it does not declare")
        order = [*groups.get(None, ())]
        for name in names:
            order += [name, *groups.get(name, ())]
        object.__setattr__(self, "wire_order", tuple(order))
        time_key = None
        if self.time_field is not None and self.time_field not in self.keys:
            time_key = by(self.time_field, bounds=self.time_bounds)
        object.__setattr__(self, "_time_key", time_key)

    @property
    def sortable(self) -> bool:
        """Whether the API takes an order for this endpoint (``sort_by``, ``sort_order``)."""
        return "sort_by" in self.wire_order

    def sort_key(self, sort_by: str) -> SortKey | None:
        """The key of the order ``sort_by`` (None: unknown, e.g. the API's "default" order)."""
        key = self.keys.get(sort_by)
        if key is None and sort_by == self.time_field:
            key = self._time_key
        return key

    def query(self, filters: F, *, sort_by: Any = DEFAULT, sort_order: Any = "desc") -> Query[F]:
        """A checked query of this endpoint; ``sort_by`` defaults to the first of ``sorts``."""
        sort_by = self.sorts[0] if sort_by is DEFAULT else sort_by
        _check_choice("sort_by", sort_by, self.sorts)
        _check_choice("sort_order", sort_order, SORT_ORDERS)
        return Query(self, filters, sort_by, sort_order)


@attrs.frozen(cache_hash=True)
class Query(Generic[F]):
    """One listing's validated filters and order; the page position is kept elsewhere."""

    endpoint: Endpoint[Any, F] = attrs.field(repr=False)
    filters: F
    sort_by: str
    sort_order: str

    @property
    def by_time(self) -> bool:
        """Whether it is ordered by the endpoint's time field (where a pin can come from the
        first page, and a watch can follow it)."""
        return self.sort_by == self.endpoint.time_field

    def to_query(
        self,
        *,
        cursor: int,
        limit: int,
        bounds: Mapping[str, datetime] | None = None,
    ) -> list[tuple[str, str]]:
        """The query string of one page, arrays as repeated keys. ``bounds`` override filters
        by name: the paginator's consistency pin, a restart from a sort key."""
        pairs: list[tuple[str, str]] = []
        overrides = bounds or {}
        for name, fixed in _fixed_parts(self):
            if name == "limit":
                pairs.append(("limit", str(limit)))
            elif name == "cursor":
                pairs.append(("cursor", str(cursor)))
            elif overrides.get(name) is not None:
                pairs.append((name, _format_cached(overrides[name])))
            else:
                pairs += fixed
        return pairs

    def with_bounds(
        self, *, after: datetime | None, before: datetime | None, **order: Any
    ) -> Query[F]:
        """The same query bounded in time (and ordered as ``order`` says, if it says)."""
        bounds = self.endpoint.time_bounds
        assert bounds is not None, "only an endpoint with time bounds can be bounded"
        filters = attrs.evolve(self.filters, **{bounds[0]: after, bounds[1]: before})
        return self.endpoint.query(
            filters,
            sort_by=order.get("sort_by", self.sort_by),
            sort_order=order.get("sort_order", self.sort_order),
        )

    def to_json(self) -> dict[str, Any]:
        """The filters and the order as JSON (for resume tokens)."""
        return {**self.filters.to_json(), "sort_by": self.sort_by, "sort_order": self.sort_order}

    @classmethod
    def from_json(cls, endpoint: Endpoint[Any, F], data: Any, token: str) -> Query[F]:
        """The inverse of ``to_json``, every value checked again (it came from outside)."""
        if not isinstance(data, Mapping):
            raise InvalidParameterError(token, "not a valid resume token (no filters)")
        fields = dict(data)
        order = {key: fields.pop(key) for key in ("sort_by", "sort_order") if key in fields}
        return endpoint.query(endpoint.filters.from_json(fields, token), **order)


@functools.lru_cache(maxsize=64)
def _fixed_parts(query: Query[Any]) -> tuple[tuple[str, tuple[tuple[str, str], ...]], ...]:
    """Every key of the query string in the endpoint's order, with what it sends unless the page
    position or the pin decide: built once per listing, not once per page."""
    parts = []
    for name in query.endpoint.wire_order:
        if name == "sort_by":
            fixed: tuple[tuple[str, str], ...] = (("sort_by", query.sort_by),)
        elif name == "sort_order":
            fixed = (("sort_order", query.sort_order),)
        elif name in PAGING:
            fixed = ()
        else:
            fixed = tuple((name, value) for value in query.filters.wire(name))
        parts.append((name, fixed))
    return tuple(parts)


_format_cached = functools.lru_cache(maxsize=256)(format_datetime)


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if not isinstance(value, str) or value not in choices:
        options = " or ".join(repr(c) for c in choices)
        raise InvalidParameterError(name, f"expected {options}, got {value!r}")

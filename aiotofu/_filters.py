"""The vocabulary of filters: what a filter of a list endpoint can be, and how each kind is
checked, sent on the wire, kept in a token and typed on the command line.

An endpoint's filters are a frozen attrs class deriving from :class:`Filters`, each field
declared with :func:`filter_field`. That field is the single source of the filter: its name (the
keyword argument and the query key), its kind (validation, wire encoding, JSON form for tokens,
parsing of the command-line text), its flag and its help text. Building the class checks and
normalises every value, so a filters instance that exists is valid: InvalidParameterError names
the first bad argument, before any request.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar, TypeVar

import attrs

from ._convert import format_datetime, parse_datetime
from ._retry import is_seconds
from .errors import InvalidParameterError

__all__ = [
    "Choices",
    "Duration",
    "FilterInfo",
    "Filters",
    "Flag",
    "Instant",
    "Integer",
    "JsonObject",
    "Kind",
    "Metadata",
    "Number",
    "Strings",
    "Text",
    "about",
    "filter_field",
]

F = TypeVar("F", bound="Filters")
_KEY = "aiotofu.filter"


class Kind:
    """How one kind of filter is checked, sent and kept. ``many``: a list (repeated keys)."""

    many: ClassVar[bool] = False
    metavar: ClassVar[str] = "VALUE"

    def check(self, name: str, value: Any) -> Any:
        """``value`` normalised (hashable), or InvalidParameterError naming ``name``."""
        raise NotImplementedError

    def wire(self, value: Any) -> tuple[str, ...]:
        """The query values of a normalised ``value``: one per repeated key."""
        return (str(value),)

    def to_json(self, value: Any) -> Any:
        """The JSON form of a normalised value, for tokens."""
        return list(value) if self.many else value

    def from_json(self, name: str, value: Any) -> Any:
        """The inverse of ``to_json``, checked again (tokens come from outside)."""
        return self.check(name, value)

    def from_text(self, name: str, text: str) -> Any:
        """A value typed on the command line (one item of a list)."""
        return text


@attrs.frozen
class Strings(Kind):
    """A string or an iterable of non-empty strings, sent as repeated keys. A bare string means
    a one-item list; an empty list is refused (it would filter nothing)."""

    many: ClassVar[bool] = True

    def check(self, name: str, value: Any) -> tuple[str, ...]:
        if isinstance(value, str):
            value = (value,)
        elif isinstance(value, (bytes, bytearray, Mapping)) or not isinstance(value, Iterable):
            raise InvalidParameterError(
                name, f"expected a string or a list of strings, got {type(value).__name__}"
            )
        items = tuple(value)
        if not items:
            raise InvalidParameterError(name, "must not be empty; pass None for no filter")
        for item in items:
            if not isinstance(item, str):
                raise InvalidParameterError(
                    name, f"expected strings, got an item of type {type(item).__name__}"
                )
            if not item:
                raise InvalidParameterError(name, "must not contain an empty string")
        return items

    def wire(self, value: Any) -> tuple[str, ...]:
        return tuple(value)


@attrs.frozen
class Choices(Strings):
    """Strings, each one of ``values`` (an enum of the API)."""

    values: tuple[str, ...]

    def check(self, name: str, value: Any) -> tuple[str, ...]:
        items = super().check(name, value)
        for item in items:
            if item not in self.values:
                allowed = ", ".join(self.values)
                raise InvalidParameterError(name, f"{item!r} is not one of {allowed}")
        return items


@attrs.frozen
class Text(Kind):
    """One string of at most ``max_length`` characters (and not empty, if ``non_empty``)."""

    max_length: int | None = None
    non_empty: bool = False

    def check(self, name: str, value: Any) -> str:
        if not isinstance(value, str):
            raise InvalidParameterError(name, f"expected a string, got {type(value).__name__}")
        if self.non_empty and not value:
            raise InvalidParameterError(name, "must not be empty")
        if self.max_length is not None and len(value) > self.max_length:
            raise InvalidParameterError(
                name, f"at most {self.max_length} characters, got {len(value)}"
            )
        return value


# The range an Instant may take, in UTC. The engine moves one microsecond across a time (a
# watch starts at the first instant after ``since``), and a time at either end of Python's
# range has no neighbour there: the first and the last microsecond are refused with the rest.
_FIRST = datetime.min.replace(tzinfo=timezone.utc) + timedelta(microseconds=1)
_LAST = datetime.max.replace(tzinfo=timezone.utc) - timedelta(microseconds=1)
_RANGE = f"{format_datetime(_FIRST)} to {format_datetime(_LAST)}"


@attrs.frozen
class Instant(Kind):
    """A timezone-aware datetime, sent in RFC 3339 (UTC, ``Z``), within ``_RANGE`` in UTC.

    ``reach``: how far before the value a listing may read (a watch's look-back); that instant
    must be in range too, so the value fails here rather than overflowing while iterating.
    """

    reach: timedelta = timedelta(0)
    metavar: ClassVar[str] = "DATETIME"

    def check(self, name: str, value: Any) -> datetime:
        if not isinstance(value, datetime):
            raise InvalidParameterError(
                name, f"expected a timezone-aware datetime, got {type(value).__name__}"
            )
        if value.tzinfo is None or value.utcoffset() is None:
            raise InvalidParameterError(
                name, "naive datetimes are ambiguous; give it a tzinfo (e.g. timezone.utc)"
            )
        try:
            # What format_datetime does to send it: at the edges, there is no such UTC time.
            utc = value.astimezone(timezone.utc)
        except OverflowError:
            utc = None
        if utc is None or not _FIRST <= utc <= _LAST:
            raise InvalidParameterError(
                name,
                f"{value.isoformat()} is out of range: it must fall within {_RANGE} in UTC "
                "(for no bound, pass None)",
            )
        if self.reach and utc - _FIRST < self.reach:  # a difference: it cannot overflow
            raise InvalidParameterError(
                name,
                f"{value.isoformat()} less the lookback of {self.reach.total_seconds():g} s "
                f"is out of range: it must fall within {_RANGE} in UTC",
            )
        return value

    def wire(self, value: Any) -> tuple[str, ...]:
        return (format_datetime(value),)

    def to_json(self, value: Any) -> Any:
        return format_datetime(value)

    def from_json(self, name: str, value: Any) -> Any:
        return self.from_text(name, value) if isinstance(value, str) else self.check(name, value)

    def from_text(self, name: str, text: str) -> Any:
        try:
            return parse_datetime(text)
        except ValueError:
            raise InvalidParameterError(
                name, f"expected an RFC 3339 date-time with a time zone, got {text!r}"
            ) from None


@attrs.frozen
class Integer(Kind):
    """An int (not a bool) in ``low..high``."""

    low: int | None = None
    high: int | None = None
    metavar: ClassVar[str] = "N"

    def check(self, name: str, value: Any) -> int:
        if type(value) is not int:
            raise InvalidParameterError(name, f"expected an integer, got {type(value).__name__}")
        if (self.low is not None and value < self.low) or (
            self.high is not None and value > self.high
        ):
            # Only the bounds there are: "between 0 and None" named a bound that does not exist.
            if self.low is not None and self.high is not None:
                bounds = f"between {self.low} and {self.high}"
            else:
                bounds = f"at least {self.low}" if self.high is None else f"at most {self.high}"
            raise InvalidParameterError(name, f"must be {bounds}, got {value}")
        return value

    def from_text(self, name: str, text: str) -> Any:
        try:
            return int(text)
        except ValueError:
            raise InvalidParameterError(name, f"expected an integer, got {text!r}") from None


@attrs.frozen
class Number(Kind):
    """A finite int or float (not a bool), sent as a float (``20`` as ``20.0``, as the SDK does)."""

    metavar: ClassVar[str] = "NUMBER"

    def check(self, name: str, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidParameterError(name, f"expected a number, got {type(value).__name__}")
        if not math.isfinite(value):
            raise InvalidParameterError(name, f"must be finite, got {value!r}")
        return float(value)

    def from_text(self, name: str, text: str) -> Any:
        try:
            return float(text)
        except ValueError:
            raise InvalidParameterError(name, f"expected a number, got {text!r}") from None


@attrs.frozen
class Flag(Kind):
    """A boolean, sent as ``true`` or ``false``."""

    metavar: ClassVar[str] = "true|false"

    def check(self, name: str, value: Any) -> bool:
        if type(value) is not bool:
            raise InvalidParameterError(name, f"expected True or False, got {value!r}")
        return value

    def wire(self, value: Any) -> tuple[str, ...]:
        return ("true" if value else "false",)

    def from_text(self, name: str, text: str) -> Any:
        choices = {"true": True, "false": False}
        if text.lower() not in choices:
            raise InvalidParameterError(name, f"expected true or false, got {text!r}")
        return choices[text.lower()]


_DURATION = re.compile(
    r"P(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?"
    r"(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?"
)


@attrs.frozen
class Duration(Kind):
    """A ``timedelta`` or an ISO 8601 duration (``PT1M30S``), sent in ISO 8601."""

    metavar: ClassVar[str] = "DURATION"

    def check(self, name: str, value: Any) -> str:
        if isinstance(value, timedelta):
            seconds = value.total_seconds()
        elif isinstance(value, str):
            match = _DURATION.fullmatch(value)
            if match is None or value in ("P", "PT") or value.endswith("T"):
                raise InvalidParameterError(
                    name, f"expected an ISO 8601 duration such as PT1M30S, got {value!r}"
                )
            parts = {key: float(number or 0) for key, number in match.groupdict().items()}
            seconds = (
                parts["days"] * 86400 + parts["hours"] * 3600 + parts["minutes"] * 60
            ) + parts["seconds"]
        else:
            raise InvalidParameterError(
                name, f"expected a timedelta or an ISO 8601 duration, got {type(value).__name__}"
            )
        if not is_seconds(seconds):
            raise InvalidParameterError(name, f"must be a finite duration >= 0, got {value!r}")
        return _iso_duration(seconds)


def _iso_duration(seconds: float) -> str:
    """``PT90S`` style, with a fraction only when there is one."""
    text = f"{seconds:.6f}".rstrip("0").rstrip(".")
    return f"PT{text}S"


@attrs.frozen
class JsonObject(Kind):
    """A JSON object, sent as one compact JSON value; ``max_keys`` bounds its size."""

    max_keys: int | None = None
    metavar: ClassVar[str] = "JSON"

    def check(self, name: str, value: Any) -> str:
        if isinstance(value, str):  # the canonical form, from a token or the command line
            try:
                value = json.loads(value)
            except ValueError:
                raise InvalidParameterError(name, "expected a JSON object") from None
        if not isinstance(value, Mapping):
            raise InvalidParameterError(name, f"expected a dict, got {type(value).__name__}")
        if self.max_keys is not None and len(value) > self.max_keys:
            raise InvalidParameterError(name, f"at most {self.max_keys} keys, got {len(value)}")
        try:
            return json.dumps(dict(value), separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InvalidParameterError(name, f"not JSON-serialisable: {exc}") from None

    def to_json(self, value: Any) -> Any:
        return json.loads(value)


_NUMERIC_OPERATORS = ("gte", "lte", "gt", "lt", "eq")


@attrs.frozen
class Metadata(JsonObject):
    """Filters on custom metadata, one JSON value: at most ``max_keys`` keys, each with one
    operator shape of the API: ``{"in": [str, ...]}``, ``{"contains": str}``, ``{"eq": bool}``
    or numbers under ``gte``, ``lte``, ``gt``, ``lt``, ``eq`` (sent as floats, as the SDK does)."""

    max_keys: int | None = 5

    def check(self, name: str, value: Any) -> str:
        text = super().check(name, value)
        shaped = {key: _operators(name, key, ops) for key, ops in json.loads(text).items()}
        return json.dumps(shaped, separators=(",", ":"))


def _operators(name: str, key: str, ops: Any) -> dict[str, Any]:
    """One key's operators, checked against the API's three shapes; numbers made floats."""
    where = f"{key!r} must be {{'in': [str]}}, {{'contains': str}}, {{'eq': bool}} or numbers"
    if not isinstance(ops, dict) or not ops or not key:
        raise InvalidParameterError(name, f"{where} under gte, lte, gt, lt, eq; got {ops!r}")
    if set(ops) <= {"in", "contains"}:
        values = ops.get("in", [])
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise InvalidParameterError(name, f"{key!r}: 'in' takes a list of strings")
        if "contains" in ops and not isinstance(ops["contains"], str):
            raise InvalidParameterError(name, f"{key!r}: 'contains' takes a string")
        return dict(ops)
    if set(ops) == {"eq"} and isinstance(ops["eq"], bool):
        return dict(ops)
    if set(ops) <= set(_NUMERIC_OPERATORS) and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in ops.values()
    ):
        return {op: float(v) for op, v in ops.items()}
    raise InvalidParameterError(name, f"{where} under gte, lte, gt, lt, eq; got {ops!r}")


@attrs.frozen
class FilterInfo:
    """What a filter field declares: its kind, its command-line flag and its help text."""

    kind: Kind
    flag: str | None
    help: str
    required: bool = False


def filter_field(
    kind: Kind,
    *,
    help: str,
    flag: str | None = None,
    default: Any = None,
) -> Any:
    """Declare an optional filter of an endpoint: a keyword-only attrs field. It is sent only
    when set, unless it has a ``default`` (the API's, which the official SDK always sends).

    A required filter is declared ``attrs.field(metadata=about(kind, ..., required=True))``
    with no default: that is how type checkers (mypy's attrs plugin, pyright's dataclass
    transform) see that it is required, and so the facades' signatures do."""
    return attrs.field(default=default, kw_only=True, metadata=about(kind, help=help, flag=flag))


def about(
    kind: Kind, *, help: str, flag: str | None = None, required: bool = False
) -> dict[str, FilterInfo]:
    """The metadata that makes an attrs field a filter: its kind, flag, help and required-ness."""
    return {_KEY: FilterInfo(kind, flag, help, required)}


@attrs.frozen(kw_only=True, cache_hash=True)
class Filters:
    """The base of every endpoint's filters: building one checks and normalises every field."""

    def __attrs_post_init__(self) -> None:
        for name, info in self.declared():
            value = getattr(self, name)
            if value is None:
                if info.required:
                    raise InvalidParameterError(name, "is required")
                continue
            # Frozen: the normalised value is set the way attrs' own __init__ does.
            object.__setattr__(self, name, info.kind.check(name, value))
        self.check_together()

    # Pairs of (low, high) filters: a low above its high could match nothing, and is refused.
    ranges: ClassVar[tuple[tuple[str, str], ...]] = ()

    def check_together(self) -> None:
        """Rules across fields: by default, every pair of ``ranges`` in order."""
        for low, high in self.ranges:
            first, last = getattr(self, low), getattr(self, high)
            if first is not None and last is not None and first > last:
                raise InvalidParameterError(low, f"must not be above {high} (nothing could match)")

    @classmethod
    def declared(cls) -> list[tuple[str, FilterInfo]]:
        """Every filter of the class, in declaration order, with what it declares."""
        return [
            (field.name, field.metadata[_KEY])
            for field in attrs.fields(cls)
            if _KEY in field.metadata
        ]

    @classmethod
    def flag_of(cls, name: str) -> str:
        """The command-line flag of filter ``name``."""
        info = dict(cls.declared()).get(name)
        return (info.flag if info and info.flag else None) or "--" + name.replace("_", "-")

    def wire(self, name: str) -> tuple[str, ...]:
        """The query values of filter ``name`` (none when it is not set)."""
        value = getattr(self, name)
        if value is None:
            return ()
        return dict(self.declared())[name].kind.wire(value)

    def to_json(self) -> dict[str, Any]:
        """The set filters as JSON (for tokens)."""
        return {
            name: info.kind.to_json(getattr(self, name))
            for name, info in self.declared()
            if getattr(self, name) is not None
        }

    @classmethod
    def from_json(cls: type[F], data: Mapping[str, Any], token: str) -> F:
        """The inverse of ``to_json``: checked again, unknown keys refused (naming ``token``)."""
        declared = dict(cls.declared())
        unknown = set(data) - set(declared)
        if unknown:
            raise InvalidParameterError(token, f"not a valid resume token ({sorted(unknown)[0]})")
        return cls(**{name: declared[name].kind.from_json(name, v) for name, v in data.items()})


def check_int(name: str, value: Any, low: int, high: int | None = None) -> int:
    """An ``int`` (not a ``bool``) in ``low..high``, or InvalidParameterError naming ``name``:
    the ``Integer`` rule, for the listing options, so that an option and an integer filter are
    refused in the same words."""
    checked: int = Integer(low=low, high=high).check(name, value)
    return checked

"""How the emulator answers a list endpoint, whichever it is: validate the query as the API does
(one issue per bad parameter, in the words of the zod schemas behind TofuPilot's API), filter,
sort with a unique tie-breaker (so offsets are stable) or, for an emulator whose ties are
unstable, with a permutation of every group of equal keys drawn for the request (as SQL without a
unique tie-breaker may order them), and cut one page at an offset cursor, counting the rows
the request walked (the offset skipped, then the page): what a SQL server pays for it.

An endpoint is an ``EmulatedEndpoint``: its parameters (``Param``, written from TofuPilot's
reference and the official SDK's models, not from aiotofu's own filters, so that the emulator
stays an independent check of what the client sends), a predicate per filter, its sort keys, and
what ``include_*`` flags add to a record.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .._convert import parse_datetime
from .store import tie_key, to_micros

__all__ = [
    "DATE_TIME",
    "MAX_CURSOR",
    "MAX_LIMIT",
    "EmulatedEndpoint",
    "Param",
    "choice",
    "date_time",
    "integer",
    "issue",
    "metadata_matches",
    "parse_duration",
    "serve",
]

MAX_LIMIT = 100
MAX_CURSOR = 2**53 - 1
# TofuPilot's own pattern for its date-time query parameters, verbatim from its reference.
DATE_TIME = re.compile(
    r"^(?:(?:\d\d[2468][048]|\d\d[13579][26]|\d\d0[48]|[02468][048]00|[13579][26]00)-02-29|"
    r"\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\d|30)|"
    r"(?:02)-(?:0[1-9]|1\d|2[0-8])))T(?:(?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d+)?)?"
    r"(?:Z|([+-](?:[01]\d|2[0-3]):[0-5]\d)))$"
)
_DURATION = re.compile(
    r"P(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?"
)

Record = dict[str, Any]
Issues = list[dict[str, Any]]


@dataclass(frozen=True)
class Param:
    """One query parameter: ``strings`` (repeated keys), ``enum`` (repeated, each one of
    ``values``), ``text``, ``datetime``, ``bool``, ``int``, ``number``, ``duration`` (ISO 8601)
    or ``metadata`` (one JSON object). ``default`` is the value the API applies when the
    parameter is absent (None: no filter)."""

    kind: str
    values: tuple[str, ...] = ()
    max_length: int | None = None
    low: int | None = None
    required: bool = False
    default: Any = None

    @property
    def many(self) -> bool:
        """Whether the parameter is an array (repeated keys)."""
        return self.kind in ("strings", "enum")


@dataclass(frozen=True)
class EmulatedEndpoint:
    """One list endpoint of the emulator.

    ``match`` holds a predicate per filter (``record, parsed value -> bool``); ``combined``
    filters that only make sense together are decided by ``match_together`` (``record, every
    parsed value``). ``sorts`` maps each ``sort_by`` value to a key (None: no value, last in
    both orders); empty when the API takes no order, which ``order`` then gives (a key and
    whether it descends; None: the records' own order). ``includes`` maps an ``include_*`` flag
    to the private key whose value it adds.
    """

    params: dict[str, Param]
    match: dict[str, Callable[[Record, Any], bool]]
    sorts: dict[str, Callable[[Record], Any]] = field(default_factory=dict)
    order: tuple[Callable[[Record], Any], bool] | None = None
    includes: dict[str, tuple[str, str]] = field(default_factory=dict)
    combined: tuple[str, ...] = ()
    match_together: Callable[[Record, dict[str, Any]], bool] | None = None

    def __post_init__(self) -> None:
        unhandled = set(self.params) - set(self.match) - set(self.combined) - set(self.includes)
        assert not unhandled, f"parameters without a meaning: {sorted(unhandled)}"


def issue(name: str, code: str, message: str) -> dict[str, Any]:
    """One issue of a 400 answer, naming the parameter in its ``path``."""
    return {"code": code, "path": [name], "message": message}


def serve(
    listing: EmulatedEndpoint,
    query: Any,
    records: Iterable[Record],
    *,
    tie_salt: bytes | None = None,
) -> tuple[int, dict[str, Any], int, int]:
    """The status and body of one request (``query``: a MultiDict of the query string), and
    the rows it walked: the ones its cursor skipped (the cursor itself, as an SQL ``OFFSET``
    asks, even past the end) and the ones it answered (both 0 for a 400).

    Records of equal sort keys are ordered by id, or with ``tie_salt`` by the permutation it
    draws (``store.tie_key``)."""
    issues: Issues = []
    scalars = [name for name, param in listing.params.items() if not param.many]
    for name in (*scalars, "limit", "cursor", "sort_by", "sort_order"):
        if len(query.getall(name, [])) > 1:
            issues.append(issue(name, "invalid_type", "Expected string, received array"))
    limit = integer(query.get("limit"), "limit", 50, 1, MAX_LIMIT, issues)
    cursor = integer(query.get("cursor"), "cursor", 0, 0, MAX_CURSOR, issues)
    parsed: dict[str, Any] = {}
    for name, param in listing.params.items():
        given = query.getall(name, [])
        if not given:
            if param.required:
                issues.append(issue(name, "invalid_type", "Required"))
            elif param.default is not None:
                parsed[name] = param.default
            continue
        value = _parse(name, param, given, issues)
        if value is not None:
            parsed[name] = value
    sort_key = None
    descending = True
    if listing.order is not None:
        sort_key, descending = listing.order
    if listing.sorts:
        names = tuple(listing.sorts)
        sort_by = choice(query.get("sort_by"), "sort_by", names, names[0], issues)
        order = choice(query.get("sort_order"), "sort_order", ("asc", "desc"), "desc", issues)
        sort_key = listing.sorts[sort_by]
        descending = order == "desc"
    if issues:
        return 400, {"message": "Bad request", "code": "BAD_REQUEST", "issues": issues}, 0, 0
    predicates = [
        (listing.match[name], value) for name, value in parsed.items() if name in listing.match
    ]
    together = {name: parsed[name] for name in listing.combined if name in parsed}
    rows = [
        record
        for record in records
        if all(predicate(record, value) for predicate, value in predicates)
        and (listing.match_together is None or listing.match_together(record, together))
    ]
    if sort_key is not None:
        rows = _sorted(rows, sort_key, descending, tie_salt)
    page = rows[cursor : cursor + limit]
    has_more = cursor + limit < len(rows)
    added = [
        (key, private)
        for flag, (key, private) in listing.includes.items()
        if parsed.get(flag) is True
    ]
    data = [_public(record, added) for record in page]
    meta = {"has_more": has_more, "next_cursor": cursor + limit if has_more else None}
    return 200, {"data": data, "meta": meta}, cursor, len(data)


def _public(record: Record, added: list[tuple[str, str]]) -> dict[str, Any]:
    public = {key: value for key, value in record.items() if key[0] != "_"}
    for key, private in added:
        public[key] = record[private]
    return public


def _sorted(
    rows: list[Record], key: Callable[[Record], Any], descending: bool, tie_salt: bytes | None
) -> list[Record]:
    """In order of ``key`` then of the tie-breaker (both in the requested direction); records
    without a value last, by the tie-breaker. The tie-breaker is the id, or with ``tie_salt``
    the request's permutation."""
    tie: Callable[[Record], Any] = (
        (lambda row: row["id"]) if tie_salt is None else (lambda row: tie_key(row["id"], tie_salt))
    )
    valued = [(key(row), row) for row in rows]
    present = [(value, tie(row), row) for value, row in valued if value is not None]
    present.sort(key=lambda triple: triple[:2], reverse=descending)
    missing = sorted((row for value, row in valued if value is None), key=tie)
    return [row for _, _, row in present] + missing


def _parse(name: str, param: Param, given: list[str], issues: Issues) -> Any:
    text = given[0]
    kind = param.kind
    if kind == "strings":
        return frozenset(given)
    if kind == "enum":
        for value in given:
            if value not in param.values:
                expected = " | ".join(f"'{c}'" for c in param.values)
                message = f"Invalid enum value. Expected {expected}, received '{value}'"
                issues.append(issue(name, "invalid_enum_value", message))
                return None
        return frozenset(given)
    if kind == "text":
        if param.max_length is not None and len(text) > param.max_length:
            message = f"String must contain at most {param.max_length} character(s)"
            issues.append(issue(name, "too_big", message))
            return None
        return text or None
    if kind == "datetime":
        return date_time(text, name, issues)
    if kind == "bool":
        if text not in ("true", "false"):
            issues.append(issue(name, "invalid_type", "Expected boolean, received string"))
            return None
        return text == "true"
    if kind == "int":
        return integer(text, name, 0, param.low or 0, MAX_CURSOR, issues)
    if kind == "number":
        try:
            number = float(text)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            issues.append(issue(name, "invalid_type", "Expected number, received string"))
            return None
        return number
    if kind == "duration":
        micros = parse_duration(text)
        if micros is None:
            issues.append(issue(name, "invalid_string", "Invalid ISO 8601 duration"))
        return micros
    assert kind == "metadata", kind
    return _metadata(text, issues)


def parse_duration(text: str) -> int | None:
    """Microseconds of an ISO 8601 duration (``PT1M30S``, ``P1DT2H``), or None."""
    match = _DURATION.fullmatch(text)
    if match is None or text in ("P", "PT") or text.endswith("T"):
        return None
    days, hours, minutes, seconds = (float(part or 0) for part in match.groups())
    return round(((days * 24 + hours) * 60 + minutes) * 60_000_000 + seconds * 1_000_000)


def date_time(text: str | None, name: str, issues: Issues) -> int | None:
    """Microseconds of a date-time parameter that matches TofuPilot's pattern (None if absent),
    to the millisecond: the API reads it with JavaScript's ``Date``, which keeps milliseconds
    and drops the digits after them (``...123999Z`` is ``.123Z``), and compares that with what
    PostgreSQL stores (microseconds, with ``timestamp_precision="us"``)."""
    if text is None:
        return None
    if not DATE_TIME.match(text):
        issues.append(issue(name, "invalid_string", "Invalid datetime"))
        return None
    micros = to_micros(parse_datetime(text))
    return micros - micros % 1000  # floor: the digits dropped are a later part of the instant


def integer(text: str | None, name: str, default: int, low: int, high: int, issues: Issues) -> int:
    """An integer parameter in ``low..high`` (``default`` if absent)."""
    if text is None:
        return default
    # A number with no fraction is an integer (``50.0``, which the SDK sends as the cursor of
    # procedures): the API coerces query strings to numbers before checking they are whole.
    match = re.fullmatch(r"(-?\d+)(?:\.0*)?", text.strip())
    if match is None:
        issues.append(issue(name, "invalid_type", "Expected integer, received string"))
        return default
    value = int(match.group(1))
    if value < low:
        issues.append(issue(name, "too_small", f"Number must be greater than or equal to {low}"))
    elif value > high:
        issues.append(issue(name, "too_big", f"Number must be less than or equal to {high}"))
    return value


def choice(
    text: str | None, name: str, choices: tuple[str, ...], default: str, issues: Issues
) -> str:
    """One of ``choices`` (``default`` if absent)."""
    if text is None:
        return default
    if text not in choices:
        expected = " | ".join(f"'{c}'" for c in choices)
        message = f"Invalid enum value. Expected {expected}, received '{text}'"
        issues.append(issue(name, "invalid_enum_value", message))
        return default
    return text


def _metadata(text: str, issues: Issues) -> dict[str, Any] | None:
    """A metadata filter: a JSON object of at most 5 keys, each with one operator shape.

    Empty means none: the official SDK sends ``metadata=`` when it has no metadata filter."""
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict) or len(value) > 5 or not all(map(_shaped, value.values())):
        issues.append(issue("metadata", "invalid_type", "Invalid metadata filter"))
        return None
    return value


def _shaped(ops: Any) -> bool:
    if not isinstance(ops, dict) or not ops:
        return False
    if set(ops) <= {"in", "contains"}:
        return True
    if set(ops) == {"eq"} and isinstance(ops["eq"], bool):
        return True
    return set(ops) <= {"gte", "lte", "gt", "lt", "eq"} and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in ops.values()
    )


_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "gte": lambda a, b: a >= b,
    "lte": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "lt": lambda a, b: a < b,
    "eq": lambda a, b: a == b,
}


def metadata_matches(metadata: dict[str, Any], where: dict[str, Any]) -> bool:
    """Whether custom metadata satisfies every key's operators of a metadata filter."""
    return all(_matches(metadata.get(key), ops) for key, ops in where.items())


def _matches(value: Any, ops: dict[str, Any]) -> bool:
    if set(ops) <= {"in", "contains"}:
        return isinstance(value, str) and all(
            value in operand if op == "in" else operand in value for op, operand in ops.items()
        )
    if set(ops) == {"eq"} and isinstance(ops["eq"], bool):
        return value is ops["eq"]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return all(_COMPARE[op](value, operand) for op, operand in ops.items())

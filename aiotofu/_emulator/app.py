"""The emulator's HTTP side: TofuPilot's v2 batches endpoints on aiohttp.web, faults in front.

Behaviour follows TofuPilot's reference for ``GET /v2/batches`` (parameters, bounds, defaults,
``{"data", "meta"}`` and the error bodies); where it is silent, the official SDK's models.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
from aiohttp import web

from .._convert import parse_datetime
from ..endpoints.batches import BATCHES
from .faults import Faults
from .store import BatchFilter, Store, SyntheticStore, parts_catalogue, to_micros

_dumps = msgspec.json.encode


__all__ = ["EmulatorState", "create_app"]

MAX_LIMIT = 100
MAX_CURSOR = 2**53 - 1
MAX_SEARCH = 100
MAX_CACHED_PAGES = 2048
# TofuPilot's own pattern for created_after / created_before, verbatim from its reference.
DATE_TIME = re.compile(
    r"^(?:(?:\d\d[2468][048]|\d\d[13579][26]|\d\d0[48]|[02468][048]00|[13579][26]00)-02-29|"
    r"\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\d|30)|"
    r"(?:02)-(?:0[1-9]|1\d|2[0-8])))T(?:(?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d+)?)?"
    r"(?:Z|([+-](?:[01]\d|2[0-3]):[0-5]\d)))$"
)
# Which query keys are arrays and which single values, from the endpoint's own description
# (the kinds of its filters); how each value is checked stays the emulator's own, written from
# TofuPilot's reference, so that it remains an independent check of the client's encoding.
ARRAYS = tuple(name for name, info in BATCHES.filters.declared() if info.kind.many)
SCALARS = (
    *(name for name, info in BATCHES.filters.declared() if not info.kind.many),
    "limit",
    "cursor",
    "sort_by",
    "sort_order",
)
PROXY_PAGE = (
    "<html><head><title>{status} {reason}</title></head><body><center><h1>{status} {reason}"
    "</h1></center><hr><center>nginx</center></body></html>"
)


@dataclass(frozen=True)
class LoggedRequest:
    """One request as the emulator saw it: when it arrived (``time.monotonic()``), its method,
    path and query, and the status it was answered with (0: the connection was dropped)."""

    at: float
    method: str
    path_qs: str
    status: int


@dataclass
class Stats:
    """What the emulator has seen: requests, answers by status, requests in flight, their peak."""

    requests: int = 0
    in_flight: int = 0
    peak_in_flight: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    # The latest requests only: an emulator may serve for days.
    log: deque[LoggedRequest] = field(default_factory=lambda: deque(maxlen=100_000))

    def reset(self) -> None:
        """Forget everything counted so far (in-flight requests stay counted)."""
        self.requests = 0
        self.peak_in_flight = self.in_flight
        self.statuses.clear()
        self.log.clear()


@dataclass
class EmulatorState:
    """Everything one emulator serves from: its data, its key, its faults and its counters."""

    store: Store | SyntheticStore
    api_key: str = field(default_factory=lambda: "tp-emulator-" + secrets.token_urlsafe(12))
    faults: Faults = field(default_factory=Faults)
    stats: Stats = field(default_factory=Stats)
    pages: dict[tuple[int, str], bytes] = field(default_factory=dict)  # see list_batches


STATE: web.AppKey[EmulatorState] = web.AppKey("state", EmulatorState)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def create_app(state: EmulatorState) -> web.Application:
    """The aiohttp application of an emulator, serving under ``/api``."""
    app = web.Application(middlewares=[_count, _faults, _auth])
    app[STATE] = state
    app.router.add_get("/api/v2/batches", list_batches)
    app.router.add_post("/api/v2/batches", create_batch)
    app.router.add_get("/api/v2/batches/{number}", get_batch)
    app.router.add_get("/api/v2/users", list_users)
    app.router.add_get("/api/v2/parts", list_parts)
    app.router.add_get("/api/v2/stations", list_stations)
    return app


def _error(status: int, code: str, message: str, issues: list[Any] | None = None) -> web.Response:
    body = {"message": message, "code": code, "issues": issues or []}
    return web.Response(status=status, body=_dumps(body), content_type="application/json")


def _json(body: Any) -> web.Response:
    return web.Response(body=_dumps(body), content_type="application/json")


# -- middlewares: outermost first -------------------------------------------------------


@web.middleware
async def _count(request: web.Request, handler: Handler) -> web.StreamResponse:
    stats = request.app[STATE].stats
    stats.requests += 1
    stats.in_flight += 1
    stats.peak_in_flight = max(stats.peak_in_flight, stats.in_flight)
    arrived = time.monotonic()
    status = 0
    try:
        response = await handler(request)
        if request.transport is not None and not request.transport.is_closing():
            status = response.status
    finally:
        stats.in_flight -= 1
        stats.log.append(LoggedRequest(arrived, request.method, request.path_qs, status))
    stats.statuses[status] += 1
    return response


@web.middleware
async def _faults(request: web.Request, handler: Handler) -> web.StreamResponse:
    """What a flaky network, an overloaded server or a proxy in front of it would do."""
    faults = request.app[STATE].faults
    settings = faults.settings
    if settings.latency:
        # Every answer takes `latency` from the request's arrival, the emulator's own work
        # included: the time a remote API takes, with no queue behind the emulator's one loop.
        arrived = time.monotonic()
        answer = await _with_faults(request, handler, faults)
        await asyncio.sleep(max(0.0, arrived + settings.latency - time.monotonic()))
        return answer
    return await _with_faults(request, handler, faults)


async def _with_faults(
    request: web.Request, handler: Handler, faults: Faults
) -> web.StreamResponse:
    cursor = _int_or_none(request.query.get("cursor")) if request.method == "GET" else None
    fault, retry_after = faults.decide(request.method + " " + request.path_qs, cursor, time.time())
    if fault is None:
        return await handler(request)
    if fault == 429:
        response = _error(429, "TOO_MANY_REQUESTS", "Too many requests")
        response.headers["Retry-After"] = f"{retry_after:g}"
        return response
    if fault == 500:
        return _error(500, "INTERNAL_SERVER_ERROR", "Internal server error")
    if fault in (502, 503, 504):
        # What a proxy in front of the API sends: an HTML page, not TofuPilot's JSON.
        reason = {
            502: "Bad Gateway",
            503: "Service Temporarily Unavailable",
            504: "Gateway Time-out",
        }
        page = PROXY_PAGE.format(status=fault, reason=reason[fault])
        return web.Response(status=int(fault), text=page, content_type="text/html")
    if fault == "html":
        page = PROXY_PAGE.format(status=200, reason="Welcome")
        return web.Response(status=200, text=page, content_type="text/html")
    if fault == "hang":
        # No answer at all; the handler is cancelled when the client gives up
        # (handler_cancellation), and after an hour the connection is dropped.
        await asyncio.sleep(3600)
    answer = await handler(request)
    if fault == "slow":
        return await _trickle(request, answer)
    # "drop": start a real answer, then close the connection halfway through its body.
    body = answer.body if isinstance(answer, web.Response) else None
    body = body if isinstance(body, bytes) else b"{}"
    dropped = web.StreamResponse(status=answer.status, headers={"Content-Type": "application/json"})
    dropped.content_length = len(body)
    await dropped.prepare(request)
    await dropped.write(body[: len(body) // 2])
    if request.transport is not None:
        request.transport.close()
    return dropped


async def _trickle(request: web.Request, answer: web.StreamResponse) -> web.StreamResponse:
    """Send the answer one byte a second, as a connection in trouble would."""
    body = answer.body if isinstance(answer, web.Response) else None
    body = body if isinstance(body, bytes) else b"{}"
    slow = web.StreamResponse(status=answer.status, headers={"Content-Type": "application/json"})
    slow.content_length = len(body)
    await slow.prepare(request)
    for index in range(len(body)):
        await slow.write(body[index : index + 1])
        await asyncio.sleep(1.0)
    return slow


@web.middleware
async def _auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    expected = f"Bearer {request.app[STATE].api_key}"
    given = request.headers.get("Authorization", "")
    if not secrets.compare_digest(given.encode(), expected.encode()):
        return _error(401, "UNAUTHORIZED", "Unauthorized")
    return await handler(request)


# -- handlers ---------------------------------------------------------------------------


async def list_batches(request: web.Request) -> web.Response:
    """``GET /v2/batches``: filter, sort, and one page at an offset cursor.

    Answers are cached until the data changes: the emulator serves every request from one
    loop, and without the cache its own work would queue concurrent requests behind each
    other, which a remote API with many servers does not do.
    """
    state = request.app[STATE]
    key = (state.store.version, request.query_string)
    cached = state.pages.get(key)
    if cached is not None:
        return web.Response(body=cached, content_type="application/json")
    response = _list_batches(request, state.store)
    if response.status == 200 and isinstance(response.body, bytes):
        if len(state.pages) >= MAX_CACHED_PAGES:
            state.pages.clear()
        state.pages[key] = response.body
    return response


def _list_batches(request: web.Request, store: Store | SyntheticStore) -> web.Response:
    issues: list[dict[str, Any]] = []
    query = request.query
    for name in SCALARS:
        if len(query.getall(name, [])) > 1:
            issues.append(_issue(name, "invalid_type", "Expected string, received array"))
    limit = _integer(query.get("limit"), "limit", 50, 1, MAX_LIMIT, issues)
    cursor = _integer(query.get("cursor"), "cursor", 0, 0, MAX_CURSOR, issues)
    created_after = _date_time(query.get("created_after"), "created_after", issues)
    created_before = _date_time(query.get("created_before"), "created_before", issues)
    search_query = query.get("search_query")
    if search_query is not None and len(search_query) > MAX_SEARCH:
        issues.append(
            _issue(
                "search_query", "too_big", f"String must contain at most {MAX_SEARCH} character(s)"
            )
        )
    sort_by = _choice(
        query.get("sort_by"), "sort_by", ("number", "created_at"), "created_at", issues
    )
    sort_order = _choice(query.get("sort_order"), "sort_order", ("asc", "desc"), "desc", issues)
    if isinstance(store, SyntheticStore):
        issues += [
            _issue(name, "unsupported", "A synthetic emulator serves only the date filters")
            for name in (*ARRAYS, "search_query")
            if name in query
        ]
    if issues:
        return _error(400, "BAD_REQUEST", "Bad request", issues)
    where = BatchFilter(
        ids=query.getall("ids", []),
        numbers=query.getall("numbers", []),
        part_numbers=query.getall("part_numbers", []),
        revision_numbers=query.getall("revision_numbers", []),
        created_after=created_after,
        created_before=created_before,
        search_query=search_query or None,
        sort_by=sort_by,
        sort_order=sort_order,
    )
    data, has_more = store.list_batches(where, offset=cursor, limit=limit)
    return _json(
        {
            "data": data,
            "meta": {"has_more": has_more, "next_cursor": cursor + limit if has_more else None},
        }
    )


async def create_batch(request: web.Request) -> web.Response:
    """``POST /v2/batches`` with ``{"number"}``: ``{"id"}``, or 409 when the number exists."""
    try:
        body = await request.json()
    except ValueError:
        body = None
    number = body.get("number") if isinstance(body, dict) else None
    if not isinstance(number, str) or not number.strip():
        issue = _issue("number", "invalid_type", "Required: a non-empty string")
        return _error(400, "BAD_REQUEST", "Bad request", [issue])
    if len(number) > 255:
        issue = _issue("number", "too_big", "String must contain at most 255 character(s)")
        return _error(400, "BAD_REQUEST", "Bad request", [issue])
    store = request.app[STATE].store
    if isinstance(store, SyntheticStore):
        return _error(405, "METHOD_NOT_ALLOWED", "A synthetic emulator is read-only")
    try:
        batch_id = store.create_batch(number)
    except KeyError:
        return _error(409, "CONFLICT", f"A batch numbered {number!r} already exists")
    return _json({"id": batch_id})


async def list_parts(request: web.Request) -> web.Response:
    """``GET /v2/parts``: search, procedures and metadata filters, three sorts, offsets."""
    query = request.query
    issues: list[dict[str, Any]] = []
    sort_by = _choice(
        query.get("sort_by"), "sort_by", ("name", "number", "created_at"), "created_at", issues
    )
    sort_order = _choice(query.get("sort_order"), "sort_order", ("asc", "desc"), "desc", issues)
    rows, page = _catalogue_query(query, parts_catalogue(), ("number", "name"), issues)
    if issues:
        return _error(400, "BAD_REQUEST", "Bad request", issues)
    key = {"created_at": "_created", "name": "name", "number": "number"}[sort_by]
    rows.sort(key=lambda part: (part[key], part["id"]), reverse=sort_order == "desc")
    return _catalogue_page(query, rows, page)


async def list_stations(request: web.Request) -> web.Response:
    """``GET /v2/stations``: search, procedures and metadata filters, in name order."""
    store = request.app[STATE].store
    stations = store.list_stations() if isinstance(store, Store) else []
    issues: list[dict[str, Any]] = []
    rows, page = _catalogue_query(request.query, stations, ("name",), issues)
    if issues:
        return _error(400, "BAD_REQUEST", "Bad request", issues)
    return _catalogue_page(request.query, rows, page)


def _catalogue_query(
    query: Any, catalogue: Any, searched: tuple[str, ...], issues: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], tuple[int, int]]:
    """The records of a small catalogue (parts, stations) that match the common filters:
    ``search_query`` on the ``searched`` fields, ``procedure_ids``, ``metadata``."""
    for name in ("limit", "cursor", "search_query", "sort_by", "sort_order", "metadata"):
        if len(query.getall(name, [])) > 1:
            issues.append(_issue(name, "invalid_type", "Expected string, received array"))
    limit = _integer(query.get("limit"), "limit", 50, 1, MAX_LIMIT, issues)
    cursor = _integer(query.get("cursor"), "cursor", 0, 0, MAX_CURSOR, issues)
    _choice(query.get("include_metadata"), "include_metadata", ("true", "false"), "false", issues)
    metadata = _metadata(query.get("metadata"), issues)
    search = (query.get("search_query") or "").lower()
    procedures = set(query.getall("procedure_ids", []))
    rows = [
        record
        for record in catalogue
        if (not search or any(search in record[field].lower() for field in searched))
        and (not procedures or procedures & _procedures_of(record))
        and all(_matches(record["_metadata"].get(key), ops) for key, ops in metadata.items())
    ]
    return rows, (cursor, limit)


def _procedures_of(record: dict[str, Any]) -> set[str]:
    if "_procedures" in record:
        return set(record["_procedures"])
    return {procedure["id"] for procedure in record["procedures"]}


def _catalogue_page(query: Any, rows: list[dict[str, Any]], page: tuple[int, int]) -> web.Response:
    cursor, limit = page
    include = query.get("include_metadata") == "true"
    has_more = cursor + limit < len(rows)
    data = [
        {
            **{k: v for k, v in record.items() if not k.startswith("_")},
            **({"metadata": record["_metadata"]} if include else {}),
        }
        for record in rows[cursor : cursor + limit]
    ]
    meta = {"has_more": has_more, "next_cursor": cursor + limit if has_more else None}
    return _json({"data": data, "meta": meta})


def _metadata(text: str | None, issues: list[dict[str, Any]]) -> dict[str, Any]:
    """The metadata filter: a JSON object of at most 5 keys, each with one operator shape.

    Empty means none: the official SDK sends ``metadata=`` when it has no metadata filter."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    shapes_ok = (
        isinstance(value, dict)
        and len(value) <= 5
        and all(
            isinstance(ops, dict)
            and ops
            and (
                set(ops) <= {"in", "contains"}
                or (set(ops) == {"eq"} and isinstance(ops["eq"], bool))
                or (
                    set(ops) <= {"gte", "lte", "gt", "lt", "eq"}
                    and all(
                        isinstance(v, (int, float)) and not isinstance(v, bool)
                        for v in ops.values()
                    )
                )
            )
            for ops in value.values()
        )
    )
    if not shapes_ok:
        issues.append(_issue("metadata", "invalid_type", "Invalid metadata filter"))
        return {}
    return value  # type: ignore[no-any-return]


def _matches(value: Any, ops: dict[str, Any]) -> bool:
    """Whether a metadata value satisfies one key's operators."""
    if set(ops) <= {"in", "contains"}:
        return isinstance(value, str) and all(
            value in operand if op == "in" else operand in value for op, operand in ops.items()
        )
    if set(ops) == {"eq"} and isinstance(ops["eq"], bool):
        return value is ops["eq"]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    compare: dict[str, Callable[[float, float], bool]] = {
        "gte": lambda a, b: a >= b,
        "lte": lambda a, b: a <= b,
        "gt": lambda a, b: a > b,
        "lt": lambda a, b: a < b,
        "eq": lambda a, b: a == b,
    }
    return all(compare[op](value, operand) for op, operand in ops.items())


async def list_users(request: web.Request) -> web.Response:
    """``GET /v2/users``: every member, a bare array (no parameters, no pagination)."""
    return _json(request.app[STATE].store.list_users())


async def get_batch(request: web.Request) -> web.Response:
    """``GET /v2/batches/{number}``: the batch with its units."""
    store = request.app[STATE].store
    if isinstance(store, SyntheticStore):
        return _error(405, "METHOD_NOT_ALLOWED", "A synthetic emulator lists batches only")
    batch = store.get_batch(request.match_info["number"])
    if batch is None:
        return _error(404, "NOT_FOUND", "Batch not found")
    return _json(batch)


# -- validation, in the words of the zod schemas behind TofuPilot's API ------------------


def _issue(name: str, code: str, message: str) -> dict[str, Any]:
    return {"code": code, "path": [name], "message": message}


def _integer(
    text: str | None, name: str, default: int, low: int, high: int, issues: list[dict[str, Any]]
) -> int:
    if text is None:
        return default
    if not re.fullmatch(r"-?\d+", text.strip()):
        issues.append(_issue(name, "invalid_type", "Expected integer, received string"))
        return default
    value = int(text)
    if value < low:
        issues.append(_issue(name, "too_small", f"Number must be greater than or equal to {low}"))
    elif value > high:
        issues.append(_issue(name, "too_big", f"Number must be less than or equal to {high}"))
    return value


def _date_time(text: str | None, name: str, issues: list[dict[str, Any]]) -> int | None:
    if text is None:
        return None
    if not DATE_TIME.match(text):
        issues.append(_issue(name, "invalid_string", "Invalid datetime"))
        return None
    return to_micros(parse_datetime(text))


def _choice(
    text: str | None,
    name: str,
    choices: tuple[str, ...],
    default: str,
    issues: list[dict[str, Any]],
) -> str:
    if text is None:
        return default
    if text not in choices:
        expected = " | ".join(f"'{c}'" for c in choices)
        issues.append(
            _issue(
                name,
                "invalid_enum_value",
                f"Invalid enum value. Expected {expected}, received '{text}'",
            )
        )
        return default
    return text


def _int_or_none(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None

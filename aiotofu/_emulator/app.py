"""The emulator's HTTP side: TofuPilot's v2 endpoints on aiohttp.web, faults in front.

Behaviour follows TofuPilot's reference for ``GET /v2/batches`` (parameters, bounds, defaults,
``{"data", "meta"}`` and the error bodies); where it is silent, the official SDK's models.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import secrets
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import msgspec
from aiohttp import web

from ..endpoints.batches import BATCHES
from .endpoints import LISTINGS, PARTS, STATIONS
from .faults import Faults
from .listing import (
    MAX_CURSOR,
    MAX_LIMIT,
    EmulatedEndpoint,
    choice,
    date_time,
    integer,
    issue,
    serve,
)
from .store import BatchFilter, Store, SyntheticStore, parts_catalogue
from .world import World

_dumps = msgspec.json.encode


__all__ = ["TIE_ORDERS", "EmulatorState", "create_app"]

# How records whose sort keys are equal are ordered: by id, the same on every request
# ("stable"), or by a permutation drawn for each request ("unstable"), as SQL without a unique
# tie-breaker may order them.
TIE_ORDERS = ("stable", "unstable")

MAX_SEARCH = 100
MAX_CACHED_PAGES = 2048
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
    """Everything one emulator serves from: its data, its key, its faults and its counters.

    ``tie_order`` is one of TIE_ORDERS; with "unstable", ``seed`` and a count of the requests
    drawn so far decide each request's permutation, so a test run is reproducible.
    """

    store: Store | SyntheticStore
    world: World
    api_key: str = field(default_factory=lambda: "tp-emulator-" + secrets.token_urlsafe(12))
    faults: Faults = field(default_factory=Faults)
    stats: Stats = field(default_factory=Stats)
    pages: dict[tuple[Any, str], bytes] = field(default_factory=dict)  # see _cached
    tie_order: str = "stable"
    seed: int = 0
    _draws: Iterator[int] = field(default_factory=itertools.count, repr=False)

    def __post_init__(self) -> None:
        if self.tie_order not in TIE_ORDERS:
            raise ValueError(f"tie_order: expected one of {TIE_ORDERS}, got {self.tie_order!r}")

    def tie_salt(self) -> bytes | None:
        """What orders the ties of one request: None (by id), or a new permutation's salt."""
        if self.tie_order == "stable":
            return None
        draw = next(self._draws)
        return hashlib.blake2b(f"ties:{self.seed}:{draw}".encode(), digest_size=16).digest()


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
    for path in LISTINGS:
        app.router.add_get(path, list_records)
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
    """``GET /v2/batches``: filter, sort, and one page at an offset cursor."""
    state = request.app[STATE]
    return _cached(
        state,
        state.store.version,
        request,
        lambda: _list_batches(request, state.store, state.tie_salt()),
    )


def _cached(
    state: EmulatorState, version: Any, request: web.Request, answer: Callable[[], web.Response]
) -> web.Response:
    """The answer to this query string at this version of the data, computed once.

    The emulator serves every request from one loop, and without the cache its own work would
    queue concurrent requests behind each other, which a remote API with many servers does not
    do. Unstable ties answer every request afresh: that is their point.
    """
    if state.tie_order == "unstable":
        return answer()
    key = (version, request.path_qs)
    cached = state.pages.get(key)
    if cached is not None:
        return web.Response(body=cached, content_type="application/json")
    response = answer()
    if response.status == 200 and isinstance(response.body, bytes):
        if len(state.pages) >= MAX_CACHED_PAGES:
            state.pages.clear()
        state.pages[key] = response.body
    return response


def _list_batches(
    request: web.Request, store: Store | SyntheticStore, tie_salt: bytes | None
) -> web.Response:
    issues: list[dict[str, Any]] = []
    query = request.query
    for name in SCALARS:
        if len(query.getall(name, [])) > 1:
            issues.append(issue(name, "invalid_type", "Expected string, received array"))
    limit = integer(query.get("limit"), "limit", 50, 1, MAX_LIMIT, issues)
    cursor = integer(query.get("cursor"), "cursor", 0, 0, MAX_CURSOR, issues)
    created_after = date_time(query.get("created_after"), "created_after", issues)
    created_before = date_time(query.get("created_before"), "created_before", issues)
    search_query = query.get("search_query")
    if search_query is not None and len(search_query) > MAX_SEARCH:
        issues.append(
            issue(
                "search_query", "too_big", f"String must contain at most {MAX_SEARCH} character(s)"
            )
        )
    sort_by = choice(
        query.get("sort_by"), "sort_by", ("number", "created_at"), "created_at", issues
    )
    sort_order = choice(query.get("sort_order"), "sort_order", ("asc", "desc"), "desc", issues)
    if isinstance(store, SyntheticStore):
        issues += [
            issue(name, "unsupported", "A synthetic emulator serves only the date filters")
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
        tie_salt=tie_salt,
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
        problem = issue("number", "invalid_type", "Required: a non-empty string")
        return _error(400, "BAD_REQUEST", "Bad request", [problem])
    if len(number) > 255:
        problem = issue("number", "too_big", "String must contain at most 255 character(s)")
        return _error(400, "BAD_REQUEST", "Bad request", [problem])
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
    return _listed(PARTS, request, parts_catalogue(), request.app[STATE].tie_salt())


async def list_stations(request: web.Request) -> web.Response:
    """``GET /v2/stations``: search, procedures and metadata filters, in name order."""
    state = request.app[STATE]
    stations = state.store.list_stations() if isinstance(state.store, Store) else []
    return _listed(STATIONS, request, stations, state.tie_salt())


async def list_records(request: web.Request) -> web.Response:
    """Units, runs, procedures, deployments, logs, phases and measurements, from the world."""
    state = request.app[STATE]
    listing, name = LISTINGS[request.path]
    # One state of the world per answer: a write from another thread waits until it is cut.
    with state.world.reading() as records:
        chosen = getattr(records, name).values()
        return _cached(
            state,
            records.version,
            request,
            lambda: _listed(listing, request, chosen, state.tie_salt()),
        )


def _listed(
    listing: EmulatedEndpoint, request: web.Request, records: Any, tie_salt: bytes | None
) -> web.Response:
    status, body = serve(listing, request.query, records, tie_salt=tie_salt)
    if status != 200:
        return _error(status, body["code"], body["message"], body["issues"])
    return _json(body)


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


def _int_or_none(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None

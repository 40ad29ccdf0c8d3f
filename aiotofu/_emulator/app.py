"""The emulator's HTTP side: TofuPilot's v2 endpoints on aiohttp.web, faults in front.

Behaviour follows TofuPilot's reference for ``GET /v2/batches`` (parameters, bounds, defaults,
``{"data", "meta"}`` and the error bodies); where it is silent, the official SDK's models.

Every list request is counted for the rows it walked (the offset it skipped, then the page it
answered: ``Stats.rows_scanned``) and, with an ``offset_cost``, charged for the ones it skipped
as a SQL server walking an index would be: a wait once its page is computed, before it is sent,
holding no lock, so that concurrent requests pay their charges side by side.
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

from .._retry import is_seconds
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
from .store import PRECISIONS, BatchFilter, Store, SyntheticStore, parts_catalogue
from .uploads import UploadError, upload_run
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
    path and query, the status it was answered with (0: the connection was dropped), and the
    rows it walked (a list request: its cursor plus the records it answered; else 0)."""

    at: float
    method: str
    path_qs: str
    status: int
    rows_scanned: int = 0


@dataclass
class Stats:
    """What the emulator has seen: requests, answers by status, requests in flight, their peak,
    and the rows every list request walked (``rows_scanned``: the cursor it skipped plus the
    records it answered, summed; what a SQL server walks for an offset page)."""

    requests: int = 0
    in_flight: int = 0
    peak_in_flight: int = 0
    rows_scanned: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    # The latest requests only: an emulator may serve for days.
    log: deque[LoggedRequest] = field(default_factory=lambda: deque(maxlen=100_000))

    def reset(self) -> None:
        """Forget everything counted so far (in-flight requests stay counted)."""
        self.requests = 0
        self.rows_scanned = 0
        self.peak_in_flight = self.in_flight
        self.statuses.clear()
        self.log.clear()


@dataclass
class EmulatorState:
    """Everything one emulator serves from: its data, its key, its faults and its counters.

    ``tie_order`` is one of TIE_ORDERS; with "unstable", ``seed`` and a count of the requests
    drawn so far decide each request's permutation, so a test run is reproducible.
    ``offset_cost``: seconds each list request is charged per row its cursor skips (0: none).
    ``timestamp_precision``: one of PRECISIONS, what the data's times are stored to (the store
    and the world are made with it; here, what the description says). ``sleep`` is what the
    emulator waits with (charges and latency): a test may stand in for it.
    """

    store: Store | SyntheticStore
    world: World
    api_key: str = field(default_factory=lambda: "tp-emulator-" + secrets.token_urlsafe(12))
    faults: Faults = field(default_factory=Faults)
    stats: Stats = field(default_factory=Stats)
    pages: dict[tuple[Any, str], tuple[bytes, int, int]] = field(default_factory=dict)  # _cached
    tie_order: str = "stable"
    seed: int = 0
    offset_cost: float = 0.0
    timestamp_precision: str = "ms"
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, repr=False)
    # Told of every request once answered, with its time in seconds (`aiotofu emulator
    # --verbose` prints them).
    on_request: Callable[[LoggedRequest, float], None] | None = field(default=None, repr=False)
    _draws: Iterator[int] = field(default_factory=itertools.count, repr=False)

    def __post_init__(self) -> None:
        if self.tie_order not in TIE_ORDERS:
            raise ValueError(f"tie_order: expected one of {TIE_ORDERS}, got {self.tie_order!r}")
        check_options(self.offset_cost, self.timestamp_precision)

    def tie_salt(self) -> bytes | None:
        """What orders the ties of one request: None (by id), or a new permutation's salt."""
        if self.tie_order == "stable":
            return None
        draw = next(self._draws)
        return hashlib.blake2b(f"ties:{self.seed}:{draw}".encode(), digest_size=16).digest()


def check_options(offset_cost: object, timestamp_precision: object) -> None:
    """ValueError naming the option, unless ``offset_cost`` is a finite number of seconds
    >= 0 and ``timestamp_precision`` one of PRECISIONS."""
    if not is_seconds(offset_cost):
        raise ValueError(
            f"offset_cost: expected a finite number of seconds >= 0, got {offset_cost!r}"
        )
    if timestamp_precision not in PRECISIONS:
        raise ValueError(
            f"timestamp_precision: expected one of {PRECISIONS}, got {timestamp_precision!r}"
        )


STATE: web.AppKey[EmulatorState] = web.AppKey("state", EmulatorState)
# What a request walked (rows) and was charged (seconds), from its handler to the middlewares.
WALKED: web.RequestKey[int] = web.RequestKey("walked", int)
CHARGED: web.RequestKey[float] = web.RequestKey("charged", float)
# A list answer: the response, the rows its cursor skipped, the records it answered.
Answer = tuple[web.Response, int, int]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def create_app(state: EmulatorState) -> web.Application:
    """The aiohttp application of an emulator, serving under ``/api``."""
    app = web.Application(middlewares=[_count, _faults, _auth])
    app[STATE] = state
    app.router.add_get("/api/v2/batches", list_batches)
    app.router.add_post("/api/v2/batches", create_batch)
    app.router.add_get("/api/v2/batches/{number}", get_batch)
    app.router.add_get("/api/v2/users", list_users)
    app.router.add_post("/api/v2/runs", create_run)
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
        walked = request.get(WALKED, 0)
        logged = LoggedRequest(arrived, request.method, request.path_qs, status, walked)
        stats.log.append(logged)
        on_request = request.app[STATE].on_request
        if on_request is not None:
            on_request(logged, time.monotonic() - arrived)
    stats.statuses[status] += 1
    return response


@web.middleware
async def _faults(request: web.Request, handler: Handler) -> web.StreamResponse:
    """What a flaky network, an overloaded server or a proxy in front of it would do."""
    state = request.app[STATE]
    faults = state.faults
    settings = faults.settings
    if settings.latency:
        # Every answer takes `latency` from the request's arrival, the emulator's own work
        # included: the time a remote API takes, with no queue behind the emulator's one loop.
        # An offset's charge is the database's time, on top of the network's: not inside it.
        arrived = time.monotonic()
        answer = await _with_faults(request, handler, faults)
        deadline = arrived + settings.latency + request.get(CHARGED, 0.0)
        await state.sleep(max(0.0, deadline - time.monotonic()))
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
    answer = _cached(
        state,
        state.store.version,
        request,
        lambda: _list_batches(request, state.store, state.tie_salt()),
    )
    return await _walked(request, state, answer)


async def _walked(request: web.Request, state: EmulatorState, answer: Answer) -> web.Response:
    """Count the rows a list request walked, and charge it for those its cursor skipped.

    Called once the page is computed and every lock is released: the charge is a wait in this
    request alone (the loop serves the others meanwhile), as a database walking an index
    for one query does not stop the queries beside it.
    """
    response, skipped, returned = answer
    request[WALKED] = skipped + returned
    state.stats.rows_scanned += skipped + returned
    charge = skipped * state.offset_cost
    if charge > 0:
        request[CHARGED] = charge
        await state.sleep(charge)
    return response


def _cached(
    state: EmulatorState, version: Any, request: web.Request, answer: Callable[[], Answer]
) -> Answer:
    """The answer to this query string at this version of the data, computed once (with
    the rows it walks, which a cached answer walks again: the database works every time).

    The emulator serves every request from one loop, and without the cache its own work would
    queue concurrent requests behind each other, which a remote API with many servers does not
    do. Unstable ties answer every request afresh: that is their point.
    """
    if state.tie_order == "unstable":
        return answer()
    key = (version, request.path_qs)
    cached = state.pages.get(key)
    if cached is not None:
        body, skipped, returned = cached
        return web.Response(body=body, content_type="application/json"), skipped, returned
    response, skipped, returned = answer()
    if response.status == 200 and isinstance(response.body, bytes):
        if len(state.pages) >= MAX_CACHED_PAGES:
            state.pages.clear()
        state.pages[key] = (response.body, skipped, returned)
    return response, skipped, returned


def _list_batches(
    request: web.Request, store: Store | SyntheticStore, tie_salt: bytes | None
) -> Answer:
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
        return _error(400, "BAD_REQUEST", "Bad request", issues), 0, 0
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
    body = {
        "data": data,
        "meta": {"has_more": has_more, "next_cursor": cursor + limit if has_more else None},
    }
    return _json(body), cursor, len(data)


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


async def create_run(request: web.Request) -> web.Response:
    """``POST /v2/runs``, a station's upload (the official SDK's ``runs.create`` body):
    ``{"id"}``; the unit is created if new (see ``uploads``)."""
    state = request.app[STATE]
    try:
        body = await request.json()
    except ValueError:
        body = None
    try:
        run_id = upload_run(state.store, state.world, body, seed=state.seed)
    except UploadError as exc:
        return _error(exc.status, exc.code, exc.message, exc.issues)
    return _json({"id": run_id})


async def list_parts(request: web.Request) -> web.Response:
    """``GET /v2/parts``: search, procedures and metadata filters, three sorts, offsets."""
    state = request.app[STATE]
    parts = parts_catalogue(state.timestamp_precision)
    return await _walked(request, state, _listed(PARTS, request, parts, state.tie_salt()))


async def list_stations(request: web.Request) -> web.Response:
    """``GET /v2/stations``: search, procedures and metadata filters, in name order."""
    state = request.app[STATE]
    stations = state.store.list_stations() if isinstance(state.store, Store) else []
    return await _walked(request, state, _listed(STATIONS, request, stations, state.tie_salt()))


async def list_records(request: web.Request) -> web.Response:
    """Units, runs, procedures, deployments, logs, phases and measurements, from the world."""
    state = request.app[STATE]
    listing, name = LISTINGS[request.path]
    # One state of the world per answer: a write from another thread waits until it is cut.
    with state.world.reading() as records:
        chosen = getattr(records, name).values()
        answer = _cached(
            state,
            records.version,
            request,
            lambda: _listed(listing, request, chosen, state.tie_salt()),
        )
    # Charged with the world released: a write may come in while this request waits.
    return await _walked(request, state, answer)


def _listed(
    listing: EmulatedEndpoint, request: web.Request, records: Any, tie_salt: bytes | None
) -> Answer:
    status, body, skipped, returned = serve(listing, request.query, records, tie_salt=tie_salt)
    if status != 200:
        return _error(status, body["code"], body["message"], body["issues"]), 0, 0
    return _json(body), skipped, returned


async def list_users(request: web.Request) -> web.Response:
    """``GET /v2/users``: every member, a bare array (no parameters, no pagination): it walks
    them all."""
    state = request.app[STATE]
    users = state.store.list_users()
    return await _walked(request, state, (_json(users), 0, len(users)))


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

"""Helpers for testing code that uses aiotofu.

- :class:`Emulator`: a local TofuPilot v2 server in the running event loop, with data you control
  and faults on demand (see the README's "Testing your code" section); ``emulator`` is a ready
  pytest fixture for it when pytest-asyncio is installed.
- :func:`virtual_clock`: makes aiotofu's retry waits instant and records them, so that tests of
  code that meets 429s and 503s run fast and can assert what was waited.
- :class:`MockTransport`: answers a client's requests from a function of yours, without a socket
  (``Client(transport=MockTransport(handler))``), as httpx's MockTransport does.

The emulator (aiohttp's server, SQLite) is loaded by the first Emulator made, not by importing
this module: a suite that only wants MockTransport or the virtual clock never pays for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import inspect
import json
import typing
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from ._client import Client
from ._clock import set_clock
from ._models import Outcome
from ._retry import is_seconds
from ._sansio import Request, Response
from .errors import InvalidParameterError

if TYPE_CHECKING:
    from ._emulator import Fault
    from ._emulator.app import LoggedRequest

__all__ = [
    "Emulator",
    "LoggedRequest",
    "MockTransport",
    "Request",
    "Response",
    "VirtualClock",
    "emulator",
    "emulator_factory",
    "json_response",
    "virtual_clock",
]


# How an Emulator orders records whose sort keys are equal (see Emulator).
TieOrder = Literal["stable", "unstable"]
# What an Emulator stores its times to (see Emulator); it answers milliseconds either way.
TimestampPrecision = Literal["ms", "us"]


def json_response(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """A complete response whose body is ``body`` as JSON, for a MockTransport handler."""
    return Response(
        status=status,
        headers={"Content-Type": "application/json", **(headers or {})},
        body=json.dumps(body).encode(),
    )


class MockTransport:
    """A transport that answers from ``handler(request)``, without a socket.

    ::

        def handler(request: Request) -> Response:
            return json_response({"data": [], "meta": {"has_more": False, "next_cursor": None}})

        async with aiotofu.Client("key", transport=MockTransport(handler)) as client:
            assert await client.batches.list().collect() == []

    ``handler`` returns a :class:`Response` (or an awaitable of one), or raises
    ``aiotofu.TransportError`` to play a network failure; the client's retries, limits and
    decoding run as usual. ``requests`` lists every request received, in order: each a
    :class:`Request` with ``method``, ``url``, ``path`` (``/api/v2/batches`` with the default
    base URL), ``query`` (a tuple of ``(key, value)`` pairs as sent, arrays as repeated keys;
    ``dict(request.query)["limit"]``) and ``headers`` (they carry the key: print them with care).

    A listing's first request is not always its first page. A listing kept consistent by a
    time pin (batches, units, runs, logs: records created while it streams stay out) takes the
    pin from its first page when it is ordered by that time; ordered otherwise (runs by their
    default ``started_at``, any other ``sort_by``), it first asks for the newest record alone,
    ``limit=1`` sorted by ``created_at``: the pin probe, whose record's time becomes the
    ``created_before`` of every page. A handler that asserts on the first page should pick it
    by its query (``limit`` above 1, the ``sort_by`` it expects) rather than take
    ``requests[0]``.
    """

    def __init__(self, handler: Callable[[Request], Response | Awaitable[Response]]) -> None:
        if not callable(handler):
            raise InvalidParameterError("handler", f"expected a callable, got {handler!r}")
        self._handler = handler
        self.requests: list[Request] = []

    async def send(self, request: Request) -> Response:
        """Record ``request`` and answer it with the handler."""
        self.requests.append(request)
        answer = self._handler(request)
        if inspect.isawaitable(answer):
            answer = await answer
        if not isinstance(answer, Response):
            raise TypeError(f"the MockTransport handler returned {answer!r}, not a Response")
        return answer

    async def aclose(self) -> None:
        """Nothing to release."""


class Emulator:
    """A local TofuPilot v2 server on a free loopback port, in the running event loop.

    ::

        async with Emulator(batches=250) as emu:
            async with emu.client() as client:
                assert len(await client.batches.list().collect()) == 250

    ``batches`` generated batches with their units, and ``runs`` runs of those units (None: one
    per unit, at most 1,000) with their phases, measurements and log lines, beside procedures,
    deployments, parts, stations and users: every list endpoint, from one deterministic data
    set (the same for the same ``seed``). Faults as in ``aiotofu emulator --help``: ``latency``
    seconds per answer, ``fail_rate`` and ``drop_rate`` shares of requests, ``rate_limit``
    requests per second (a token bucket of ``rate_burst`` tokens, by default one second's
    worth: above it a 429 whose ``Retry-After`` is the time until the next token); they apply
    to every endpoint.

    ``tie_order`` orders records whose sort keys are equal: ``"stable"`` (by id, the same on
    every request) or ``"unstable"`` (a permutation drawn afresh for every request, from the
    seed and a count of requests, as SQL without a unique tie-breaker may order them), on every
    endpoint and every ``sort_by``.

    Deep listings cost what they cost TofuPilot's SQL server: ``stats["rows_scanned"]`` counts
    the rows every list request walked (its cursor, skipped, plus the records it answered;
    also per request, ``LoggedRequest.rows_scanned``), and ``offset_cost`` (seconds per
    skipped row, e.g. ``5e-7``, half a microsecond, as measured on PostgreSQL 15) makes each
    request wait ``cursor * offset_cost`` once its page is computed, without holding up the
    others. ``timestamp_precision="us"`` stores times to the microsecond (generated records
    get a deterministic sub-millisecond part, records added now the clock's) and answers them
    to the millisecond, as a JavaScript server over PostgreSQL does: a batch stored at
    ``12:00:00.123456`` reads ``.123Z``, ``created_after=...123Z`` includes it and
    ``created_before=...123Z`` excludes it. ``"ms"`` (the default) stores whole milliseconds.
    Either way a query's times are read to the millisecond (``...123999Z`` is ``.123Z``), as
    JavaScript's ``Date`` reads them.
    """

    def __init__(
        self,
        *,
        batches: int = 0,
        runs: int | None = None,
        seed: int = 0,
        api_key: str | None = None,
        latency: float = 0.0,
        fail_rate: float = 0.0,
        drop_rate: float = 0.0,
        rate_limit: float | None = None,
        rate_burst: float | None = None,
        tie_order: TieOrder = "stable",
        offset_cost: float = 0.0,
        timestamp_precision: TimestampPrecision = "ms",
    ) -> None:
        # Here, not at the top: importing aiotofu.testing must not load the emulator.
        from ._emulator import EmulatorServer, FaultSettings

        if tie_order not in typing.get_args(TieOrder):
            raise InvalidParameterError(
                "tie_order", f"expected one of {typing.get_args(TieOrder)}, got {tie_order!r}"
            )
        if not is_seconds(offset_cost):
            raise InvalidParameterError(
                "offset_cost",
                f"expected a finite number of seconds per skipped row >= 0, got {offset_cost!r}",
            )
        precisions = typing.get_args(TimestampPrecision)
        if not isinstance(timestamp_precision, str) or timestamp_precision not in precisions:
            raise InvalidParameterError(
                "timestamp_precision", f"expected one of {precisions}, got {timestamp_precision!r}"
            )
        try:
            faults = FaultSettings(
                latency=latency,
                fail_rate=fail_rate,
                drop_rate=drop_rate,
                rate_limit=rate_limit,
                rate_burst=rate_burst,
                seed=seed,
            )
        except ValueError as exc:
            raise InvalidParameterError("faults", str(exc)) from None
        if runs is not None and (type(runs) is not int or runs < 0):
            raise InvalidParameterError("runs", f"expected a count >= 0 or None, got {runs!r}")
        self._server = EmulatorServer(
            batches=batches,
            runs=runs,
            seed=seed,
            api_key=api_key,
            faults=faults,
            tie_order=tie_order,
            offset_cost=float(offset_cost),
            timestamp_precision=timestamp_precision,
        )

    async def __aenter__(self) -> Emulator:
        await self._server.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._server.stop()

    @property
    def base_url(self) -> str:
        """The URL to pass as ``base_url``, e.g. ``http://127.0.0.1:40123/api``."""
        return self._server.base_url

    @property
    def api_key(self) -> str:
        """The only key this emulator accepts."""
        return self._server.state.api_key

    def client(self, **options: Any) -> Client:
        """A Client for this emulator; ``options`` go to the Client (``retry``, ``timeout``,
        ``on_page``...). The emulator speaks plain HTTP on loopback; ``verify=`` and ``cert=``
        apply when it is served behind a TLS front end (``base_url=`` its HTTPS URL)."""
        options.setdefault("base_url", self.base_url)
        return Client(self.api_key, **options)

    def add_batch(
        self,
        number: str,
        *,
        units: Sequence[tuple[str, str, str]] = (),
        created_at: datetime | None = None,
    ) -> str:
        """Create a batch (units as ``(serial_number, part_number, revision)``); return its id.

        ``created_at`` defaults to now (and never before the newest batch). The units come
        untested (no runs); every other record of the emulator stays as it was. A serial number
        already in use is refused (``units``): it names one unit.
        """
        if not isinstance(number, str) or not number.strip():
            raise InvalidParameterError("number", f"expected a non-empty string, got {number!r}")
        if created_at is not None and (
            not isinstance(created_at, datetime) or created_at.utcoffset() is None
        ):
            raise InvalidParameterError(
                "created_at", f"expected a timezone-aware datetime, got {created_at!r}"
            )
        if isinstance(units, (str, bytes)) or not all(
            isinstance(unit, (tuple, list))
            and len(unit) == 3
            and all(isinstance(part, str) for part in unit)
            for unit in units
        ):
            raise InvalidParameterError(
                "units", "expected (serial_number, part_number, revision) tuples of strings"
            )
        from ._emulator.store import Store, to_micros

        micros = None if created_at is None else to_micros(created_at)
        store = self._server.state.store
        assert isinstance(store, Store)  # never synthetic: this class does not make those
        try:
            return store.create_batch(
                number, created_at=micros, units=[(a, b, c) for a, b, c in units]
            )
        except KeyError:
            raise InvalidParameterError(
                "number", f"a batch numbered {number!r} already exists"
            ) from None
        except ValueError as exc:  # a serial number names one unit
            raise InvalidParameterError("units", str(exc)) from None

    def delete_batch(self, id_or_number: str) -> None:
        """Delete a batch (by id or number) and its units, with their runs and what those own,
        as another user of the API would; every other record stays as it was.

        InvalidParameterError if there is no such batch.
        """
        from ._emulator.store import Store

        store = self._server.state.store
        assert isinstance(store, Store)
        if not isinstance(id_or_number, str) or not store.delete_batch(id_or_number):
            raise InvalidParameterError("id_or_number", f"no batch {id_or_number!r}")

    def delete_unit(self, id_or_serial_number: str) -> None:
        """Delete a unit (by id or serial number) with its runs and what they own, as another
        user of the API would: its batch counts one unit less, its parent no longer lists it
        among its children, and its own children are left without a parent.

        InvalidParameterError if there is no such unit.
        """
        try:
            if not isinstance(id_or_serial_number, str):
                raise KeyError(id_or_serial_number)
            self._server.state.world.delete_unit(id_or_serial_number)
        except KeyError:
            raise InvalidParameterError(
                "id_or_serial_number", f"no unit {id_or_serial_number!r}"
            ) from None

    def delete_run(self, run_id: str) -> None:
        """Delete a run with its phases, measurements and log lines, as another user of the
        API would; its unit's ``last_run`` becomes the run before it (or None).

        InvalidParameterError if there is no such run.
        """
        try:
            if not isinstance(run_id, str):
                raise KeyError(run_id)
            self._server.state.world.delete_run(run_id)
        except KeyError:
            raise InvalidParameterError("run_id", f"no run {run_id!r}") from None

    def add_run(
        self,
        *,
        serial_number: str | None = None,
        procedure: str | None = None,
        outcome: Outcome | None = None,
        started_at: datetime | None = None,
        created_at: datetime | None = None,
        part_number: str | None = None,
        revision_number: str | None = None,
        batch_number: str | None = None,
    ) -> str:
        """Upload a run, as a test station would; return its id.

        It tests the unit ``serial_number`` (default: one chosen by the seed) with the
        procedure named ``procedure`` (``"Functional test"``, ``"ICT"``, ``"Burn-in"``,
        ``"Final QA"``, ``"Calibration"``, ``"Firmware flashing"``; default: one chosen) and
        ends with ``outcome`` (default: what its phases decide); its phases, measurements and
        log lines come with it. ``created_at``, when the API records it, defaults to now (and
        never before the newest run); ``started_at`` to a few minutes before.

        As TofuPilot does on upload, a serial number no unit has (matched case-insensitively)
        creates the unit: of ``part_number`` (then required), ``revision_number`` (default:
        the part's first), in the batch ``batch_number`` (created if new; without one, a batch
        of its own numbered as the serial number, where TofuPilot would link it to none).
        """
        from ._emulator.store import to_micros
        from ._emulator.uploads import add_run

        for name, value in (("started_at", started_at), ("created_at", created_at)):
            if value is not None and (not isinstance(value, datetime) or value.utcoffset() is None):
                raise InvalidParameterError(
                    name, f"expected a timezone-aware datetime, got {value!r}"
                )
        if outcome is not None and outcome not in typing.get_args(Outcome):
            raise InvalidParameterError("outcome", f"expected one of {typing.get_args(Outcome)}")
        for name, text in (
            ("serial_number", serial_number),
            ("part_number", part_number),
            ("revision_number", revision_number),
            ("batch_number", batch_number),
        ):
            if text is not None and (not isinstance(text, str) or not text.strip()):
                raise InvalidParameterError(name, f"expected a non-empty string, got {text!r}")
        state = self._server.state
        try:
            return add_run(
                state.store,
                state.world,
                seed=state.seed,
                part_number=part_number,
                revision_number=revision_number,
                batch_number=batch_number,
                serial_number=serial_number,
                procedure=procedure,
                outcome=outcome,
                started_at=None if started_at is None else to_micros(started_at),
                created_at=None if created_at is None else to_micros(created_at),
            )
        except KeyError as exc:
            # An unknown serial number without a part to create its unit names serial_number
            # (with the hint): the serial number is what does not exist.
            message = str(exc.args[0])
            name = "procedure" if message.startswith("no procedure") else "serial_number"
            raise InvalidParameterError(name, message) from None

    def set_faults(self, **settings: Any) -> None:
        """Change fault settings: ``latency``, ``fail_rate``, ``drop_rate``, ``rate_limit``,
        ``rate_burst``, ``retry_after``, ``seed``."""
        from ._emulator import FaultSettings

        faults = self._server.state.faults
        current = faults.settings
        values = {name: getattr(current, name) for name in current.__dataclass_fields__}
        unknown = set(settings) - set(values)
        if unknown:
            raise InvalidParameterError(sorted(unknown)[0], "not a fault setting")
        try:
            faults.settings = FaultSettings(**{**values, **settings})
        except ValueError as exc:
            raise InvalidParameterError("faults", str(exc)) from None

    def inject(self, *faults: Fault, cursor: int | None = None) -> None:
        """Answer the next matching requests with these faults, one each, in order.

        A fault is 429 (with ``Retry-After``), 500, 502, 503, 504 (some as a proxy's HTML page),
        ``"drop"`` (the connection closes halfway through the body), ``"hang"`` (no answer),
        ``"slow"`` (the body at one byte a second) or ``"html"`` (a 200 with an HTML page).
        With ``cursor``, only requests for that page match.
        """
        self._server.inject(*faults, cursor=cursor)

    @property
    def stats(self) -> dict[str, Any]:
        """Requests served (``requests``), the peak of requests in flight
        (``peak_in_flight``), answers by status (``statuses``), faults injected (``faults``),
        the rows list requests walked (``rows_scanned``: cursors skipped plus records
        answered, summed), and the options this emulator answers with (``options``:
        ``offset_cost``, ``timestamp_precision``, ``tie_order``)."""
        from ._emulator.server import describe

        return describe(self._server)

    @property
    def log(self) -> list[LoggedRequest]:
        """Every request served so far, in the order they were answered."""
        return list(self._server.state.stats.log)

    def reset_stats(self) -> None:
        """Start counting afresh (``rows_scanned`` too)."""
        self._server.state.stats.reset()
        self._server.state.faults.injected.clear()


class VirtualClock:
    """A clock whose ``sleep`` returns at once and advances ``monotonic()`` by the time asked.

    ``sleeps`` lists every wait aiotofu asked for, in order.
    """

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        """The virtual time."""
        return self.now

    async def sleep(self, seconds: float) -> None:
        """Record the wait, advance the virtual time, and let the loop run once."""
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


@contextlib.contextmanager
def virtual_clock() -> Iterator[VirtualClock]:
    """Within the block, clients created use a :class:`VirtualClock` (yielded)."""
    clock = VirtualClock()
    previous = set_clock(clock)
    try:
        yield clock
    finally:
        set_clock(previous)


# The emulator's names that this module hands out, loaded on first access (PEP 562) rather than
# imported above. Type checkers see them through the TYPE_CHECKING import; they must not see
# __getattr__, or a misspelt name of this module would pass as Any.
_LAZY = {"LoggedRequest": "aiotofu._emulator.app"}

if not TYPE_CHECKING:

    def __getattr__(name: str) -> Any:
        """The emulator's names (``LoggedRequest``), imported when first asked for."""
        if name not in _LAZY:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # once loaded, an ordinary global (and no more __getattr__)
        return value

    def __dir__() -> list[str]:
        """The module's names, with those not loaded yet."""
        return sorted({*globals(), *_LAZY})


try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - the fixture needs pytest-asyncio
    pass
else:

    @pytest_asyncio.fixture
    async def emulator() -> AsyncIterator[Emulator]:
        """pytest fixture: an :class:`Emulator` with 100 batches, started for one test.

        Enable it with ``pytest_plugins = ["aiotofu.testing"]`` in your ``conftest.py``; for
        another size or seed, use ``emulator_factory``.
        """
        async with Emulator(batches=100) as server:
            yield server

    @pytest_asyncio.fixture
    async def emulator_factory() -> AsyncIterator[Callable[..., Awaitable[Emulator]]]:
        """pytest fixture: ``await emulator_factory(batches=10, seed=3, ...)`` starts an
        :class:`Emulator` with those options (any of its keywords) and returns it; every one
        made is stopped when the test ends. Enabled with the ``emulator`` fixture."""
        async with contextlib.AsyncExitStack() as stack:

            async def make(**options: Any) -> Emulator:
                return await stack.enter_async_context(Emulator(**options))

            yield make

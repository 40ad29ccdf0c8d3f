"""Running an emulator: in the current event loop (tests, the demo) or as a command."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import shlex
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any, TextIO

from aiohttp import web

from .._client import API_KEY_ENV, BASE_URL_ENV
from .._terminal import shown
from .app import TIE_ORDERS, EmulatorState, LoggedRequest, check_options, create_app
from .faults import Fault, Faults, FaultSettings
from .store import Store, SyntheticStore, parts_catalogue
from .world import World

__all__ = ["EmulatorServer", "check_trickle", "counts", "serve"]


class EmulatorServer:
    """A local TofuPilot v2 server in the running event loop.

    ``batches`` generated batches (with their units), and ``runs`` runs of those units (None:
    one per unit, at most 1,000), with their phases, measurements and log lines. ``tie_order``
    ("stable" or "unstable") orders the records of equal sort keys (see ``EmulatorState``);
    a synthetic store has no equal keys. ``offset_cost`` charges every list request that many
    seconds per row its cursor skips, without holding up the others (a SQL server walking an
    index); ``timestamp_precision`` "us" stores times to the microsecond and answers them to
    the millisecond, as a JavaScript server over PostgreSQL does ("ms", the default: whole
    milliseconds throughout). ValueError names a bad option, before any data is made.

    ``start()`` binds (port 0: any free port) and fills ``base_url``; ``stop()`` closes it.
    The data, key, faults and counters live in ``state``.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        batches: int = 0,
        runs: int | None = None,
        seed: int = 0,
        api_key: str | None = None,
        db: str = ":memory:",
        faults: FaultSettings | None = None,
        synthetic: bool = False,
        tie_order: str = "stable",
        offset_cost: float = 0.0,
        timestamp_precision: str = "ms",
    ) -> None:
        if tie_order not in TIE_ORDERS:  # before any data is made
            raise ValueError(f"tie_order: expected one of {TIE_ORDERS}, got {tie_order!r}")
        check_options(offset_cost, timestamp_precision)
        store: Store | SyntheticStore
        if synthetic:
            store = SyntheticStore(batches, seed=seed, precision=timestamp_precision)
        else:
            store = Store(db, precision=timestamp_precision)
            # With a kept database, `batches` is how many there should be at least.
            missing = batches - store.count()
            if missing > 0:
                store.generate(missing, seed=seed)
        self.state = EmulatorState(
            store=store,
            world=World(store, runs=runs, seed=seed, precision=timestamp_precision),
            faults=Faults(faults or FaultSettings(seed=seed)),
            tie_order=tie_order,
            seed=seed,
            offset_cost=offset_cost,
            timestamp_precision=timestamp_precision,
        )
        if api_key is not None:
            self.state.api_key = api_key
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        """``http://host:port/api``; the port is known once started."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/api"

    async def start(self) -> None:
        """Bind and serve."""
        # handler_cancellation: a client that gives up cancels its request's handler, so a
        # hanging fault does not outlive the test that injected it.
        runner = web.AppRunner(
            create_app(self.state), handler_cancellation=True, access_log=None, shutdown_timeout=1
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, reuse_address=True)
        await site.start()
        self._runner = runner
        server = site._server
        if server is not None and self.port == 0:
            sockets: list[socket.socket] = getattr(server, "sockets", [])
            self.port = sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop serving and close the database."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        self.state.store.close()

    def inject(self, *faults: Fault, cursor: int | None = None) -> None:
        """Answer the next matching requests with these faults (see ``Faults.inject``)."""
        self.state.faults.inject(*faults, cursor=cursor)


async def serve(
    server: EmulatorServer,
    out: TextIO = sys.stdout,
    *,
    trickle: float | None = None,
    verbose: bool = False,
) -> None:
    """Run ``server`` until SIGINT or SIGTERM; the first line printed ends with the base URL,
    then come its key, how many records of each kind it holds, how it answers (``options``)
    and the line to paste into a shell to point aiotofu (or the SDK) at it.

    ``trickle``: upload that many runs a second while serving (as stations would), each of a
    unit and a procedure chosen by the seed, so that a watch has something to show.
    ``verbose``: a line per request answered (method, path and query, status, time).
    """
    state = server.state
    if verbose:
        state.on_request = functools.partial(_log_request, out)
    await server.start()
    out.write(f"aiotofu emulator listening on {server.base_url}\n")
    out.write(f"API key: {state.api_key}\n")
    out.write(counts(server) + "\n")
    out.write(f"options: {options(server)}\n")
    # The line to paste: the shell then points aiotofu (and the official SDK) at this emulator.
    key = shlex.quote(state.api_key)
    out.write(f"export {BASE_URL_ENV}={server.base_url} {API_KEY_ENV}={key}\n")
    if trickle:
        out.write(f"uploading {trickle:g} runs a second\n")
    out.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    uploads = asyncio.ensure_future(_trickle(server, trickle)) if trickle else None
    try:
        await stop.wait()
    finally:
        if uploads is not None:
            uploads.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await uploads
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        await server.stop()
        out.write("aiotofu emulator stopped\n")
        out.flush()


def counts(server: EmulatorServer) -> str:
    """How many records of each kind the emulator holds, in a line."""
    state = server.state
    records = state.world.records()
    stations = state.store.list_stations() if isinstance(state.store, Store) else []
    kinds = {
        "batches": state.store.count(),
        "units": len(records.units),
        "runs": len(records.runs),
        "phases": len(records.phases),
        "measurements": len(records.measurements),
        "logs": len(records.logs),
        "procedures": len(records.procedures),
        "deployments": len(records.deployments),
        "parts": len(parts_catalogue(state.timestamp_precision)),
        "stations": len(stations),
        "users": len(state.store.list_users()),
    }
    return ", ".join(f"{kind}: {count:,}" for kind, count in kinds.items())


async def _trickle(
    server: EmulatorServer,
    rate: float,
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Upload a run every ``1 / rate`` seconds, on schedule (a slow upload does not delay the
    next ones), until cancelled; ``sleep`` waits (a test may stand in for it)."""
    world = server.state.world
    interval = 1.0 / rate
    due = time.monotonic()
    while True:
        due += interval
        await sleep(max(0.0, due - time.monotonic()))
        if world.records().units:  # an emulator with no unit has nothing to test
            world.add_run()


def _log_request(out: TextIO, logged: LoggedRequest, seconds: float) -> None:
    """One line per request answered: its status (0: the connection dropped), method, path and
    query (escaped: it is the client's text), and time."""
    out.write(f"{logged.status} {logged.method} {shown(logged.path_qs)} {seconds * 1000:.1f} ms\n")
    out.flush()


def check_trickle(rate: object) -> float | None:
    """``rate`` as runs per second, or ValueError unless it is None or a finite number > 0."""
    if rate is None:
        return None
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not math.isfinite(rate):
        raise ValueError(f"trickle: expected a number of runs per second > 0, got {rate!r}")
    if rate <= 0:
        raise ValueError(f"trickle: expected a number of runs per second > 0, got {rate!r}")
    return float(rate)


def options(server: EmulatorServer) -> str:
    """How the emulator answers, in a line: what an offset costs, what times are stored to,
    how ties are ordered."""
    state = server.state
    # ASCII only: the line goes to whatever terminal or pipe the command was started with.
    cost = f"{state.offset_cost:g} s per skipped row" if state.offset_cost else "none"
    stored = {"ms": "milliseconds", "us": "microseconds (answered in milliseconds)"}
    return (
        f"offset cost {cost}; times stored in {stored[state.timestamp_precision]}; "
        f"ties {state.tie_order}"
    )


def describe(server: EmulatorServer) -> dict[str, Any]:
    """The emulator's counters, for the demo and for tests: requests, their peak in flight,
    answers by status, faults injected, the rows list requests walked (``rows_scanned``), and
    the options it answers with (``offset_cost``, ``timestamp_precision``, ``tie_order``)."""
    state = server.state
    stats = state.stats
    return {
        "requests": stats.requests,
        "peak_in_flight": stats.peak_in_flight,
        "statuses": dict(stats.statuses),
        "faults": dict(state.faults.injected),
        "rows_scanned": stats.rows_scanned,
        "options": {
            "offset_cost": state.offset_cost,
            "timestamp_precision": state.timestamp_precision,
            "tie_order": state.tie_order,
        },
    }

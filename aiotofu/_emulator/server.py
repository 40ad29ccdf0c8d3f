"""Running an emulator: in the current event loop (tests, the demo) or as a command."""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
from typing import Any, TextIO

from aiohttp import web

from .app import TIE_ORDERS, EmulatorState, check_options, create_app
from .faults import Fault, Faults, FaultSettings
from .store import Store, SyntheticStore
from .world import World

__all__ = ["EmulatorServer", "serve"]


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


async def serve(server: EmulatorServer, out: TextIO = sys.stdout) -> None:
    """Run ``server`` until SIGINT or SIGTERM; the first line printed ends with the base URL,
    then come its key, what it holds, and how it answers (``options``)."""
    await server.start()
    out.write(f"aiotofu emulator listening on {server.base_url}\n")
    out.write(f"API key: {server.state.api_key}\n")
    records = server.state.world.records()
    out.write(
        f"batches: {server.state.store.count()}, units: {len(records.units)}, "
        f"runs: {len(records.runs)}, phases: {len(records.phases)}, "
        f"measurements: {len(records.measurements)}, logs: {len(records.logs)}, "
        f"procedures: {len(records.procedures)}, deployments: {len(records.deployments)}\n"
    )
    out.write(f"options: {options(server)}\n")
    out.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        await server.stop()
        out.write("aiotofu emulator stopped\n")
        out.flush()


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

"""An emulator in its own process, so that the client's CPU time is the client's alone.

``emulator()`` starts ``aiotofu emulator`` as users run it. ``emulator(..., counted=True)``
starts this module instead (``python -m benchmarks.emulator``): the same ``EmulatorServer`` with
the same options, which also answers ``stats`` on its standard input with a JSON line of its
counters (``describe()``: requests, ``rows_scanned``...). The depth benchmark reads the rows
scanned there, from the emulator's own count, because the command has no stats endpoint and a
count on the client side would have to be kept in each contender's HTTP library.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import IO, Any

import attrs

KEY = "tp-benchmark-key"


@attrs.frozen
class Server:
    """A running emulator: where it is, its key, and (counted) how to read its counters."""

    base_url: str
    api_key: str
    _read_stats: Callable[[], dict[str, Any]] | None = attrs.field(
        default=None, eq=False, repr=False, alias="read_stats"
    )

    def stats(self) -> dict[str, Any]:
        """The emulator's counters now (``describe()`` of ``aiotofu._emulator.server``): only a
        counted emulator has them."""
        if self._read_stats is None:
            raise RuntimeError("start the emulator with counted=True to read its counters")
        return self._read_stats()


@contextlib.contextmanager
def emulator(
    batches: int,
    *,
    latency: float = 0.0,
    synthetic: bool = False,
    seed: int = 1,
    runs: int | None = None,
    offset_cost: float = 0.0,
    counted: bool = False,
    rate_limit: float | None = None,
    rate_burst: float | None = None,
) -> Iterator[Server]:
    """Start an emulator on a free port (``aiotofu emulator``, or this module when
    ``counted``); stop it on exit."""
    options = [
        "--port",
        "0",
        "--batches",
        str(batches),
        "--seed",
        str(seed),
        "--latency",
        str(latency),
        "--api-key",
        KEY,
    ]
    if synthetic:
        options.append("--synthetic")
    if runs is not None:
        options += ["--runs", str(runs)]
    if offset_cost:
        options += ["--offset-cost", repr(offset_cost)]
    if rate_limit is not None:  # only ``aiotofu emulator`` takes these
        options += ["--rate-limit", repr(rate_limit)]
    if rate_burst is not None:
        options += ["--rate-burst", repr(rate_burst)]
    module = ["benchmarks.emulator"] if counted else ["aiotofu", "emulator"]
    process = subprocess.Popen(
        [sys.executable, "-m", *module, *options],
        stdin=subprocess.PIPE if counted else None,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        if not first:
            raise RuntimeError("the emulator did not start")
        read_stats = None
        if counted:
            assert process.stdin is not None
            read_stats = _stats_reader(process.stdin, process.stdout)
        yield Server(base_url=first.split()[-1], api_key=KEY, read_stats=read_stats)
    finally:
        if process.stdin is not None:
            process.stdin.close()  # a counted emulator stops at the end of its input
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)
        if process.poll() is None:
            process.terminate()
        process.wait(timeout=30)
        if process.stdout is not None:
            process.stdout.close()  # else a ResourceWarning when it is collected


def _stats_reader(commands: IO[str], answers: IO[str]) -> Callable[[], dict[str, Any]]:
    def read() -> dict[str, Any]:
        commands.write("stats\n")
        commands.flush()
        line = answers.readline()
        if not line:
            raise RuntimeError("the emulator stopped")
        stats: dict[str, Any] = json.loads(line)
        return stats

    return read


async def _serve_counted(server: Any) -> None:
    """Serve until standard input ends; answer each ``stats`` line with the counters."""
    from aiotofu._emulator.server import describe

    await server.start()
    print(f"aiotofu emulator listening on {server.base_url}", flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), sys.stdin
    )
    try:
        while line := await reader.readline():
            if line.strip() == b"stats":
                # Read between two turns of the loop: no request is half counted.
                print(json.dumps(describe(server)), flush=True)
    finally:
        transport.close()
        await server.stop()


def main() -> None:
    """``python -m benchmarks.emulator``: the options of ``aiotofu emulator`` that the
    benchmarks use, and the stats channel on standard input."""
    from aiotofu._emulator import EmulatorServer, FaultSettings

    parser = argparse.ArgumentParser(prog="python -m benchmarks.emulator")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--batches", type=int, default=0)
    parser.add_argument("--runs", type=int)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--synthetic", action="store_true")
    parser.add_argument("--offset-cost", type=float, default=0.0)
    args = parser.parse_args()
    server = EmulatorServer(
        port=args.port,
        batches=args.batches,
        runs=args.runs,
        seed=args.seed,
        api_key=args.api_key,
        faults=FaultSettings(latency=args.latency, seed=args.seed),
        synthetic=args.synthetic,
        offset_cost=args.offset_cost,
    )
    asyncio.run(_serve_counted(server))


if __name__ == "__main__":
    main()

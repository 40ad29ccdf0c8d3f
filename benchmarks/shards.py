"""Shards (issue 21): one listing of n records read by one stream, by shards in one process, by
shards on a 2-worker Dask cluster, against the limit (``python -m benchmarks --only shards``).

The emulator runs in its own process (``benchmarks.emulator``, counted: the rows every request
walked, ``rows_scanned``, are its own count), with 50 ms latency and 0.5 µs per skipped row, and
serves its synthetic batches: one a minute, computed from their position. Not runs: the
emulator's runs are a world generated with their phases, measurements and logs, which at
30 000 runs takes half a minute to build and most of a second per page; 300 000 would measure
the emulator. Batches are sharded, planned and read by the same engine as runs.

Every contender gets the same window of requests in flight, ``WINDOW`` (16), and must return
n records, or the run fails:

- one stream, as most users list (``client.batches.list()``, newest first, re-anchored every
  ``SPAN`` records, ``prefetch=2``), and the same stream given the whole window
  (``prefetch=WINDOW - 1``);
- asyncio over shards, in one process: the plan is found lazily (``shards()``) while
  ``WINDOW`` workers read, one request in flight each; a worker reads its shard ``BUDGET``
  records at a time, and when the budget runs out while a worker is idle with nothing to take,
  it splits the remainder (``read(..., budget=)``, ``remainder``, ``split()``) and hands half
  over, so the tail of the read is not one worker's slow shard;
- Dask: ``plan()``, then ``aiotofu.dask.read(plan)`` on a ``LocalCluster`` of 2 worker
  processes with ``WINDOW / 2`` threads each, one request in flight per task (the cluster is
  started before the clock, the planning is timed);
- the limit: a client that knows the data (a batch a minute) requests every page of that
  partition, ``created_after``/``created_before`` around each 100 records, all at once through
  the same window, and decodes JSON only: one row walked per record, no planning, no tail.

Nothing here asserts a speed: the targets are reported, met or missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import aiohttp

import aiotofu
import aiotofu._pages
from benchmarks import contenders
from benchmarks.emulator import Server, emulator

PAGE_SIZE = 100
LATENCY = 0.05
OFFSET_COST = 5e-7  # PostgreSQL 15, an index on the order: 0.5 µs per skipped row
WINDOW = 16  # requests in flight, for every contender
SHARDS_PER_WINDOW = 4  # the plan's target: about this many shards per request in flight
BUDGET = 1_000  # records a worker reads before it looks for an idle worker to hand half to
# The synthetic store: batch i is created i minutes after this (benchmarks know the data).
EPOCH = datetime(2024, 1, 1, tzinfo=timezone.utc)
MINUTE = timedelta(minutes=1)
MILLISECOND = timedelta(milliseconds=1)

STREAM = "one stream (prefetch=2)"
STREAM_WIDE = f"one stream (prefetch={WINDOW - 1})"
ASYNCIO = f"asyncio, {WINDOW} workers over shards"
DASK = f"Dask LocalCluster, 2 workers x {WINDOW // 2} threads"
LIMIT = f"limit: every page at once, window of {WINDOW}"

Run = Callable[[Server], int]


def target_size(total: int) -> int:
    """The plan's target: about SHARDS_PER_WINDOW shards per request in flight."""
    return max(1, total // (WINDOW * SHARDS_PER_WINDOW))


def stream(prefetch: int) -> Run:
    """One re-anchored listing of every batch, newest first."""

    def run(server: Server) -> int:
        async def listing() -> int:
            async with aiotofu.Client(
                server.api_key, base_url=server.base_url, max_concurrency=WINDOW
            ) as client:
                count = 0
                async for page in client.batches.list(
                    page_size=PAGE_SIZE, prefetch=prefetch
                ).pages():
                    count += len(page.items)
                return count

        return asyncio.run(listing())

    return run


async def read_sharded(
    client: aiotofu.Client,
    total: int,
    *,
    workers: int = WINDOW,
    budget: int = BUDGET,
    seen: list[str] | None = None,
) -> tuple[int, int]:
    """Every batch, by ``workers`` tasks over the shards of a plan found as they read (planned
    for ``total``), halves of a slow shard handed to idle workers; (records, splits), and
    each record's id in ``seen`` if given. The pattern of the README's straggler paragraph."""
    queue: asyncio.Queue[aiotofu.Shard | None] = asyncio.Queue()
    open_shards = 0  # put in the queue and not read to their end yet
    planning = True
    idle = 0
    records = splits = 0

    def finish_one() -> None:
        nonlocal open_shards
        open_shards -= 1
        if not planning and open_shards == 0:
            for _ in range(workers):
                queue.put_nowait(None)  # nothing left anywhere: every worker stops

    async def plan() -> None:
        nonlocal planning, open_shards
        async with client.batches.shards(target_size=target_size(total)) as search:
            async for shard in search:
                open_shards += 1
                queue.put_nowait(shard)
        planning = False
        if open_shards == 0:
            open_shards = 1
            finish_one()

    async def worker() -> None:
        nonlocal idle, records, splits, open_shards
        while True:
            idle += 1
            shard = await queue.get()
            idle -= 1
            if shard is None:
                return
            while shard is not None:
                reader = client.batches.read(shard, page_size=PAGE_SIZE, prefetch=0, budget=budget)
                async for page in reader.pages():
                    records += len(page.items)
                    if seen is not None:
                        seen.extend(batch.id for batch in page.items)
                shard = reader.remainder
                if shard is not None and idle and queue.empty():
                    with contextlib.suppress(aiotofu.InvalidParameterError):  # one instant
                        shard, half = shard.split()
                        open_shards += 1
                        splits += 1
                        queue.put_nowait(half)
            finish_one()

    tasks = [
        asyncio.ensure_future(plan()),
        *(asyncio.ensure_future(worker()) for _ in range(workers)),
    ]
    try:
        await asyncio.gather(*tasks)
    finally:  # one failed: the others stop too, before the client closes
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return records, splits


def sharded(total: int, splits: list[int]) -> Run:
    """asyncio over shards, in one process (the number of splits of each run in ``splits``)."""

    def run(server: Server) -> int:
        async def read() -> int:
            async with aiotofu.Client(
                server.api_key, base_url=server.base_url, max_concurrency=WINDOW
            ) as client:
                count, split = await read_sharded(client, total)
                splits.append(split)
                return count

        return asyncio.run(read())

    return run


@contextlib.contextmanager
def dask_cluster() -> Iterator[Any]:
    """A LocalCluster of 2 worker processes, WINDOW / 2 threads each, and its client."""
    import distributed

    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=WINDOW // 2,
            processes=True,
            dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def on_dask(total: int, cluster: Any) -> Run:
    """plan(), then aiotofu.dask.read(plan) counted on ``cluster``."""
    import aiotofu.dask

    def run(server: Server) -> int:
        with aiotofu.SyncClient(
            server.api_key, base_url=server.base_url, max_concurrency=WINDOW
        ) as client:
            plan = client.batches.plan(target_size=target_size(total))
        bag = aiotofu.dask.read(plan, base_url=server.base_url, api_key=server.api_key, prefetch=0)
        count: int = cluster.compute(bag.count()).result()
        return count

    return run


def _format(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def read_every_page(base_url: str, key: str, total: int) -> int:
    """The limit: the pages of the known partition (100 batches, 100 minutes, each), all
    requested at once through WINDOW connections; JSON decoded, nothing structured. The
    distinct ids it took."""
    headers = {"Authorization": f"Bearer {key}"}
    taken: set[str] = set()
    connector = aiohttp.TCPConnector(limit=WINDOW)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def page(first: int) -> None:
            low = EPOCH + first * MINUTE
            high = EPOCH + (first + PAGE_SIZE) * MINUTE - MILLISECOND
            params = {
                "created_after": _format(low),
                "created_before": _format(high),
                "limit": str(PAGE_SIZE),
                "sort_by": "created_at",
                "sort_order": "asc",
            }
            async with session.get(
                f"{base_url}/v2/batches", params=params, headers=headers
            ) as response:
                response.raise_for_status()
                body = contenders.loads(await response.read())
            taken.update(record["id"] for record in body["data"])

        await asyncio.gather(*(page(first) for first in range(0, total, PAGE_SIZE)))
    return len(taken)


def every_page(total: int) -> Run:
    """The limit (``read_every_page``), run on its own event loop."""

    def run(server: Server) -> int:
        return asyncio.run(read_every_page(server.base_url, server.api_key, total))

    return run


def measure(run: Run, server: Server, total: int) -> dict[str, float]:
    """One run: wall and client CPU time, and what the emulator counted meanwhile."""
    counted = server.stats()
    cpu, wall = time.process_time(), time.perf_counter()
    records = run(server)
    seconds, cpu_seconds = time.perf_counter() - wall, time.process_time() - cpu
    after = server.stats()
    if records != total:
        raise RuntimeError(f"a contender read {records} of {total} records")
    rows = after["rows_scanned"] - counted["rows_scanned"]
    return {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "rows_scanned": rows,
        "rows_per_record": rows / total,
        "requests": after["requests"] - counted["requests"],
    }


def case(total: int, latency: float, *, cluster: Any | None, again: bool) -> dict[str, Any]:
    """Every contender once over ``total`` batches at ``latency`` (Dask if a ``cluster`` is
    given), then, if ``again``, the headline pair (asyncio over shards, the limit) once more."""
    splits: list[int] = []
    named: dict[str, Run] = {
        LIMIT: every_page(total),
        ASYNCIO: sharded(total, splits),
        STREAM: stream(2),
        STREAM_WIDE: stream(WINDOW - 1),
    }
    if cluster is not None:
        named[DASK] = on_dask(total, cluster)
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in named}
    served = emulator(total, latency=latency, synthetic=True, offset_cost=OFFSET_COST, counted=True)
    with served as server:
        measure(every_page(1_000), server, 1_000)  # warm-up: imports, first connections
        for name, run in named.items():
            samples[name].append(measure(run, server, total))
        for name in (ASYNCIO, LIMIT) if again else ():  # the machine is shared: once more
            samples[name].append(measure(named[name], server, total))
    figures = {
        name: {key: statistics.median(s[key] for s in runs) for key in runs[0]}
        | {"runs": len(runs), "samples": runs}
        for name, runs in samples.items()
    }
    floor = figures[LIMIT]["seconds"]
    for row in figures.values():
        row["x_limit"] = row["seconds"] / floor
    figures[ASYNCIO]["splits"] = splits
    return {
        "records": total,
        "latency": latency,
        "target_size": target_size(total),
        "contenders": figures,
    }


def shards(quick: bool) -> dict[str, Any]:
    """The scenario. The issue's case: 300 000 batches at 50 ms, every contender, the headline
    again. On a machine where the emulator's CPU caps the pages per second below what the
    window asks at 50 ms (2 shared cores: about 130 a second, 320 asked), every contender that
    fills the window meets that cap instead of the latency; so also a latency-bound case,
    30 000 at 200 ms (80 pages a second asked). ``--quick``: 10 000 at 50 ms, no Dask, once."""
    if quick:
        cases = [case(10_000, LATENCY, cluster=None, again=False)]
    else:
        with dask_cluster() as cluster:
            cases = [
                case(300_000, LATENCY, cluster=cluster, again=True),
                case(30_000, 4 * LATENCY, cluster=cluster, again=True),
            ]
    return {
        "page_size": PAGE_SIZE,
        "offset_cost": OFFSET_COST,
        "window": WINDOW,
        "budget": BUDGET,
        "span": aiotofu._pages.SPAN,
        "cases": cases,
        "targets": targets(cases),
    }


def targets(cases: list[dict[str, Any]]) -> dict[str, bool]:
    """The issue's goals, in every case: shards within 1.3x of the limit, and at least 3x
    faster than the single stream (as most users list: prefetch=2)."""
    goals = {}
    for c in cases:
        figures = c["contenders"]
        where = f"{c['records']:,} at {c['latency'] * 1000:g} ms"
        goals[f"{where}: asyncio over shards <= 1.3x the limit"] = (
            figures[ASYNCIO]["x_limit"] <= 1.3
        )
        goals[f"{where}: asyncio over shards >= 3x faster than one stream"] = (
            figures[STREAM]["seconds"] >= 3 * figures[ASYNCIO]["seconds"]
        )
        if DASK in figures:
            goals[f"{where}: Dask <= 1.3x the limit"] = figures[DASK]["x_limit"] <= 1.3
    return goals


def report(section: dict[str, Any]) -> list[str]:
    """The scenario's tables, in Markdown."""
    lines = []
    for c in section["cases"]:
        lines += [
            f"Shards: {c['records']:,} batches, {c['latency'] * 1000:g} ms latency, "
            f"{section['offset_cost'] * 1e6:g} µs per skipped row, pages of "
            f"{section['page_size']}, {section['window']} requests in flight, "
            f"target_size={c['target_size']:,}, budget={section['budget']:,}",
            "",
            "| contender | wall (s), each run | x limit | rows scanned | rows/record | requests |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for name, row in c["contenders"].items():
            walls = " / ".join(f"{sample['seconds']:.2f}" for sample in row["samples"])
            lines.append(
                f"| {name} | {walls} | {row['x_limit']:.2f} | {row['rows_scanned']:,.0f} | "
                f"{row['rows_per_record']:.2f} | {row['requests']:,.0f} |"
            )
        splits = c["contenders"][ASYNCIO].get("splits")
        lines += ["", f"Remainders split and handed to idle workers, per run: {splits}.", ""]
    return lines

"""``python -m benchmarks --only load``: ``aiotofu.dlt.source()`` against the baseline it must
beat, dlt's own REST API source pointed at TofuPilot, on the same emulator.

The baseline is what a dlt user writes in a dozen lines (``baseline()``): an
``OffsetPaginator`` on ``cursor`` that stops on ``meta.has_more``, one request at a time, no
continuity check, every load a full listing appended (rest_api's default). Four figures:

- **records lost under deletions**: while the first load pages, another user deletes 2 of the
  records the contender has already received on every request answered (40 in all, the first
  of its order: newest first for the baseline, the API's default; oldest first for aiotofu's
  incremental listing). Lost: those that existed throughout and are not in the table.
- **wall time, latency-bound**: the extract step of one load at 20 ms per answer.
- **rows scanned** with ``offset_cost``: the rows the server walked for one load
  (``emu.stats["rows_scanned"]``: each request's cursor plus the records it answered).
- **rows loaded twice** after two loads with nothing new between them.

The emulator runs in a thread of this process (the deletions are played inside it, between a
page being computed and being sent), so both contenders share one CPU budget with it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")

import dlt
import duckdb
from anyio.from_thread import start_blocking_portal
from dlt.sources.rest_api import rest_api_source

import aiotofu
import aiotofu.dlt
from aiotofu.testing import Emulator

DELETED = 40
PER_REQUEST = 2


def baseline(base_url: str, api_key: str, resource: str = "batches", page_size: int = 100) -> Any:
    """dlt's REST API source on TofuPilot's API, as its documentation writes one."""
    return rest_api_source(
        {
            "client": {
                "base_url": base_url.rstrip("/") + "/v2/",
                "auth": {"type": "bearer", "token": api_key},
                "paginator": {
                    "type": "offset",
                    "limit": page_size,
                    "offset_param": "cursor",
                    "limit_param": "limit",
                    "total_path": None,
                    "has_more_path": "meta.has_more",
                },
            },
            "resource_defaults": {"endpoint": {"data_selector": "data"}},
            "resources": [resource],
        },
        name="baseline",
    )


@contextmanager
def threaded_emulator(**options: Any) -> Iterator[Emulator]:
    """An emulator on its own loop in a thread: dlt's pipeline blocks the caller's."""
    with start_blocking_portal(name="emulator") as portal:
        emu = Emulator(**options)
        portal.call(emu.__aenter__)
        try:
            yield emu
        finally:
            portal.call(emu.__aexit__, None, None, None)


def delete_while_paging(emu: Emulator, victims: list[str], per_request: int = PER_REQUEST) -> None:
    """From now on, every answer the emulator sends is preceded by the deletion of the next
    ``per_request`` of ``victims`` (after its page was computed: it still holds them).

    The emulator's wait before an answer (its ``latency``, which must be above 0) is where the
    deletions happen: the same moment for every client, whatever it does between requests.
    """
    state = emu._server.state  # its documented stand-in for its sleep
    pending = list(victims)

    async def sleep(seconds: float) -> None:
        for _ in range(min(per_request, len(pending))):
            emu.delete_batch(pending.pop(0))
        await asyncio.sleep(seconds)

    state.sleep = sleep


def stop_deleting(emu: Emulator) -> None:
    """Back to the emulator's own wait."""
    emu._server.state.sleep = asyncio.sleep


def batch_ids(emu: Emulator, *, newest_first: bool) -> list[str]:
    """Every batch id, in the order of one listing."""
    order = "desc" if newest_first else "asc"
    with aiotofu.SyncClient(emu.api_key, base_url=emu.base_url) as client:
        listing = client.batches.list(sort_by="created_at", sort_order=order, page_size=100)
        return [batch.id for batch in listing]


def pipeline(workdir: Path, name: str) -> Any:
    """A dlt pipeline into a DuckDB file of its own, its state under ``workdir``."""
    return dlt.pipeline(
        pipeline_name=name,
        destination=dlt.destinations.duckdb(str(workdir / f"{name}.duckdb")),
        dataset_name="tofupilot",
        pipelines_dir=str(workdir / "pipelines"),
    )


def loaded_ids(workdir: Path, name: str, table: str = "batches") -> list[str]:
    """The ids in ``table`` of pipeline ``name``'s DuckDB file, one per row."""
    with duckdb.connect(str(workdir / f"{name}.duckdb"), read_only=True) as connection:
        return [row[0] for row in connection.sql(f"SELECT id FROM tofupilot.{table}").fetchall()]


Source = Callable[[Emulator], Any]


def ours(emu: Emulator) -> Any:
    """aiotofu's source, batches only."""
    return aiotofu.dlt.source(resources=["batches"], api_key=emu.api_key, base_url=emu.base_url)


def theirs(emu: Emulator) -> Any:
    """The baseline, batches only."""
    return baseline(emu.base_url, emu.api_key)


CONTENDERS: dict[str, tuple[Source, bool]] = {"aiotofu": (ours, False), "baseline": (theirs, True)}
"""Each contender and whether it lists newest first."""


def lost_under_deletions(source: Source, newest_first: bool, batches: int) -> dict[str, int]:
    """One load while ``DELETED`` already-listed batches are deleted: what it lost."""
    with threaded_emulator(batches=batches, seed=7, runs=0, latency=0.001) as emu:
        order = batch_ids(emu, newest_first=newest_first)
        victims = order[:DELETED]
        throughout = set(order) - set(victims)
        with _workdir() as workdir:
            delete_while_paging(emu, victims)
            pipeline(workdir, "deletions").run(source(emu))
            stop_deleting(emu)
            loaded = loaded_ids(workdir, "deletions")
        return {
            "existed_throughout": len(throughout),
            "loaded": len(loaded),
            "lost": len(throughout - set(loaded)),
            "loaded_twice": len(loaded) - len(set(loaded)),
        }


def two_loads(source: Source, batches: int, latency: float, offset_cost: float) -> dict[str, float]:
    """Two loads with nothing new between them: the first's extract time and rows scanned,
    the second's rows scanned, and the rows in the table twice after both."""
    with threaded_emulator(
        batches=batches, seed=7, runs=0, latency=latency, offset_cost=offset_cost
    ) as emu:
        with _workdir() as workdir:
            load = pipeline(workdir, "twice")
            emu.reset_stats()
            load.run(source(emu))
            extract = next(step for step in load.last_trace.steps if step.step == "extract")
            first_seconds = (extract.finished_at - extract.started_at).total_seconds()
            first_scanned = emu.stats["rows_scanned"]
            first_requests = emu.stats["requests"]
            emu.reset_stats()
            load.run(source(emu))
            loaded = loaded_ids(workdir, "twice")
        return {
            "extract_seconds": first_seconds,
            "first_rows_scanned": first_scanned,
            "first_requests": first_requests,
            "second_rows_scanned": emu.stats["rows_scanned"],
            "second_requests": emu.stats["requests"],
            "rows": len(loaded),
            "loaded_twice": len(loaded) - len(set(loaded)),
        }


@contextmanager
def _workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="aiotofu-load-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def load(quick: bool) -> dict[str, Any]:
    """The scenario: each contender's figures, medians of 3 for the times (1 with quick)."""
    os.environ["DLT_DATA_DIR"] = tempfile.mkdtemp(prefix="aiotofu-dlt-")
    batches = 500 if quick else 2000
    runs = 1 if quick else 3
    results: dict[str, Any] = {"batches": batches, "deleted": DELETED}
    for name, (source, newest_first) in CONTENDERS.items():
        started = time.perf_counter()
        deletions = lost_under_deletions(source, newest_first, batches)
        loads = [two_loads(source, batches, 0.02, 5e-7) for _ in range(runs)]
        loads.sort(key=lambda figures: figures["extract_seconds"])
        results[name] = {"deletions": deletions, "loads": loads[len(loads) // 2]}
        results[name]["seconds"] = time.perf_counter() - started
    return results


def report(section: dict[str, Any]) -> list[str]:
    """The scenario's table, as the README shows it."""
    lines = [
        f"dlt load of {section['batches']} batches "
        f"({section['deleted']} deleted during the first load; 20 ms latency, 0.5 µs a row):",
        "| contender | lost under deletions | extract, latency-bound | rows scanned "
        "(1st load) | rows scanned (2nd load) | rows loaded twice after two loads |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in CONTENDERS:
        figures = section[name]
        loads = figures["loads"]
        lines.append(
            f"| {name} | {figures['deletions']['lost']} of "
            f"{figures['deletions']['existed_throughout']} | {loads['extract_seconds']:.2f} s | "
            f"{loads['first_rows_scanned']:,} | {loads['second_rows_scanned']:,} | "
            f"{loads['loaded_twice']:,} |"
        )
    return lines

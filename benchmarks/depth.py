"""Deep listings (issue 20): what listing n records costs the server, in rows its index walks,
and the wall clock, when every offset costs the server a walk (``python -m benchmarks --only
depth``).

The emulator runs in its own process (``benchmarks.emulator``, counted: it answers ``stats``
with its own ``rows_scanned``, the rows every list request walked: its cursor, then the records
it answered). It serves the synthetic batches (one a minute, computed from their position, so
the emulator's own work per page does not grow with depth, and the offset's cost is the one
``--offset-cost`` charges: a wait per skipped row that holds up no other request), newest first
(the API's default order, ``created_at desc``), with 20 ms latency, in pages of 100.

Contenders, taking turns round by round (medians reported; each run's figures are kept):

- the official SDK's loop (``contenders.sdk_sync``): one page at a time, the offsets given back;
- aiotofu before: ``aiotofu._pages.SPAN = None`` (plain offset paging), ``prefetch=7``,
  ``max_concurrency=8``;
- aiotofu after: the default SPAN, same settings; and the same with other spans (the span sweep);
- the limit (``keyset_windows``): a client that knows the schema and the data's spread. The
  newest-first order is cut into 8 windows of equal counts, whose boundaries are read before the
  clock starts (and outside the rows counted): the ``created_at`` at offsets n/8, 2n/8, ...
  Window j is ``created_after=<its lower boundary>`` (inclusive) and ``created_before=<the
  upper one less 1 ms>`` (inclusive: the emulator stores milliseconds, so that is exactly the
  times below the boundary); the 8 windows are walked at once, each by keyset: after a page,
  ``created_before=<the last created_at taken>`` and ``cursor=<the records of that instant
  already taken>``, so every request is one index seek plus the few rows of that instant. It
  decodes JSON and structures nothing, and checks that it took n distinct ids.

Every contender must return n records, or the run fails. Nothing here asserts a speed: the
targets are reported, met or missed.
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import aiohttp

import aiotofu
import aiotofu._pages
from benchmarks import contenders
from benchmarks.emulator import Server, emulator

PAGE_SIZE = 100
LATENCY = 0.02
OFFSET_COST = 5e-7  # PostgreSQL 15, an index on the order: 0.5 µs per skipped row
HIGH_OFFSET_COST = 1.3e-6  # the same with one join
PREFETCH = 7
DEFAULT_PREFETCH = 2  # what list() prefetches unless told
MAX_CONCURRENCY = 8
WINDOWS = 8  # the limit's concurrent requests: as many as aiotofu's
DEFAULT_SPAN = aiotofu._pages.SPAN
SPANS = (1_000, 2_000, 5_000)

SDK = "official SDK, sync loop"
BEFORE = "aiotofu before (offset paging)"
AFTER = f"aiotofu after (SPAN={DEFAULT_SPAN})"
LIMIT = f"limit: keyset, {WINDOWS} windows"
MILLISECOND = timedelta(milliseconds=1)
# Where the full run's figures are kept (``python -m benchmarks`` writes them beside its output).
SAVED = Path(__file__).parent / "results" / "depth.json"

Contender = contenders.Contender


def span_name(span: int | None) -> str:
    """The name of aiotofu's contender with this span."""
    if span is None:
        return BEFORE
    return AFTER if span == DEFAULT_SPAN else f"aiotofu SPAN={span}"


def aiotofu_with_span(
    span: int | None, *, prefetch: int = PREFETCH, max_concurrency: int = MAX_CONCURRENCY
) -> Contender:
    """aiotofu with this prefetch and concurrency, its listings re-anchoring every ``span``
    records (None: never). The engine reads ``aiotofu._pages.SPAN`` when a listing starts."""
    listing = contenders.aiotofu_contender(prefetch=prefetch, max_concurrency=max_concurrency)

    async def run(base_url: str, key: str, page_size: int) -> int:
        saved, aiotofu._pages.SPAN = aiotofu._pages.SPAN, span
        try:
            return await listing(base_url, key, page_size)
        finally:
            aiotofu._pages.SPAN = saved

    return run


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _format(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def window_bounds(server: Server, total: int, windows: int = WINDOWS) -> list[str]:
    """The ``created_at`` of the records at offsets total/windows, 2 total/windows, ... newest
    first: where the limit's windows meet (read once, before its clock starts)."""
    headers = {"Authorization": f"Bearer {server.api_key}"}
    bounds = []
    async with aiohttp.ClientSession() as session:
        for j in range(1, windows):
            params = {"limit": "1", "cursor": str(j * total // windows)}
            async with session.get(
                f"{server.base_url}/v2/batches", params=params, headers=headers
            ) as response:
                response.raise_for_status()
                bounds.append(contenders.loads(await response.read())["data"][0]["created_at"])
    return bounds


def keyset_windows(bounds: list[str]) -> Contender:
    """The limit: the windows between ``bounds`` (newest first), walked at once by keyset. See
    the module's docstring for exactly what it sends."""
    edges: list[str | None] = [None, *bounds, None]

    async def run(base_url: str, key: str, page_size: int) -> int:
        headers = {"Authorization": f"Bearer {key}"}
        taken: set[str] = set()

        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=len(edges) - 1)
        ) as session:

            async def walk(low: str | None, high: str | None) -> int:
                # The window: low <= created_at < high, high given as the time 1 ms before it.
                before = None if high is None else _format(_parse(high) - MILLISECOND)
                skip = 0  # records of the instant `before` already taken
                walked = 0
                while True:
                    params = {"limit": str(page_size), "cursor": str(skip)}
                    if low is not None:
                        params["created_after"] = low
                    if before is not None:
                        params["created_before"] = before
                    async with session.get(
                        f"{base_url}/v2/batches", params=params, headers=headers
                    ) as response:
                        response.raise_for_status()
                        body = contenders.loads(await response.read())
                    data = body["data"]
                    fresh = {record["id"] for record in data} - taken
                    if data and not fresh:  # a step that went nowhere would go on forever
                        raise RuntimeError(f"the keyset limit repeated a page: {params}")
                    taken.update(fresh)
                    walked += len(data)
                    if not body["meta"]["has_more"]:
                        return walked
                    last = data[-1]["created_at"]
                    if last == before:  # the whole page was that instant: go on inside it
                        skip += len(data)
                    else:
                        before = last
                        skip = sum(1 for record in data if record["created_at"] == last)

            counts = await asyncio.gather(
                *(walk(low, high) for high, low in itertools.pairwise(edges))
            )
            count = sum(counts)
        if len(taken) != count:
            raise RuntimeError(f"the keyset limit took {count} records, {len(taken)} distinct")
        return count

    return run


def measure(contender: Contender, server: Server, total: int) -> dict[str, float]:
    """One run: wall and client CPU time, and what the emulator counted meanwhile."""
    counted = server.stats()
    cpu, wall = time.process_time(), time.perf_counter()
    records = asyncio.run(contender(server.base_url, server.api_key, PAGE_SIZE))
    seconds, cpu_seconds = time.perf_counter() - wall, time.process_time() - cpu
    after = server.stats()
    if records != total:
        raise RuntimeError(f"a contender listed {records} of {total} records")
    rows = after["rows_scanned"] - counted["rows_scanned"]
    return {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "rows_scanned": rows,
        "rows_per_record": rows / total,
        "requests": after["requests"] - counted["requests"],
    }


def rotate(
    named: dict[str, tuple[Contender, int]], server: Server, total: int
) -> dict[str, dict[str, Any]]:
    """Run each contender its number of times, taking turns; medians, and each run."""
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in named}
    for round_ in range(max(wanted for _, wanted in named.values())):
        order = list(named.items())
        # Each round starts one further along, so no contender always follows the same one.
        shift = round_ % len(order)
        for name, (contender, wanted) in order[shift:] + order[:shift]:
            if round_ < wanted:
                samples[name].append(measure(contender, server, total))
    return {
        name: {key: statistics.median(s[key] for s in runs_) for key in runs_[0]}
        | {"runs": len(runs_), "samples": runs_}
        for name, runs_ in samples.items()
    }


def served(total: int, offset_cost: float = OFFSET_COST) -> Any:
    """The counted emulator of these listings: ``total`` synthetic batches, 20 ms latency."""
    return emulator(total, latency=LATENCY, synthetic=True, offset_cost=offset_cost, counted=True)


def case(
    total: int, offset_cost: float, *, runs: int, sdk_runs: int, spans: tuple[int, ...]
) -> dict[str, Any]:
    """Every contender over ``total`` records at ``offset_cost`` seconds a skipped row: the
    SDK ``sdk_runs`` times, the others ``runs`` times."""
    with served(total, offset_cost) as server:
        limit = keyset_windows(asyncio.run(window_bounds(server, total)))
        named: dict[str, tuple[Contender, int]] = {SDK: (contenders.sdk_sync, sdk_runs)}
        named[BEFORE] = (aiotofu_with_span(None), runs)
        spanned = {span_name(span): span for span in sorted({DEFAULT_SPAN, *spans})}
        for name, span in spanned.items():
            named[name] = (aiotofu_with_span(span), runs)
        named[LIMIT] = (limit, runs)
        figures = rotate(named, server, total)
    floor = figures[LIMIT]["seconds"]
    for name, row in figures.items():
        row["x_limit"] = row["seconds"] / floor
        if name in spanned:
            row["span"] = spanned[name]
            row["model_rows_per_record"] = model(spanned[name], PREFETCH)
    return {"records": total, "offset_cost": offset_cost, "contenders": figures}


def span_sweep_at_defaults(total: int, *, runs: int) -> dict[str, Any]:
    """aiotofu as most users run it (``prefetch=2``, ``max_concurrency=4``) with each span."""
    named: dict[str, tuple[Contender, int]] = {
        f"aiotofu defaults, SPAN={span}": (
            aiotofu_with_span(span, prefetch=2, max_concurrency=4),
            runs,
        )
        for span in SPANS
    }
    with served(total) as server:
        figures = rotate(named, server, total)
    for span, row in zip(SPANS, figures.values(), strict=True):
        row["span"] = span
        row["model_rows_per_record"] = model(span, DEFAULT_PREFETCH)
    return {
        "records": total,
        "offset_cost": OFFSET_COST,
        "prefetch": DEFAULT_PREFETCH,
        "contenders": figures,
    }


def warm_up() -> None:
    """One small listing by every contender: imports, first connections, the SDK's models."""
    with emulator(1_000, synthetic=True, counted=True) as server:
        limit = keyset_windows(asyncio.run(window_bounds(server, 1_000)))
        for contender in (contenders.sdk_sync, aiotofu_with_span(None), limit):
            measure(contender, server, 1_000)


def estimate(span: int) -> float:
    """The issue's estimate of the rows walked per record when a listing re-anchors every
    ``span`` records: a window's offsets average span / 2 pages' worth, plus the page itself."""
    return span / (2 * PAGE_SIZE) + 1


def model(span: int, prefetch: int) -> float:
    """What the engine walks per record, as measured: a window is planned from the record last
    handed out while ``prefetch`` pages are still in flight (each page takes page_size - 1 new
    records, one being the overlap), so its offsets start at those pages, ``ahead``, and run to
    the span, or to twice ``ahead`` when the span is shorter (the next plan waits for the
    pages in flight). Rows per record: the average offset in pages, plus the page itself."""
    ahead = prefetch * (PAGE_SIZE - 1)
    return (ahead + max(span, 2 * ahead)) / (2 * PAGE_SIZE) + 1


def depth(quick: bool) -> dict[str, Any]:
    """The scenario: every size at 0.5 µs a row, one size at 1.3 µs, each with the span sweep;
    the span sweep again at aiotofu's default prefetch."""
    sizes = (5_000, 20_000) if quick else (20_000, 100_000, 300_000)
    runs = 1 if quick else 3
    warm_up()
    cases = [
        case(total, OFFSET_COST, runs=runs, sdk_runs=runs if total <= 20_000 else 1, spans=SPANS)
        for total in sizes
    ]
    middle = sizes[-1] if quick else 100_000
    cases.append(case(middle, HIGH_OFFSET_COST, runs=runs, sdk_runs=1, spans=SPANS))
    return {
        "page_size": PAGE_SIZE,
        "latency": LATENCY,
        "prefetch": PREFETCH,
        "max_concurrency": MAX_CONCURRENCY,
        "span": DEFAULT_SPAN,
        "estimate_rows_per_record": {str(span): estimate(span) for span in SPANS},
        "cases": cases,
        "defaults": span_sweep_at_defaults(middle, runs=runs),
        "targets": targets(cases),
    }


def targets(cases: list[dict[str, Any]]) -> dict[str, bool]:
    """The issue's goals, met or missed: aiotofu's rows per record bounded whatever n (the
    same at the largest size as at the one before, within 2 %), and about the estimate
    span / (2 x page size) + 1 (taken as: no more than it); its wall time within 1.2x of the
    limit's at every size."""
    rows = [c["contenders"][AFTER]["rows_per_record"] for c in cases]
    sized = sorted(
        (c["records"], c["contenders"][AFTER]["rows_per_record"])
        for c in cases
        if c["offset_cost"] == OFFSET_COST
    )
    return {
        "rows/record bounded (largest n within 2% of the next)": sized[-1][1]
        <= 1.02 * sized[-2][1],
        f"rows/record <= span / (2 x page) + 1 = {estimate(DEFAULT_SPAN):g}": all(
            r <= estimate(DEFAULT_SPAN) for r in rows
        ),
        "wall time <= 1.2x the limit at every size": all(
            c["contenders"][AFTER]["x_limit"] <= 1.2 for c in cases
        ),
    }


def _table(title: str, rows: dict[str, dict[str, Any]]) -> list[str]:
    lines = [
        title,
        "",
        "| contender | rows scanned | rows/record | wall (s) | x limit | client CPU (s) | runs |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, row in rows.items():
        ratio = f"{row['x_limit']:.2f}" if "x_limit" in row else "-"
        lines.append(
            f"| {name} | {row['rows_scanned']:,.0f} | {row['rows_per_record']:.1f} | "
            f"{row['seconds']:.2f} | {ratio} | {row['cpu_seconds']:.2f} | {row['runs']} |"
        )
    return [*lines, ""]


def report(section: dict[str, Any]) -> list[str]:
    """The scenario's tables, in Markdown."""
    lines = []
    setting = f"{section['latency'] * 1000:g} ms latency, pages of {section['page_size']}"
    for c in section["cases"]:
        cost = f"{c['offset_cost'] * 1e6:g} µs per skipped row"
        lines += _table(f"Depth: {c['records']:,} records, {cost}, {setting}", c["contenders"])
    defaults = section["defaults"]
    lines += _table(
        f"Depth, the span at aiotofu's default prefetch ({defaults['prefetch']}): "
        f"{defaults['records']:,} records, {defaults['offset_cost'] * 1e6:g} µs per skipped "
        f"row, {setting}",
        defaults["contenders"],
    )

    def models(rows: dict[str, dict[str, Any]]) -> str:
        return "; ".join(
            f"SPAN={row['span']}: {row['model_rows_per_record']:.1f}"
            for row in rows.values()
            if "model_rows_per_record" in row
        )

    lines += [
        "Rows per record estimated as span / (2 x page) + 1: "
        + "; ".join(f"SPAN={k}: {v:g}" for k, v in section["estimate_rows_per_record"].items())
        + f". Modelled with the pages in flight: prefetch {section['prefetch']}: "
        + models(section["cases"][-1]["contenders"])
        + f"; prefetch {defaults['prefetch']}: {models(defaults['contenders'])}.",
        "",
    ]
    return lines


def plot(section: dict[str, Any], path: Path) -> bool:
    """Wall time and rows scanned per record against n, one line per contender, at 0.5 µs a
    row, to ``path`` (PNG). False when matplotlib is not installed (it is in the bench extra)."""
    try:
        import matplotlib
    except ImportError:
        return False
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    cases = [c for c in section["cases"] if c["offset_cost"] == OFFSET_COST]
    sizes = [c["records"] for c in cases]
    figure, (wall, rows) = plt.subplots(1, 2, figsize=(11, 4.5))
    styles: dict[str, dict[str, Any]] = {
        SDK: {"color": "tab:red", "marker": "o"},
        BEFORE: {"color": "tab:orange", "marker": "s"},
        AFTER: {"color": "tab:blue", "marker": "^"},
        LIMIT: {"color": "black", "marker": "x", "linestyle": "--"},
    }
    for name, style in styles.items():
        wall.plot(sizes, [c["contenders"][name]["seconds"] for c in cases], label=name, **style)
        rows.plot(
            sizes, [c["contenders"][name]["rows_per_record"] for c in cases], label=name, **style
        )
    cost = f"{OFFSET_COST * 1e6:g} µs per skipped row, {section['latency'] * 1000:g} ms latency"
    for axes, title, unit in (
        (wall, "Wall time", "seconds"),
        (rows, "Rows the server walks per record", "rows / record"),
    ):
        axes.set_xscale("log")
        axes.set_yscale("log")
        axes.set_xticks(sizes, [f"{n:,}" for n in sizes])
        axes.xaxis.set_minor_formatter(NullFormatter())
        axes.set_xlabel("records listed (n)")
        axes.set_ylabel(unit)
        axes.set_title(f"{title}\n({cost})", fontsize=10)
        axes.grid(True, which="both", alpha=0.3)
    wall.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True


def main() -> None:
    """``python -m benchmarks.depth [RESULTS]``: draw the plot again from a saved run's JSON
    (default: ``benchmarks/results/depth.json``), beside it."""
    import json
    import sys

    source = (
        Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "results" / "depth.json"
    )
    if not plot(json.loads(source.read_text()), source.with_suffix(".png")):
        raise SystemExit("matplotlib is not installed: pip install -e '.[bench]'")


if __name__ == "__main__":
    main()

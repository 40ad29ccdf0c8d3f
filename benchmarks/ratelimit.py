"""``--only ratelimit``: records/s and 429s against a server that limits its rate, for fixed
windows of 4, 8 and 16 and for adaptive concurrency, beside the bucket's own rate.

The emulator runs in its own process as ``aiotofu emulator --rate-limit 40 --rate-burst 5
--latency 0.05``: a token bucket of 40 requests per second after a burst of 5, each answer
50 ms. Each contender lists the same batches in pages of 100, long enough (about ten seconds at
the limit, three with ``--quick``) for a steady state to dominate the first burst. The limit,
in records per second, is the bucket's rate times the 99 new records of every page after the
first (each repeats the last record taken, to verify continuity). A fixed window keeps its
window full (``prefetch`` = window - 1), as a user who raised ``max_concurrency`` to go faster
would; 429s are counted from the client's own ``on_retry`` events.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import aiotofu
from benchmarks.emulator import emulator

RATE, BURST, LATENCY = 40.0, 5.0, 0.05
NEW_PER_PAGE = 99
PATIENT = aiotofu.RetryPolicy(attempts=100)  # a fixed window meets many 429s per page

CONTENDERS: dict[str, dict[str, Any]] = {
    "fixed window 4": {"max_concurrency": 4, "adaptive": False, "prefetch": 3},
    "fixed window 8": {"max_concurrency": 8, "adaptive": False, "prefetch": 7},
    "fixed window 16": {"max_concurrency": 16, "adaptive": False, "prefetch": 15},
    "adaptive, max_concurrency=16": {"max_concurrency": 16, "prefetch": 15},
    "adaptive, defaults": {},
    "rate_limit=40 (the server's rate)": {
        "max_concurrency": 16,
        "prefetch": 15,
        "rate_limit": RATE,
    },
}


async def run(
    base_url: str, api_key: str, records: int, options: dict[str, Any]
) -> dict[str, float]:
    """One listing of ``records`` batches: wall time, records/s, 429s and other retries."""
    options = dict(options)
    prefetch = options.pop("prefetch", 2)
    retries: list[aiotofu.RetryEvent] = []
    started = time.perf_counter()
    async with aiotofu.Client(
        api_key, base_url=base_url, retry=PATIENT, on_retry=retries.append, **options
    ) as client:
        got = await client.batches.list(
            page_size=100, prefetch=prefetch, max_items=records
        ).collect()
    seconds = time.perf_counter() - started
    if len(got) != records:
        raise RuntimeError(f"listed {len(got)} records, expected {records}")
    limited = sum(1 for event in retries if event.kind == "429")
    requests = 1 + (records - 100 + NEW_PER_PAGE - 1) // NEW_PER_PAGE
    return {
        "seconds": seconds,
        "records_per_second": records / seconds,
        "ratio_to_limit": records / seconds / (RATE * NEW_PER_PAGE),
        "requests": requests,
        "429s": limited,
        "429s_per_request": limited / requests,
    }


def ratelimit(quick: bool) -> dict[str, Any]:
    """Every contender once, against one emulator (the bucket refills between them)."""
    logging.getLogger("aiotofu").addHandler(logging.NullHandler())  # 429s counted, not printed
    seconds = 3 if quick else 10
    records = 100 + int(RATE * seconds) * NEW_PER_PAGE
    figures: dict[str, dict[str, float]] = {}
    with emulator(
        records, latency=LATENCY, synthetic=True, rate_limit=RATE, rate_burst=BURST
    ) as server:
        for name, options in CONTENDERS.items():
            time.sleep(BURST / RATE)  # a full bucket for each
            figures[name] = asyncio.run(run(server.base_url, server.api_key, records, options))
    adaptive = figures["adaptive, max_concurrency=16"]
    reaching = [
        row
        for name, row in figures.items()
        if name.startswith("fixed") and row["ratio_to_limit"] >= adaptive["ratio_to_limit"]
    ]
    return {
        "targets": {
            "adaptive within 10% of the limit": adaptive["ratio_to_limit"] >= 0.9,
            "fewer 429s than any fixed window as fast": all(
                adaptive["429s"] < row["429s"] for row in reaching
            ),
        },
        "rate_limit": RATE,
        "burst": BURST,
        "latency": LATENCY,
        "records": records,
        "limit_records_per_second": RATE * NEW_PER_PAGE,
        "contenders": figures,
    }


def table(results: dict[str, Any]) -> list[str]:
    """The Markdown table of a ``ratelimit`` run."""
    lines = [
        "| contender | records/s | x limit | 429s | 429s per request |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, row in results["contenders"].items():
        lines.append(
            f"| {name} | {row['records_per_second']:,.0f} | {row['ratio_to_limit']:.2f} "
            f"| {row['429s']:.0f} | {row['429s_per_request']:.2f} |"
        )
    return lines

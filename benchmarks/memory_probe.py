"""Run in its own process by the memory benchmark: stream N records, report peak RSS growth.

``python -m benchmarks.memory_probe BASE_URL KEY RECORDS`` prints one JSON object.
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time

import aiotofu


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def probe(base_url: str, key: str, records: int) -> dict[str, float]:
    async with aiotofu.Client(key, base_url=base_url, max_concurrency=4) as client:
        # Warm up first (imports, session, code paths, pools), streaming as below, so that the
        # baseline is the steady state of a streaming client.
        async for _ in client.batches.list(page_size=100, max_items=2000, prefetch=3):
            pass
        baseline = peak_rss_mb()
        started = time.perf_counter()
        count = 0
        async for _ in client.batches.list(page_size=100, max_items=records, prefetch=3):
            count += 1
        elapsed = time.perf_counter() - started
    return {
        "records": count,
        "baseline_mb": baseline,
        "peak_mb": peak_rss_mb(),
        "growth_mb": peak_rss_mb() - baseline,
        "seconds": elapsed,
    }


if __name__ == "__main__":
    url, api_key, total = sys.argv[1], sys.argv[2], int(sys.argv[3])
    print(json.dumps(asyncio.run(probe(url, api_key, total))))

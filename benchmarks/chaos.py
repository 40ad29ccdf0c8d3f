"""The full chaos run: 100 000 records through 30 % 5xx, 5 % dropped connections and a rate
limit that answers 429 with Retry-After, with real waits. ``python -m benchmarks.chaos``.

Reports every record exactly once and in order (or not), the retries by kind, the faults the
emulator injected, and the elapsed time. Its 10 000-record sibling runs in the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import time
from collections import Counter
from typing import Any

import aiotofu
from aiotofu.testing import Emulator


async def chaos(records: int, rate_limit: float) -> dict[str, Any]:
    """Stream ``records`` through the faults; return what happened."""
    async with Emulator(batches=records, seed=11) as emu:
        async with emu.client(retry=None) as calm:
            expected = [b.id for b in await calm.batches.list(page_size=100, prefetch=4).collect()]
        emu.set_faults(fail_rate=0.30, drop_rate=0.05, rate_limit=rate_limit, seed=11)
        kinds: Counter[str] = Counter()
        policy = aiotofu.RetryPolicy(attempts=20, initial_backoff=0.05, max_backoff=1.0)
        started = time.perf_counter()
        async with emu.client(
            retry=policy, max_concurrency=8, on_retry=lambda event: kinds.update([event.kind])
        ) as client:
            got = [b.id for b in await client.batches.list(page_size=100, prefetch=6).collect()]
        elapsed = time.perf_counter() - started
        return {
            "records": len(got),
            "exactly_once_in_order": got == expected,
            "retries_by_kind": dict(kinds),
            "faults_injected": dict(emu.stats["faults"]),
            "requests": emu.stats["requests"],
            "seconds": elapsed,
        }


def main() -> None:
    """Run it and print the report as JSON."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.chaos", description=__doc__)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--rate-limit", type=float, default=60.0, help="requests per second")
    args = parser.parse_args()
    logging.getLogger("aiotofu").propagate = False  # count, don't print, thousands of retries
    print(json.dumps(asyncio.run(chaos(args.records, args.rate_limit)), indent=2))


if __name__ == "__main__":
    main()

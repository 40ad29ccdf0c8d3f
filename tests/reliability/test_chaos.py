"""Chaos: 30 % 5xx (HTML from the proxy for 502/503/504), 5 % dropped connections and bursts of
429 with Retry-After, while 10 000 records stream with prefetch. Every record, once, in order.

The full 100 000-record run with real waits is ``python -m benchmarks.chaos``.
"""

from __future__ import annotations

import logging
import random
from collections import Counter

import pytest

import aiotofu
from aiotofu._pages import SPAN
from aiotofu.testing import Emulator, VirtualClock
from tests.helpers import page_cursors

RECORDS = 10_000


@pytest.mark.parametrize("prefetch", [0, 4])
async def test_ten_thousand_records_through_chaos(
    clock: VirtualClock, caplog: pytest.LogCaptureFixture, prefetch: int
) -> None:
    async with Emulator(batches=RECORDS, seed=5) as emu:
        async with emu.client(retry=None) as calm:
            # The same prefetch as below: pages fetched ahead reach back as far as the tie
            # groups met so far needed, so their cursors depend on how far ahead they are asked.
            listing = calm.batches.list(page_size=100, prefetch=prefetch)
            expected = [b.id for b in await listing.collect()]
        emu.set_faults(fail_rate=0.30, drop_rate=0.05, retry_after=2)
        rng = random.Random(5)
        # Each page after the first starts back past the last record taken; the first
        # window's offsets (before the listing re-anchors on created_at, SPAN records in) are
        # the same for every run.
        pages = [c for c in page_cursors(emu.log) if c < SPAN]
        emu.reset_stats()
        for cursor in rng.sample(pages, 10):  # bursts of 429 on some pages
            emu.inject(429, 429, 429, cursor=cursor)
        caplog.set_level(logging.WARNING, logger="aiotofu")
        policy = aiotofu.RetryPolicy(attempts=20, initial_backoff=0.1, max_backoff=2)
        async with emu.client(retry=policy, max_concurrency=6) as client:
            got = [
                b.id for b in await client.batches.list(page_size=100, prefetch=prefetch).collect()
            ]
        faults = emu.stats["faults"]
    assert got == expected  # every record exactly once, in server order
    assert len(got) == RECORDS
    # Each retry is on the log record as data (record.retry), not only as text.
    events: list[aiotofu.RetryEvent] = [record.retry for record in caplog.records]  # type: ignore[attr-defined]
    retried = Counter("drop" if e.kind == "transport" else e.kind for e in events)
    for kind, injected in faults.items():
        # Each fault was retried, but for speculative requests past the end, cancelled instead.
        assert injected - prefetch - 1 <= retried[kind] <= injected, kind
    assert faults["429"] == 30
    assert faults["drop"] > 0
    assert {"500", "502", "503", "504"} <= set(faults)
    waits = [e.wait for e in events if e.kind == "429"]
    assert waits
    assert all(wait == 2.0 for wait in waits)  # Retry-After, not the backoff

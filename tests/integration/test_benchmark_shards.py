"""The shards benchmark's own machinery (``benchmarks/shards.py``), held to what its README
table claims: the workers over shards read every record once, and hand halves of remainders
to idle workers; the limit's known partition takes every record once. No timing is asserted."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from aiotofu.testing import Emulator
from benchmarks import shards


async def test_workers_over_shards_read_every_record_once_handing_halves_over() -> None:
    """Shards of a few hundred records, one of them a dense stretch (600 records in 600 ms),
    read 50 at a time: workers that run out of shards take halves of the others' remainders."""
    async with Emulator(batches=300, seed=4) as emu, emu.client() as client:
        oldest = min(b.created_at for b in await client.batches.list(page_size=100).collect())
        for i in range(600):
            emu.add_batch(f"DENSE-{i}", created_at=oldest + timedelta(hours=1, milliseconds=i))
        truth = Counter(b.id for b in await client.batches.list(page_size=100).collect())
        seen: list[str] = []
        # Planned for 16 times as many: shards of about 225, read 50 at a time by 4 workers.
        total = 900 * 16
        count, splits = await shards.read_sharded(client, total, workers=4, budget=50, seen=seen)
    assert Counter(seen) == truth
    assert count == len(seen) == 900
    assert splits >= 1


async def test_the_limit_takes_every_record_of_a_batch_a_minute_once() -> None:
    """The limit knows the synthetic store's data (a batch a minute from its epoch): built
    here record by record, its pages of 100 minutes take each once, one request a page."""
    async with Emulator(batches=0) as emu:
        for i in range(1_000):
            emu.add_batch(f"MINUTE-{i}", created_at=shards.EPOCH + i * shards.MINUTE)
        emu.reset_stats()
        assert await shards.read_every_page(emu.base_url, emu.api_key, 1_000) == 1_000
        assert emu.stats["requests"] == 1_000 // shards.PAGE_SIZE
        assert emu.stats["rows_scanned"] == 1_000

"""aiotofu.testing as users meet it: the pytest fixture, the Emulator helpers, the virtual clock."""

from __future__ import annotations

import aiotofu
from aiotofu.testing import Emulator, VirtualClock, emulator, virtual_clock

__all__ = ["emulator"]  # imported so that pytest finds the fixture, as `pytest_plugins` would


async def test_the_emulator_fixture_serves_a_hundred_batches(emulator: Emulator) -> None:
    async with emulator.client() as client:
        batches = await client.batches.list(page_size=100).collect()
    assert len(batches) == 100
    assert emulator.base_url.startswith("http://127.0.0.1:")
    assert emulator.stats["requests"] == 1


async def test_helpers_add_batches_script_faults_and_log_requests(emulator: Emulator) -> None:
    batch_id = emulator.add_batch("HELPER-1", units=[("SN-H", "PART-H", "R")])
    emulator.inject(503, cursor=0)
    with virtual_clock() as clock:
        async with emulator.client() as client:
            [batch] = await client.batches.list(part_numbers="PART-H").collect()
    assert (batch.id, batch.number, batch.unit_count) == (batch_id, "HELPER-1", 1)
    assert [entry.status for entry in emulator.log] == [503, 200]
    assert "part_numbers=PART-H" in emulator.log[-1].path_qs
    assert len(clock.sleeps) == 1
    emulator.reset_stats()
    assert emulator.stats == {
        "requests": 0,
        "peak_in_flight": 0,
        "statuses": {},
        "faults": {},
        "rows_scanned": 0,
        "options": {"offset_cost": 0.0, "timestamp_precision": "ms", "tie_order": "stable"},
    }


async def test_the_virtual_clock_makes_retries_instant_and_records_them() -> None:
    clock = VirtualClock()
    await clock.sleep(2.5)
    await clock.sleep(0.5)
    assert (clock.monotonic(), clock.sleeps) == (3.0, [2.5, 0.5])
    with virtual_clock() as active:
        async with Emulator(batches=3) as emu:
            emu.inject(429, 500)
            async with emu.client(retry=aiotofu.RetryPolicy(jitter=False)) as client:
                assert len(await client.batches.list().collect()) == 3
    # The 429's Retry-After (the emulator's default, 1 s), then the backoff after the 500 on the
    # second try (0.5 s doubled).
    assert active.sleeps == [1.0, 1.0]

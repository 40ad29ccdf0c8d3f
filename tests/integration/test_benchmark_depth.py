"""The depth benchmark's own machinery (``benchmarks/depth.py``), held to what its README table
claims: the keyset limit takes every record once at about one row walked per record, the span
a contender sets reaches the engine, and the counted emulator process reports the rows the
emulator walked. No timing is asserted: speeds live in the benchmark."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

import aiotofu._pages
from aiotofu.testing import Emulator
from benchmarks import depth
from benchmarks.emulator import Server, emulator


async def ids_of(emu: Emulator) -> list[str]:
    """Every batch id, by one plain listing."""
    async with emu.client() as client:
        return [batch.id for batch in await client.batches.list(page_size=100).collect()]


async def test_the_keyset_limit_takes_every_record_once_walking_one_row_a_record() -> None:
    """Over the SQLite store, whose batches share instants (ties) the windows and the keyset
    steps must cut exactly: n distinct ids, and at most one row walked per record besides the
    records themselves (the cursor of a keyset page is the records of its instant taken)."""
    async with Emulator(batches=3_000, seed=3) as emu:
        expected = await ids_of(emu)
        assert len(expected) == 3_000
        server = Server(base_url=emu.base_url, api_key=emu.api_key)
        bounds = await depth.window_bounds(server, 3_000)
        emu.reset_stats()
        count = await depth.keyset_windows(bounds)(emu.base_url, emu.api_key, 100)
        stats = emu.stats
        log = list(emu.log)
    assert count == 3_000  # and keyset_windows checked the ids were distinct
    pages = [parse_qs(urlsplit(entry.path_qs).query) for entry in log]
    assert len(pages) <= 3_000 // 100 + depth.WINDOWS
    # Each window after its first page skips only the records of one instant already taken.
    assert max(int(query["cursor"][0]) for query in pages) <= 3
    assert stats["rows_scanned"] <= 3_000 + 2 * len(pages)


async def test_a_keyset_window_resumes_inside_an_instant_larger_than_a_page() -> None:
    """A bulk import: 250 batches in one instant, between others, walked by one window and by
    windows that meet inside it: the keyset step stays at the instant and moves its cursor
    through it, taking each record once."""
    instant = datetime(2025, 6, 1, 12, 0, tzinfo=timezone.utc)
    async with Emulator(batches=0) as emu:
        for number in range(40):
            emu.add_batch(f"OLD-{number}", created_at=instant - timedelta(minutes=40 - number))
        for number in range(250):
            emu.add_batch(f"BULK-{number}", created_at=instant)
        for number in range(40):
            emu.add_batch(f"NEW-{number}", created_at=instant + timedelta(minutes=1 + number))
        expected = set(await ids_of(emu))
        server = Server(base_url=emu.base_url, api_key=emu.api_key)
        one = await depth.keyset_windows([])(emu.base_url, emu.api_key, 100)
        bounds = await depth.window_bounds(server, len(expected))
        assert instant.isoformat().replace("+00:00", ".000Z") in bounds  # a cut inside it
        many = await depth.keyset_windows(bounds)(emu.base_url, emu.api_key, 100)
    assert one == many == len(expected) == 330


async def test_the_span_a_contender_sets_reaches_the_engine_and_is_restored() -> None:
    """``aiotofu._pages.SPAN`` is read when a listing starts: offset paging (None) walks
    more than n / 200 rows a record, a span of 5 000 fewer, a span of 1 000 fewer still, and
    the default span is back after each run."""
    default = aiotofu._pages.SPAN
    walked = {}
    async with Emulator(batches=10_000, seed=4) as emu:
        for span in (None, 5_000, 1_000):
            emu.reset_stats()
            count = await depth.aiotofu_with_span(span)(emu.base_url, emu.api_key, 100)
            assert count == 10_000
            assert default == aiotofu._pages.SPAN
            walked[span] = emu.stats["rows_scanned"] / count
    assert walked[None] > 10_000 / 200
    assert walked[None] > walked[5_000] > walked[1_000]


@pytest.mark.slow
def test_the_counted_emulator_process_reports_the_rows_it_walked() -> None:
    """``emulator(counted=True)`` answers ``stats`` with the emulator's own counters: a page
    of 100 at cursor 300 walks 400 rows."""

    async def one_page(server: Server) -> int:
        headers = {"Authorization": f"Bearer {server.api_key}"}
        async with (
            aiohttp.ClientSession() as session,
            session.get(
                f"{server.base_url}/v2/batches",
                params={"limit": "100", "cursor": "300"},
                headers=headers,
            ) as response,
        ):
            return len((await response.json())["data"])

    with emulator(1_000, synthetic=True, offset_cost=1e-9, counted=True) as server:
        before = server.stats()
        assert asyncio.run(one_page(server)) == 100
        after = server.stats()
    assert before["rows_scanned"] == 0
    assert after["rows_scanned"] == 400
    assert after["requests"] == 1
    assert after["options"]["offset_cost"] == 1e-9


def test_an_uncounted_emulator_refuses_to_invent_counters() -> None:
    """A Server without a stats channel says how to get one instead of answering zeros."""
    with pytest.raises(RuntimeError, match="counted=True"):
        Server(base_url="http://127.0.0.1:1/api", api_key="k").stats()

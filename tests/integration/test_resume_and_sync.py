"""Resume tokens end to end, and SyncClient from plain threads, against the emulator."""

from __future__ import annotations

import gc
import threading
from datetime import datetime, timezone

import pytest

import aiotofu
from aiotofu.testing import Emulator

CUTS = [1, 36, 37, 38, 74, 500, 999, 1000]


@pytest.mark.parametrize(("sort_by", "sort_order"), [("created_at", "desc"), ("number", "asc")])
async def test_a_run_interrupted_anywhere_and_resumed_yields_the_same_sequence(
    emu: Emulator, sort_by: str, sort_order: str
) -> None:
    async with emu.client() as client:
        options = {"sort_by": sort_by, "sort_order": sort_order, "page_size": 37}
        for cut in CUTS:
            full = [b.id for b in await client.batches.list(**options).collect()]
            first: list[str] = []
            async with client.batches.list(prefetch=3, **options) as paginator:
                async for batch in paginator:
                    first.append(batch.id)
                    if len(first) == cut:
                        break
                token = paginator.resume_token
            emu.add_batch(f"WRITTEN-AFTER-{cut}")  # the world moves on between the two runs
            rest = [b.id for b in await client.batches.resume(token, prefetch=2).collect()]
            assert first + rest == full, f"cut at {cut}"


async def test_a_token_taken_before_any_record_starts_from_the_beginning(emu: Emulator) -> None:
    async with emu.client() as client:
        token = client.batches.list(page_size=10).resume_token
        emu.add_batch("NEWEST")
        resumed = await client.batches.resume(token, max_items=1).collect()
    assert [b.number for b in resumed] == ["NEWEST"]


async def test_a_token_from_pages_marks_the_end_of_the_last_page(emu: Emulator) -> None:
    async with emu.client() as client:
        full = [b.id for b in await client.batches.list().collect()]
        paginator = client.batches.list(page_size=100)
        pages = paginator.pages()
        first = await pages.__anext__()
        second = await pages.__anext__()
        token = paginator.resume_token
        await pages.aclose()
        rest = [b.id for b in await client.batches.resume(token).collect()]
    assert [b.id for b in first.items + second.items] + rest == full


async def test_the_token_holds_the_position_received_not_the_one_prefetched(emu: Emulator) -> None:
    async with emu.client() as client:
        paginator = client.batches.list(page_size=10, prefetch=5)
        taken = [await paginator.__anext__() for _ in range(3)]
        token = paginator.resume_token
        await paginator.aclose()
        following = await client.batches.resume(token, max_items=1).collect()
        full = await client.batches.list(max_items=4).collect()
    assert [b.id for b in [*taken, *following]] == [b.id for b in full]


# -- SyncClient -----------------------------------------------------------------------------


def test_sync_client_lists_collects_and_pages(threaded_emu: Emulator) -> None:
    with aiotofu.SyncClient(threaded_emu.api_key, base_url=threaded_emu.base_url) as client:
        records = list(client.batches.list(page_size=100))
        assert len(records) == 1000
        assert all(isinstance(b, aiotofu.Batch) for b in records)
        assert [b.id for b in client.batches.list(page_size=100).collect()] == [
            b.id for b in records
        ]
        pages = list(client.batches.list(page_size=100).pages())
        # The first page brings 100; each later one fewer: it overlaps the page before, back
        # past the last record taken to the record before its tie group (two records most often).
        sizes = [len(p.items) for p in pages]
        assert sizes[0] == 100
        assert all(90 <= size <= 98 for size in sizes[1:-1])
        assert sum(sizes) == 1000
        assert "tp-emulator" not in repr(client)


def test_sync_client_resume(threaded_emu: Emulator) -> None:
    with aiotofu.SyncClient(threaded_emu.api_key, base_url=threaded_emu.base_url) as client:
        full = [b.id for b in client.batches.list(sort_order="asc")]
        with client.batches.list(sort_order="asc", page_size=30) as iterator:
            first = [next(iterator).id for _ in range(45)]
            token = iterator.resume_token
        rest = [b.id for b in client.batches.resume(token)]
    assert first + rest == full


def test_sync_client_errors_and_filters(threaded_emu: Emulator) -> None:
    with aiotofu.SyncClient("wrong-key", base_url=threaded_emu.base_url) as client:
        with pytest.raises(aiotofu.AuthenticationError):
            client.batches.list().collect()
        with pytest.raises(aiotofu.InvalidParameterError, match="^created_after: naive"):
            client.batches.list(created_after=datetime(2024, 1, 1))
    with aiotofu.SyncClient(threaded_emu.api_key, base_url=threaded_emu.base_url) as client:
        since = datetime(2030, 1, 1, tzinfo=timezone.utc)
        assert client.batches.list(created_after=since).collect() == []


def test_sync_client_from_several_plain_threads(threaded_emu: Emulator) -> None:
    counts: list[int] = []
    with aiotofu.SyncClient(threaded_emu.api_key, base_url=threaded_emu.base_url) as client:

        def work() -> None:
            counts.append(sum(1 for _ in client.batches.list(page_size=100, max_items=500)))

        threads = [threading.Thread(target=work) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert counts == [500] * 4


def test_breaking_out_and_closing_leave_no_thread(threaded_emu: Emulator) -> None:
    before = set(threading.enumerate())
    client = aiotofu.SyncClient(threaded_emu.api_key, base_url=threaded_emu.base_url)
    for batch in client.batches.list(page_size=10, prefetch=4):
        if batch.id:
            break
    gc.collect()
    client.close()
    client.close()
    assert set(threading.enumerate()) <= before
    with pytest.raises(aiotofu.TofuPilotError, match="closed"):
        client.batches.list().collect()


def test_sync_client_refuses_a_foreign_session() -> None:
    with pytest.raises(aiotofu.InvalidParameterError, match="^session: "):
        aiotofu.SyncClient("key", session=object())  # type: ignore[arg-type]

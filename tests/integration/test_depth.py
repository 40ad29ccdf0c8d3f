"""Depth-independent listings, on a real socket: a listing ordered by a time key the API filters
re-anchors on it every ``SPAN`` records, so the offsets it sends (what a SQL server walks) stay
bounded however deep it goes, with every guarantee of offset paging: exactly once in both
orders, under writes, ties and unstable tie orders, resumable, within the caller's filters, and
exact on a server that stores microseconds and answers milliseconds.

``SPAN`` is made small here, so that a few thousand records cross many windows.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from aiotofu import _pages
from aiotofu.testing import Emulator, LoggedRequest

SPAN = 150
PAGE = 50
PREFETCH = 2
# A window begins where the pages in flight when it was planned end, and is planned again once
# the pages offered reach the span (see PageState._reanchor).
LEAD = (PREFETCH + 1) * (PAGE + 1)

# Every listing ordered by a time key that bounds a request.
TIMED = [
    ("batches", "created_at"),
    ("units", "created_at"),
    ("runs", "created_at"),
    ("runs", "started_at"),
]

# Worlds of a few hundred to a couple of thousand records of each resource.
WORLDS: dict[str, dict[str, Any]] = {
    "batches": {"batches": 700, "runs": 0},
    "units": {"batches": 200, "runs": 0},
    "runs": {"batches": 30, "runs": 1500},
}


@pytest.fixture(autouse=True)
def small_span(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_pages, "SPAN", SPAN)


def offset_paging(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_pages, "SPAN", None)


def cursors(log: list[LoggedRequest], path: str) -> list[int]:
    """The cursor of every request to ``path``."""
    found = []
    for request in log:
        split = urlsplit(request.path_qs)
        if split.path.endswith(path):
            found.append(int(parse_qs(split.query).get("cursor", ["0"])[0]))
    return found


async def listed(emu: Emulator, resource: str, **options: Any) -> list[Any]:
    async with emu.client(retry=None) as client:
        paginator = getattr(client, resource).list(**options)
        # A watchdog, not a timing goal: an endless walk fails instead of hanging.
        return await asyncio.wait_for(paginator.collect(), timeout=60)


async def truth(emu: Emulator, resource: str, **filters: Any) -> set[str]:
    """Every id the listing should yield: by creation, oldest first (the one order with no
    pin, no bound the client adds), by plain offsets, nothing changing meanwhile."""
    with pytest.MonkeyPatch.context() as patch:
        offset_paging(patch)
        records = await listed(
            emu, resource, sort_by="created_at", sort_order="asc", page_size=100, **filters
        )
    return {r.id for r in records}


@pytest.mark.parametrize(("resource", "sort_by"), TIMED)
@pytest.mark.parametrize("sort_order", ["asc", "desc"])
@pytest.mark.parametrize("tie_order", ["stable", "unstable"])
async def test_a_deep_listing_is_exact_and_its_offsets_stay_bounded(
    resource: str, sort_by: str, sort_order: str, tie_order: Any
) -> None:
    async with Emulator(**WORLDS[resource], seed=3, tie_order=tie_order) as emu:
        expected = await truth(emu, resource)
        emu.reset_stats()
        got = await listed(
            emu, resource, sort_by=sort_by, sort_order=sort_order, page_size=PAGE, prefetch=PREFETCH
        )
        sent = cursors(emu.log, f"/v2/{resource}")
    ids = [r.id for r in got]
    assert len(ids) == len(set(ids)), "a record was yielded twice"
    assert set(ids) == expected, "a record was lost"
    assert len(expected) > 4 * SPAN  # deep enough to cross several windows
    assert max(sent) <= SPAN + 2 * LEAD + 100  # ties of one instant are few in this world


async def test_rows_scanned_grow_linearly_instead_of_with_the_square(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What a SQL server walks: the offsets skipped plus the rows answered, summed."""
    async with Emulator(batches=30, runs=3000, seed=3) as emu:
        emu.reset_stats()
        deep = await listed(emu, "runs", page_size=PAGE, prefetch=PREFETCH)
        anchored = emu.stats["rows_scanned"]
        offset_paging(monkeypatch)
        emu.reset_stats()
        assert await listed(emu, "runs", page_size=PAGE, prefetch=PREFETCH) == deep
        offsets = emu.stats["rows_scanned"]
    n = len(deep)
    # Each page walks at most the window's offsets and its own records.
    assert anchored <= (n // (PAGE - 1) + 2) * (SPAN + 2 * LEAD + PAGE + 1)
    # Offset paging walks about n^2 / (2 page): here more than three times as much.
    assert offsets >= n * n // (2 * PAGE)
    assert offsets > 3 * anchored


async def test_writes_across_windows_lose_and_repeat_nothing() -> None:
    """Runs uploaded (stamped in the past too) and deleted while the listing crosses windows:
    every run that lived through the listing exactly once, none twice."""
    async with Emulator(batches=30, runs=1500, seed=8) as emu:
        before = await truth(emu, "runs")
        deleted: set[str] = set()
        got: list[str] = []
        async with emu.client(retry=None) as client:
            paginator = client.runs.list(page_size=PAGE, prefetch=PREFETCH)
            async for run in paginator:
                got.append(run.id)
                if len(got) % 97 == 0:
                    # Past-stamped: starts anywhere in the listing's range.
                    started = run.started_at - timedelta(minutes=len(got) % 300)
                    emu.add_run(started_at=started)
                    victim = sorted(before - deleted)[len(got) % len(before)]
                    emu.delete_run(victim)
                    deleted.add(victim)
    assert len(got) == len(set(got)), "a run was yielded twice"
    assert before - deleted <= set(got), "a run that lived through the listing was lost"


async def test_a_bulk_import_larger_than_the_span_is_walked_inside_its_instant() -> None:
    """Hundreds of batches created at one instant: offsets inside the group, each once. (With
    ties in another order on every request, a group this much larger than a page is exact or
    gives up, README: what it cannot promise; that is not what this test is about.)"""
    instant = datetime(2025, 6, 1, 12, 0, tzinfo=timezone.utc)
    async with Emulator(batches=10, seed=2) as emu:
        for k in range(400):
            emu.add_batch(f"BULK-{k:03d}", created_at=instant)
        for k in range(200):
            emu.add_batch(f"LATE-{k:03d}", created_at=instant + timedelta(seconds=k))
        expected = await truth(emu, "batches")
        for order in ("desc", "asc"):
            emu.reset_stats()
            got = await listed(emu, "batches", sort_order=order, page_size=PAGE, prefetch=1)
            ids = [b.id for b in got]
            assert len(ids) == len(set(ids)), order
            assert set(ids) == expected, order
            # Bounded by the group when one instant is larger than the span.
            assert max(cursors(emu.log, "/v2/batches")) <= 400 + SPAN + 2 * LEAD


async def test_a_token_taken_windows_deep_resumes_exactly() -> None:
    async with Emulator(batches=30, runs=1500, seed=5) as emu:
        expected = await listed(emu, "runs", page_size=PAGE, prefetch=PREFETCH)
        async with emu.client(retry=None) as client:
            paginator = client.runs.list(page_size=PAGE, prefetch=PREFETCH)
            first = []
            async for run in paginator:
                first.append(run)
                if len(first) == 4 * SPAN + 17:
                    break
            token = paginator.resume_token
            await paginator.aclose()
            rest = await client.runs.resume(token).collect()
    assert [r.id for r in first + rest] == [r.id for r in expected]


@pytest.mark.parametrize(("resource", "sort_by"), TIMED)
@pytest.mark.parametrize("sort_order", ["asc", "desc"])
async def test_a_server_that_stores_microseconds_loses_nothing(
    resource: str, sort_by: str, sort_order: str
) -> None:
    """A JavaScript server over PostgreSQL: ``.123456`` reads ``.123``, and
    ``created_before=.123`` leaves it out. A pin or a window's start read from a record and
    sent as read lost the records of that millisecond stored after it."""
    async with Emulator(batches=30, runs=1500, seed=6, timestamp_precision="us") as emu:
        expected = await truth(emu, resource)
        got = await listed(
            emu, resource, sort_by=sort_by, sort_order=sort_order, page_size=PAGE, prefetch=PREFETCH
        )
    ids = [r.id for r in got]
    assert len(ids) == len(set(ids)), "a record was yielded twice"
    assert set(ids) == expected, "a record was lost"


@pytest.mark.parametrize("sort_order", ["asc", "desc"])
async def test_windows_that_begin_inside_a_millisecond_lose_nothing(sort_order: str) -> None:
    """Seven batches in each millisecond, microseconds apart: most pages and windows end
    inside one, where ``created_before`` at the millisecond read would leave out the rest."""
    base = datetime(2025, 3, 1, 8, 0, tzinfo=timezone.utc)
    async with Emulator(timestamp_precision="us") as emu:
        for k in range(700):
            at = base + timedelta(milliseconds=k // 7, microseconds=37 * (k % 7 + 1))
            emu.add_batch(f"B-{k:03d}", created_at=at)
        expected = await truth(emu, "batches")
        got = await listed(emu, "batches", sort_order=sort_order, page_size=PAGE, prefetch=1)
    ids = [b.id for b in got]
    assert len(ids) == len(set(ids)), "a batch was yielded twice"
    assert set(ids) == expected, "a batch was lost"
    assert len(expected) == 700


async def test_re_anchoring_never_widens_the_callers_own_bounds() -> None:
    """An upper bound sent a millisecond late must not reach past the caller's: with
    ``created_before=T``, runs stored within T's millisecond after T stay out."""
    async with Emulator(batches=30, runs=1500, seed=6, timestamp_precision="us") as emu:
        everything = await listed(emu, "runs", sort_by="created_at", page_size=100)
        for bound in ("created_before", "started_before"):
            field = bound.replace("_before", "_at")
            at = sorted(getattr(r, field) for r in everything)[len(everything) // 2]
            expected = await truth(emu, "runs", **{bound: at})
            for order in ("desc", "asc"):
                got = await listed(
                    emu, "runs", sort_by=field, sort_order=order, page_size=PAGE, **{bound: at}
                )
                assert {r.id for r in got} == expected, (bound, order)


async def test_orders_without_a_time_key_keep_offset_paging() -> None:
    async with Emulator(batches=30, runs=800, seed=3) as emu:
        got = await listed(emu, "runs", sort_by="duration", page_size=PAGE, prefetch=PREFETCH)
        sent = cursors(emu.log, "/v2/runs")
    assert len({r.id for r in got}) == len(got) == 800
    assert max(sent) > 700  # the whole listing by offsets: nothing to re-anchor on


@pytest.mark.parametrize("resource", ["phases", "measurements"])
@pytest.mark.parametrize("sort_order", ["asc", "desc"])
async def test_a_key_that_may_be_null_re_anchors_then_lists_its_nulls(
    resource: str, sort_order: str
) -> None:
    """Phases and measurements by started_at: the windows that started_after/started_before
    bound leave out the records without a start (last in both orders), which then follow
    where the windows end, once each."""
    async with Emulator(batches=30, runs=1500, seed=3) as emu:
        async with emu.client(retry=None) as client:
            procedures = await client.procedures.list().collect()
        procedure = max(procedures, key=lambda p: p.name == "Functional test").id
        with pytest.MonkeyPatch.context() as patch:
            offset_paging(patch)
            expected = await listed(
                emu, resource, procedure_id=procedure, sort_by="phase_name", page_size=100
            )
        emu.reset_stats()
        got = await listed(
            emu,
            resource,
            procedure_id=procedure,
            sort_order=sort_order,
            page_size=PAGE,
            prefetch=PREFETCH,
        )
        queries = [parse_qs(urlsplit(r.path_qs).query) for r in emu.log]
        bounded = [
            int(q["cursor"][0]) for q in queries if {"started_after", "started_before"} & set(q)
        ]
    ids = [r.id for r in got]
    assert len(ids) == len(set(ids)), "a record was yielded twice"
    assert set(ids) == {r.id for r in expected}, "a record was lost"
    assert len(ids) > 4 * SPAN
    assert max(bounded) <= SPAN + 2 * LEAD + 100
    if resource == "phases":  # the emulator's measurements all have a start
        nulls = [r for r in got if r.started_at is None]
        assert nulls
        assert got[-len(nulls) :] == nulls  # last, in both orders


async def test_a_window_that_opens_with_a_bulk_a_millisecond_newer_repeats_nothing() -> None:
    """Newest first, a window at K is sent as ``created_before=K+1ms`` (inclusive), so it opens
    with the records of K+1 ms, taken long before: 149 of them, more than a page. The window's
    first pages held nothing of K's group, the listing took them again and again (a review
    found it: an endless walk, every bulk record yielded thousands of times)."""
    at = datetime(2026, 1, 1, 12, tzinfo=timezone.utc)
    async with Emulator() as emu:
        for k in range(149):
            emu.add_batch(f"BULK-{k:03d}", created_at=at + timedelta(milliseconds=1))
        emu.add_batch("AT-K", created_at=at)
        for k in range(1, 200):
            emu.add_batch(f"OLD-{k:03d}", created_at=at - timedelta(milliseconds=10 * k))
        got = await listed(emu, "batches", page_size=PAGE, prefetch=0)
    numbers = [b.number for b in got]
    assert len(numbers) == len(set(numbers)) == 349


def bulk_a_millisecond_newer(emu: Emulator, at: datetime) -> None:
    """349 runs: 149 started at ``at`` + 1 ms (more than a page), one at ``at``, older ones."""
    for _ in range(149):
        emu.add_run(started_at=at + timedelta(milliseconds=1))
    emu.add_run(started_at=at)
    for k in range(1, 200):
        emu.add_run(started_at=at - timedelta(milliseconds=10 * k))


async def test_a_restart_past_a_bulk_a_millisecond_newer_repeats_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without re-anchoring: a run yielded is deleted, the listing restarts from its last run's
    start, ``started_before=T+1ms``, whose first page is the 149 runs of T+1 ms already taken."""
    offset_paging(monkeypatch)
    at = datetime(2026, 1, 1, 12, tzinfo=timezone.utc)
    async with Emulator(batches=2, runs=0) as emu:
        bulk_a_millisecond_newer(emu, at)
        ids: list[str] = []

        async def walk() -> None:
            async with emu.client(retry=None) as client:
                runs = client.runs.list(sort_by="started_at", page_size=PAGE, prefetch=0)
                async for run in runs:
                    ids.append(run.id)
                    if len(ids) == 150:
                        # More than a page reaches back past its anchor: the place is lost.
                        for run_id in ids[:30]:
                            emu.delete_run(run_id)

        await asyncio.wait_for(walk(), timeout=30)  # a watchdog: an endless walk fails
    assert len(ids) == len(set(ids)) == 349


@pytest.mark.parametrize("sort_order", ["asc", "desc"])
async def test_the_nulls_are_found_where_uploads_have_moved_them(sort_order: str) -> None:
    """Phases have no pin: every phase uploaded during the listing lands in its order, and the
    tail of nulls moves with them. Entering it where the windows began (a review found it)
    lost the nulls and ended in ConsistencyError after 30 uploads per page."""
    async with Emulator(batches=30, runs=1500, seed=3) as emu:
        async with emu.client(retry=None) as client:
            procedures = await client.procedures.list().collect()
        procedure = max(procedures, key=lambda p: p.name == "Functional test")
        with pytest.MonkeyPatch.context() as patch:
            offset_paging(patch)
            existing = {
                p.id
                for p in await listed(
                    emu, "phases", procedure_id=procedure.id, sort_by="phase_name", page_size=100
                )
            }
        ids: list[str] = []

        async def walk() -> None:
            async with emu.client(retry=None) as client:
                phases = client.phases.list(
                    procedure_id=procedure.id, sort_order=sort_order, page_size=PAGE, prefetch=0
                )
                async for phase in phases:
                    ids.append(phase.id)
                    # Not for ever: oldest first, the phases uploaded land ahead of the
                    # position (no pin holds them back), and a listing would chase them.
                    if len(ids) % PAGE == 0 and len(ids) <= 600:
                        for _ in range(30):
                            emu.add_run(procedure=procedure.name)

        await asyncio.wait_for(walk(), timeout=60)
    assert len(ids) == len(set(ids)), "a phase was yielded twice"
    assert existing <= set(ids), "a phase that lived through the listing was lost"


@pytest.mark.parametrize("sort_order", ["asc", "desc"])
async def test_max_items_a_start_cursor_and_pages_hold_across_windows(sort_order: str) -> None:
    """What offset paging offers holds when the listing re-anchors: ``cursor=`` starts that
    many records in, ``max_items`` stops there, ``pages()`` yields the same records by page."""
    async with Emulator(batches=30, runs=1500, seed=4) as emu:
        order = {"sort_by": "created_at", "sort_order": sort_order}
        whole = [r.id for r in await listed(emu, "runs", page_size=100, **order)]
        part = await listed(emu, "runs", page_size=PAGE, cursor=230, max_items=700, **order)
        assert [r.id for r in part] == whole[230:930]
        async with emu.client(retry=None) as client:
            paged = [
                run.id
                async for page in client.runs.list(page_size=PAGE, **order).pages()
                for run in page.items
            ]
        assert paged == whole


async def test_a_restart_that_reads_on_sees_deletions_behind_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A restart reads on past the records one millisecond newer than its key; deleting 100 of
    them before its second page moved the key's group below that page's cursor, and the group
    and what follows it were passed over in silence (a second review found it)."""
    offset_paging(monkeypatch)
    at = datetime(2026, 1, 1, 12, tzinfo=timezone.utc)
    async with Emulator(batches=2, runs=0) as emu:
        bulk_a_millisecond_newer(emu, at)
        ids: list[str] = []
        fetch = _pages.EndpointPages.fetch
        deleted: list[str] = []

        async def deleting(self: Any, request: Any) -> Any:
            if request.kind == "restart" and request.cursor > 0 and not deleted:
                deleted.extend(ids[30:130])
                for run_id in deleted:
                    emu.delete_run(run_id)
            return await fetch(self, request)

        monkeypatch.setattr(_pages.EndpointPages, "fetch", deleting)

        async def walk() -> None:
            async with emu.client(retry=None) as client:
                runs = client.runs.list(sort_by="started_at", page_size=PAGE, prefetch=0)
                async for run in runs:
                    ids.append(run.id)
                    if len(ids) == 150:
                        # More than a page reaches back past its anchor: the place is lost.
                        for run_id in ids[:30]:
                            emu.delete_run(run_id)

        await asyncio.wait_for(walk(), timeout=30)
        monkeypatch.setattr(_pages.EndpointPages, "fetch", fetch)
        existing = await truth(emu, "runs")
    assert deleted, "the restart read on"
    assert len(ids) == len(set(ids)), "a run was yielded twice"
    assert existing <= set(ids), "a run was lost"


async def test_the_search_for_the_nulls_ends_when_they_move_back_under_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Uploads before the first probe move the nulls far on, deletions before each later one
    move them back below what the search knew as holding a key: it looped for ever."""
    async with Emulator(batches=30, runs=1500, seed=3) as emu:
        async with emu.client(retry=None) as client:
            procedures = await client.procedures.list().collect()
        procedure = max(procedures, key=lambda p: p.name == "Functional test")
        with pytest.MonkeyPatch.context() as patch:
            offset_paging(patch)
            before = await listed(
                emu, "phases", procedure_id=procedure.id, sort_by="phase_name", page_size=100
            )
        fetch = _pages.EndpointPages.fetch
        probes: list[int] = []
        added: list[str] = []

        async def moving(self: Any, request: Any) -> Any:
            if request.kind == "edge":
                probes.append(request.cursor)
                if len(probes) == 1:
                    added.extend(emu.add_run(procedure=procedure.name) for _ in range(150))
                else:
                    for _ in range(min(10, len(added))):
                        emu.delete_run(added.pop())
            return await fetch(self, request)

        monkeypatch.setattr(_pages.EndpointPages, "fetch", moving)
        got = await listed(emu, "phases", procedure_id=procedure.id, page_size=PAGE, prefetch=0)
        monkeypatch.setattr(_pages.EndpointPages, "fetch", fetch)
        with pytest.MonkeyPatch.context() as patch:
            offset_paging(patch)
            existing = await listed(
                emu, "phases", procedure_id=procedure.id, sort_by="phase_name", page_size=100
            )
    ids = [p.id for p in got]
    assert len(probes) < 100
    assert len(ids) == len(set(ids)), "a phase was yielded twice"
    lived = {p.id for p in before} & {p.id for p in existing}
    assert lived <= set(ids), "a phase that lived through the listing was lost"
    assert any(p.started_at is None for p in got)

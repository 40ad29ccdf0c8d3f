"""Exactly once where the engine's assumptions stop holding, on a real socket: ties in another
order on every request, sort keys that move while listed, a restart from any key the API
filters (runs by ``started_at``), and resume tokens inside a tie group of thousands.

Each test is a defect found in the engine: it failed before the fix it names.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime, timezone
from typing import Any

import pytest

import aiotofu
from aiotofu.endpoints import ENDPOINTS
from aiotofu.testing import Emulator

# Every order the API takes, by resource, that has ties in the emulator's data.
ORDERS = [
    ("batches", "created_at"),
    ("batches", "number"),
    ("units", "created_at"),
    ("units", "serial_number"),
    ("units", "part_number"),
    ("runs", "started_at"),
    ("runs", "created_at"),
    ("runs", "duration"),
    ("runs", "outcome"),
    ("runs", "part_number"),
    ("runs", "revision_number"),
    ("logs", "created_at"),
    ("logs", "level"),
    ("logs", "run_id"),
]


async def listed(emu: Emulator, resource: str, **options: Any) -> list[Any]:
    async with emu.client(retry=None) as client:
        paginator = getattr(client, resource).list(**options)
        # A watchdog, not a timing goal: an endless walk fails instead of hanging.
        return await asyncio.wait_for(paginator.collect(), timeout=60)


def largest_tie_group(records: list[Any], resource: str, sort_by: str) -> int:
    """The most records that share one key of the order (read as the engine reads it)."""
    [endpoint] = [e for e in ENDPOINTS if e.name == resource]
    sort_key = endpoint.sort_key(sort_by)
    assert sort_key is not None
    return max(Counter(repr(sort_key.value(r)) for r in records).values())


@pytest.mark.parametrize(("resource", "sort_by"), ORDERS)
@pytest.mark.parametrize("sort_order", ["asc", "desc"])
async def test_a_server_that_orders_ties_differently_on_every_request_is_exact(
    resource: str, sort_by: str, sort_order: str
) -> None:
    """Issue 18.3: with SQL ties in another order on every request, a listing spun for
    thousands of requests or ended with records missing and repeated. Now every record exactly
    once, tie groups of hundreds included (runs by outcome: 232 records of one key)."""
    options = {"sort_by": sort_by, "sort_order": sort_order}
    async with (
        Emulator(batches=40, seed=4) as stable,
        Emulator(batches=40, seed=4, tie_order="unstable") as unstable,
    ):
        truth = await listed(stable, resource, page_size=100, **options)
        got = await listed(unstable, resource, page_size=10, prefetch=2, **options)
    ids = [r.id for r in got]
    assert len(ids) == len(set(ids)), "a record was yielded twice"
    assert set(ids) == {r.id for r in truth}, "a record was lost"


async def test_the_orders_above_hold_tie_groups_of_every_size() -> None:
    """So that the test above walks pairs, groups that fit a page and groups of hundreds."""
    async with Emulator(batches=40, seed=4) as stable:
        sizes = {
            order: largest_tie_group(
                await listed(stable, order[0], page_size=100, sort_by=order[1]), *order
            )
            for order in [("batches", "created_at"), ("logs", "run_id"), ("runs", "outcome")]
        }
    assert sizes == {
        ("batches", "created_at"): 2,
        ("logs", "run_id"): 6,
        ("runs", "outcome"): 237,
    }


# -- sort keys that move ----------------------------------------------------------------


@pytest.mark.parametrize("sort_order", ["asc", "desc"])
@pytest.mark.parametrize("sort_by", ["last_run_at", "last_run_procedure"])
async def test_units_whose_last_run_moves_while_listed_are_never_repeated_or_silently_lost(
    sort_by: str, sort_order: str
) -> None:
    """Issue 18.2: a run uploaded while units are listed by their last run moved its unit:
    ascending it was yielded twice, descending never. Now the move across the position is seen
    and the listing raises ConsistencyError; it never repeats a unit."""
    async with Emulator(batches=30, seed=2) as emu, emu.client(retry=None) as client:
        everything = await client.units.list(page_size=100).collect()
        paginator = client.units.list(sort_by=sort_by, sort_order=sort_order, page_size=10)
        got: list[aiotofu.Unit] = []
        with pytest.raises(aiotofu.ConsistencyError, match="moved across"):  # noqa: PT012
            async for unit in paginator:
                got.append(unit)
                if len(got) == 25:
                    # Desc: a unit not reached yet jumps to the front; asc: one already
                    # yielded jumps to the end.
                    seen = {u.id for u in got}
                    pick = (
                        got[0]
                        if sort_order == "asc"
                        else next(u for u in reversed(everything) if u.id not in seen)
                    )
                    emu.add_run(serial_number=pick.serial_number, procedure="ICT")
        assert len({u.id for u in got}) == len(got)


async def test_units_by_last_run_are_exact_when_no_run_moves_them() -> None:
    async with Emulator(batches=30, seed=2) as emu:
        truth = await listed(emu, "units", page_size=100, sort_by="last_run_at")
        got = await listed(emu, "units", page_size=7, sort_by="last_run_at")
    assert [u.id for u in got] == [u.id for u in truth]


# -- a restart from started_at -----------------------------------------------------------


@pytest.mark.parametrize("sort_order", ["asc", "desc"])
async def test_runs_by_started_at_survive_a_bulk_delete_of_what_was_yielded(
    sort_order: str,
) -> None:
    """Issue 18.5: after about 500 runs already yielded were deleted, a listing of runs by
    started_at gave up with ConsistencyError (no key to restart from). started_at is immutable,
    never null and filtered inclusively: the listing now restarts from it, exactly."""
    async with Emulator(batches=60, runs=900, seed=5) as emu, emu.client(retry=None) as client:
        truth = await client.runs.list(
            sort_by="started_at", sort_order=sort_order, page_size=100
        ).collect()
        got: list[aiotofu.Run] = []
        async for run in client.runs.list(
            sort_by="started_at", sort_order=sort_order, page_size=50, prefetch=2
        ):
            got.append(run)
            if len(got) == 600:
                for gone in got[:550]:
                    emu.delete_run(gone.id)
    assert len(truth) == 900
    assert [r.id for r in got] == [r.id for r in truth]


# -- tokens inside a tie group of thousands ----------------------------------------------

BULK = datetime(2030, 6, 1, tzinfo=timezone.utc)


@pytest.mark.parametrize("sort_order", ["desc", "asc"])
async def test_a_token_inside_a_bulk_import_stays_small_and_resumes_exactly(
    sort_order: str,
) -> None:
    """Issue 18.6: a token carried every id tied with its anchor: inside a batch of 20 000 units
    created in one instant it reached 1 MB. It now holds a count and a verified anchor (and at
    most 40 ids), under 4 KB whatever the ties, and resumes exactly."""
    units = [(f"BULK-{k:05d}", "PCB-BULK", "A") for k in range(2500)]
    async with Emulator(batches=3, seed=1) as emu, emu.client(retry=None) as client:
        emu.add_batch("BULK", units=units, created_at=BULK)
        truth = await client.units.list(sort_order=sort_order, page_size=100).collect()
        paginator = client.units.list(sort_order=sort_order, page_size=100, max_items=1800)
        first = await paginator.collect()
        token = paginator.resume_token
        rest = await client.units.resume(token).collect()
    assert len(token) < 4096
    assert {u.created_at for u in first[-50:]} == {BULK}  # inside the tie group
    assert [u.id for u in first + rest] == [u.id for u in truth]


@pytest.mark.parametrize("sort_order", ["desc", "asc"])
async def test_a_resume_just_after_a_record_backfilled_into_a_large_tie_group_repeats_nothing(
    sort_order: str,
) -> None:
    """Found in review: a unit backfilled into a bulk import's instant while it was listed was
    found again (a restart that re-reads the group), and a token taken right after it placed
    the listing in the group's re-read with the ids of the group dropped: 55 units came again."""
    async with Emulator(batches=3, seed=1) as emu, emu.client(retry=None) as client:
        emu.add_batch(
            "BULK-1", units=[(f"A-{k:04d}", "PCB", "A") for k in range(300)], created_at=BULK
        )
        paginator = client.units.list(sort_order=sort_order, page_size=20)
        first: list[aiotofu.Unit] = []
        async for unit in paginator:
            first.append(unit)
            if len(first) == 100:
                emu.add_batch("BULK-2", units=[("B-0001", "PCB", "A")], created_at=BULK)
            if unit.serial_number == "B-0001":
                break  # a Ctrl-C right here: the token is printed
        token = paginator.resume_token
        await paginator.aclose()
        rest = await client.units.resume(token).collect()
        truth = await client.units.list(page_size=100).collect()
    ids = [u.id for u in first + rest]
    assert len(ids) == len(set(ids)), "a unit was yielded twice"
    assert set(ids) == {u.id for u in truth}


async def test_a_unit_that_moves_back_while_another_moves_forward_is_not_repeated() -> None:
    """Found in review: by last_run_at, newest first, a unit already yielded lost its latest run
    (it moved back, ahead of the position) while one not reached yet got a run (it moved in
    front): the two shifts cancelled out, and the first unit came again, the second never.
    Meeting a unit already yielded is now the sign of a move: ConsistencyError, no repeat."""
    async with Emulator(batches=30, seed=2) as emu, emu.client(retry=None) as client:
        by_unit: dict[str, list[aiotofu.Run]] = {}
        for run in await client.runs.list(
            page_size=100, sort_by="started_at", sort_order="asc"
        ).collect():
            by_unit.setdefault(run.unit.serial_number, []).append(run)
        everything = await client.units.list(
            sort_by="last_run_at", sort_order="desc", page_size=100
        ).collect()
        got: list[aiotofu.Unit] = []
        with pytest.raises(aiotofu.ConsistencyError, match="moved across"):  # noqa: PT012
            async for unit in client.units.list(
                sort_by="last_run_at", sort_order="desc", page_size=10, prefetch=0
            ):
                got.append(unit)
                if len(got) == 25:
                    # A unit yielded whose run before its latest is older than the position:
                    # without its latest run it falls ahead of the position.
                    position = got[-1].last_run
                    assert position is not None
                    back = next(
                        by_unit[u.serial_number][-1]
                        for u in got
                        if len(by_unit[u.serial_number]) > 1
                        and by_unit[u.serial_number][-2].started_at < position.started_at
                    )
                    emu.delete_run(back.id)
                    seen = {u.id for u in got}
                    ahead = next(u for u in reversed(everything) if u.id not in seen)
                    emu.add_run(serial_number=ahead.serial_number, procedure="ICT")
        assert len({u.id for u in got}) == len(got)

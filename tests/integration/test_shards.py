"""Shards end to end on the emulator (issue 21): ``plan()``, ``shards()`` and ``read()`` of every
resource that can be sharded. The union of the shard reads is one listing up to ``as_of``,
record for record, under writes, tie groups, unstable tie orders and microsecond storage; the
planning stays bounded; a shard read is a normal, resumable Paginator."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

import aiotofu
from aiotofu import Plan, Shard
from aiotofu.cli import main
from aiotofu.testing import Emulator

UTC = timezone.utc
MS = timedelta(milliseconds=1)
WORLDS: dict[str, dict[str, Any]] = {
    "batches": {"batches": 900, "runs": 0},
    "units": {"batches": 250, "runs": 0},
    "runs": {"batches": 20, "runs": 1200},
}


async def read_all(client: aiotofu.Client, plan: Plan, **options: Any) -> list[Any]:
    resource = getattr(client, plan.resource)
    records: list[Any] = []
    for shard in plan.shards:
        records += await resource.read(shard, **options).collect()
    return records


async def listing(client: aiotofu.Client, resource: str, **filters: Any) -> list[Any]:
    paginator = getattr(client, resource).list(page_size=100, **filters)
    return list(await asyncio.wait_for(paginator.collect(), timeout=120))


@pytest.mark.parametrize("resource", sorted(WORLDS))
async def test_the_union_of_the_reads_is_one_listing_up_to_as_of(resource: str) -> None:
    async with Emulator(seed=5, **WORLDS[resource]) as emu, emu.client() as client:
        plan = await getattr(client, resource).plan(target_size=150)
        plan.validate()
        assert len(plan.shards) >= 4
        read = Counter(record.id for record in await read_all(client, plan))
        truth = Counter(r.id for r in await listing(client, resource, created_before=plan.as_of))
        assert read == truth  # as multisets: each record once
        assert max(read.values()) == 1


KEYS = {"batches": "number", "units": "serial_number", "runs": "id"}


@pytest.mark.parametrize("resource", sorted(WORLDS))
async def test_writes_during_planning_and_reading(resource: str) -> None:
    """What exists from planning to the read of its shard is read once; an upload now is
    after as_of, in no shard; a past-stamped insert or a deletion is read at most once (once
    if it happens before its shard is read, not at all if after)."""
    key = KEYS[resource]
    async with Emulator(seed=6, **WORLDS[resource]) as emu, emu.client() as client:
        before = await listing(client, resource)
        oldest, newest = min(r.created_at for r in before), max(r.created_at for r in before)
        span = newest - oldest
        write = Writer(emu, resource, [getattr(r, key) for r in before])
        found: list[Shard] = []
        async with getattr(client, resource).shards(target_size=120) as search:
            async for shard in search:
                found.append(shard)
                if len(found) == 1:  # planning goes on while others write
                    write.now()
                    write.past(oldest + span / 3)
                    write.delete()
        assert search.as_of == newest
        shards = sorted(found, key=lambda s: s.start)
        plan = Plan(resource, newest, shards, found[0].filters, 120)
        plan.validate()
        records: list[Any] = []
        late = oldest + span * 0.95
        for index, shard in enumerate(plan.shards):
            records += await getattr(client, resource).read(shard).collect()
            if index == len(plan.shards) // 2:  # and while workers read
                assert shard.end < late
                write.now()
                write.past(late, late=True)
                write.past(oldest + span * 0.05)
                write.delete()
        keys = Counter(getattr(record, key) for record in records)
        assert max(keys.values()) == 1
        existing = {getattr(r, key) for r in before}
        assert existing - write.deleted <= set(keys)
        assert set(keys) <= existing | write.inserted
        assert not set(keys) & write.uploaded
        # An insert into a shard read after it was made is read.
        assert write.late <= set(keys)


class Writer:
    """Another user of the API, writing records of ``resource`` into the emulator; records are
    named by their key (a batch's number, a unit's serial number, a run's id)."""

    def __init__(self, emu: Emulator, resource: str, existing: list[str]) -> None:
        self.emu, self.resource = emu, resource
        self.victims = existing[5::97]
        self.uploaded: set[str] = set()
        self.inserted: set[str] = set()
        self.late: set[str] = set()
        self.deleted: set[str] = set()
        self.count = 0

    def _add(self, created_at: datetime | None) -> str:
        self.count += 1
        name = f"SHARD-W-{self.count}"
        if self.resource == "runs":
            return self.emu.add_run(created_at=created_at)
        self.emu.add_batch(name, units=[(f"{name}-SN", "P-1", "A")], created_at=created_at)
        return name if self.resource == "batches" else f"{name}-SN"

    def now(self) -> None:
        self.uploaded.add(self._add(None))

    def past(self, when: datetime, *, late: bool = False) -> None:
        added = self._add(when.replace(microsecond=when.microsecond // 1000 * 1000))
        self.inserted.add(added)
        if late:
            self.late.add(added)

    def delete(self) -> None:
        victim = self.victims.pop()
        self.deleted.add(victim)
        if self.resource == "runs":
            self.emu.delete_run(victim)
        elif self.resource == "batches":
            self.emu.delete_batch(victim)
        else:
            self.emu.delete_unit(victim)


async def test_a_tie_group_of_3000_lands_in_one_shard_once() -> None:
    async with Emulator(batches=400, runs=0, seed=8) as emu, emu.client() as client:
        existing = await listing(client, "batches")
        instant = min(r.created_at for r in existing) + timedelta(hours=1)
        instant = instant.replace(microsecond=instant.microsecond // 1000 * 1000)
        group = {emu.add_batch(f"TIE-{i}", created_at=instant) for i in range(3000)}
        emu.reset_stats()
        plan = await client.batches.plan(target_size=200)
        requests = emu.stats["requests"]
        (tied,) = [shard for shard in plan.shards if shard.start <= instant < shard.end]
        assert (tied.start, tied.end) == (instant, instant + MS)
        assert tied.at_most >= 3000
        read = Counter(r.id for r in await client.batches.read(tied).collect())
        assert group <= set(read)
        assert max(read.values()) == 1
        everything = Counter(r.id for r in await read_all(client, plan))
        assert everything == Counter(r.id for r in existing) + Counter(group)
        # The bisection down to one millisecond and the doubling probes of the group.
        assert requests <= 2 * len(plan.shards) + 2 + 2 * 60 + 5


async def test_planning_requests_and_rows_scanned_stay_bounded() -> None:
    target = 100
    async with Emulator(batches=2500, runs=0, seed=9, offset_cost=1e-7) as emu:
        async with emu.client() as client:
            emu.reset_stats()
            plan = await client.batches.plan(target_size=target)
        log = emu.log
        assert len(plan.shards) >= 2500 // target
        # Two requests for the ends, then at most two probes per shard found.
        assert len(log) <= 2 + 2 * len(plan.shards)
        assert all(request.rows_scanned <= target + 1 for request in log)
        assert emu.stats["rows_scanned"] <= len(log) * (target + 1)


async def test_shards_yields_the_first_before_planning_ends() -> None:
    async with Emulator(batches=1500, runs=0, seed=10, latency=0.005) as emu:
        async with emu.client() as client, client.batches.shards(target_size=50) as search:
            first = await search.__anext__()
            assert search.as_of is not None
            assert not search.done
            asked = emu.stats["requests"]
            rest = [shard async for shard in search]
        assert emu.stats["requests"] > asked
        assert first not in rest
        assert len(rest) >= 1500 // 50 - 1


async def test_a_shard_read_resumes_from_its_token_and_ends_at_its_end() -> None:
    async with Emulator(batches=600, runs=0, seed=11) as emu, emu.client() as client:
        plan = await client.batches.plan(target_size=250)
        shard = max(plan.shards, key=lambda s: s.at_most)
        whole = [r.id for r in await client.batches.read(shard, page_size=20).collect()]
        assert len(whole) > 60
        paginator = client.batches.read(shard, page_size=20, prefetch=3)
        head = []
        async with paginator:
            async for record in paginator:
                head.append(record.id)
                if len(head) == 45:
                    break
        rest = [r.id for r in await client.batches.resume(paginator.resume_token).collect()]
        assert head + rest == whole
        assert all(
            shard.start <= r.created_at < shard.end
            for r in await client.batches.read(shard).collect()
        )


async def test_a_record_at_the_end_itself_belongs_to_the_next_shard() -> None:
    """The API's created_before is inclusive: the end's own records come back, and are cut."""
    async with Emulator(batches=50, runs=0, seed=12) as emu, emu.client() as client:
        plan = await client.batches.plan(target_size=20)
        left, right = plan.shards[0], plan.shards[1]
        at_end = emu.add_batch("AT-THE-END", created_at=left.end)
        assert at_end not in {r.id for r in await client.batches.read(left).collect()}
        assert at_end in {r.id for r in await client.batches.read(right).collect()}


async def test_split_halves_read_together_as_the_shard() -> None:
    async with Emulator(batches=300, runs=0, seed=13) as emu, emu.client() as client:
        plan = await client.batches.plan(target_size=1000)
        (shard,) = plan.shards
        left, right = shard.split()
        halves = (
            await client.batches.read(left).collect() + await client.batches.read(right).collect()
        )
        assert [r.id for r in halves] == [r.id for r in await client.batches.read(shard).collect()]


async def test_read_refuses_a_shard_of_another_resource() -> None:
    async with Emulator(batches=20, runs=10, seed=14) as emu, emu.client() as client:
        plan = await client.runs.plan(target_size=100)
        with pytest.raises(aiotofu.InvalidParameterError, match="a shard of runs, not of batches"):
            client.batches.read(plan.shards[0])
        with pytest.raises(aiotofu.InvalidParameterError, match="expected an aiotofu.Shard"):
            client.batches.read(plan.to_json())  # type: ignore[arg-type]
        with pytest.raises(aiotofu.InvalidParameterError, match="target_size"):
            client.runs.plan(target_size=0)
        with pytest.raises(TypeError, match="target_size"):
            client.runs.plan()  # type: ignore[call-arg]
        assert not hasattr(client.phases, "plan")
        assert not hasattr(client.parts, "read")


async def test_the_callers_own_filters_and_time_window_narrow_the_plan() -> None:
    async with Emulator(batches=30, runs=900, seed=15) as emu, emu.client() as client:
        every = await listing(client, "runs")
        times = sorted(r.created_at for r in every)
        window = {"created_after": times[100], "created_before": times[700], "outcomes": ["PASS"]}
        plan = await client.runs.plan(target_size=80, **window)
        assert plan.as_of <= times[700]
        assert plan.shards[0].start >= times[100]
        read = Counter(r.id for r in await read_all(client, plan))
        truth = await listing(client, "runs", **{**window, "created_before": plan.as_of})
        assert read == Counter(r.id for r in truth)
        assert {r.outcome for r in truth} == {"PASS"}


async def test_unstable_tie_order_and_ties_across_shards() -> None:
    emulator = Emulator(batches=200, runs=0, seed=16, tie_order="unstable")
    async with emulator as emu, emu.client() as client:
        base = min(r.created_at for r in await listing(client, "batches"))
        for i in range(400):  # tie groups of 40 every few milliseconds
            emu.add_batch(f"U-{i}", created_at=base + (i // 40) * 3 * MS)
        plan = await client.batches.plan(target_size=30)
        read = Counter(r.id for r in await read_all(client, plan, page_size=7))
        truth = Counter(
            r.id
            for r in await listing(
                client,
                "batches",
                sort_by="created_at",
                sort_order="asc",
                created_before=plan.as_of,
            )
        )
        assert read == truth
        assert max(read.values()) == 1


async def test_microseconds_stored_the_plan_holds_what_reads_as_as_of_then_a_watch() -> None:
    """On a server that stores microseconds, list(created_before=as_of) leaves out records
    stored later in as_of's millisecond; the plan holds every record that reads as at most
    as_of, and a watch since=as_of yields exactly what comes after, none of the plan."""
    emulator = Emulator(batches=300, runs=0, seed=17, timestamp_precision="us")
    async with emulator as emu, emu.client() as client:
        newest = max(r.created_at for r in await listing(client, "batches"))
        late = newest + 5 * MS
        same = {
            emu.add_batch(f"US-{i}", created_at=late + timedelta(microseconds=100 + 300 * i))
            for i in range(3)
        }
        plan = await client.batches.plan(target_size=40)
        assert plan.as_of == late
        read = Counter(r.id for r in await read_all(client, plan))
        every = await listing(client, "batches")
        assert read == Counter(r.id for r in every if r.created_at <= plan.as_of)
        below = {r.id for r in await listing(client, "batches", created_before=plan.as_of)}
        assert below <= set(read)
        assert same <= set(read) - below
        fresh = {emu.add_batch(f"NEW-{i}") for i in range(3)}
        watched: list[str] = []
        async with client.batches.watch(since=plan.as_of, poll_interval=0.01) as watch:
            async for batch in watch:
                watched.append(batch.id)
                if len(watched) == len(fresh):
                    break
        assert set(watched) == fresh


def test_sync_client_mirrors_plan_shards_and_read(threaded_emu: Emulator) -> None:
    with aiotofu.SyncClient(threaded_emu.api_key, base_url=threaded_emu.base_url) as client:
        plan = client.batches.plan(target_size=300)
        with client.batches.shards(target_size=300) as shards:
            found = sorted(shards, key=lambda s: s.start)
        assert found == list(plan.shards)
        assert shards.as_of == plan.as_of
        ids = [b.id for shard in plan.shards for b in client.batches.read(shard).collect()]
        truth = client.batches.list(created_before=plan.as_of, page_size=100).collect()
        assert sorted(ids) == sorted(b.id for b in truth)


def test_cli_plan_then_read_every_shard_is_the_listing(
    threaded_emu: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    connection = ["--base-url", threaded_emu.base_url, "--api-key", threaded_emu.api_key]
    assert main(["batches", "plan", "--target-size", "250", *connection]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert threaded_emu.api_key not in out
    plan = Plan.from_json(out)
    ids: list[str] = []
    for shard in json.loads(out)["shards"]:
        assert (
            main(
                ["batches", "read", "--shard", json.dumps(shard), "--format", "jsonl", *connection]
            )
            == 0
        )
        ids += [json.loads(line)["id"] for line in capsys.readouterr().out.splitlines()]
    assert len(ids) == len(set(ids)) == 1000
    with aiotofu.SyncClient(threaded_emu.api_key, base_url=threaded_emu.base_url) as client:
        assert set(ids) == {b.id for b in client.batches.list(created_before=plan.as_of).collect()}


def test_cli_read_refuses_a_bad_shard_in_one_line(
    threaded_emu: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    connection = ["--base-url", threaded_emu.base_url, "--api-key", threaded_emu.api_key]
    assert main(["batches", "read", "--shard", '{"aiotofu": "plan"}', *connection]) == 2
    assert capsys.readouterr().err.startswith("aiotofu: error: --shard: not a shard")
    assert main(["batches", "plan", "--target-size", "0", *connection]) == 2
    assert "--target-size" in capsys.readouterr().err

"""watch(): new batches from a concurrent writer, exactly once, oldest first; resume; errors."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone

import pytest

import aiotofu
from aiotofu.testing import Emulator, VirtualClock

SAME_INSTANT = datetime(2031, 1, 1, tzinfo=timezone.utc)


async def take(watcher: aiotofu.Watcher, count: int) -> list[aiotofu.Batch]:
    """The next ``count`` batches of the watch, failing rather than hanging if they never come."""
    got: list[aiotofu.Batch] = []

    async def collect() -> None:
        async for batch in watcher:
            got.append(batch)
            if len(got) == count:
                return

    await asyncio.wait_for(collect(), timeout=15)
    return got


async def test_a_concurrent_writer_is_seen_exactly_once_including_ties(emu: Emulator) -> None:
    async with emu.client() as client:
        watcher = client.batches.watch(poll_interval=0.01, page_size=3)

        async def writer() -> None:
            await asyncio.sleep(0.05)
            for k in range(10):
                emu.add_batch(f"LIVE-{k}")
                await asyncio.sleep(0.005)
            for k in range(4):  # several created in the same instant, across polls
                emu.add_batch(f"TIE-{k}", created_at=SAME_INSTANT)
                await asyncio.sleep(0.02)
            emu.add_batch("LAST", created_at=SAME_INSTANT + timedelta(milliseconds=1))

        task = asyncio.create_task(writer())
        async with watcher:
            got = await take(watcher, 15)
        await task
    numbers = [b.number for b in got]
    assert numbers[:10] == [f"LIVE-{k}" for k in range(10)]
    assert sorted(numbers[10:14]) == [f"TIE-{k}" for k in range(4)]
    assert numbers[14] == "LAST"
    assert [b.created_at for b in got] == sorted(b.created_at for b in got)


async def test_what_existed_before_watching_is_not_yielded(emu: Emulator) -> None:
    # Two batches share the newest instant when watching starts: neither is new.
    emu.add_batch("OLD-A", created_at=SAME_INSTANT)
    emu.add_batch("OLD-B", created_at=SAME_INSTANT)
    async with emu.client() as client:
        watcher = client.batches.watch(poll_interval=0.01)
        first = asyncio.create_task(take(watcher, 1))
        await asyncio.sleep(0.05)
        emu.add_batch("NEW-AT-SAME-INSTANT", created_at=SAME_INSTANT)
        [batch] = await first
        await watcher.aclose()
    assert batch.number == "NEW-AT-SAME-INSTANT"


async def test_since_yields_batches_created_strictly_after_it(emu: Emulator) -> None:
    async with emu.client() as client:
        listing = await client.batches.list(page_size=100, max_items=5).collect()
        since = listing[-1].created_at  # the fifth newest
        async with client.batches.watch(since=since, poll_interval=0.01) as watcher:
            got = await take(watcher, 4)
    assert [b.id for b in got] == [b.id for b in reversed(listing[:4])]


async def test_a_watch_resumes_from_its_token(emu: Emulator) -> None:
    async with emu.client() as client:
        async with client.batches.watch(poll_interval=0.01) as watcher:
            pending = asyncio.create_task(take(watcher, 2))
            await asyncio.sleep(0.05)  # watching has started: what follows is new
            for k in range(3):
                emu.add_batch(f"R-{k}")
            first = await pending
            token = watcher.resume_token
        emu.add_batch("R-3")
        async with client.batches.watch(resume_token=token, poll_interval=0.01) as resumed:
            rest = await take(resumed, 2)
    assert [b.number for b in first + rest] == ["R-0", "R-1", "R-2", "R-3"]


async def test_transient_errors_are_ridden_out(emu: Emulator, clock: VirtualClock) -> None:
    async with emu.client() as client:
        watcher = client.batches.watch(poll_interval=5)
        emu.inject(503, "drop", 502)
        first = asyncio.create_task(take(watcher, 2))
        for _ in range(20):
            await asyncio.sleep(0.01)
        emu.add_batch("AFTER-ERRORS-1")
        emu.add_batch("AFTER-ERRORS-2")
        got = await first
        await watcher.aclose()
    assert [b.number for b in got] == ["AFTER-ERRORS-1", "AFTER-ERRORS-2"]
    assert emu.stats["faults"] == {"503": 1, "drop": 1, "502": 1}
    assert 5.0 in clock.sleeps  # it polled on the client's clock


async def test_an_empty_organisation_yields_its_first_batches() -> None:
    async with Emulator() as emu, emu.client() as client:
        watcher = client.batches.watch(poll_interval=0.01)
        first = asyncio.create_task(take(watcher, 2))
        await asyncio.sleep(0.05)
        emu.add_batch("FIRST")
        emu.add_batch("SECOND")
        got = await first
        await watcher.aclose()
    assert [b.number for b in got] == ["FIRST", "SECOND"]


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"poll_interval": -1}, "poll_interval"),
        ({"poll_interval": "5"}, "poll_interval"),
        ({"since": datetime(2024, 1, 1)}, "since"),
        ({"page_size": 0}, "page_size"),
        ({"ids": []}, "ids"),
        ({"resume_token": "garbage"}, "resume_token"),
        ({"resume_token": "x", "numbers": ["N"]}, "numbers"),
    ],
)
def test_bad_watch_arguments(kwargs: dict[str, object], name: str) -> None:
    client = aiotofu.Client("key")
    with pytest.raises(aiotofu.InvalidParameterError, match=f"^{name}: "):
        client.batches.watch(**kwargs)  # type: ignore[arg-type]


def test_a_list_token_is_not_a_watch_token() -> None:
    client = aiotofu.Client("key")
    token = client.batches.list().resume_token
    with pytest.raises(
        aiotofu.InvalidParameterError, match="^resume_token: not a resume token of a"
    ):
        client.batches.watch(resume_token=token)


def test_sync_watch(threaded_emu: Emulator) -> None:
    with aiotofu.SyncClient(threaded_emu.api_key, base_url=threaded_emu.base_url) as client:
        [newest] = client.batches.list(max_items=1).collect()
        watcher = client.batches.watch(since=newest.created_at, poll_interval=0.01)
        threaded_emu.add_batch("SYNC-1")
        with watcher:
            batch = next(watcher)
            token = watcher.resume_token
        assert batch.number == "SYNC-1"
        threaded_emu.add_batch("SYNC-2")
        with client.batches.watch(resume_token=token, poll_interval=0.01) as resumed:
            assert next(resumed).number == "SYNC-2"


@pytest.mark.slow
def test_the_watch_command_streams_jsonl_and_prints_a_token_on_ctrl_c(
    threaded_emu: Emulator,
) -> None:
    env = {
        **os.environ,
        "TOFUPILOT_API_KEY": threaded_emu.api_key,
        "TOFUPILOT_URL": threaded_emu.base_url,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "aiotofu", "batches", "watch", "--poll-interval", "0.05"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    try:
        # The watch starts from the newest batch: wait until the command has read it.
        for _ in range(500):
            if threaded_emu.stats["requests"] >= 2:
                break
            time.sleep(0.02)
        threaded_emu.add_batch("CLI-WATCHED")
        line = process.stdout.readline()
        assert '"number": "CLI-WATCHED"' in line
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=20)
    assert process.returncode == 130
    assert "--resume " in err
    assert threaded_emu.api_key not in err


# -- the start, the hand-over from a listing, storms and late commits ---------------------


async def test_the_start_is_fixed_when_the_watch_is_entered(emu: Emulator) -> None:
    """Enter the watch, work on the backlog for a while, then follow: nothing is lost."""
    async with emu.client() as client, client.batches.watch(poll_interval=0.01) as watcher:
        # The backlog takes time; meanwhile others create batches.
        emu.add_batch("DURING-BACKLOG-1")
        emu.add_batch("DURING-BACKLOG-2")
        got = await take(watcher, 2)
    assert [b.number for b in got] == ["DURING-BACKLOG-1", "DURING-BACKLOG-2"]


async def test_a_listing_hands_over_to_a_watch_without_a_gap(emu: Emulator) -> None:
    async with emu.client() as client, client.batches.watch(poll_interval=0.01) as watcher:
        backlog: list[str] = []
        async for batch in client.batches.list(created_before=watcher.since, page_size=100):
            backlog.append(batch.number)
            if len(backlog) == 150:
                emu.add_batch("CREATED-WHILE-LISTING")
        followed = await take(watcher, 1)
    assert len(backlog) == 1000
    assert [b.number for b in followed] == ["CREATED-WHILE-LISTING"]


def test_a_sync_watch_fixes_its_start_on_entering(threaded_emu: Emulator) -> None:
    client = aiotofu.SyncClient(threaded_emu.api_key, base_url=threaded_emu.base_url)
    with client, client.batches.watch(poll_interval=0.01) as watcher:
        assert watcher.since is not None
        threaded_emu.add_batch("AFTER-ENTERING")
        assert next(watcher).number == "AFTER-ENTERING"


async def test_a_storm_in_one_instant_is_seen_once_each(clock: VirtualClock) -> None:
    storm = 2500  # more than a watch remembers of one instant
    async with (
        Emulator(batches=5) as emu,
        emu.client() as client,
        client.batches.watch(poll_interval=1.0) as watcher,
    ):
        for k in range(storm):
            emu.add_batch(f"STORM-{k:05d}", created_at=SAME_INSTANT)
        got = await take(watcher, storm)
        assert len({b.id for b in got}) == storm
        emu.add_batch("AFTER-STORM", created_at=SAME_INSTANT + timedelta(milliseconds=1))
        # Several polls later: the storm is not yielded again, the next batch is.
        [after] = await take(watcher, 1)
        state = watcher._state
    assert after.number == "AFTER-STORM"
    assert state is not None
    assert len(state.seen) == 1


async def test_a_storm_larger_than_memory_resumes_from_its_token(clock: VirtualClock) -> None:
    storm = 1200
    async with Emulator(batches=5) as emu, emu.client() as client:
        async with client.batches.watch(poll_interval=1.0) as watcher:
            for k in range(storm):
                emu.add_batch(f"STORM-{k:05d}", created_at=SAME_INSTANT)
            first = await take(watcher, 1100)
            token = watcher.resume_token
        emu.add_batch("AFTER-STORM", created_at=SAME_INSTANT + timedelta(milliseconds=1))
        async with client.batches.watch(resume_token=token, poll_interval=1.0) as resumed:
            rest = await take(resumed, 101)
    numbers = [b.number for b in first + rest]
    assert len(set(numbers)) == storm + 1
    assert numbers[-1] == "AFTER-STORM"


async def test_a_look_back_window_yields_late_commits_once(emu: Emulator) -> None:
    now = datetime.now(timezone.utc)
    async with emu.client() as client:
        watch = client.batches.watch(poll_interval=0.01, lookback=timedelta(minutes=5))
        async with watch as watcher:
            emu.add_batch("ON-TIME")
            [on_time] = await take(watcher, 1)
            # Committed late: stamped before the newest batch the watch has seen.
            emu.add_batch("LATE", created_at=on_time.created_at - timedelta(seconds=30))
            emu.add_batch("TOO-LATE", created_at=on_time.created_at - timedelta(minutes=10))
            emu.add_batch("NEXT", created_at=max(now, on_time.created_at) + timedelta(seconds=1))
            got = await take(watcher, 2)
            token = watcher.resume_token
        async with client.batches.watch(resume_token=token, poll_interval=0.01) as resumed:
            emu.add_batch("LAST", created_at=got[-1].created_at + timedelta(seconds=1))
            [last] = await take(resumed, 1)
    assert sorted(b.number for b in got) == ["LATE", "NEXT"]
    assert last.number == "LAST"


async def test_without_a_look_back_a_late_commit_is_not_yielded(emu: Emulator) -> None:
    async with emu.client() as client, client.batches.watch(poll_interval=0.01) as watcher:
        emu.add_batch("ON-TIME")
        [on_time] = await take(watcher, 1)
        emu.add_batch("LATE", created_at=on_time.created_at - timedelta(seconds=30))
        emu.add_batch("NEXT")
        [following] = await take(watcher, 1)
    assert following.number == "NEXT"


# -- storms: one more batch in the storm's instant, wherever its id puts it --------------


def add_batch_with_id(emu: Emulator, number: str, batch_id: str) -> None:
    """A batch at the storm's instant whose id (the API's tie-breaker) we choose, so that it
    lands where the test wants it among the storm."""
    micros = int(SAME_INSTANT.timestamp() * 1_000_000)
    emu._server.state.store.create_batch(number, created_at=micros, batch_id=batch_id)


@contextlib.asynccontextmanager
async def watching_a_storm(size: int) -> AsyncIterator[tuple[Emulator, aiotofu.Watcher, list[str]]]:
    """A watch that has yielded a storm of ``size`` batches in one instant: the emulator, the
    watch and the storm's ids in the API's tie order (by id)."""
    async with (
        Emulator(batches=5) as emu,
        emu.client() as client,
        client.batches.watch(poll_interval=1.0) as watcher,
    ):
        for k in range(size):
            emu.add_batch(f"STORM-{k:05d}", created_at=SAME_INSTANT)
        got = await take(watcher, size)
        yield emu, watcher, sorted(b.id for b in got)


@pytest.mark.parametrize(("storm", "among"), [(300, 150), (1100, 600)])
async def test_one_more_batch_in_a_storms_instant_is_yielded_and_nothing_again(
    clock: VirtualClock, storm: int, among: int
) -> None:
    """It lands among the ids the watch remembers of that instant: it is found, however far
    from the end of the instant, and no batch of the storm is yielded again."""
    async with watching_a_storm(storm) as (emu, watcher, ids):
        add_batch_with_id(emu, "ONE-MORE", ids[among] + "-x")
        emu.add_batch("AFTER", created_at=SAME_INSTANT + timedelta(milliseconds=1))
        rest = await take(watcher, 2)
    assert [b.number for b in rest] == ["ONE-MORE", "AFTER"]


async def test_one_more_batch_among_what_a_watch_forgot_of_an_instant_is_an_error(
    clock: VirtualClock,
) -> None:
    """Past what a watch remembers of one instant, a batch that lands among the forgotten ids
    cannot be told from them: ConsistencyError, not a repeat of one and the loss of the other
    (what the unverified skip count did)."""
    async with watching_a_storm(1100) as (emu, watcher, ids):
        add_batch_with_id(emu, "ONE-MORE", ids[10] + "-x")
        with pytest.raises(aiotofu.ConsistencyError):
            await take(watcher, 1)


async def test_one_more_batch_before_the_first_remembered_id_leaves_the_watch_working(
    clock: VirtualClock,
) -> None:
    """Found in review: past what a watch remembers of an instant, one more batch landing just
    before the first id remembered was yielded, and then every later poll (and every resume)
    failed with ConsistencyError: the count moved past a batch the watch still remembered."""
    async with watching_a_storm(1100) as (emu, watcher, ids):
        add_batch_with_id(emu, "ONE-MORE", ids[1100 - 1000] + "-x")
        [one_more] = await take(watcher, 1)
        emu.add_batch("AFTER", created_at=SAME_INSTANT + timedelta(milliseconds=1))
        [after] = await take(watcher, 1)
    assert (one_more.number, after.number) == ("ONE-MORE", "AFTER")

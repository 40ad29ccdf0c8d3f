"""``client.logs.watch()`` follows runs by upload time and yields each new run's lines, once.

A log line's ``created_at`` is the station's clock at logging time, not when the API received
it: a run uploaded late, or by a station whose clock is ahead, has lines that sort before (or far
after) what a watch by ``created_at`` has reached. These tests upload runs as stations do
(``Emulator.add_run``: a run and its lines arrive at once) and check that every line of every new
run is yielded exactly once, filters applied, across resumes, and that closing cleans up.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterable
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

import aiotofu
from aiotofu._tokens import decode_token, encode_token
from aiotofu.testing import Emulator
from tests.helpers import aiotofu_tasks

UTC = timezone.utc


@pytest.fixture
async def small() -> AsyncIterator[Emulator]:
    """120 batches (about 650 units) and 300 runs, each run with its log lines."""
    async with Emulator(batches=120, runs=300, seed=3) as server:
        yield server


async def take(watcher: aiotofu.Watcher[aiotofu.Log], count: int) -> list[aiotofu.Log]:
    """The next ``count`` lines of the watch, failing rather than hanging if they never come."""
    got: list[aiotofu.Log] = []

    async def collect() -> None:
        while len(got) < count:
            got.append(await watcher.__anext__())

    await asyncio.wait_for(collect(), timeout=10)
    return got


async def lines_of(
    client: aiotofu.Client, runs: Iterable[str], **filters: Any
) -> list[aiotofu.Log]:
    """The lines of ``runs``, run after run, each run's oldest first: what a watch yields."""
    lines: list[aiotofu.Log] = []
    for run in runs:
        listing = client.logs.list(run_ids=run, sort_by="created_at", sort_order="asc", **filters)
        lines += await listing.collect()
    return lines


def ids(lines: Iterable[aiotofu.Log]) -> list[str]:
    return [line.id for line in lines]


def queries(emu: Emulator, path: str) -> list[dict[str, list[str]]]:
    """The query strings of every request the emulator served on ``path``."""
    split = [urlsplit(request.path_qs) for request in emu.log]
    return [parse_qs(url.query) for url in split if url.path == f"/api{path}"]


# -- what today's watch by created_at loses ------------------------------------------------


async def test_a_run_uploaded_late_has_its_lines_yielded(small: Emulator) -> None:
    """A run uploaded after another, though it ran earlier: its lines are older than lines
    already yielded, and they are yielded all the same."""
    now = datetime.now(UTC)
    async with small.client() as client, client.logs.watch(poll_interval=0.01) as watcher:
        recent = small.add_run(started_at=now - timedelta(minutes=5))
        expected = await lines_of(client, [recent])
        first = await take(watcher, len(expected))
        # Uploaded now, run two hours ago (a station that was offline).
        late = small.add_run(started_at=now - timedelta(hours=2))
        expected += await lines_of(client, [late])
        second = await take(watcher, len(expected) - len(first))
    assert max(line.created_at for line in second) < min(line.created_at for line in first)
    assert ids(first + second) == ids(expected)


async def test_a_station_clock_a_day_ahead_hides_no_other_station(small: Emulator) -> None:
    """A station a day ahead uploads first; a correct station's run, uploaded next, is not
    left waiting until tomorrow."""
    now = datetime.now(UTC)
    async with small.client() as client, client.logs.watch(poll_interval=0.01) as watcher:
        ahead = small.add_run(started_at=now + timedelta(days=1))
        correct = small.add_run(started_at=now - timedelta(minutes=20))
        expected = await lines_of(client, [ahead, correct])
        got = await take(watcher, len(expected))
    assert ids(got) == ids(expected)
    assert got[-1].run.id == correct


# -- exactly once, resumes ---------------------------------------------------------------


async def test_many_runs_resumed_in_the_middle_of_a_run_yield_every_line_once(
    small: Emulator,
) -> None:
    async with small.client() as client:
        async with client.logs.watch(poll_interval=0.01, page_size=1) as watcher:
            runs = [small.add_run() for _ in range(6)]
            expected = await lines_of(client, runs)
            # Stop inside the fourth run's lines, before its last one (pages of one line).
            before = len(await lines_of(client, runs[:3]))
            fourth = await lines_of(client, runs[3:4])
            assert len(fourth) >= 2
            cut = before + len(fourth) - 1
            first = await take(watcher, cut)
            token = watcher.resume_token
        assert first[-1].run.id == runs[3]
        runs += [small.add_run() for _ in range(2)]
        expected += await lines_of(client, runs[-2:])
        # Another client, as another process would.
        async with small.client() as other:
            resumed = other.logs.watch(resume_token=token, poll_interval=0.01)
            async with resumed:
                rest = await take(resumed, len(expected) - cut)
    assert ids(first + rest) == ids(expected)


async def test_a_watch_cut_at_any_line_resumes_with_the_rest() -> None:
    """A token after every line: each one resumes with exactly the lines that follow it."""
    async with Emulator(batches=60, runs=50, seed=11) as emu, emu.client() as client:
        async with client.logs.watch(poll_interval=0.01, page_size=2) as watcher:
            runs = [emu.add_run(procedure="Burn-in") for _ in range(4)]
            total = len(await lines_of(client, runs))
            tokens = [watcher.resume_token]
            got: list[aiotofu.Log] = []
            for _ in range(total):
                got += await take(watcher, 1)
                tokens.append(watcher.resume_token)
        assert len(set(ids(got))) == total
        assert [line.run.id for line in got] == sorted(
            (line.run.id for line in got), key=runs.index
        )
        for cut, token in enumerate(tokens):
            async with client.logs.watch(resume_token=token, poll_interval=0.01) as resumed:
                rest = await take(resumed, total - cut)
            assert set(ids(got[:cut])).isdisjoint(ids(rest)), cut
            assert sorted(ids(got[:cut]) + ids(rest)) == sorted(ids(got)), cut


async def test_since_means_runs_uploaded_after_it(small: Emulator) -> None:
    async with small.client() as client:
        newest = await client.runs.list(sort_by="created_at", max_items=3).collect()
        since = newest[-1].created_at  # the third newest upload
        async with client.logs.watch(since=since, poll_interval=0.01) as watcher:
            expected = await lines_of(client, [newest[1].id, newest[0].id])
            got = await take(watcher, len(expected))
            assert watcher.since == newest[0].created_at
    assert ids(got) == ids(expected)


async def test_by_default_only_runs_uploaded_after_the_start_are_followed(
    small: Emulator,
) -> None:
    before = small.add_run()
    async with small.client() as client, client.logs.watch(poll_interval=0.01) as watcher:
        [newest] = await client.runs.list(sort_by="created_at", max_items=1).collect()
        assert newest.id == before
        assert watcher.since == newest.created_at
        after = small.add_run()
        expected = await lines_of(client, [after])
        got = await take(watcher, len(expected))
    assert ids(got) == ids(expected)


async def test_lookback_applies_to_the_runs_watched(small: Emulator) -> None:
    """A run whose upload is recorded late (a slow commit) is followed within the look-back."""
    async with small.client() as client:
        watch = client.logs.watch(poll_interval=0.01, lookback=timedelta(minutes=5))
        async with watch as watcher:
            on_time = small.add_run()
            expected = await lines_of(client, [on_time])
            first = await take(watcher, len(expected))
            [run] = await client.runs.list(ids=on_time).collect()
            late = small.add_run(created_at=run.created_at - timedelta(seconds=30))
            expected += await lines_of(client, [late])
            rest = await take(watcher, len(expected) - len(first))
    assert ids(first + rest) == ids(expected)


# -- filters -------------------------------------------------------------------------------


async def test_line_filters_apply_to_every_new_run(small: Emulator) -> None:
    filters: dict[str, Any] = {"levels": ["ERROR", "CRITICAL"], "search_query": "failed"}
    async with small.client() as client, client.logs.watch(poll_interval=0.01, **filters) as w:
        runs = [small.add_run(outcome="FAIL") for _ in range(3)]
        runs.append(small.add_run(outcome="PASS"))
        runs += [small.add_run(outcome="ERROR") for _ in range(2)]
        expected = await lines_of(client, runs, **filters)
        everything = await lines_of(client, runs)
        got = await take(w, len(expected))
    assert len(expected) < len(everything)
    assert all(line.level in ("ERROR", "CRITICAL") and "failed" in line.message for line in got)
    assert ids(got) == ids(expected)


async def test_run_filters_narrow_the_runs_watched_and_still_apply_to_lines(
    small: Emulator,
) -> None:
    async with small.client() as client:
        watch = client.logs.watch(poll_interval=0.01, run_outcomes="FAIL", levels="INFO")
        async with watch as watcher:
            passed = [small.add_run(outcome="PASS") for _ in range(2)]
            failed = [small.add_run(outcome="FAIL") for _ in range(2)]
            expected = await lines_of(client, failed, levels="INFO")
            small.reset_stats()  # from here on, only the watch's requests
            got = await take(watcher, len(expected))
    assert ids(got) == ids(expected)
    assert {line.run.id for line in got} == set(failed)
    runs, logs = queries(small, "/v2/runs"), queries(small, "/v2/logs")
    assert runs
    assert all(query["outcomes"] == ["FAIL"] for query in runs)
    # Lines are asked for only for the runs that match, with every filter of the watch.
    assert sorted({query["run_ids"][0] for query in logs}) == sorted(failed)
    assert all(len(query["run_ids"]) == 1 for query in logs)
    assert all(query["run_outcomes"] == ["FAIL"] for query in logs)
    assert all(query["levels"] == ["INFO"] for query in logs)
    assert all(run not in str(small.log) for run in passed)


async def test_run_ids_narrow_to_those_runs(small: Emulator) -> None:
    first, second = small.add_run(), small.add_run()
    async with small.client() as client:
        watch = client.logs.watch(since=datetime(2020, 1, 1, tzinfo=UTC), run_ids=second)
        async with watch as watcher:
            expected = await lines_of(client, [second])
            small.reset_stats()
            got = await take(watcher, len(expected))
    assert ids(got) == ids(expected)
    assert all(query["ids"] == [second] for query in queries(small, "/v2/runs"))
    assert first not in str(small.log)


# -- the watcher's surface, tokens, errors ---------------------------------------------------


async def test_the_log_watcher_quacks_like_a_watcher(small: Emulator) -> None:
    async with small.client() as client:
        watcher = client.logs.watch(poll_interval=0.01)
        assert isinstance(watcher, aiotofu.Watcher)
        assert watcher.since is None
        assert watcher.state is None
        with pytest.raises(aiotofu.StateError):
            _ = watcher.resume_token
        async with watcher:
            assert watcher.since is not None
            assert watcher.state is not None
            run = small.add_run()
            async for line in watcher:
                assert line.run.id == run
                break
            assert "in run" in repr(watcher)
        assert small.api_key not in repr(watcher)
        assert repr(watcher).startswith("<aiotofu.Watcher of logs")


def test_bad_log_watch_arguments() -> None:
    client = aiotofu.Client("key")
    runs_token = client.runs.watch(since=datetime(2024, 1, 1, tzinfo=UTC)).resume_token
    cases: list[tuple[dict[str, Any], str]] = [
        ({"resume_token": "garbage"}, "resume_token"),
        ({"resume_token": runs_token}, "resume_token"),
        ({"resume_token": "x", "levels": "INFO"}, "levels"),
        ({"resume_token": "x", "since": datetime(2024, 1, 1, tzinfo=UTC)}, "since"),
        ({"resume_token": "x", "lookback": 5}, "lookback"),
        ({"levels": "TRACE"}, "levels"),
        ({"run_outcomes": "pass"}, "run_outcomes"),
        ({"since": datetime(2024, 1, 1)}, "since"),
        ({"poll_interval": -1}, "poll_interval"),
        ({"page_size": 0}, "page_size"),
        ({"lookback": "5"}, "lookback"),
    ]
    for kwargs, name in cases:
        with pytest.raises(aiotofu.InvalidParameterError, match=f"^{name}: "):
            client.logs.watch(**kwargs)


async def test_a_tampered_log_watch_token_is_refused(small: Emulator) -> None:
    async with small.client() as client:
        async with client.logs.watch(poll_interval=0.01, page_size=1) as watcher:
            run = small.add_run()
            await take(watcher, 1)
            token = watcher.resume_token
        payload = decode_token(token)
        assert payload["lines"] is not None
        # Checksums are recomputed: only the validation of what is inside can refuse these.
        forged = [
            {**payload, "lines": {**payload["lines"], "query": {"run_ids": [run, "other"]}}},
            {**payload, "lines": {**payload["lines"], "resource": "runs"}},
            {**payload, "runs": {**payload["runs"], "resource": "batches-watch"}},
            {**payload, "runs": "not a payload"},
            {**payload, "page_size": 0},
            {**payload, "query": {"levels": ["TRACE"]}},
        ]
        for changed in forged:
            with pytest.raises(aiotofu.InvalidParameterError, match="^resume_token: "):
                client.logs.watch(resume_token=encode_token(changed))
        for cut in (1, len(token) // 2, len(token) - 1):
            with pytest.raises(aiotofu.InvalidParameterError, match="^resume_token: "):
                client.logs.watch(resume_token=token[:cut])


def test_a_sync_log_watch_yields_lines_and_resumes(threaded_emu: Emulator) -> None:
    with aiotofu.SyncClient(threaded_emu.api_key, base_url=threaded_emu.base_url) as client:
        with client.logs.watch(poll_interval=0.01, page_size=1) as watcher:
            run = threaded_emu.add_run()
            expected = client.logs.list(run_ids=run, sort_by="created_at", sort_order="asc")
            lines = expected.collect()
            first = next(watcher)
            token = watcher.resume_token
        with client.logs.watch(resume_token=token, poll_interval=0.01) as resumed:
            rest = [next(resumed) for _ in range(len(lines) - 1)]
    assert ids([first, *rest]) == ids(lines)


# -- cleanup -----------------------------------------------------------------------------------


async def test_breaking_out_of_a_log_watch_leaves_no_task(small: Emulator) -> None:
    async with small.client() as client:
        async with client.logs.watch(poll_interval=0.01, page_size=1) as watcher:
            for _ in range(3):
                small.add_run(procedure="Burn-in")
            small.set_faults(latency=0.02)
            async for _ in watcher:
                await asyncio.sleep(0.005)  # the next page of lines is on its way
                break
        assert not aiotofu_tasks()


async def test_cancelling_a_log_watch_consumer_leaves_no_task(small: Emulator) -> None:
    small.set_faults(latency=0.02)
    async with small.client() as client:
        started = asyncio.Event()

        async def consume() -> None:
            async with client.logs.watch(poll_interval=0.01, page_size=1) as watcher:
                small.add_run(procedure="Burn-in")
                async for _ in watcher:
                    started.set()

        task = asyncio.create_task(consume())
        await asyncio.wait_for(started.wait(), 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not aiotofu_tasks()


async def test_aclose_from_another_task_stops_the_watch_and_keeps_its_place(
    small: Emulator,
) -> None:
    async with small.client() as client:
        watcher = client.logs.watch(poll_interval=0.01, page_size=1)
        async with watcher:
            run = small.add_run(procedure="Burn-in")
            expected = await lines_of(client, [run])
            small.set_faults(latency=0.2)
            # The first line's page came with the news that there are more: the next page is
            # on its way, and takes a while.
            first = await take(watcher, 1)
            pending = asyncio.create_task(watcher.__anext__())
            for _ in range(5):
                await asyncio.sleep(0)  # the consumer now waits for that page
            assert not pending.done()
            await watcher.aclose()
            with pytest.raises(StopAsyncIteration):
                await asyncio.wait_for(pending, 10)
            assert not aiotofu_tasks()
            token = watcher.resume_token
        small.set_faults(latency=0.0)
        async with client.logs.watch(resume_token=token, poll_interval=0.01) as resumed:
            rest = await take(resumed, len(expected) - 1)
    assert ids(first + rest) == ids(expected)


# -- the command line ------------------------------------------------------------------------


@pytest.mark.slow
def test_the_logs_watch_command_streams_lines_of_new_runs(threaded_emu: Emulator) -> None:
    env = {
        **os.environ,
        "TOFUPILOT_API_KEY": threaded_emu.api_key,
        "TOFUPILOT_URL": threaded_emu.base_url,
    }
    command = [sys.executable, "-m", "aiotofu", "logs", "watch", "--poll-interval", "0.05"]
    process = subprocess.Popen(
        [*command, "--level", "INFO"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    try:
        # The watch starts from the newest run: wait until the command has asked for it.
        for _ in range(500):
            if any("/v2/runs" in request.path_qs for request in threaded_emu.log):
                break
            time.sleep(0.02)
        # Run a day ago, uploaded now: a watch by the lines' time would not show it.
        run = threaded_emu.add_run(started_at=datetime.now(UTC) - timedelta(days=1))
        line = process.stdout.readline()
        assert f'"id": "{run}"' in line
        assert '"level": "INFO"' in line
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=20)
    assert process.returncode == 130
    assert "--resume " in err
    assert threaded_emu.api_key not in err

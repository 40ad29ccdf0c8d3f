"""watch(lookback=...): late records anywhere in the window, deletions, storms and resumes, each
record once; a poll that finds the window unchanged decodes only what is new; and the start on a
server that stores microseconds but answers milliseconds."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import pytest

import aiotofu
from aiotofu.testing import Emulator, VirtualClock

from .test_watch import take

T0 = datetime(2031, 1, 1, tzinfo=timezone.utc)
STEP = timedelta(milliseconds=10)  # 100 batches a second
WINDOW = timedelta(seconds=10)


def decoded(emu: Emulator, since: int = 0) -> list[int]:
    """The records each list request of batches answered (what the client decoded), from the
    ``since``-th request of the log on."""
    answered = []
    for request in emu.log[since:]:
        url = urlsplit(request.path_qs)
        if url.path.endswith("/v2/batches") and request.status == 200:
            cursor = int(parse_qs(url.query).get("cursor", ["0"])[0])
            answered.append(request.rows_scanned - cursor)
    return answered


async def seeded(emu: Emulator, count: int) -> datetime:
    """``count`` batches 10 ms apart from T0 (the window the watch starts with); the last time."""
    for k in range(count):
        emu.add_batch(f"OLD-{k:04d}", created_at=T0 + k * STEP)
    return T0 + (count - 1) * STEP


async def test_a_poll_that_finds_its_window_unchanged_decodes_only_what_is_new(
    clock: VirtualClock,
) -> None:
    """Found by profiling: a look-back re-read and decoded its whole window on every poll
    (400 records per poll here, for 3 new ones). Now one small request checks the window and
    the poll reads on from the newest record: what a poll decodes is bounded by what it yields."""
    async with Emulator() as emu, emu.client() as client:
        newest = await seeded(emu, 400)
        async with client.batches.watch(poll_interval=1.0, lookback=WINDOW) as watcher:
            start = len(emu.log)
            numbers = []
            for poll in range(5):
                for k in range(3):
                    emu.add_batch(f"NEW-{poll}-{k}", created_at=newest + (3 * poll + k + 1) * STEP)
                numbers += [b.number for b in await take(watcher, 3)]
            per_request = decoded(emu, start)
    assert numbers == [f"NEW-{p}-{k}" for p in range(5) for k in range(3)]
    # Per poll: the check (2 records) and the new records (3), each poll's last page included.
    assert sum(per_request) <= 5 * (2 + 3 + 2)
    assert max(per_request) <= 3 + 2


@pytest.mark.parametrize("where", [0, 1, 200, 398, 399])
async def test_a_late_record_anywhere_in_the_window_is_yielded_once_at_the_next_poll(
    clock: VirtualClock, where: int
) -> None:
    async with Emulator() as emu, emu.client() as client:
        newest = await seeded(emu, 400)
        async with client.batches.watch(poll_interval=1.0, lookback=WINDOW) as watcher:
            emu.add_batch("ON-TIME", created_at=newest + STEP)
            [on_time] = await take(watcher, 1)
            # Committed late, stamped among the records the watch already knows (or with the
            # newest one's time, where the API puts it among them by id).
            emu.add_batch("LATE", created_at=T0 + where * STEP + timedelta(milliseconds=where % 2))
            emu.add_batch("NEXT", created_at=on_time.created_at + STEP)
            got = await take(watcher, 2)
            emu.add_batch("AFTER", created_at=on_time.created_at + 2 * STEP)
            [after] = await take(watcher, 1)
    assert sorted(b.number for b in got) == ["LATE", "NEXT"]
    assert after.number == "AFTER"


async def test_a_late_record_at_the_newest_instant_is_yielded_once(clock: VirtualClock) -> None:
    async with Emulator() as emu, emu.client() as client:
        newest = await seeded(emu, 50)
        async with client.batches.watch(poll_interval=1.0, lookback=WINDOW) as watcher:
            emu.add_batch("TIE-1", created_at=newest + STEP)
            [tie] = await take(watcher, 1)
            emu.add_batch("TIE-2", created_at=tie.created_at)
            emu.add_batch("TIE-3", created_at=tie.created_at)
            got = await take(watcher, 2)
            emu.add_batch("AFTER", created_at=tie.created_at + STEP)
            [after] = await take(watcher, 1)
    assert sorted(b.number for b in got) == ["TIE-2", "TIE-3"]
    assert after.number == "AFTER"


async def test_a_deletion_in_the_window_loses_and_repeats_nothing(clock: VirtualClock) -> None:
    """A deletion shifts the window's count: the watch reads its window again, yields nothing
    twice, forgets the deleted record, and a poll after that is cheap again."""
    async with Emulator() as emu, emu.client() as client:
        newest = await seeded(emu, 300)
        # Pages of 100, as the bound below counts: the first poll after a re-read goes on from
        # where the re-read's last page began (in pages of 50, 51 records, once; then 2).
        async with client.batches.watch(
            poll_interval=1.0, lookback=WINDOW, page_size=100
        ) as watcher:
            emu.delete_batch("OLD-0100")
            emu.add_batch("NEXT", created_at=newest + STEP)
            [following] = await take(watcher, 1)
            emu.add_batch("LATE", created_at=T0 + 150 * STEP + timedelta(milliseconds=3))
            [late] = await take(watcher, 1)
            start = len(emu.log)
            emu.add_batch("AFTER", created_at=following.created_at + STEP)
            [after] = await take(watcher, 1)
            cheap = decoded(emu, start)
            assert watcher.state is not None
            remembered = {record_id for record_id, _ in watcher.state.recent}
    assert (following.number, late.number, after.number) == ("NEXT", "LATE", "AFTER")
    assert late.id in remembered
    assert following.id in remembered
    # (+ 4: a page reaches back past the last record taken to the record before its tie
    # group, and as far as the groups the listing met at pages' ends needed.)
    assert sum(cheap) <= 2 + 1 + 2 + 4


async def test_a_late_record_hidden_by_a_deletion_in_the_same_poll_is_still_yielded(
    clock: VirtualClock,
) -> None:
    """One deletion and one late record in the window between two polls leave its count as it
    was: no count can tell. The watch reads its whole window again every so often (after
    ``AUDIT_POLLS`` polls that found nothing, or once the window has moved by its own length)
    and keeps its window's floor until then, so that the late record is yielded, once."""
    async with Emulator() as emu, emu.client() as client:
        newest = await seeded(emu, 200)
        async with client.batches.watch(poll_interval=1.0, lookback=WINDOW) as watcher:
            emu.delete_batch("OLD-0150")
            emu.add_batch("HIDDEN", created_at=T0 + 20 * STEP + timedelta(milliseconds=1))
            [hidden] = await take(watcher, 1)
            emu.add_batch("NEXT", created_at=newest + STEP)
            [following] = await take(watcher, 1)
    assert (hidden.number, following.number) == ("HIDDEN", "NEXT")


async def test_the_window_moving_past_its_floor_keeps_a_hidden_late_record(
    clock: VirtualClock,
) -> None:
    """A hidden late record stamped near the window's old edge is not forgotten when the
    watch moves on by more than its look-back: the floor stays until the window is read."""
    async with Emulator() as emu, emu.client() as client:
        newest = await seeded(emu, 100)
        async with client.batches.watch(poll_interval=1.0, lookback=WINDOW) as watcher:
            emu.delete_batch("OLD-0090")
            emu.add_batch("HIDDEN", created_at=T0 + timedelta(milliseconds=1))
            emu.add_batch("FAR", created_at=newest + timedelta(seconds=30))
            got = await take(watcher, 2)
            emu.add_batch("AFTER", created_at=newest + timedelta(seconds=31))
            [after] = await take(watcher, 1)
    assert sorted(b.number for b in got) == ["FAR", "HIDDEN"]
    assert after.number == "AFTER"


async def test_a_storm_in_one_instant_with_a_look_back_is_seen_once_each(
    clock: VirtualClock,
) -> None:
    storm = 1200  # more than a watch remembers of one instant by id in `seen`
    async with Emulator() as emu, emu.client() as client:
        newest = await seeded(emu, 20)
        async with client.batches.watch(poll_interval=1.0, lookback=WINDOW) as watcher:
            at = newest + STEP
            for k in range(storm):
                emu.add_batch(f"STORM-{k:05d}", created_at=at)
            got = await take(watcher, storm)
            emu.add_batch("ONE-MORE", created_at=at)
            emu.add_batch("LATE", created_at=T0 + 5 * STEP + timedelta(milliseconds=2))
            emu.add_batch("AFTER", created_at=at + STEP)
            rest = await take(watcher, 3)
    assert len({b.id for b in got}) == storm
    assert sorted(b.number for b in rest) == ["AFTER", "LATE", "ONE-MORE"]


async def test_a_look_back_resumes_from_its_token_with_a_late_record_after(
    clock: VirtualClock,
) -> None:
    async with Emulator() as emu, emu.client() as client:
        newest = await seeded(emu, 300)
        async with client.batches.watch(poll_interval=1.0, lookback=WINDOW) as watcher:
            emu.add_batch("R-0", created_at=newest + STEP)
            emu.add_batch("R-1", created_at=newest + 2 * STEP)
            first = await take(watcher, 1)
            token = watcher.resume_token
        emu.add_batch("LATE", created_at=T0 + 7 * STEP + timedelta(milliseconds=1))
        async with client.batches.watch(resume_token=token, poll_interval=1.0) as resumed:
            rest = await take(resumed, 2)
            emu.add_batch("R-2", created_at=newest + 3 * STEP)
            [last] = await take(resumed, 1)
    assert [b.number for b in first] == ["R-0"]
    assert sorted(b.number for b in rest) == ["LATE", "R-1"]
    assert last.number == "R-2"


@pytest.mark.parametrize("lookback", [0.0, 5.0])
async def test_a_watch_started_on_a_microsecond_server_yields_nothing_that_existed(
    clock: VirtualClock, lookback: float
) -> None:
    """Found in review: the start asked for the newest instant with ``created_before=newest``,
    which a server that stores microseconds and answers milliseconds reads as "before
    .123000": the records stored at .123456 were left out of what existed, and the first poll
    yielded them as new."""
    async with Emulator(timestamp_precision="us") as emu, emu.client() as client:
        for k in range(3):
            emu.add_batch(f"OLD-{k}", created_at=T0 + timedelta(microseconds=123_456 + k))
        async with client.batches.watch(poll_interval=1.0, lookback=lookback) as watcher:
            emu.add_batch("NEW", created_at=T0 + timedelta(seconds=1, microseconds=42))
            got = await take(watcher, 1)
    assert [b.number for b in got] == ["NEW"]


def test_a_sync_watch_with_a_look_back_yields_a_late_record(threaded_emu: Emulator) -> None:
    with aiotofu.SyncClient(threaded_emu.api_key, base_url=threaded_emu.base_url) as client:
        watch = client.batches.watch(poll_interval=0.01, lookback=timedelta(minutes=5))
        with watch as watcher:
            threaded_emu.add_batch("ON-TIME")
            on_time = next(watcher)
            threaded_emu.add_batch("LATE", created_at=on_time.created_at - timedelta(seconds=3))
            late = next(watcher)
    assert (on_time.number, late.number) == ("ON-TIME", "LATE")


async def test_a_look_back_token_made_before_the_floor_existed_still_resumes(
    clock: VirtualClock,
) -> None:
    """Tokens of earlier versions carry no ``floor``: they mean ``since - lookback``."""
    from aiotofu._tokens import decode_token, encode_token

    async with Emulator() as emu, emu.client() as client:
        newest = await seeded(emu, 50)
        async with client.batches.watch(poll_interval=1.0, lookback=WINDOW) as watcher:
            emu.add_batch("R-0", created_at=newest + STEP)
            await take(watcher, 1)
            payload = decode_token(watcher.resume_token)
        del payload["floor"]
        emu.add_batch("LATE", created_at=T0 + 3 * STEP + timedelta(milliseconds=1))
        emu.add_batch("R-1", created_at=newest + 2 * STEP)
        token = encode_token(payload)
        async with client.batches.watch(resume_token=token, poll_interval=1.0) as resumed:
            rest = await take(resumed, 2)
    assert sorted(b.number for b in rest) == ["LATE", "R-1"]

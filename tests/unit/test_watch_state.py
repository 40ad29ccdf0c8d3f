"""WatchState: which batch a watch yields, and what it remembers (pure)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from aiotofu._pagestate import Anchor, Position
from aiotofu._watch import MAX_REMEMBERED, WatchState

T0 = datetime(2024, 5, 1, 12, tzinfo=timezone.utc)


def test_a_newer_batch_moves_the_watch_forward() -> None:
    state = WatchState(T0, ("a",))
    later = state.after("b", T0 + timedelta(seconds=1))
    assert later == WatchState(T0 + timedelta(seconds=1), ("b",))


def test_a_batch_at_the_same_instant_is_yielded_once() -> None:
    state = WatchState(T0, ("a",))
    assert state.after("a", T0) is None
    tie = state.after("c", T0)
    assert tie == WatchState(T0, ("a", "c"))
    assert tie is not None
    assert tie.after("c", T0) is None


def test_an_older_batch_is_never_yielded() -> None:
    assert WatchState(T0).after("old", T0 - timedelta(microseconds=1)) is None


def test_an_empty_organisation_takes_the_first_batch() -> None:
    assert WatchState(None).after("first", T0) == WatchState(T0, ("first",))


def test_since_given_by_the_caller_is_exclusive() -> None:
    state = WatchState.exclusive(T0)
    assert state.after("at", T0) is None
    assert state.after("after", T0 + timedelta(microseconds=1)) is not None


def test_memory_of_one_instant_is_bounded_and_counts_what_it_forgets() -> None:
    state = WatchState(T0, tuple(str(i) for i in range(MAX_REMEMBERED)))
    nxt = state.after("new", T0)
    assert nxt is not None
    assert len(nxt.seen) == MAX_REMEMBERED
    assert (nxt.seen[-1], nxt.skipped) == ("new", 1)
    # The next poll starts at the first one remembered, verified where the count puts it.
    # (the others it remembers are known taken, wherever the server's tie order puts them).
    assert nxt.poll_from() == (
        T0,
        Position(2, anchor=Anchor("1", 1, T0, frozenset(), 2), known=nxt.seen[1:]),
    )
    # While every id of the instant is known, the poll starts after the last one.
    assert state.poll_from() == (
        T0,
        Position(
            MAX_REMEMBERED,
            anchor=Anchor(str(MAX_REMEMBERED - 1), MAX_REMEMBERED - 1, T0, frozenset(state.seen)),
        ),
    )
    assert nxt.after("1", T0) is None


def test_without_look_back_a_late_batch_is_not_yielded() -> None:
    state = WatchState(T0, ("a",))
    assert state.after("late", T0 - timedelta(seconds=1)) is None


def test_a_look_back_yields_a_late_batch_once_within_its_window() -> None:
    window = timedelta(seconds=10)
    state = WatchState(T0, ("a",), lookback=window, recent=(("a", T0),))
    assert state.poll_from() == (T0 - window, Position(0))
    late = state.after("late", T0 - timedelta(seconds=3))
    assert late is not None
    assert late.since == T0  # the watch does not move back
    assert late.after("late", T0 - timedelta(seconds=3)) is None
    assert late.after("a", T0) is None
    assert state.after("too-late", T0 - timedelta(seconds=11)) is None


def test_the_look_back_memory_forgets_what_left_the_window_once_it_is_read_again() -> None:
    window = timedelta(seconds=10)
    state = WatchState(T0, ("a",), lookback=window, recent=(("a", T0),))
    moved = state.after("b", T0 + timedelta(seconds=30))
    assert moved is not None
    # Forgotten only once the window has been read whole again (a deletion and a late record
    # between two polls leave its count as it was: the floor stays until that read).
    assert moved.after_full_read({"a", "b"}).recent == (("b", T0 + timedelta(seconds=30)),)


def test_taking_a_record_costs_the_same_whatever_the_window_holds() -> None:
    """Found by profiling: every record taken copied and scanned the look-back window (a tuple
    of every id in it), so a watch with a look-back cost O(window) per record, O(window²) per
    window. Taking a record now allocates a small, constant amount, whether the window holds
    ten records or fifty thousand (measured in bytes allocated, not time)."""
    import tracemalloc

    def peak_per_record(size: int) -> int:
        window = timedelta(hours=1)
        times = [T0 + timedelta(milliseconds=k) for k in range(size)]
        state = WatchState(
            times[-1],
            (str(size - 1),),
            lookback=window,
            recent=tuple(zip(map(str, range(size)), times, strict=True)),
        )
        # Warm the state (what a first record may build once), then measure the next ones.
        for k in range(3):
            nxt = state.after(f"warm-{k}", times[-1] + timedelta(milliseconds=k + 1))
            assert nxt is not None
            state = nxt
        tracemalloc.start()
        try:
            peak = 0
            for k in range(20):
                tracemalloc.reset_peak()
                before = tracemalloc.get_traced_memory()[0]
                late = state.after(f"late-{k}", T0 + timedelta(microseconds=k + 1))
                assert late is not None
                nxt = late.after(f"new-{k}", times[-1] + timedelta(seconds=1 + k))
                assert nxt is not None
                peak = max(peak, tracemalloc.get_traced_memory()[1] - before)
                state = nxt
        finally:
            tracemalloc.stop()
        return peak

    small, large = peak_per_record(10), peak_per_record(50_000)
    assert large < 20_000, large  # a copy of the window alone is 400 000 bytes
    assert large <= 2 * small + 4_000


def test_a_full_read_of_the_window_forgets_the_deleted_and_moves_the_floor() -> None:
    window = timedelta(seconds=10)
    state = WatchState(T0, ("a",), lookback=window, recent=(("old", T0 - window), ("a", T0)))
    moved = state.after("b", T0 + timedelta(seconds=30))
    assert moved is not None
    # Until the window is read whole again, its floor stays: a late record there is yielded.
    assert moved.after("late", T0 - timedelta(seconds=5)) is not None
    assert moved.audit_due
    read = moved.after_full_read({"b", "a"})
    assert read.recent == (("b", T0 + timedelta(seconds=30)),)
    assert read.after("late", T0 - timedelta(seconds=5)) is None
    assert not read.audit_due

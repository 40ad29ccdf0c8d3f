"""WatchState: which batch a watch yields, and what it remembers (pure)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from aiotofu import Batch
from aiotofu._watch import MAX_REMEMBERED, WatchState

T0 = datetime(2024, 5, 1, 12, tzinfo=timezone.utc)


def batch(batch_id: str, at: datetime) -> Batch:
    return Batch(id=batch_id, number=batch_id, created_at=at, unit_count=0)


def test_a_newer_batch_moves_the_watch_forward() -> None:
    state = WatchState(T0, frozenset({"a"}))
    later = state.after(batch("b", T0 + timedelta(seconds=1)))
    assert later == WatchState(T0 + timedelta(seconds=1), frozenset({"b"}))


def test_a_batch_at_the_same_instant_is_yielded_once() -> None:
    state = WatchState(T0, frozenset({"a"}))
    assert state.after(batch("a", T0)) is None
    tie = state.after(batch("c", T0))
    assert tie == WatchState(T0, frozenset({"a", "c"}))
    assert tie is not None
    assert tie.after(batch("c", T0)) is None


def test_an_older_batch_is_never_yielded() -> None:
    assert WatchState(T0).after(batch("old", T0 - timedelta(microseconds=1))) is None


def test_an_empty_organisation_takes_the_first_batch() -> None:
    assert WatchState(None).after(batch("first", T0)) == WatchState(T0, frozenset({"first"}))


def test_since_given_by_the_caller_is_exclusive() -> None:
    state = WatchState.exclusive(T0)
    assert state.after(batch("at", T0)) is None
    assert state.after(batch("after", T0 + timedelta(microseconds=1))) is not None


def test_memory_of_one_instant_is_bounded() -> None:
    state = WatchState(T0, frozenset(str(i) for i in range(MAX_REMEMBERED)))
    nxt = state.after(batch("new", T0))
    assert nxt is not None
    assert nxt.seen == frozenset({"new"})

"""The log watch's pieces that need no server: its surface is all of Watcher's, and every log
filter is either a run filter (narrowing the runs watched) or a filter of the lines."""

from __future__ import annotations

import inspect
from datetime import datetime, timezone

import attrs

import aiotofu
from aiotofu._log_watch import LINE_FILTERS, RUN_FILTERS, LogWatcher, LogWatchState, run_filters
from aiotofu._watch import Watcher, WatchState
from aiotofu.endpoints import LogFilters, RunFilters


def test_the_log_watcher_overrides_every_public_member_of_watcher() -> None:
    """LogWatcher does not run Watcher.__init__: a member it inherited would fail at runtime."""
    public = {
        name
        for name, _ in inspect.getmembers(Watcher)
        if not name.startswith("_")
        or name in ("__aiter__", "__anext__", "__aenter__", "__aexit__", "__repr__")
    }
    assert public >= {"aclose", "resume_token", "since", "state", "token_at"}
    assert public <= set(vars(LogWatcher)), sorted(public - set(vars(LogWatcher)))


def test_every_log_filter_is_a_run_filter_or_a_line_filter() -> None:
    names = [name for name, _ in LogFilters.declared()]
    assert sorted(names) == sorted([*RUN_FILTERS, *LINE_FILTERS])
    assert set(RUN_FILTERS).isdisjoint(LINE_FILTERS)
    run_names = {name for name, _ in RunFilters.declared()}
    assert set(RUN_FILTERS.values()) <= run_names


def test_run_filters_carry_the_log_watch_filters_over_to_the_runs_endpoint() -> None:
    filters = LogFilters(
        run_ids="R-1",
        run_outcomes=["FAIL", "ERROR"],
        samples="golden",
        levels="ERROR",
        search_query="failed",
        created_by_station_ids="S-1",
    )
    assert run_filters(filters) == RunFilters(
        ids="R-1", outcomes=["FAIL", "ERROR"], samples="golden", created_by_station_ids="S-1"
    )
    assert run_filters(LogFilters(levels="INFO")) == RunFilters()


def test_a_log_watch_state_reads_as_its_runs_watch_state() -> None:
    runs = WatchState(datetime(2024, 1, 1, tzinfo=timezone.utc), ("R-1",), 2)
    state = LogWatchState.of(runs, "R-1", None)
    assert isinstance(state, WatchState)
    assert state.runs is runs
    assert {f.name: getattr(state, f.name) for f in attrs.fields(WatchState)} == attrs.asdict(
        runs, recurse=False
    )


def test_the_returned_watcher_is_a_watcher_of_logs() -> None:
    client = aiotofu.Client("tp-secret-key")
    watcher = client.logs.watch(levels="ERROR")
    assert isinstance(watcher, LogWatcher)
    assert isinstance(watcher, aiotofu.Watcher)
    assert "tp-secret-key" not in repr(watcher)
    assert repr(watcher) == "<aiotofu.Watcher of logs, not started>"

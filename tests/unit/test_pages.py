"""The query string of each page a listing asks for (``_pages.EndpointPages.params``): the pin
and a window's start bound the listing, a tick late where the server may store finer times than
it answers with, and never wider than the caller's own filters."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, cast

from aiotofu._pages import SPAN, EndpointPages
from aiotofu._pagestate import Fetch, Position
from aiotofu.endpoints.runs import RUNS, RunFilters

T = datetime(2024, 6, 1, 12, 0, 0, 123000, tzinfo=timezone.utc)


def params(filters: RunFilters, fetch: Fetch, **order: str) -> dict[str, list[str]]:
    query = RUNS.query(filters, **order)
    pages = EndpointPages(RUNS, query, cast(Any, None), 50)
    found: dict[str, list[str]] = {}
    for key, value in pages.params(fetch):
        found.setdefault(key, []).append(value)
    return found


def test_the_pin_is_sent_a_tick_late_so_that_it_holds_every_record_that_reads_as_it() -> None:
    # A record stored at .123456 reads .123: created_before=.123 would leave it out.
    sent = params(RunFilters(), Fetch(1, 51, pin=T), sort_by="created_at", sort_order="desc")
    assert sent["created_before"] == ["2024-06-01T12:00:00.124000Z"]


def test_the_pin_never_widens_the_callers_own_upper_bound() -> None:
    sent = params(
        RunFilters(created_before=T), Fetch(1, 51, pin=T), sort_by="created_at", sort_order="desc"
    )
    assert sent["created_before"] == ["2024-06-01T12:00:00.123000Z"]


def test_newest_first_a_window_starts_a_tick_after_its_key_within_the_callers_bound() -> None:
    start = T - timedelta(hours=1)
    sent = params(RunFilters(), Fetch(9, 51, pin=T, start=start), sort_order="desc")
    assert sent["started_before"] == ["2024-06-01T11:00:00.124000Z"]
    assert sent["created_before"] == ["2024-06-01T12:00:00.124000Z"]
    caller = RunFilters(started_before=start)
    sent = params(caller, Fetch(9, 51, pin=T, start=start), sort_order="desc")
    assert sent["started_before"] == ["2024-06-01T11:00:00.123000Z"]


def test_oldest_first_a_window_starts_at_its_key_and_never_before_the_callers_bound() -> None:
    start = T - timedelta(hours=1)
    sent = params(RunFilters(), Fetch(9, 51, start=start), sort_order="asc")
    assert sent["started_after"] == ["2024-06-01T11:00:00.123000Z"]
    later = T - timedelta(minutes=30)
    sent = params(RunFilters(started_after=later), Fetch(9, 51, start=start), sort_order="asc")
    assert sent["started_after"] == ["2024-06-01T11:30:00.123000Z"]


def test_only_orders_whose_key_bounds_a_request_re_anchor() -> None:
    def span(sort_by: str) -> int | None:
        query = RUNS.query(RunFilters(), sort_by=sort_by, sort_order="desc")
        return EndpointPages(RUNS, query, cast(Any, None), 50).source(Position(0)).span

    assert span("started_at") == SPAN
    assert span("created_at") == SPAN
    assert span("duration") is None


def test_the_readme_says_which_orders_are_depth_independent() -> None:
    """The table under "Deep listings" is what the endpoints declare, order by order."""
    from pathlib import Path

    from aiotofu.endpoints import ENDPOINTS

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = readme.split("| Depth-independent (re-anchored on) | Offset paging |")[1]
    rows = {}
    for line in table.splitlines()[2:]:
        if not line.startswith("|"):
            break
        names, anchored, offsets = (cell.strip() for cell in line.strip("|").split("|"))
        for name in names.replace("`", "").split(", "):
            rows[name] = (anchored, offsets)
    for endpoint in ENDPOINTS:
        pages = [
            sort
            for sort in endpoint.sorts
            if (key := endpoint.sort_key(sort)) is not None and key.bounds and not key.mutable
        ]
        anchored, offsets = rows[endpoint.name]
        assert [w.strip("`") for w in anchored.split(" (")[0].split(", ") if "`" in w] == pages
        if pages:
            assert offsets.replace("`", "").split(", ") == [
                sort for sort in endpoint.sorts if sort not in pages
            ]
    assert set(rows) == {endpoint.name for endpoint in ENDPOINTS}

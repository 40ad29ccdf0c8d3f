"""Datetimes at the edges of what Python can represent are refused where they are given.

An aware datetime near ``datetime.min`` or ``datetime.max`` may have no UTC form (``datetime.min``
at +14:00 is before year 1 in UTC), or no instant one microsecond past it (a watch starts at
the first instant after ``since``), or none ``lookback`` before it. Each used to pass validation
and raise a raw OverflowError while iterating; now every datetime filter of every endpoint, and
``watch(since=...)`` of every watchable resource, raises InvalidParameterError naming the
argument at the call, before any request.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

import aiotofu
from aiotofu._filters import Instant, Text
from aiotofu.cli import main
from aiotofu.endpoints import ENDPOINTS
from aiotofu.testing import MockTransport, Request, Response, json_response

UTC = timezone.utc
TICK = timedelta(microseconds=1)
OUT_OF_RANGE = {
    "max in UTC": datetime.max.replace(tzinfo=UTC),
    "min in UTC": datetime.min.replace(tzinfo=UTC),
    "min at +14:00": datetime.min.replace(tzinfo=timezone(timedelta(hours=14))),
    "max at -14:00": datetime.max.replace(tzinfo=timezone(timedelta(hours=-14))),
    "max at -00:00:01": datetime.max.replace(tzinfo=timezone(-timedelta(seconds=1))),
}
JUST_INSIDE = {
    "one tick after min": (datetime.min.replace(tzinfo=UTC) + TICK, "0001-01-01T00:00:00.000001Z"),
    "one tick before max": (datetime.max.replace(tzinfo=UTC) - TICK, "9999-12-31T23:59:59.999998Z"),
    "min at -14:00": (
        datetime.min.replace(tzinfo=timezone(timedelta(hours=-14))),
        "0001-01-01T14:00:00Z",
    ),
}
DATETIME_FILTERS = [
    pytest.param(endpoint, name, id=f"{endpoint.name}.{name}")
    for endpoint in ENDPOINTS
    for name, info in endpoint.filters.declared()
    if isinstance(info.kind, Instant)
]
WATCHABLE = [endpoint.name for endpoint in ENDPOINTS if endpoint.time_bounds]
EMPTY_PAGE = {"data": [], "meta": {"has_more": False, "next_cursor": None}}


def empty(request: Request) -> Response:
    return json_response(EMPTY_PAGE)


def required(endpoint: Any) -> dict[str, Any]:
    """A valid value for each filter the endpoint requires (``procedure_id``...)."""
    values = {}
    for name, info in endpoint.filters.declared():
        if info.required:
            assert isinstance(info.kind, Text), name  # the only kind required so far
            values[name] = "procedure-1"
    return values


def test_every_endpoint_has_datetime_filters_and_some_are_watchable() -> None:
    """The parametrisations below cover something: a filter kind renamed would empty them."""
    assert len(DATETIME_FILTERS) >= 20
    assert {"batches", "units", "runs"} <= set(WATCHABLE)


@pytest.mark.parametrize("value", OUT_OF_RANGE.values(), ids=OUT_OF_RANGE.keys())
@pytest.mark.parametrize(("endpoint", "name"), DATETIME_FILTERS)
async def test_every_datetime_filter_refuses_an_edge_instant_at_the_call(
    endpoint: Any, name: str, value: datetime
) -> None:
    transport = MockTransport(empty)
    async with aiotofu.Client("k", transport=transport) as client:
        listing = getattr(client, endpoint.name).list
        with pytest.raises(aiotofu.InvalidParameterError, match=f"^{name}: .*UTC") as caught:
            listing(**{name: value}, **required(endpoint))
    assert caught.value.parameter == name
    assert transport.requests == []


@pytest.mark.parametrize(("value", "wire"), JUST_INSIDE.values(), ids=JUST_INSIDE.keys())
@pytest.mark.parametrize(("endpoint", "name"), DATETIME_FILTERS)
async def test_every_datetime_filter_takes_the_instants_just_inside_and_sends_them(
    endpoint: Any, name: str, value: datetime, wire: str
) -> None:
    transport = MockTransport(empty)
    async with aiotofu.Client("k", transport=transport) as client:
        listing = getattr(client, endpoint.name).list(**{name: value}, **required(endpoint))
        assert await listing.collect() == []
    assert (name, wire) in transport.requests[0].query


@pytest.mark.parametrize("value", OUT_OF_RANGE.values(), ids=OUT_OF_RANGE.keys())
@pytest.mark.parametrize("resource", WATCHABLE)
async def test_every_watch_refuses_an_edge_since_at_the_call(
    resource: str, value: datetime
) -> None:
    transport = MockTransport(empty)
    async with aiotofu.Client("k", transport=transport) as client:
        with pytest.raises(aiotofu.InvalidParameterError, match="^since: .*UTC") as caught:
            getattr(client, resource).watch(since=value)
    assert caught.value.parameter == "since"
    assert transport.requests == []


@pytest.mark.parametrize("resource", WATCHABLE)
async def test_a_watch_refuses_a_since_whose_lookback_reaches_before_year_1(
    resource: str, clock: Any
) -> None:
    """The first poll reads from ``lookback`` before the first instant after ``since``."""
    since = datetime.min.replace(tzinfo=UTC) + timedelta(seconds=2)

    def one_poll(request: Request) -> Response:
        """Answer the first poll with nothing, then end the (endless) watch with an error."""
        if len(transport.requests) > 1:
            raise aiotofu.TransportError("enough")
        return json_response(EMPTY_PAGE)

    transport = MockTransport(one_poll)
    async with aiotofu.Client("k", transport=transport, retry=None) as client:
        watch = getattr(client, resource).watch
        with pytest.raises(aiotofu.InvalidParameterError, match="^since: .*lookback") as caught:
            watch(since=since, lookback=timedelta(seconds=3))
        assert caught.value.parameter == "since"
        assert transport.requests == []
        # Within reach: the first poll asks from one second after year 1 began (the window's
        # floor, to the millisecond: what the API reads of it, and what the watch counts from).
        watcher = watch(since=since, lookback=timedelta(seconds=1), poll_interval=1.0)
        async with watcher:
            with pytest.raises(aiotofu.TransportError, match="enough"):
                await watcher.__anext__()
    after = {key: value for key, value in transport.requests[0].query if key.endswith("_after")}
    assert list(after.values()) == ["0001-01-01T00:00:01Z"]


def test_the_command_line_names_the_flag_of_an_edge_instant(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["batches", "list", "--api-key", "k", "--created-after", "0001-01-01T00:00:00+14:00"]
    assert main(argv) != 0
    _, err = capsys.readouterr()
    assert "created" in err
    assert "UTC" in err
    assert len(err.strip().splitlines()) == 1

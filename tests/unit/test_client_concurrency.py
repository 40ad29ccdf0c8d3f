"""The client's concurrency options (``adaptive``, ``rate_limit``) through a MockTransport and a
virtual clock: exact waits, one controller per client, the limit reported with each retry."""

from __future__ import annotations

import asyncio
import itertools
import math
from typing import Any

import pytest

import aiotofu
from aiotofu.testing import MockTransport, Request, Response, VirtualClock, json_response


def page(cursor: int, size: int, total: int) -> Response:
    """A page of ``size`` batches from ``cursor`` of ``total``."""
    end = min(total, cursor + size)
    data = [
        {
            "id": f"b{i:04}",
            "number": f"N{i}",
            "created_at": f"2024-01-01T00:{59 - i // 60:02}:{59 - i % 60:02}Z",
            "unit_count": 0,
        }
        for i in range(cursor, end)
    ]
    more = end < total
    return json_response(
        {"data": data, "meta": {"has_more": more, "next_cursor": end if more else None}}
    )


def server(total: int, answers: dict[int, Response] | None = None) -> MockTransport:
    """Pages of ``total`` batches; ``answers`` (429s, 503s...) replace the answer to the
    request of that index (from 0)."""
    scripted = dict(answers or {})
    count = 0

    def handler(request: Request) -> Response:
        nonlocal count
        count += 1
        if count - 1 in scripted:
            return scripted[count - 1]
        query = dict(request.query)
        return page(int(query.get("cursor", "0")), int(query["limit"]), total)

    return MockTransport(handler)


async def test_rate_limit_spaces_every_request_of_the_client(clock: VirtualClock) -> None:
    transport = server(50)
    async with aiotofu.Client("k", transport=transport, rate_limit=4.0) as client:
        assert len(await client.batches.list(page_size=10, prefetch=0).collect()) == 50
    # Five requests (each later page starts one record early, to verify continuity).
    assert len(transport.requests) == 5
    assert clock.sleeps == pytest.approx([0.25] * 4)


async def test_rate_limit_holds_across_paginators(clock: VirtualClock) -> None:
    transport = server(30)
    async with aiotofu.Client("k", transport=transport, rate_limit=2.0) as client:
        await asyncio.gather(
            client.batches.list(page_size=10).collect(),
            client.batches.list(page_size=10, sort_order="asc").collect(),
        )
    # The clock moves only by the waits asked for: one request every half second, in all.
    assert len(transport.requests) == 6
    assert clock.now == pytest.approx(5 * 0.5)


async def test_a_429_narrows_the_window_and_opens_the_bucket(clock: VirtualClock) -> None:
    events: list[aiotofu.RetryEvent] = []
    limited = Response(429, {"Retry-After": "0.5"}, b"")
    transport = server(100, {1: limited})
    async with aiotofu.Client("k", transport=transport, on_retry=events.append) as client:
        assert len(await client.batches.list(page_size=10, prefetch=0).collect()) == 100
    [event] = events
    assert event.kind == "429"
    assert event.concurrency_limit == 3  # 4 * 0.9
    # One success in no time (measured over the shortest span, 0.1 s): 10/s, cut to 7/s.
    assert event.rate_limit == pytest.approx(7.0)
    # The pause, then a token each 1/7 s, growing on the cubic curve and with the successes.
    assert clock.sleeps[0] == pytest.approx(0.5)
    assert clock.sleeps[1] == pytest.approx(1 / 7, rel=0.05)
    assert all(b <= a + 1e-9 for a, b in itertools.pairwise(clock.sleeps[1:]))


async def test_a_429_before_any_success_only_pauses(clock: VirtualClock) -> None:
    events: list[aiotofu.RetryEvent] = []
    limited = Response(429, {"Retry-After": "0.5"}, b"")
    async with aiotofu.Client(
        "k", transport=server(100, {0: limited}), on_retry=events.append
    ) as client:
        assert len(await client.batches.list(page_size=10).collect()) == 100
    # No rate to cut from: the bucket stays closed, the window narrows, the pause holds.
    assert [(e.concurrency_limit, e.rate_limit) for e in events] == [(3, None)]
    assert clock.sleeps == [0.5]


async def test_without_adaptive_a_429_only_pauses(clock: VirtualClock) -> None:
    events: list[aiotofu.RetryEvent] = []
    limited = Response(429, {"Retry-After": "0.5"}, b"")
    transport = server(100, {1: limited})
    async with aiotofu.Client(
        "k", transport=transport, adaptive=False, on_retry=events.append
    ) as client:
        assert len(await client.batches.list(page_size=10).collect()) == 100
    assert [(e.concurrency_limit, e.rate_limit) for e in events] == [(4, None)]
    assert clock.sleeps == [0.5]


async def test_the_retry_event_reports_the_cap(clock: VirtualClock) -> None:
    events: list[aiotofu.RetryEvent] = []
    transport = server(10, {0: Response(503, {}, b"down")})
    async with aiotofu.Client(
        "k", transport=transport, rate_limit=20.0, on_retry=events.append
    ) as client:
        await client.batches.list().collect()
    assert [(e.kind, e.concurrency_limit, e.rate_limit) for e in events] == [("503", 3, 20.0)]


async def test_a_waiter_cancelled_in_the_queue_leaves_the_budget_whole(clock: VirtualClock) -> None:
    release = asyncio.Event()
    in_flight = 0

    async def handler(request: Request) -> Response:
        nonlocal in_flight
        in_flight += 1
        try:
            if dict(request.query)["sort_order"] == "asc":
                await release.wait()
            return page(0, 5, 5)
        finally:
            in_flight -= 1

    async with aiotofu.Client("k", transport=MockTransport(handler), max_concurrency=1) as client:
        holder = asyncio.create_task(client.batches.list(sort_order="asc").collect())
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert in_flight == 1
        queued = asyncio.create_task(client.batches.list().collect())
        await asyncio.sleep(0)
        queued.cancel()
        with pytest.raises(asyncio.CancelledError):
            await queued
        release.set()
        assert len(await holder) == 5
        # The slot the cancelled waiter never got is free for the next listing.
        assert len(await client.batches.list().collect()) == 5
        assert client._requester.control.in_flight == 0


@pytest.mark.parametrize("value", [0, -1.0, math.inf, math.nan, True, "5"])
def test_a_bad_rate_limit_is_refused(value: Any) -> None:
    with pytest.raises(aiotofu.InvalidParameterError, match="^rate_limit: "):
        aiotofu.Client("k", rate_limit=value)
    with pytest.raises(aiotofu.InvalidParameterError, match="^rate_limit: "):
        aiotofu.SyncClient("k", rate_limit=value)


@pytest.mark.parametrize("value", [1, None, "yes"])
def test_adaptive_must_be_a_bool(value: Any) -> None:
    with pytest.raises(aiotofu.InvalidParameterError, match="^adaptive: "):
        aiotofu.Client("k", adaptive=value)
    with pytest.raises(aiotofu.InvalidParameterError, match="^adaptive: "):
        aiotofu.SyncClient("k", adaptive=value)


def test_the_sync_client_passes_both_options_on() -> None:
    with aiotofu.SyncClient("k", adaptive=False, rate_limit=3) as client:
        control = client._client._requester.control
        assert (control.adaptive, control.rate_limit) == (False, 3.0)


async def test_each_page_event_carries_the_limits_in_force(clock: VirtualClock) -> None:
    pages: list[aiotofu.PageEvent] = []
    limited = Response(429, {"Retry-After": "0.5"}, b"")
    transport = server(40, {2: limited})
    async with aiotofu.Client(
        "k", transport=transport, max_concurrency=4, rate_limit=50.0, on_page=pages.append
    ) as client:
        await client.batches.list(page_size=10, prefetch=0).collect()
    # Before the 429, the ceiling; after it, the narrowed window; the cap throughout.
    assert pages[0].concurrency_limit == 4
    assert pages[-1].concurrency_limit is not None
    assert pages[-1].concurrency_limit < 4
    assert pages[0].rate_limit == 50.0
    assert all(event.rate_limit is not None and event.rate_limit <= 50.0 for event in pages)

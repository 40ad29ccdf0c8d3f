"""The requester's retry loop through a MockTransport: no socket, no aiohttp, exact events."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

import aiotofu
from aiotofu.testing import MockTransport, Request, Response, VirtualClock, json_response

RECORD = {"id": "a", "number": "N1", "created_at": "2024-01-15T10:30:00Z", "unit_count": 1}
LAST = {"data": [RECORD], "meta": {"has_more": False, "next_cursor": None}}


def scripted(*answers: Response | Exception) -> MockTransport:
    """A transport that gives these answers in order (an exception is raised instead)."""
    queue = list(answers)

    def handler(request: Request) -> Response:
        answer = queue.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return MockTransport(handler)


async def test_transient_failures_are_retried_and_reported_as_events(
    clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    transport = scripted(
        Response(503, {"Retry-After": "3"}, b"maintenance"),
        aiotofu.TransportError("connection reset"),
        json_response(LAST),
    )
    events: list[aiotofu.RetryEvent] = []
    policy = aiotofu.RetryPolicy(jitter=False)
    caplog.set_level(logging.WARNING, logger="aiotofu")
    async with aiotofu.Client(
        "k", transport=transport, retry=policy, on_retry=events.append
    ) as client:
        assert [b.id for b in await client.batches.list().collect()] == ["a"]
    assert [(e.kind, e.attempt, e.attempts, e.wait, e.cursor) for e in events] == [
        ("503", 1, 5, 3.0, 0),
        ("transport", 2, 5, 1.0, 0),
    ]
    assert events[0].path == "/api/v2/batches"
    assert clock.sleeps == [3.0, 1.0]
    assert [record.retry for record in caplog.records] == events  # type: ignore[attr-defined]
    assert len(transport.requests) == 3


async def test_errors_that_are_not_transient_are_raised_at_once(clock: VirtualClock) -> None:
    body = {"message": "Bad request", "code": "BAD_REQUEST", "issues": []}
    transport = scripted(json_response(body, status=400))
    events: list[aiotofu.RetryEvent] = []
    async with aiotofu.Client("k", transport=transport, on_retry=events.append) as client:
        with pytest.raises(aiotofu.BadRequestError):
            await client.batches.list().collect()
    assert (events, clock.sleeps) == ([], [])


async def test_a_429_pauses_the_requests_queued_behind_it(clock: VirtualClock) -> None:
    answers: dict[str, list[Response]] = {
        "asc": [Response(429, {"Retry-After": "5"}, b""), json_response(LAST)],
        "desc": [json_response(LAST)],
    }
    started: list[tuple[str, float]] = []

    async def handler(request: Request) -> Response:
        order = dict(request.query)["sort_order"]
        started.append((order, clock.now))
        await asyncio.sleep(0)
        return answers[order].pop(0)

    async with aiotofu.Client("k", transport=MockTransport(handler), max_concurrency=1) as client:
        await asyncio.gather(
            client.batches.list(sort_order="asc").collect(),
            client.batches.list(sort_order="desc").collect(),
        )
    # The desc listing was queued behind the 429: it went out only after the pause.
    assert started[0] == ("asc", 0.0)
    assert ("desc", 5.0) in started


async def test_the_mock_transport_sees_the_exact_request(clock: VirtualClock) -> None:
    transport = scripted(json_response(LAST))
    async with aiotofu.Client("secret", transport=transport) as client:
        await client.batches.list(part_numbers=["P1", "P2"], page_size=7).collect()
    [request] = transport.requests
    assert request.url == "https://www.tofupilot.app/api/v2/batches"
    assert ("part_numbers", "P1") in request.query
    assert ("part_numbers", "P2") in request.query
    assert dict(request.query)["limit"] == "7"
    assert request.headers["Authorization"] == "Bearer secret"
    assert "secret" not in repr(request)


def test_bad_transport_arguments() -> None:
    with pytest.raises(aiotofu.InvalidParameterError, match="^handler: "):
        MockTransport("not callable")  # type: ignore[arg-type]
    with pytest.raises(aiotofu.InvalidParameterError, match="^on_retry: "):
        aiotofu.Client("k", on_retry=3)  # type: ignore[arg-type]


async def test_a_handler_that_answers_something_else_is_a_clear_type_error() -> None:
    def handler(request: Request) -> Any:
        return {"data": []}

    async with aiotofu.Client("k", transport=MockTransport(handler), retry=None) as client:
        with pytest.raises(TypeError, match="not a Response"):
            await client.batches.list().collect()


@pytest.mark.parametrize(
    ("answer", "on_page", "outcome"),
    [
        # A 404 is an answer: the server kept up (the window may grow on it).
        (json_response({"error": {"code": "NOT_FOUND", "message": "no"}}, 404), None, "ok"),
        # A hook that raises says nothing of the server's load.
        (json_response({"data": [], "meta": {"has_more": False}}), "raise", "failed"),
    ],
)
async def test_what_a_try_tells_the_concurrency_controller(
    monkeypatch: pytest.MonkeyPatch, answer: Response, on_page: str | None, outcome: str
) -> None:
    from aiotofu import _concurrency

    told: list[str] = []
    release = _concurrency.Controller.release

    def spy(self: _concurrency.Controller, ticket: Any, outcome: Any, now: float) -> None:
        told.append(outcome)
        release(self, ticket, outcome, now)

    def hook(event: aiotofu.PageEvent) -> None:
        raise RuntimeError("the hook failed")

    monkeypatch.setattr(_concurrency.Controller, "release", spy)
    client = aiotofu.Client(
        "key",
        transport=MockTransport(lambda request: answer),
        retry=None,
        on_page=hook if on_page else None,
    )
    async with client:
        with pytest.raises((aiotofu.TofuPilotError, RuntimeError)):
            await client.batches.list().collect()
    assert told == [outcome]

"""Client configuration and lifecycle, and the exact requests it sends (through a MockTransport:
no socket, no aiohttp; the aiohttp edge itself is tested in ``test_transport.py``)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

import pytest

import aiotofu
from aiotofu.testing import MockTransport, Request, Response, VirtualClock, json_response

URL = "https://www.tofupilot.app/api/v2/batches"
KEY = "tp-secret-key-123"
RECORD = {"id": "a", "number": "N1", "created_at": "2024-01-15T10:30:00Z", "unit_count": 1}


def body(data: list[Any], has_more: bool = False, next_cursor: int | None = None) -> dict[str, Any]:
    return {"data": data, "meta": {"has_more": has_more, "next_cursor": next_cursor}}


def scripted(answers: Iterable[Response | Exception]) -> MockTransport:
    """A transport that gives these answers in order (an exception is raised instead). A request
    past the last answer raises AssertionError: the listing fails, unless that request was a
    prefetch past the end, which the paginator discards."""
    queue = list(answers)

    def handler(request: Request) -> Response:
        assert queue, f"unexpected request {request!r}"
        answer = queue.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return MockTransport(handler)


def client(*answers: Response | Exception, **options: Any) -> tuple[aiotofu.Client, MockTransport]:
    """A client whose requests get these answers, and its transport (to read ``requests``)."""
    transport = scripted(answers)
    return aiotofu.Client(KEY, transport=transport, **options), transport


def query(request: Request) -> dict[str, list[str]]:
    """A request's query string as repeated keys: name -> every value, in order."""
    values: dict[str, list[str]] = {}
    for name, value in request.query:
        values.setdefault(name, []).append(value)
    return values


def one(request: Request, name: str) -> str:
    [value] = query(request)[name]
    return value


def test_a_missing_key_names_the_environment_variable() -> None:
    with pytest.raises(aiotofu.TofuPilotError, match="TOFUPILOT_API_KEY"):
        aiotofu.Client()


def test_key_and_url_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOFUPILOT_API_KEY", KEY)
    monkeypatch.setenv("TOFUPILOT_URL", "https://tofupilot.example.com/api/")
    client = aiotofu.Client()
    assert client.base_url == "https://tofupilot.example.com/api"


def test_arguments_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOFUPILOT_URL", "https://env.example.com/api")
    assert aiotofu.Client(KEY, base_url="https://arg.example.com/api").base_url == (
        "https://arg.example.com/api"
    )


def test_default_base_url() -> None:
    assert aiotofu.Client(KEY).base_url == "https://www.tofupilot.app/api"


def test_repr_never_shows_the_key() -> None:
    client = aiotofu.Client(KEY)
    assert KEY not in repr(client)
    assert KEY not in repr(client.batches)
    assert "www.tofupilot.app" in repr(client)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"api_key": ""}, "api_key"),
        ({"api_key": 5}, "api_key"),
        ({"api_key": "a\nb"}, "api_key"),
        ({"base_url": "ftp://x/api"}, "base_url"),
        ({"base_url": "www.tofupilot.app/api"}, "base_url"),
        ({"base_url": "https://user:pw@x/api"}, "base_url"),
        ({"base_url": 3}, "base_url"),
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"max_concurrency": 2.0}, "max_concurrency"),
        ({"retry": 3}, "retry"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": "30"}, "timeout"),
        ({"session": object()}, "session"),
    ],
)
def test_bad_configuration_is_an_invalid_parameter(kwargs: dict[str, Any], name: str) -> None:
    kwargs = {"api_key": KEY, **kwargs}
    with pytest.raises(aiotofu.InvalidParameterError, match=f"^{name}: ") as info:
        aiotofu.Client(**kwargs)
    assert KEY not in str(info.value)


def test_plain_http_to_a_remote_host_warns() -> None:
    with pytest.warns(UserWarning, match="clear text"):
        aiotofu.Client(KEY, base_url="http://tofupilot.example.com/api")


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]"])
def test_plain_http_to_loopback_is_fine(host: str) -> None:
    aiotofu.Client(KEY, base_url=f"http://{host}:8080/api")


async def test_the_request_carries_key_filters_and_rfc3339() -> None:
    tofu, transport = client(json_response(body([RECORD])))
    async with tofu:
        batches = await tofu.batches.list(
            ids=["a", "b"],
            part_numbers="PCB-V1.2",
            created_after=datetime(2024, 1, 15, 10, 30, tzinfo=timezone.utc),
            page_size=100,
        ).collect()
    assert [b.id for b in batches] == ["a"]
    [request] = transport.requests
    assert (request.method, request.url) == ("GET", URL)
    assert query(request)["ids"] == ["a", "b"]
    assert query(request)["part_numbers"] == ["PCB-V1.2"]
    assert one(request, "created_after") == "2024-01-15T10:30:00Z"
    assert (one(request, "limit"), one(request, "cursor")) == ("100", "0")
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert request.headers["User-Agent"].startswith("aiotofu/")


async def test_the_cursor_is_followed() -> None:
    tofu, transport = client(
        json_response(body([RECORD], True, 1)),
        # Every page after the first starts one record early, at the last record already taken.
        json_response(body([RECORD, {**RECORD, "id": "b"}], False, None)),
        retry=None,
    )
    async with tofu:
        ids = [b.id async for b in tofu.batches.list(page_size=1, sort_order="asc", prefetch=0)]
    assert ids == ["a", "b"]
    assert [(one(r, "cursor"), one(r, "limit")) for r in transport.requests] == [
        ("0", "1"),
        ("0", "2"),
    ]


async def test_newest_first_pins_created_before_after_the_first_page() -> None:
    newest = {**RECORD, "created_at": "2024-03-01T00:00:00.500Z"}
    tofu, transport = client(
        json_response(body([newest], True, 1)), json_response(body([RECORD], False, None))
    )
    async with tofu:
        await tofu.batches.list(page_size=1, prefetch=0).collect()
    first, second = transport.requests
    assert "created_before" not in query(first)
    assert one(second, "created_before") == "2024-03-01T00:00:00.501000Z"  # a tick later


async def test_sorting_by_number_asks_for_the_newest_record_first() -> None:
    tofu, transport = client(
        json_response(body([{**RECORD, "created_at": "2024-05-05T05:05:05Z"}], True, 1)),
        json_response(body([RECORD], False, None)),
    )
    async with tofu:
        await tofu.batches.list(sort_by="number", numbers=["N1"]).collect()
    probe, first = transport.requests
    assert (one(probe, "limit"), one(probe, "sort_by"), one(probe, "sort_order")) == (
        "1",
        "created_at",
        "desc",
    )
    assert query(probe)["numbers"] == ["N1"]
    assert one(first, "sort_by") == "number"
    assert one(first, "created_before") == "2024-05-05T05:05:05.001000Z"  # a tick later


async def test_oldest_first_needs_no_pin() -> None:
    tofu, transport = client(
        json_response(body([RECORD], True, 1)), json_response(body([RECORD], False, None))
    )
    async with tofu:
        await tofu.batches.list(sort_order="asc", page_size=1).collect()
    assert len(transport.requests) >= 2  # the pages, and any prefetched past the end
    assert all("created_before" not in query(r) for r in transport.requests)


async def test_bad_arguments_send_nothing() -> None:
    tofu, transport = client()
    async with tofu:
        with pytest.raises(aiotofu.InvalidParameterError, match="^page_size: "):
            tofu.batches.list(page_size=101)
        with pytest.raises(aiotofu.InvalidParameterError, match="^prefetch: "):
            tofu.batches.list(prefetch=-1)
        with pytest.raises(aiotofu.InvalidParameterError, match="^max_items: "):
            tofu.batches.list(max_items=-1)
        with pytest.raises(aiotofu.InvalidParameterError, match="^cursor: "):
            tofu.batches.list(cursor=2**53)
    assert transport.requests == []


HTML_503 = Response(503, {"Content-Type": "text/html"}, b"<html><title>503</title></html>")


async def test_retries_then_succeeds_with_the_exact_backoff(clock: VirtualClock) -> None:
    policy = aiotofu.RetryPolicy(initial_backoff=0.25, jitter=False)
    tofu, transport = client(
        HTML_503,
        aiotofu.TransportError("the server closed the connection"),
        json_response(body([RECORD])),
        retry=policy,
    )
    async with tofu:
        assert len(await tofu.batches.list().collect()) == 1
    assert clock.sleeps == [0.25, 0.5]
    assert len(transport.requests) == 3


async def test_retry_after_pauses_for_the_time_asked(clock: VirtualClock) -> None:
    tofu, _ = client(
        json_response({"message": "slow"}, status=429, headers={"Retry-After": "42"}),
        json_response(body([RECORD])),
    )
    async with tofu:
        await tofu.batches.list().collect()
    assert clock.sleeps == [42.0]


async def test_a_retry_after_above_the_cap_is_raised(clock: VirtualClock) -> None:
    tofu, _ = client(Response(429, {"Retry-After": "3600"}, b""))
    async with tofu:
        with pytest.raises(aiotofu.RateLimitError) as info:
            await tofu.batches.list().collect()
    assert info.value.retry_after == 3600.0
    assert clock.sleeps == []


async def test_when_attempts_run_out_the_last_error_is_raised(clock: VirtualClock) -> None:
    tofu, _ = client(
        json_response({"message": "one", "code": "INTERNAL_SERVER_ERROR"}, status=500),
        json_response({"message": "two", "code": "BAD_GATEWAY"}, status=502),
        Response(504, {"Content-Type": "text/plain"}, b""),
        retry=aiotofu.RetryPolicy(attempts=3),
    )
    async with tofu:
        with pytest.raises(aiotofu.ServerError) as info:
            await tofu.batches.list().collect()
    assert info.value.status == 504
    assert len(clock.sleeps) == 2


async def test_retry_none_raises_at_once(clock: VirtualClock) -> None:
    tofu, transport = client(Response(503, {}, b""), retry=None)
    async with tofu:
        with pytest.raises(aiotofu.ServerError):
            await tofu.batches.list().collect()
    assert clock.sleeps == []
    assert len(transport.requests) == 1


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409])
async def test_client_errors_are_not_retried(clock: VirtualClock, status: int) -> None:
    tofu, transport = client(
        json_response({"message": "no", "code": "X", "issues": []}, status=status)
    )
    async with tofu:
        with pytest.raises(aiotofu.APIError) as info:
            await tofu.batches.list().collect()
    assert info.value.status == status
    assert len(transport.requests) == 1
    assert clock.sleeps == []


async def test_retries_are_logged_without_the_key(
    clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    tofu, _ = client(Response(503, {}, b""), json_response(body([])))
    caplog.set_level(logging.DEBUG)
    async with tofu:
        await tofu.batches.list().collect()
    [record] = [r for r in caplog.records if r.name == "aiotofu" and r.levelno >= logging.WARNING]
    assert "retrying GET /api/v2/batches (cursor 0)" in record.getMessage()
    assert KEY not in caplog.text


async def test_the_own_session_is_closed_and_the_client_refuses_work_after() -> None:
    client = aiotofu.Client(KEY)
    await client.aclose()
    with pytest.raises(aiotofu.TofuPilotError, match="closed"):
        await client.batches.list().collect()
    await client.aclose()  # twice is fine


def test_a_client_used_in_a_second_event_loop_says_so() -> None:
    client = aiotofu.Client(KEY, base_url="http://127.0.0.1:9/api", retry=None)
    first = asyncio.new_event_loop()
    try:
        with pytest.raises(aiotofu.TransportError):  # nothing listens there, but now a session is
            first.run_until_complete(client.batches.list().collect())
        with pytest.raises(aiotofu.TofuPilotError, match="another event loop"):
            asyncio.run(client.batches.list().collect())
        first.run_until_complete(client.aclose())
    finally:
        first.close()

"""Client configuration and lifecycle, and the exact requests it sends (aioresponses)."""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import datetime, timezone
from typing import Any

import aiohttp
import pytest

import aiotofu
from aiotofu.testing import VirtualClock

URL = "https://www.tofupilot.app/api/v2/batches"
PATTERN = re.compile(r"^https://www\.tofupilot\.app/api/v2/batches\?.*$")
KEY = "tp-secret-key-123"
RECORD = {"id": "a", "number": "N1", "created_at": "2024-01-15T10:30:00Z", "unit_count": 1}


def body(data: list[Any], has_more: bool = False, next_cursor: int | None = None) -> dict[str, Any]:
    return {"data": data, "meta": {"has_more": has_more, "next_cursor": next_cursor}}


def sent(mocked: Any) -> list[Any]:
    """Every request aioresponses saw, in order: (url, kwargs)."""
    return [(url, call.kwargs) for (_, url), calls in mocked.requests.items() for call in calls]


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


async def test_the_request_carries_key_filters_and_rfc3339(mocked: Any) -> None:
    mocked.get(PATTERN, payload=body([RECORD]))
    async with aiotofu.Client(KEY) as client:
        batches = await client.batches.list(
            ids=["a", "b"],
            part_numbers="PCB-V1.2",
            created_after=datetime(2024, 1, 15, 10, 30, tzinfo=timezone.utc),
            page_size=100,
        ).collect()
    assert [b.id for b in batches] == ["a"]
    [(url, kwargs)] = sent(mocked)
    assert str(url).startswith(URL + "?")
    assert url.query.getall("ids") == ["a", "b"]
    assert url.query.getall("part_numbers") == ["PCB-V1.2"]
    assert url.query["created_after"] == "2024-01-15T10:30:00Z"
    assert (url.query["limit"], url.query["cursor"]) == ("100", "0")
    assert kwargs["headers"]["Authorization"] == f"Bearer {KEY}"
    assert kwargs["headers"]["User-Agent"].startswith("aiotofu/")


async def test_the_cursor_is_followed(mocked: Any) -> None:
    mocked.get(PATTERN, payload=body([RECORD], True, 1))
    # Every page after the first starts one record early, at the last record already taken.
    mocked.get(PATTERN, payload=body([RECORD, {**RECORD, "id": "b"}], False, None))
    async with aiotofu.Client(KEY, retry=None) as client:
        ids = [b.id async for b in client.batches.list(page_size=1, sort_order="asc", prefetch=0)]
    assert ids == ["a", "b"]
    assert [(u.query["cursor"], u.query["limit"]) for u, _ in sent(mocked)] == [
        ("0", "1"),
        ("0", "2"),
    ]


async def test_newest_first_pins_created_before_after_the_first_page(mocked: Any) -> None:
    newest = {**RECORD, "created_at": "2024-03-01T00:00:00.500Z"}
    mocked.get(PATTERN, payload=body([newest], True, 1))
    mocked.get(PATTERN, payload=body([RECORD], False, None))
    async with aiotofu.Client(KEY) as client:
        await client.batches.list(page_size=1, prefetch=0).collect()
    first, second = (u for u, _ in sent(mocked))
    assert "created_before" not in first.query
    assert second.query["created_before"] == "2024-03-01T00:00:00.500000Z"


async def test_sorting_by_number_asks_for_the_newest_record_first(mocked: Any) -> None:
    mocked.get(PATTERN, payload=body([{**RECORD, "created_at": "2024-05-05T05:05:05Z"}], True, 1))
    mocked.get(PATTERN, payload=body([RECORD], False, None))
    async with aiotofu.Client(KEY) as client:
        await client.batches.list(sort_by="number", numbers=["N1"]).collect()
    probe, first = (u for u, _ in sent(mocked))
    assert (probe.query["limit"], probe.query["sort_by"], probe.query["sort_order"]) == (
        "1",
        "created_at",
        "desc",
    )
    assert probe.query.getall("numbers") == ["N1"]
    assert first.query["sort_by"] == "number"
    assert first.query["created_before"] == "2024-05-05T05:05:05Z"


async def test_oldest_first_needs_no_pin(mocked: Any) -> None:
    mocked.get(PATTERN, payload=body([RECORD], True, 1))
    mocked.get(PATTERN, payload=body([RECORD], False, None))
    async with aiotofu.Client(KEY) as client:
        await client.batches.list(sort_order="asc", page_size=1).collect()
    assert all("created_before" not in u.query for u, _ in sent(mocked))


async def test_bad_arguments_send_nothing(mocked: Any) -> None:
    async with aiotofu.Client(KEY) as client:
        with pytest.raises(aiotofu.InvalidParameterError, match="^page_size: "):
            client.batches.list(page_size=101)
        with pytest.raises(aiotofu.InvalidParameterError, match="^prefetch: "):
            client.batches.list(prefetch=-1)
        with pytest.raises(aiotofu.InvalidParameterError, match="^max_items: "):
            client.batches.list(max_items=-1)
        with pytest.raises(aiotofu.InvalidParameterError, match="^cursor: "):
            client.batches.list(cursor=2**53)
    assert sent(mocked) == []


async def test_retries_then_succeeds_with_the_exact_backoff(
    mocked: Any, clock: VirtualClock
) -> None:
    mocked.get(
        PATTERN, status=503, body="<html><title>503</title></html>", content_type="text/html"
    )
    mocked.get(PATTERN, exception=aiohttp.ServerDisconnectedError())
    mocked.get(PATTERN, payload=body([RECORD]))
    policy = aiotofu.RetryPolicy(initial_backoff=0.25, jitter=False)
    async with aiotofu.Client(KEY, retry=policy) as client:
        assert len(await client.batches.list().collect()) == 1
    assert clock.sleeps == [0.25, 0.5]


async def test_retry_after_pauses_for_the_time_asked(mocked: Any, clock: VirtualClock) -> None:
    mocked.get(PATTERN, status=429, headers={"Retry-After": "42"}, payload={"message": "slow"})
    mocked.get(PATTERN, payload=body([RECORD]))
    async with aiotofu.Client(KEY) as client:
        await client.batches.list().collect()
    assert clock.sleeps == [42.0]


async def test_a_retry_after_above_the_cap_is_raised(mocked: Any, clock: VirtualClock) -> None:
    mocked.get(PATTERN, status=429, headers={"Retry-After": "3600"})
    async with aiotofu.Client(KEY) as client:
        with pytest.raises(aiotofu.RateLimitError) as info:
            await client.batches.list().collect()
    assert info.value.retry_after == 3600.0
    assert clock.sleeps == []


async def test_when_attempts_run_out_the_last_error_is_raised(
    mocked: Any, clock: VirtualClock
) -> None:
    mocked.get(PATTERN, status=500, payload={"message": "one", "code": "INTERNAL_SERVER_ERROR"})
    mocked.get(PATTERN, status=502, payload={"message": "two", "code": "BAD_GATEWAY"})
    mocked.get(PATTERN, status=504, body="", content_type="text/plain")
    async with aiotofu.Client(KEY, retry=aiotofu.RetryPolicy(attempts=3)) as client:
        with pytest.raises(aiotofu.ServerError) as info:
            await client.batches.list().collect()
    assert info.value.status == 504
    assert len(clock.sleeps) == 2


async def test_retry_none_raises_at_once(mocked: Any, clock: VirtualClock) -> None:
    mocked.get(PATTERN, status=503)
    async with aiotofu.Client(KEY, retry=None) as client:
        with pytest.raises(aiotofu.ServerError):
            await client.batches.list().collect()
    assert clock.sleeps == []


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409])
async def test_client_errors_are_not_retried(mocked: Any, clock: VirtualClock, status: int) -> None:
    mocked.get(PATTERN, status=status, payload={"message": "no", "code": "X", "issues": []})
    async with aiotofu.Client(KEY) as client:
        with pytest.raises(aiotofu.APIError) as info:
            await client.batches.list().collect()
    assert info.value.status == status
    assert len(sent(mocked)) == 1


async def test_a_timeout_is_a_transport_error(mocked: Any, clock: VirtualClock) -> None:
    mocked.get(PATTERN, exception=TimeoutError())
    async with aiotofu.Client(KEY, retry=None, timeout=2.5) as client:
        with pytest.raises(aiotofu.TransportError, match="within 2.5 s"):
            await client.batches.list().collect()


async def test_retries_are_logged_without_the_key(
    mocked: Any, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    mocked.get(PATTERN, status=503)
    mocked.get(PATTERN, payload=body([]))
    caplog.set_level(logging.DEBUG)
    async with aiotofu.Client(KEY) as client:
        await client.batches.list().collect()
    [record] = [r for r in caplog.records if r.name == "aiotofu"]
    assert "retrying GET /api/v2/batches (cursor 0)" in record.getMessage()
    assert KEY not in caplog.text


async def test_a_given_session_is_used_and_left_open(mocked: Any) -> None:
    mocked.get(PATTERN, payload=body([]))
    async with aiohttp.ClientSession() as session:
        async with aiotofu.Client(KEY, session=session) as client:
            await client.batches.list().collect()
        assert not session.closed


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

"""The aiohttp edge (``_transport.py``) under aioresponses: what reaches aiohttp, and how
aiohttp's own exceptions and sessions are handled. Everything above the edge is tested through
a MockTransport (``test_client.py``, ``test_requester.py``)."""

from __future__ import annotations

import inspect
import re
from typing import Any

import aiohttp
import pytest

import aiotofu
from aiotofu.testing import VirtualClock

URL = "https://www.tofupilot.app/api/v2/batches"
PATTERN = re.compile(r"^https://www\.tofupilot\.app/api/v2/batches\?.*$")
KEY = "tp-secret-key-123"
RECORD = {"id": "a", "number": "N1", "created_at": "2024-01-15T10:30:00Z", "unit_count": 1}
EMPTY = {"data": [], "meta": {"has_more": False, "next_cursor": None}}


def sent(mocked: Any) -> list[Any]:
    """Every request aioresponses saw, in order: (url, kwargs)."""
    return [(url, call.kwargs) for (_, url), calls in mocked.requests.items() for call in calls]


async def test_aiohttp_is_given_the_repeated_keys_and_the_headers_the_request_carries(
    mocked: Any,
) -> None:
    mocked.get(PATTERN, payload={**EMPTY, "data": [RECORD]})
    async with aiotofu.Client(KEY) as client:
        await client.batches.list(ids=["a", "b"], part_numbers="PCB/V1 2", page_size=10).collect()
    [(url, kwargs)] = sent(mocked)
    assert str(url).startswith(URL + "?")
    assert url.query.getall("ids") == ["a", "b"]
    assert url.query.getall("part_numbers") == ["PCB/V1 2"]
    assert (url.query["limit"], url.query["cursor"]) == ("10", "0")
    assert kwargs["headers"]["Authorization"] == f"Bearer {KEY}"
    assert kwargs["headers"]["User-Agent"].startswith("aiotofu/")


async def test_a_disconnect_is_a_transport_error_that_is_retried(
    mocked: Any, clock: VirtualClock
) -> None:
    mocked.get(PATTERN, exception=aiohttp.ServerDisconnectedError())
    mocked.get(PATTERN, payload={**EMPTY, "data": [RECORD]})
    policy = aiotofu.RetryPolicy(initial_backoff=0.25, jitter=False)
    async with aiotofu.Client(KEY, retry=policy) as client:
        assert len(await client.batches.list().collect()) == 1
    assert clock.sleeps == [0.25]
    assert len(sent(mocked)) == 2


async def test_a_timeout_is_a_transport_error(mocked: Any, clock: VirtualClock) -> None:
    mocked.get(PATTERN, exception=TimeoutError())
    async with aiotofu.Client(KEY, retry=None, timeout=2.5) as client:
        with pytest.raises(aiotofu.TransportError, match="within 2.5 s"):
            await client.batches.list().collect()


async def test_a_given_session_is_used_and_left_open(mocked: Any) -> None:
    mocked.get(PATTERN, payload=EMPTY)
    async with aiohttp.ClientSession() as session:
        async with aiotofu.Client(KEY, session=session) as client:
            await client.batches.list().collect()
        assert not session.closed
    assert len(sent(mocked)) == 1


async def test_hooked_says_whether_the_session_calls_trace_hooks(mocked: Any) -> None:
    """Where the session has trace configs (OpenTelemetry's aiohttp instrumentation adds one
    to every session made while it is on), a request's context may be read by them; without
    any, it cannot. Before the session is made, it may."""
    from aiotofu._transport import AiohttpTransport

    mocked.get(PATTERN, payload=EMPTY)
    made = AiohttpTransport(None, 5.0)
    assert made.hooked()
    async with aiotofu.Client(KEY) as client:  # a session of its own, made on the first request
        await client.batches.list().collect()
        assert client._transport.hooked() is False  # type: ignore[attr-defined]
    async with aiohttp.ClientSession(trace_configs=[aiohttp.TraceConfig()]) as traced:
        assert AiohttpTransport(traced, 5.0).hooked()
    async with aiohttp.ClientSession() as plain:
        assert not AiohttpTransport(plain, 5.0).hooked()

    async def middleware(request: Any, handler: Any) -> Any:
        return await handler(request)

    if "middlewares" in inspect.signature(aiohttp.ClientSession).parameters:  # aiohttp 3.12 on
        async with aiohttp.ClientSession(middlewares=(middleware,)) as wrapped:
            assert AiohttpTransport(wrapped, 5.0).hooked()

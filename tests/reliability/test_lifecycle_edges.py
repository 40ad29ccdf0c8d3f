"""The edges of the lifecycle found by trying aiotofu as a user would: SyncClient shutdown and
Ctrl-C, Retry-After on every retried status, proxies, compressed bodies, lent sessions,
non-finite numbers, the last page of a max_items listing, and the emulator's own arguments."""

from __future__ import annotations

import _thread
import asyncio
import gzip
import json
import math
import subprocess
import sys
import textwrap
import threading
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web

import aiotofu
from aiotofu.testing import Emulator, VirtualClock
from tests.helpers import serving

RECORD = {"id": "a", "number": "N", "created_at": "2024-01-01T00:00:00.000Z", "unit_count": 1}
LAST_PAGE = {"data": [RECORD], "meta": {"has_more": False, "next_cursor": None}}


# -- SyncClient ---------------------------------------------------------------------------


@pytest.mark.slow
def test_a_sync_client_never_closed_lets_the_interpreter_exit_promptly() -> None:
    """Used like requests.Session (never closed), against a server in another process."""
    emulator = subprocess.Popen(
        [sys.executable, "-m", "aiotofu", "emulator", "--port", "0", "--api-key", "k"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert emulator.stdout is not None
        base_url = emulator.stdout.readline().split()[-1]
        script = textwrap.dedent(
            f"""
            import aiotofu
            client = aiotofu.SyncClient("k", base_url={base_url!r})
            print(len(client.batches.list(max_items=120, page_size=50).collect()))
            iterator = client.batches.list(page_size=10)
            next(iterator)  # an iterator left open, with pages fetched ahead
            """
        )
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-W", "error::ResourceWarning", "-c", script],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert time.monotonic() - started < 15
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "120"
    finally:
        emulator.terminate()
        emulator.wait(10)
        if emulator.stdout is not None:
            emulator.stdout.close()


def test_a_sync_token_is_the_same_inside_and_after_the_with_block(threaded_emu: Emulator) -> None:
    with aiotofu.SyncClient(threaded_emu.api_key, base_url=threaded_emu.base_url) as client:
        full = [b.id for b in client.batches.list(page_size=100)]
        with client.batches.list(page_size=50) as batches:
            first = [next(batches).id for _ in range(3)]
            inside = batches.resume_token
        assert batches.resume_token == inside
        rest = [b.id for b in client.batches.resume(batches.resume_token)]
    assert first + rest == full


def test_ctrl_c_during_a_sync_call_counts_nothing_the_caller_did_not_get(
    threaded_emu: Emulator,
) -> None:
    with aiotofu.SyncClient(threaded_emu.api_key, base_url=threaded_emu.base_url) as client:
        full = [b.id for b in client.batches.list(page_size=100)]
        threaded_emu.set_faults(latency=0.5)
        batches = client.batches.list(page_size=10, prefetch=0)
        got = [next(batches).id for _ in range(10)]  # the first page, all handed out
        timer = threading.Timer(0.1, _thread.interrupt_main)  # Ctrl-C while page 2 is awaited
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            got.append(next(batches).id)
        timer.join()
        threaded_emu.set_faults(latency=0)
        got += [b.id for b in client.batches.resume(batches.resume_token)]
        assert got == full
        # The client still works after the interrupted call.
        assert len(client.batches.list(max_items=5).collect()) == 5


async def test_a_sync_client_called_on_a_running_loop_raises_at_once(emu: Emulator) -> None:
    started = time.monotonic()
    client = aiotofu.SyncClient(emu.api_key, base_url=emu.base_url, timeout=5)
    with client, pytest.raises(aiotofu.StateError, match="running event loop"):
        client.batches.list().collect()
    assert time.monotonic() - started < 1


def test_a_closed_sync_client_says_so(threaded_emu: Emulator) -> None:
    client = aiotofu.SyncClient(threaded_emu.api_key, base_url=threaded_emu.base_url)
    client.close()
    with pytest.raises(aiotofu.StateError, match="closed"):
        client.batches.list().collect()


# -- Retry-After on every retried status --------------------------------------------------


@pytest.mark.parametrize("status", [503, 500, 502, 504, 429])
@pytest.mark.parametrize("form", ["seconds", "date"])
async def test_retry_after_is_honoured_on_every_retried_status(
    clock: VirtualClock, status: int, form: str
) -> None:
    answers = 0

    async def handler(request: web.Request) -> web.Response:
        nonlocal answers
        answers += 1
        if answers == 1:
            when = datetime.now(timezone.utc) + timedelta(seconds=8)
            value = "7" if form == "seconds" else format_datetime(when, usegmt=True)
            return web.Response(status=status, text="busy", headers={"Retry-After": value})
        return web.json_response(LAST_PAGE)

    async with serving(handler) as base_url, aiotofu.Client("k", base_url=base_url) as client:
        assert len(await client.batches.list().collect()) == 1
    [wait] = clock.sleeps
    assert wait == 7.0 if form == "seconds" else 5.0 < wait <= 8.0


async def test_a_503_asking_for_more_than_max_retry_after_is_raised(clock: VirtualClock) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=503, text="maintenance", headers={"Retry-After": "3600"})

    policy = aiotofu.RetryPolicy(max_retry_after=60)
    async with (
        serving(handler) as base_url,
        aiotofu.Client("k", base_url=base_url, retry=policy) as client,
    ):
        with pytest.raises(aiotofu.ServerError) as info:
            await client.batches.list().collect()
    assert info.value.retry_after == 3600.0
    assert "retry after 3600 s" in str(info.value)
    assert clock.sleeps == []


# -- proxies ------------------------------------------------------------------------------


async def test_http_proxy_is_honoured_and_no_proxy_and_trust_env_turn_it_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[str] = []

    async def proxy(request: web.Request) -> web.Response:
        seen.append(str(request.url))
        return web.json_response(LAST_PAGE)

    async with serving(proxy) as proxy_url:
        monkeypatch.setenv("HTTP_PROXY", proxy_url.removesuffix("/api"))
        monkeypatch.delenv("NO_PROXY", raising=False)
        with pytest.warns(UserWarning, match="not HTTPS"):
            client = aiotofu.Client("k", base_url="http://tofupilot.invalid/api", retry=None)
        async with client:
            assert len(await client.batches.list().collect()) == 1
        assert seen
        assert seen[0].startswith("http://tofupilot.invalid/api/v2/batches")

        for options, env in (({"trust_env": False}, {}), ({}, {"NO_PROXY": "tofupilot.invalid"})):
            for name, value in env.items():
                monkeypatch.setenv(name, value)
            with pytest.warns(UserWarning, match="not HTTPS"):
                client = aiotofu.Client(
                    "k", base_url="http://tofupilot.invalid/api", retry=None, **options
                )
            async with client:
                with pytest.raises(aiotofu.TransportError):
                    await client.batches.list().collect()
        assert len(seen) == 1


async def test_a_loopback_server_is_never_proxied(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    async with emu.client(retry=None) as client:
        assert len(await client.batches.list(max_items=5).collect()) == 5


# -- bodies and lent sessions -------------------------------------------------------------


async def test_the_body_cap_counts_decompressed_bytes() -> None:
    inflated = b'{"data": [], "meta": {"has_more": false, "next_cursor": null}}' + b" " * (
        40 * 1024 * 1024
    )
    packed = gzip.compress(inflated, compresslevel=9)
    assert len(packed) < 100 * 1024

    async def bomb(request: web.Request) -> web.Response:
        return web.Response(
            body=packed,
            headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
        )

    async with serving(bomb) as base_url, aiotofu.Client("k", base_url=base_url) as client:
        with pytest.raises(aiotofu.DecodeError, match="larger than 32 MiB"):
            await client.batches.list().collect()


async def test_a_small_compressed_body_is_read_as_usual() -> None:
    packed = gzip.compress(json.dumps(LAST_PAGE).encode())

    async def small(request: web.Request) -> web.Response:
        return web.Response(
            body=packed, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"}
        )

    async with serving(small) as base_url, aiotofu.Client("k", base_url=base_url) as client:
        assert [b.id for b in await client.batches.list().collect()] == ["a"]


async def test_a_lent_session_that_raises_for_status_gives_the_same_typed_errors(
    emu: Emulator, clock: VirtualClock
) -> None:
    async with (
        aiohttp.ClientSession(raise_for_status=True) as session,
        aiotofu.Client("wrong", base_url=emu.base_url, session=session) as client,
    ):
        with pytest.raises(aiotofu.AuthenticationError):
            await client.batches.list().collect()
    assert clock.sleeps == []  # a 401 is not retried


async def test_a_closed_lent_session_is_a_state_error(emu: Emulator) -> None:
    session = aiohttp.ClientSession()
    await session.close()
    async with aiotofu.Client(emu.api_key, base_url=emu.base_url, session=session) as client:
        with pytest.raises(aiotofu.StateError, match="session lent to this client is closed"):
            await client.batches.list().collect()


# -- numbers that are not finite ----------------------------------------------------------


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_non_finite_numbers_are_refused_everywhere(value: float) -> None:
    for name in ("initial_backoff", "max_backoff", "max_retry_after"):
        with pytest.raises(aiotofu.InvalidParameterError, match=f"^{name}: .*finite"):
            aiotofu.RetryPolicy(**{name: value})
    with pytest.raises(aiotofu.InvalidParameterError, match="^timeout: .*finite"):
        aiotofu.Client("k", timeout=value)
    client = aiotofu.Client("k")
    with pytest.raises(aiotofu.InvalidParameterError, match="^poll_interval: .*finite"):
        client.batches.watch(poll_interval=value)
    for name in ("latency", "fail_rate", "rate_limit"):
        with pytest.raises(aiotofu.InvalidParameterError, match="finite|between"):
            Emulator(**{name: value})


# -- pages() with max_items ---------------------------------------------------------------


async def test_the_last_page_of_a_max_items_listing_says_no_more(emu: Emulator) -> None:
    async with emu.client() as client:
        pages = [p async for p in client.batches.list(page_size=10, max_items=25).pages()]
    assert [len(p.items) for p in pages] == [10, 10, 5]
    assert [(p.has_more, p.next_cursor) for p in pages] == [(True, 10), (True, 20), (False, None)]


def test_the_sync_pages_of_a_max_items_listing_say_no_more(threaded_emu: Emulator) -> None:
    with aiotofu.SyncClient(threaded_emu.api_key, base_url=threaded_emu.base_url) as client:
        pages = list(client.batches.list(page_size=10, max_items=15).pages())
    assert [(len(p.items), p.has_more) for p in pages] == [(10, True), (5, False)]


# -- the emulator's own arguments ---------------------------------------------------------


async def test_a_rate_limit_below_one_request_per_second_lets_requests_through() -> None:
    async with Emulator(batches=10, rate_limit=0.5) as emu, emu.client(retry=None) as client:
        assert len(await client.batches.list().collect()) == 10
        with pytest.raises(aiotofu.RateLimitError) as info:
            await client.batches.list().collect()
    assert info.value.retry_after is not None
    assert 1 <= info.value.retry_after <= 2


@pytest.mark.parametrize(
    ("args", "kwargs", "named"),
    [
        ((42,), {}, "number"),
        (("",), {}, "number"),
        (("N-1",), {"created_at": datetime(2024, 1, 1)}, "created_at"),
        (("N-1",), {"created_at": "2024-01-01"}, "created_at"),
        (("N-1",), {"units": [("SN", "PART")]}, "units"),
        (("N-1",), {"units": "SN"}, "units"),
        (("BATCH-0000001",), {}, "number"),  # exists already
    ],
)
async def test_add_batch_names_the_bad_argument(
    args: tuple[Any, ...], kwargs: dict[str, Any], named: str
) -> None:
    async with Emulator(batches=3) as emu:
        with pytest.raises(aiotofu.InvalidParameterError, match=f"^{named}: "):
            emu.add_batch(*args, **kwargs)
        await asyncio.sleep(0)

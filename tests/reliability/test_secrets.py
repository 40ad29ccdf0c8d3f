"""The API key never shows: not in reprs, errors, DEBUG logs or CLI output, nor sent elsewhere."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

import aiotofu
from aiotofu.cli import main
from aiotofu.testing import Emulator
from tests.helpers import serving

KEY = "tp-super-secret-0123456789"


async def test_the_key_is_in_no_repr_error_or_debug_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, aiohttp's and asyncio's included
    async with Emulator(batches=10, api_key=KEY) as emu:
        emu.inject(503, "drop")
        async with aiotofu.Client(KEY, base_url=emu.base_url) as client:
            paginator = client.batches.list()
            texts = [repr(client), repr(client.batches), repr(paginator)]
            assert len(await paginator.collect()) == 10
        async with aiotofu.Client("tp-wrong", base_url=emu.base_url) as wrong:
            with pytest.raises(aiotofu.AuthenticationError) as info:
                await wrong.batches.list().collect()
        texts += [str(info.value), repr(info.value)]
    texts.append(caplog.text)
    texts += [repr(record.args) for record in caplog.records]
    assert caplog.records  # the retries were logged
    assert not [text for text in texts if KEY in text]


def test_sync_client_repr_hides_the_key() -> None:
    with aiotofu.SyncClient(KEY) as client:
        assert KEY not in repr(client)


def test_cli_output_never_shows_the_key(
    threaded_emu: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    for argv in (
        ["batches", "list", "--max-items", "3"],
        ["batches", "list", "--page-size", "1000"],
        ["batches", "list", "--resume", "broken"],
    ):
        main([*argv, "--base-url", threaded_emu.base_url, "--api-key", threaded_emu.api_key])
        out, err = capsys.readouterr()
        assert threaded_emu.api_key not in out + err


@pytest.fixture
async def redirecting() -> AsyncIterator[tuple[str, list[dict[str, str]]]]:
    """Two local servers: the first redirects every request to the second, which records the
    headers it receives."""
    received: list[dict[str, str]] = []

    async def record(request: web.Request) -> web.Response:
        received.append(dict(request.headers))
        return web.json_response({"data": [], "meta": {"has_more": False, "next_cursor": None}})

    async with serving(record, host="127.0.0.2") as other:

        async def redirect(request: web.Request) -> web.Response:
            raise web.HTTPFound(other.removesuffix("/api") + request.path_qs)

        async with serving(redirect) as first:
            yield first, received


async def test_the_key_is_not_sent_to_another_host_after_a_redirect(
    redirecting: tuple[str, list[dict[str, Any]]],
) -> None:
    base_url, received = redirecting
    async with aiotofu.Client(KEY, base_url=base_url) as client:
        assert await client.batches.list().collect() == []
    [headers] = received
    assert "Authorization" not in headers
    assert KEY not in str(headers)


def test_plain_http_to_another_host_warns() -> None:
    with pytest.warns(UserWarning, match="clear text"):
        aiotofu.Client(KEY, base_url="http://tofupilot.example.com/api")

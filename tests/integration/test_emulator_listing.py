"""The emulator's listing engine as the API behaves: its defaults (``exclude_retries`` is true
unless asked otherwise).

Requests are made with aiohttp alone, so these tests hold the emulator to its answers.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from aiotofu._emulator.store import procedure_id
from aiotofu.testing import Emulator

UTC = timezone.utc
PROCEDURE_NAMES = (
    "Functional test",
    "ICT",
    "Burn-in",
    "Final QA",
    "Calibration",
    "Firmware flashing",
)
FUNCTIONAL = procedure_id("Functional test")
Get = Callable[[str, dict[str, str]], Awaitable[dict[str, Any]]]


@contextlib.asynccontextmanager
async def getter(emu: Emulator) -> AsyncIterator[Get]:
    """One GET with the emulator's key: the JSON body of a 200."""
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {emu.api_key}"}) as s:

        async def call(resource: str, params: dict[str, str]) -> dict[str, Any]:
            async with s.get(f"{emu.base_url}/v2/{resource}", params=params) as answer:
                assert answer.status == 200, await answer.text()
                body: dict[str, Any] = await answer.json()
                return body

        yield call


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    """60 batches (about 330 units), a run each."""
    async with Emulator(batches=60, seed=4) as server:
        yield server


@pytest.fixture
async def get(emu: Emulator) -> AsyncIterator[Get]:
    async with getter(emu) as call:
        yield call


async def every(get: Get, resource: str, params: dict[str, str]) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    cursor: int | None = 0
    while cursor is not None:
        body = await get(resource, {**params, "limit": "100", "cursor": str(cursor)})
        records += body["data"]
        cursor = body["meta"]["next_cursor"]
    return records


# -- exclude_retries --------------------------------------------------------------------------


@pytest.mark.parametrize("resource", ["phases", "measurements"])
async def test_retried_attempts_are_left_out_unless_asked_for(get: Get, resource: str) -> None:
    """The API's default is ``exclude_retries=true``: a request without it gets final
    attempts only, the same as one with it."""
    absent, final, retried = [], [], []
    for name in PROCEDURE_NAMES:
        scope = {"procedure_id": procedure_id(name)}
        absent += await every(get, resource, scope)
        final += await every(get, resource, {**scope, "exclude_retries": "true"})
        retried += await every(get, resource, {**scope, "exclude_retries": "false"})
    assert absent
    assert all(record["is_final_attempt"] for record in absent)
    assert sorted(r["id"] for r in absent) == sorted(r["id"] for r in final)
    assert any(not record["is_final_attempt"] for record in retried)
    assert {r["id"] for r in absent} < {r["id"] for r in retried}


async def test_the_client_sends_exclude_retries_true_by_default(emu: Emulator) -> None:
    async with emu.client() as client:
        await client.phases.list(procedure_id=FUNCTIONAL, max_items=1).collect()
        await client.measurements.list(procedure_id=FUNCTIONAL, max_items=1).collect()
        await client.phases.list(procedure_id=FUNCTIONAL, exclude_retries=False).collect()
    sent = [
        (urlsplit(r.path_qs).path, parse_qs(urlsplit(r.path_qs).query).get("exclude_retries"))
        for r in emu.log
    ]
    assert sent[:2] == [("/api/v2/phases", ["true"]), ("/api/v2/measurements", ["true"])]
    assert sent[2:]
    assert all(flag == ["false"] for _, flag in sent[2:])

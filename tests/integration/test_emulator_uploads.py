"""The emulator takes uploads and helps tests (issue 25, items 13-17): ``POST /v2/runs`` with the
official SDK's ``runs.create`` body, the unit created on upload, ``--trickle``, the paste-able
export line, every kind counted, ``--verbose``, ``Request.path`` and the pin probe of
MockTransport, and a factory fixture for the emulator's size and seed."""

from __future__ import annotations

import asyncio
import os
import shlex
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import aiohttp
import pytest

import aiotofu
from aiotofu._emulator.server import _trickle, counts
from aiotofu._emulator.store import procedure_id
from aiotofu.testing import (
    Emulator,
    MockTransport,
    Request,
    Response,
    emulator_factory,
    json_response,
)

__all__ = ["emulator_factory"]  # imported so that pytest finds the fixture

NOW = datetime.now(timezone.utc)


@pytest.fixture
async def post(emulator_factory: Callable[..., Awaitable[Emulator]]) -> AsyncIterator[Any]:
    """``await post(body)`` uploads to a small emulator: (status, JSON answer, emulator)."""
    emu = await emulator_factory(batches=10, runs=10, seed=5)
    async with aiohttp.ClientSession() as session:

        async def call(body: Any) -> tuple[int, Any, Emulator]:
            headers = {"Authorization": f"Bearer {emu.api_key}"}
            async with session.post(f"{emu.base_url}/v2/runs", json=body, headers=headers) as r:
                return r.status, await r.json(), emu

        yield call


def upload(**changes: Any) -> dict[str, Any]:
    body = {
        "outcome": "FAIL",
        "procedure_id": procedure_id("ICT"),
        "started_at": (NOW - timedelta(minutes=5)).isoformat().replace("+00:00", "Z"),
        "ended_at": NOW.isoformat().replace("+00:00", "Z"),
        "serial_number": "UPLOADED-1",
        "part_number": "PCB-NEW",
        "batch_number": "B-UPLOAD",
    }
    return {key: value for key, value in {**body, **changes}.items() if value is not None}


async def test_an_upload_creates_its_unit_and_batch_and_a_second_reuses_them(post: Any) -> None:
    status, answer, emu = await post(upload(docstring="first", operated_by="Night shift"))
    assert status == 200
    first = answer["id"]
    later = (NOW - timedelta(minutes=1)).isoformat().replace("+00:00", "Z")
    status, answer, _ = await post(
        upload(serial_number="uploaded-1", outcome="PASS", started_at=later)
    )
    assert status == 200  # the serial number matched case-insensitively: the same unit
    async with emu.client() as client:
        runs = await client.runs.list(serial_numbers="UPLOADED-1").collect()
        [unit] = await client.units.list(serial_numbers="UPLOADED-1").collect()
        [batch] = await client.batches.list(numbers="B-UPLOAD").collect()
    assert [run.id for run in runs] == [answer["id"], first]
    assert [run.outcome for run in runs] == ["PASS", "FAIL"]
    assert (runs[1].docstring, runs[1].operated_by and runs[1].operated_by.name) == (
        "first",
        "Night shift",
    )
    assert (unit.part.number, unit.batch and unit.batch.number) == ("PCB-NEW", "B-UPLOAD")
    assert unit.last_run is not None
    assert unit.last_run.id == answer["id"]
    assert batch.unit_count == 1
    emu.delete_batch("B-UPLOAD")  # the unit and its runs go with its batch, as for any unit
    async with emu.client() as client:
        assert await client.runs.list(serial_numbers="UPLOADED-1").collect() == []


@pytest.mark.parametrize(
    ("body", "status", "named"),
    [
        (upload(outcome=None, serial_number=None), 400, ["outcome", "serial_number"]),
        (upload(outcome="BROKEN"), 400, ["outcome"]),
        (upload(started_at="yesterday"), 400, ["started_at"]),
        (upload(part_number=None), 400, ["part_number"]),  # a new unit needs its part
        (upload(procedure_id="no-such-procedure"), 404, []),
        ([1, 2], 400, ["body"]),
    ],
)
async def test_a_bad_upload_is_refused_naming_what_is_wrong(
    post: Any, body: Any, status: int, named: list[str]
) -> None:
    answered, answer, emu = await post(body)
    assert answered == status
    assert [issue["path"][0] for issue in answer["issues"]] == named
    async with emu.client() as client:
        assert await client.units.list(serial_numbers="UPLOADED-1").collect() == []


def test_the_official_sdk_uploads_to_the_emulator(threaded_emu: Emulator) -> None:
    """``runs.create`` of the pinned SDK, as a station's script calls it."""
    v2 = pytest.importorskip("tofupilot.v2")
    sdk = v2.TofuPilot(api_key=threaded_emu.api_key, server_url=threaded_emu.base_url)
    created = sdk.runs.create(
        outcome="PASS",
        procedure_id=procedure_id("Functional test"),
        started_at=NOW - timedelta(minutes=2),
        ended_at=NOW,
        serial_number="SDK-SN-1",
        part_number="PCB-V1.2",
        revision_number="2.0",
    )
    with aiotofu.SyncClient(threaded_emu.api_key, base_url=threaded_emu.base_url) as client:
        [run] = client.runs.list(serial_numbers="SDK-SN-1").collect()
        [unit] = client.units.list(serial_numbers="SDK-SN-1").collect()
    assert run.id == created.id
    assert (unit.part.number, unit.part.revision.number) == ("PCB-V1.2", "2.0")
    # No batch named: TofuPilot links the unit to none; the emulator's units all have one.
    assert unit.batch is not None
    assert unit.batch.number == "SDK-SN-1"


async def test_add_run_creates_the_unit_as_an_upload_does(
    emulator_factory: Callable[..., Awaitable[Emulator]],
) -> None:
    emu = await emulator_factory(batches=5, runs=5)
    run_id = emu.add_run(serial_number="FRESH-1", part_number="PSU-220", procedure="ICT")
    again = emu.add_run(serial_number="FRESH-1")  # now it exists: no part needed
    async with emu.client() as client:
        runs = await client.runs.list(serial_numbers="FRESH-1").collect()
    assert {run.id for run in runs} == {run_id, again}
    with pytest.raises(aiotofu.InvalidParameterError, match="give a part_number") as info:
        emu.add_run(serial_number="FRESH-2")
    assert info.value.parameter == "serial_number"


async def test_the_factory_fixture_makes_emulators_of_any_size_and_seed(
    emulator_factory: Callable[..., Awaitable[Emulator]],
) -> None:
    small = await emulator_factory(batches=7, seed=1)
    other = await emulator_factory(batches=7, seed=2)
    again = await emulator_factory(batches=7, seed=1)
    listed = []
    for emu in (small, other, again):
        async with emu.client() as client:
            listed.append([batch.number for batch in await client.batches.list().collect()])
    assert [len(numbers) for numbers in listed] == [7, 7, 7]
    async with small.client() as one, again.client() as two:
        assert await one.units.list().collect() == await two.units.list().collect()
        async with other.client() as three:
            assert await one.units.list().collect() != await three.units.list().collect()


async def test_the_summary_counts_every_kind_and_trickle_uploads_on_schedule(
    emulator_factory: Callable[..., Awaitable[Emulator]],
) -> None:
    emu = await emulator_factory(batches=5, runs=8)
    server = emu._server
    line = counts(server)
    kinds = [part.split(": ")[0] for part in line.split(", ")]
    assert kinds == [
        "batches",
        "units",
        "runs",
        "phases",
        "measurements",
        "logs",
        "procedures",
        "deployments",
        "parts",
        "stations",
        "users",
    ]
    assert "runs: 8," in line
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) > 3:
            raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await _trickle(server, 50.0, sleep=sleep)
    assert len(server.state.world.records().runs) == 8 + 3
    # On schedule from the start: the k-th upload is due k / 50 s after it (this sleep took
    # no time, so each wait is what is left until then).
    assert waits == sorted(waits)
    assert all(0 < wait <= (k + 1) / 50 for k, wait in enumerate(waits))


async def test_mock_transport_requests_have_a_path_and_the_pin_probe_comes_first() -> None:
    """As documented: ``request.path``, ``query`` as pairs, and a listing by time whose first
    request is the pin probe (``limit=1``), not the first page."""

    def handler(request: Request) -> Response:
        return json_response({"data": [], "meta": {"has_more": False, "next_cursor": None}})

    transport = MockTransport(handler)
    async with aiotofu.Client("k", transport=transport) as client:
        assert await client.batches.list().collect() == []
        assert await client.runs.list().collect() == []
    batches, probe, page = transport.requests
    assert [batches.path, probe.path, page.path] == [
        "/api/v2/batches",
        "/api/v2/runs",
        "/api/v2/runs",
    ]
    # Ordered by their start, runs are pinned on their upload time: the probe asks for the
    # newest upload alone, then the first page follows.
    assert (dict(probe.query)["limit"], dict(probe.query)["sort_by"]) == ("1", "created_at")
    assert (dict(page.query)["limit"], dict(page.query)["sort_by"]) == ("50", "started_at")
    assert dict(batches.query)["limit"] == "50"  # ordered by its pin's time: no probe


@pytest.fixture
def emulator_command() -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    """``aiotofu emulator --verbose`` in a subprocess: (process, its first six lines)."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aiotofu",
            "emulator",
            "--port",
            "0",
            "--batches",
            "20",
            "--verbose",
            "--trickle",
            "5",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    try:
        yield process, [process.stdout.readline().rstrip("\n") for _ in range(6)]
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


@pytest.mark.slow
def test_the_emulator_command_prints_a_line_to_paste_and_logs_requests(
    emulator_command: tuple[subprocess.Popen[str], list[str]],
) -> None:
    process, lines = emulator_command
    listening, key, summary, options, export, trickle = lines
    assert export.startswith("export TOFUPILOT_URL=")
    pasted = dict(word.split("=", 1) for word in shlex.split(export)[1:])
    assert pasted == {
        "TOFUPILOT_URL": listening.split()[-1],
        "TOFUPILOT_API_KEY": key.split()[-1],
    }
    assert "parts: 45, stations: 6, users: 12" in summary
    assert options.startswith("options: ")
    assert trickle == "uploading 5 runs a second"
    env = {**os.environ, **pasted}
    listed = subprocess.run(
        [sys.executable, "-m", "aiotofu", "batches", "list", "--max-items", "3"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert (listed.returncode, len(listed.stdout.splitlines())) == (0, 3)
    assert process.stdout is not None
    logged = process.stdout.readline()  # the listing's one request, as it was answered
    assert logged.startswith("200 GET /api/v2/batches?limit=3&cursor=0")
    assert logged.rstrip().endswith(" ms")
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=10)
    assert process.returncode == 0
    assert out.endswith("aiotofu emulator stopped\n")

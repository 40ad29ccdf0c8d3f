"""Units, runs, procedures, deployments, logs, phases and measurements end to end: every record
once (paged small, prefetched, resumed anywhere), validation before any request, the emulator's
400s, its coherent data, writes during a listing, watches, faults, and SyncClient."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import Any

import aiohttp
import pytest

import aiotofu
from aiotofu._emulator.store import procedure_id
from aiotofu.testing import Emulator, MockTransport, Request, Response

UTC = timezone.utc
FUNCTIONAL = procedure_id("Functional test")
SCOPED = {"phases": {"procedure_id": FUNCTIONAL}, "measurements": {"procedure_id": FUNCTIONAL}}
RESOURCES = ["units", "runs", "procedures", "deployments", "logs", "phases", "measurements"]
RECORDS = {
    "units": aiotofu.Unit,
    "runs": aiotofu.Run,
    "procedures": aiotofu.Procedure,
    "deployments": aiotofu.Deployment,
    "logs": aiotofu.Log,
    "phases": aiotofu.Phase,
    "measurements": aiotofu.Measurement,
}


@pytest.fixture
async def small() -> AsyncIterator[Emulator]:
    """120 batches (about 650 units) and 300 runs: every endpoint, quickly."""
    async with Emulator(batches=120, runs=300, seed=3) as server:
        yield server


def listing(client: aiotofu.Client, resource: str, **options: Any) -> aiotofu.Paginator[Any]:
    return getattr(client, resource).list(**SCOPED.get(resource, {}), **options)  # type: ignore[no-any-return]


@pytest.mark.parametrize("resource", RESOURCES)
async def test_every_record_once_paged_small_prefetched_and_resumed(
    small: Emulator, resource: str
) -> None:
    async with small.client() as client:
        whole = await listing(client, resource, page_size=100, prefetch=0).collect()
        paged = await listing(client, resource, page_size=7, prefetch=4).collect()
        first = listing(client, resource, page_size=9)
        head = [await first.__anext__() for _ in range(min(23, len(whole)))]
        token = first.resume_token
        await first.aclose()
        rest = await getattr(client, resource).resume(token, prefetch=3).collect()
    assert whole
    assert all(isinstance(record, RECORDS[resource]) for record in whole)
    ids = [record.id for record in whole]
    assert len(set(ids)) == len(ids)
    assert [record.id for record in paged] == ids
    assert [record.id for record in head + rest] == ids


async def test_the_data_is_coherent_across_endpoints(small: Emulator) -> None:
    async with small.client() as client:
        units = {u.serial_number: u for u in await client.units.list(page_size=100).collect()}
        runs = await client.runs.list(page_size=100).collect()
        logs = await client.logs.list(page_size=100).collect()
        phases = await client.phases.list(procedure_id=FUNCTIONAL, page_size=100).collect()
        procedures = {p.id: p for p in await client.procedures.list().collect()}
    by_id = {run.id: run for run in runs}
    for run in runs:
        unit = units[run.unit.serial_number]
        assert (unit.id, unit.part, unit.batch) == (run.unit.id, run.unit.part, run.unit.batch)
        assert run.procedure.id in procedures
        assert run.started_at <= run.ended_at <= run.created_at
    for unit in units.values():
        tested = [run for run in runs if run.unit.id == unit.id]
        if not tested:
            assert unit.last_run is None
            continue
        latest = max(tested, key=lambda run: (run.started_at, run.id))
        assert unit.last_run is not None
        assert unit.last_run.id == latest.id
        for child in unit.children:
            assert units[child.serial_number].parent == aiotofu.UnitRef(unit.id, unit.serial_number)
    for log in logs:
        assert by_id[log.run.id].outcome == log.run.outcome
    failed = {run.id for run in runs if run.outcome == "FAIL"}
    for phase in phases:
        assert by_id[phase.run_id].procedure.id == FUNCTIONAL
        assert phase.run_outcome == by_id[phase.run_id].outcome
        if phase.outcome == "FAIL" and phase.is_final_attempt:
            assert phase.run_id in failed


async def test_filters_narrow_on_the_emulator(small: Emulator) -> None:
    since = datetime(2024, 1, 2, tzinfo=UTC)
    async with small.client() as client:
        failed = await client.runs.list(
            outcomes="FAIL", started_after=since, include_sequences=True, include_metadata=True
        ).collect()
        long = await client.runs.list(duration_min=timedelta(seconds=60)).collect()
        golden = await client.units.list(samples=["golden", "failing"]).collect()
        errors = await client.logs.list(levels=["ERROR", "CRITICAL"]).collect()
        retried = await client.phases.list(procedure_id=FUNCTIONAL, exclude_retries=False).collect()
        final = await client.phases.list(procedure_id=FUNCTIONAL).collect()
        volts = await client.measurements.list(
            procedure_id=FUNCTIONAL, measurement_name="vcc_3v3", value_min=3.3
        ).collect()
    assert failed
    assert all(r.outcome == "FAIL" and r.started_at >= since for r in failed)
    assert all(r.sequences is not None and r.metadata is not None for r in failed)
    assert long
    assert all(r.ended_at - r.started_at >= timedelta(seconds=60) for r in long)
    assert golden
    assert {u.sample for u in golden} <= {"golden", "failing"}
    assert errors
    assert {log.level for log in errors} <= {"ERROR", "CRITICAL"}
    assert len(retried) > len(final)
    assert all(p.is_final_attempt for p in final)
    assert volts
    assert all(m.value is not None and m.value >= 3.3 for m in volts)
    assert {m.measurement_name for m in volts} == {"vcc_3v3"}


@pytest.mark.parametrize(
    ("resource", "arguments", "named"),
    [
        ("runs", {"outcomes": ["PASSED"]}, "outcomes"),
        ("runs", {"started_after": datetime(2024, 1, 1)}, "started_after"),
        ("runs", {"duration_min": "90 seconds"}, "duration_min"),
        ("runs", {"sort_by": "name"}, "sort_by"),
        ("runs", {"metadata": {"a": {"between": 1}}}, "metadata"),
        ("runs", {"metadata": {f"k{i}": {"eq": True} for i in range(6)}}, "metadata"),
        (
            "runs",
            {
                "created_after": datetime(2024, 2, 1, tzinfo=UTC),
                "created_before": datetime(2024, 1, 1, tzinfo=UTC),
            },
            "created_after",
        ),
        ("units", {"run_count_min": -1}, "run_count_min"),
        ("units", {"samples": "gold"}, "samples"),
        ("units", {"latest_only": "yes"}, "latest_only"),
        ("logs", {"levels": ["warn"]}, "levels"),
        ("deployments", {"build_statuses": ["done"]}, "build_statuses"),
        ("deployments", {"pushed": 1}, "pushed"),
        ("phases", {"procedure_id": None}, "procedure_id"),
        ("phases", {"procedure_id": ""}, "procedure_id"),
        ("phases", {"procedure_id": "p", "outcomes": ["TIMEOUT"]}, "outcomes"),
        ("measurements", {"procedure_id": "p", "value_min": float("nan")}, "value_min"),
        ("measurements", {"procedure_id": "p", "value_min": 5, "value_max": 1}, "value_min"),
        (
            "measurements",
            {"procedure_id": "p", "measurement_types": ["float"]},
            "measurement_types",
        ),
        ("procedures", {"search_query": "x" * 101}, "search_query"),
    ],
)
async def test_bad_arguments_raise_before_any_request(
    resource: str, arguments: dict[str, Any], named: str
) -> None:
    sent: list[Request] = []

    def handler(request: Request) -> Response:
        sent.append(request)
        raise AssertionError("nothing may be sent")

    async with aiotofu.Client("k", transport=MockTransport(handler)) as client:
        with pytest.raises(aiotofu.InvalidParameterError, match=f"^{named}: "):
            getattr(client, resource).list(**arguments)
    assert sent == []


@pytest.mark.parametrize(
    ("path", "params", "named"),
    [
        ("/v2/runs", {"outcomes": "PASSED"}, "outcomes"),
        ("/v2/runs", {"duration_min": "soon"}, "duration_min"),
        ("/v2/runs", {"sort_by": "name"}, "sort_by"),
        ("/v2/units", {"created_after": "2024-01-01"}, "created_after"),
        ("/v2/units", {"latest_only": "yes"}, "latest_only"),
        ("/v2/procedures", {"limit": "101"}, "limit"),
        ("/v2/deployments", {"environments": "staging"}, "environments"),
        ("/v2/logs", {"metadata": "x", "levels": "TRACE"}, "levels"),
        ("/v2/phases", {}, "procedure_id"),
        ("/v2/measurements", {"procedure_id": "p", "value_min": "high"}, "value_min"),
    ],
)
async def test_the_emulator_answers_400_naming_the_parameter(
    small: Emulator, path: str, params: dict[str, str], named: str
) -> None:
    headers = {"Authorization": f"Bearer {small.api_key}"}
    async with (
        aiohttp.ClientSession() as session,
        session.get(small.base_url + path, params=params, headers=headers) as response,
    ):
        body = await response.json()
    assert response.status == 400
    assert [issue["path"] for issue in body["issues"]] == [[named]]


async def test_runs_uploaded_during_a_listing_are_not_yielded_and_nothing_repeats(
    small: Emulator,
) -> None:
    """Runs sort by start, newest first; new ones arrive with starts in the past, in pages
    already read and in pages still to come. The pin (upload time) keeps them out, and every
    run that existed is yielded exactly once."""
    async with small.client() as client:
        before = {run.id: run for run in await client.runs.list(page_size=100).collect()}
        starts = sorted(run.started_at for run in before.values())
        seen = []
        async with client.runs.list(page_size=20, prefetch=2) as runs:
            async for run in runs:
                seen.append(run.id)
                if len(seen) % 40 == 0:
                    for start in (starts[0], starts[len(starts) // 2], starts[-1]):
                        small.add_run(started_at=start + timedelta(milliseconds=1))
        after = await client.runs.list(page_size=100).collect()
    assert len(seen) == len(set(seen))
    assert set(seen) == set(before)
    assert len(after) == len(before) + 3 * (len(before) // 40)


async def test_a_run_watch_follows_uploads_and_a_late_start_is_still_seen(
    small: Emulator,
) -> None:
    async with small.client() as client:
        watch = client.runs.watch(poll_interval=0.01, outcomes=["FAIL", "ERROR"])
        async with watch as watcher:
            passed = small.add_run(outcome="PASS")
            late = small.add_run(outcome="FAIL", started_at=datetime(2024, 1, 1, 12, tzinfo=UTC))
            failed = small.add_run(outcome="ERROR")
            got = [(await asyncio.wait_for(watcher.__anext__(), 10)).id for _ in range(2)]
            token = watcher.resume_token
        assert passed not in got
        assert got == [late, failed]
        resumed = client.runs.watch(resume_token=token, poll_interval=0.01)
        newer = small.add_run(outcome="FAIL")
        async with resumed:
            assert (await asyncio.wait_for(resumed.__anext__(), 10)).id == newer


async def test_unit_and_log_watches_see_what_is_new(small: Emulator) -> None:
    async with small.client() as client:
        units = client.units.watch(poll_interval=0.01, part_numbers="PSU-220")
        # The emulator also generates a run for the new unit SN-NEW-2, uploaded (as the server
        # says) just before the added one: a log watch follows uploads, so it would come first.
        logs = client.logs.watch(poll_interval=0.01, levels="INFO", serial_numbers="SN-NEW-1")
        async with units, logs:
            small.add_batch(
                "NEW-1", units=[("SN-NEW-1", "PSU-220", "A"), ("SN-NEW-2", "PCB-V1.2", "1.0")]
            )
            run = small.add_run(serial_number="SN-NEW-1")
            assert (await asyncio.wait_for(units.__anext__(), 10)).serial_number == "SN-NEW-1"
            first = await asyncio.wait_for(logs.__anext__(), 10)
    assert first.run.id == run
    assert first.message.startswith("Starting")


async def test_faults_apply_to_every_endpoint(clock: Any) -> None:
    async with Emulator(batches=40, runs=80, seed=5, fail_rate=0.2, drop_rate=0.05) as server:
        async with server.client(retry=aiotofu.RetryPolicy(attempts=12)) as client:
            for resource in RESOURCES:
                assert await listing(client, resource, page_size=10).collect()
        statuses = server.stats["statuses"]
    assert any(status >= 500 or status == 0 for status in statuses)


def test_sync_client_lists_and_watches_runs(threaded_emu: Emulator) -> None:
    with aiotofu.SyncClient(threaded_emu.api_key, base_url=threaded_emu.base_url) as client:
        runs = client.runs.list(outcomes="FAIL", max_items=5).collect()
        phases = client.phases.list(procedure_id=FUNCTIONAL, max_items=3).collect()
        with client.runs.watch(poll_interval=0.01) as watcher:
            new = threaded_emu.add_run()
            assert next(watcher).id == new
    assert len(runs) == 5
    assert all(run.outcome == "FAIL" for run in runs)
    assert len(phases) == 3


async def test_add_run_checks_its_arguments(small: Emulator) -> None:
    with pytest.raises(aiotofu.InvalidParameterError, match="^serial_number: "):
        small.add_run(serial_number="nope")
    with pytest.raises(aiotofu.InvalidParameterError, match="^procedure: "):
        small.add_run(procedure="Smoke test")
    with pytest.raises(aiotofu.InvalidParameterError, match="^outcome: "):
        small.add_run(outcome="pass")  # type: ignore[arg-type]
    with pytest.raises(aiotofu.InvalidParameterError, match="^started_at: "):
        small.add_run(started_at=datetime(2024, 1, 1))


@pytest.mark.parametrize(
    ("sort_by", "sort_order"), [("started_at", "desc"), ("phase_name", "asc"), ("duration", "desc")]
)
async def test_an_unpinned_listing_under_writes_yields_every_phase_once(
    small: Emulator, sort_by: Any, sort_order: Any
) -> None:
    """Phases have no pin (a start may be null): runs uploaded meanwhile add phases anywhere in
    the order, and verified continuity alone keeps the listing exact."""
    async with small.client() as client:
        before = {
            phase.id
            for phase in await client.phases.list(procedure_id=FUNCTIONAL, page_size=100).collect()
        }
        starts = [datetime(2024, 1, 1, 3, tzinfo=UTC) + timedelta(hours=7 * k) for k in range(40)]
        seen: list[str] = []
        listing = client.phases.list(
            procedure_id=FUNCTIONAL, sort_by=sort_by, sort_order=sort_order, page_size=10
        )
        async with listing:
            async for phase in listing:
                seen.append(phase.id)
                if len(seen) % 25 == 0 and starts:
                    for _ in range(2):
                        small.add_run(procedure="Functional test", started_at=starts.pop())
        after = {
            phase.id
            for phase in await client.phases.list(procedure_id=FUNCTIONAL, page_size=100).collect()
        }
    assert len(seen) == len(set(seen))
    assert before <= set(seen) <= after
    assert len(after) > len(before)


async def test_a_resumed_watch_takes_no_filters_but_the_apis_defaults_are_not_filters(
    small: Emulator,
) -> None:
    async with small.client() as client:
        watch = client.units.watch(poll_interval=0.01, part_numbers="PSU-220")
        async with watch:
            token = watch.resume_token
        # latest_only=False and the other defaults are what every watch of units carries.
        resumed = client.units.watch(resume_token=token, latest_only=False)
        await resumed.aclose()
        with pytest.raises(aiotofu.InvalidParameterError, match="^latest_only: "):
            client.units.watch(resume_token=token, latest_only=True)
        with pytest.raises(aiotofu.InvalidParameterError, match="^serial_numbers: "):
            client.units.watch(resume_token=token, serial_numbers="SN-1")
        with pytest.raises(aiotofu.InvalidParameterError, match="^lookback: "):
            client.units.watch(resume_token=token, lookback=5)
        with pytest.raises(aiotofu.InvalidParameterError, match="^resume_token: "):
            client.runs.watch(resume_token=token)  # a token of another resource

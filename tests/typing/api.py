"""The public API as users write it, checked by mypy --strict (never run): a change that breaks
the types users rely on fails CI."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timezone

import aiotofu
from aiotofu.testing import Emulator, virtual_clock


async def stream() -> None:
    async with aiotofu.Client(
        "key", max_concurrency=8, retry=aiotofu.RetryPolicy(attempts=3)
    ) as client:
        paginator: aiotofu.Paginator[aiotofu.Batch] = client.batches.list(
            part_numbers=["PCB-V1.2"],
            created_after=datetime(2024, 1, 1, tzinfo=timezone.utc),
            sort_by="number",
            sort_order="asc",
            page_size=100,
            max_items=10,
            prefetch=4,
        )
        async with paginator:
            async for batch in paginator:
                created: datetime = batch.created_at
                count: int = batch.unit_count
                user: aiotofu.UserRef | None = batch.created_by_user
                station: aiotofu.StationRef | None = batch.created_by_station
                del created, count, user, station
        pages: AsyncIterator[aiotofu.Page[aiotofu.Batch]] = client.batches.list().pages()
        del pages
        batches: list[aiotofu.Batch] = await client.batches.list().collect()
        token: str = client.batches.list().resume_token
        resumed: aiotofu.Paginator[aiotofu.Batch] = client.batches.resume(token, max_items=5)
        del batches, resumed
        watcher: aiotofu.Watcher = client.batches.watch(poll_interval=5.0, numbers="N-1")
        async with watcher:
            async for new in watcher:
                number: str = new.number
                del number
        again: str = watcher.resume_token
        del again


def blocking() -> None:
    with aiotofu.SyncClient("key", timeout=10.0) as client:
        listing = client.batches.list(ids=["a"], page_size=50)
        for batch in listing:
            identifier: str = batch.id
            del identifier
        pages: Iterator[aiotofu.Page[aiotofu.Batch]] = listing.pages()
        collected: list[aiotofu.Batch] = client.batches.resume(listing.resume_token).collect()
        del pages, collected
        for new in client.batches.watch(since=datetime.now(timezone.utc)):
            print(new.number)


def errors(error: aiotofu.TofuPilotError) -> None:
    if isinstance(error, aiotofu.RateLimitError):
        wait: float | None = error.retry_after
        status: int = error.status
        del wait, status
    if isinstance(error, aiotofu.InvalidParameterError):
        name: str = error.parameter
        del name


async def testing() -> None:
    with virtual_clock() as clock:
        async with Emulator(batches=10, fail_rate=0.1) as emu:
            emu.inject(503, "drop", cursor=0)
            identifier: str = emu.add_batch("N-1")
            async with emu.client() as client:
                await client.batches.list().collect()
            del identifier
        async with Emulator(offset_cost=5e-7, timestamp_precision="us") as deep:
            walked: int = deep.stats["rows_scanned"]
            scanned: int = deep.log[0].rows_scanned
            del walked, scanned
        waits: list[float] = clock.sleeps
        del waits


async def seams() -> None:
    from datetime import timedelta
    from typing import Any

    from aiotofu.testing import MockTransport, Request, Response, json_response

    def handler(request: Request) -> Response:
        return json_response({"data": [], "meta": {"has_more": False, "next_cursor": None}})

    events: list[aiotofu.RetryEvent] = []
    transport = MockTransport(handler)
    client = aiotofu.Client("key", transport=transport, on_retry=events.append)
    async with client, client.batches.watch(lookback=timedelta(minutes=5)) as watcher:
        since: datetime | None = watcher.since
        backlog = client.batches.list(created_before=since)
        shaped: Any = aiotofu.unstructure(await backlog.collect())
        del shaped
    sent: list[Request] = transport.requests
    kinds: list[str] = [event.kind for event in events]
    del sent, kinds


def more_errors(error: aiotofu.APIError) -> None:
    request_id: str | None = error.request_id
    retry_after: float | None = error.retry_after
    del request_id, retry_after
    try:
        raise aiotofu.RequestTimeoutError("slow")
    except TimeoutError:
        pass


async def users() -> None:
    async with aiotofu.Client("key") as client:
        members: list[aiotofu.User] = await client.users.list()
        email: str | None = members[0].email
        del email
    with aiotofu.SyncClient("key") as sync:
        again: list[aiotofu.User] = sync.users.list()
        del again


async def parts() -> None:
    async with aiotofu.Client("key") as client:
        listing: aiotofu.Paginator[aiotofu.Part] = client.parts.list(
            search_query="board",
            metadata={"family": {"in": ["boards"]}},
            include_metadata=True,
            sort_by="name",
        )
        async for part in listing:
            revisions: tuple[aiotofu.PartRevision, ...] = part.revisions
            del revisions
    with aiotofu.SyncClient("key") as sync:
        every: list[aiotofu.Part] = sync.parts.list(procedure_ids="p").collect()
        del every


async def stations() -> None:
    async with aiotofu.Client("key") as client:
        async for station in client.stations.list(procedure_ids=["p"], include_metadata=True):
            team: aiotofu.TeamRef | None = station.team
            procedures: tuple[aiotofu.ProcedureRef, ...] = station.procedures
            del team, procedures


async def every_endpoint() -> None:
    from datetime import timedelta
    from typing import Literal

    from typing_extensions import assert_type

    async with aiotofu.Client("key") as client:
        runs = client.runs.list(
            outcomes=["FAIL", "ERROR"],
            procedure_ids="p",
            started_after=datetime(2024, 6, 1, tzinfo=timezone.utc),
            duration_min=timedelta(minutes=1),
            metadata={"fixture": {"in": ["F1"]}},
            include_sequences=True,
            sort_by="duration",
        )
        assert_type(runs, aiotofu.Paginator[aiotofu.Run])
        async for run in runs:
            assert_type(run.outcome, Literal["PASS", "FAIL", "ERROR", "TIMEOUT", "ABORTED"])
            serial: str = run.unit.serial_number
            tag: str | None = run.procedure.version.tag if run.procedure.version else None
            sequences: tuple[aiotofu.RunSequence, ...] | None = run.sequences
            del serial, tag, sequences
        async for unit in client.units.watch(part_numbers="PCB-V1.2", latest_only=True):
            assert_type(unit, aiotofu.Unit)
            last: aiotofu.LastRun | None = unit.last_run
            del last
        async for log in client.logs.watch(levels=["ERROR"]):
            assert_type(log.level, Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"])
        watcher: aiotofu.Watcher[aiotofu.Run] = client.runs.watch(outcomes="FAIL")
        del watcher
        phases: list[aiotofu.Phase] = await client.phases.list(
            procedure_id="p", outcomes=["SKIP"], exclude_retries=False
        ).collect()
        measurements = client.measurements.list(procedure_id="p", value_min=3.2, value_bool=True)
        assert_type(measurements, aiotofu.Paginator[aiotofu.Measurement])
        procedures: list[aiotofu.Procedure] = await client.procedures.list().collect()
        repository: aiotofu.LinkedRepository | None = procedures[0].linked_repository
        deployments = client.deployments.list(environments="production", pushed=True)
        assert_type(deployments, aiotofu.Paginator[aiotofu.Deployment])
        del phases, repository
        resumed: aiotofu.Paginator[aiotofu.Log] = client.logs.resume("token")
        del resumed
    with aiotofu.SyncClient("key") as sync:
        for failed in sync.runs.list(outcomes="FAIL"):
            assert_type(failed, aiotofu.Run)
        for new_run in sync.runs.watch(poll_interval=1.0):
            assert_type(new_run, aiotofu.Run)
        found: list[aiotofu.Measurement] = sync.measurements.list(procedure_id="p").collect()
        del found


def typos_are_type_errors(client: aiotofu.Client) -> None:
    client.runs.list(outcomes=["PASSED"])  # type: ignore[list-item]
    client.runs.list(sort_by="name")  # type: ignore[arg-type]
    client.phases.list()  # type: ignore[call-arg]
    client.procedures.list(sort_by="name")  # type: ignore[call-arg]


def precise_keywords(client: aiotofu.Client, sync: aiotofu.SyncClient) -> None:
    """The derived facades keep the keyword precision of hand-written signatures."""
    client.phases.list(outcomes=["SKIP"])  # type: ignore[call-arg]
    client.runs.list(outcomes=["FIAL"])  # type: ignore[list-item]
    client.runs.list(sort_by="colour")  # type: ignore[arg-type]
    client.runs.list(page_sise=3)  # type: ignore[call-arg]
    client.runs.list(page_size="3")  # type: ignore[arg-type]
    client.stations.list(sort_order="asc")  # type: ignore[call-arg]
    client.runs.watch(created_after=datetime.now(timezone.utc))  # type: ignore[arg-type]
    client.logs.watch(timestamp_before=datetime.now(timezone.utc))  # type: ignore[arg-type]
    client.units.list("PCB-V1.2")  # type: ignore[call-arg]
    sync.measurements.list()  # type: ignore[call-arg]
    sync.runs.list(outcomes=["FIAL"])  # type: ignore[list-item]
    sync.runs.list(page_sise=3)  # type: ignore[call-arg]
    sync.batches.watch(created_before=datetime.now(timezone.utc))  # type: ignore[arg-type]
    bare: aiotofu.Watcher = client.batches.watch()
    assert_batch: aiotofu.Batch | None = None
    del bare, assert_batch


async def shards() -> None:
    from typing_extensions import assert_type

    async with aiotofu.Client("key") as client:
        plan: aiotofu.Plan = await client.runs.plan(
            target_size=20_000,
            outcomes="FAIL",
            created_after=datetime(2024, 1, 1, tzinfo=timezone.utc),
        )
        as_of: datetime = plan.as_of
        resource: str = plan.resource
        for shard in plan.shards:
            start: datetime = shard.start
            bound: int = shard.at_most
            runs = client.runs.read(shard, page_size=100, prefetch=4)
            assert_type(runs, aiotofu.ShardReader[aiotofu.Run])
            still: aiotofu.Paginator[aiotofu.Run] = runs  # a Paginator as well
            straggler = client.runs.read(shard, budget=1_000)
            rest = straggler.remainder
            assert_type(rest, aiotofu.Shard | None)
            if rest is not None:
                taken: int = rest.taken
                ids: tuple[str, ...] = rest.taken_ids
                depth: int = rest.split()[0].depth
                del taken, ids, depth
            del still
            left, right = shard.split()
            again: aiotofu.Shard = aiotofu.Shard.from_json(left.to_json())
            del start, bound, right, again
        async for found in client.batches.shards(target_size=5_000, part_numbers="PCB"):
            assert_type(found, aiotofu.Shard)
            assert_type(client.batches.read(found), aiotofu.ShardReader[aiotofu.Batch])
        same: aiotofu.Plan = aiotofu.Plan.from_json(plan.to_json())
        logs = client.logs.read((await client.logs.plan(target_size=10)).shards[0])
        assert_type(logs, aiotofu.ShardReader[aiotofu.Log])
        del as_of, resource, same
    with aiotofu.SyncClient("key") as sync:
        planned: aiotofu.Plan = sync.units.plan(target_size=1_000, latest_only=True)
        for piece in sync.units.shards(target_size=1_000):
            assert_type(piece, aiotofu.Shard)
        for unit in sync.units.read(planned.shards[0]):
            assert_type(unit, aiotofu.Unit)
        blocking_read = sync.units.read(planned.shards[0], budget=10)
        assert_type(blocking_read.remainder, aiotofu.Shard | None)
        assert_type(blocking_read.collect(), list[aiotofu.Unit])


async def shard_misuses(
    client: aiotofu.Client, sync: aiotofu.SyncClient, shard: aiotofu.Shard
) -> None:
    """Only resources that can be sharded plan, with their own filters and a target size."""
    client.phases.plan(procedure_id="p", target_size=1)  # type: ignore[attr-defined]
    client.parts.read(shard)  # type: ignore[attr-defined]
    await client.runs.plan(outcomes=["FIAL"], target_size=1)  # type: ignore[list-item]
    await client.runs.plan()  # type: ignore[call-arg]
    await client.runs.plan(target_size="big")  # type: ignore[arg-type]
    client.batches.shards(target_size=1, sort_by="number")  # type: ignore[call-arg]
    client.runs.read(shard, page_sise=3)  # type: ignore[call-arg]
    client.runs.read("shard")  # type: ignore[arg-type]
    client.runs.read(shard, budget="10")  # type: ignore[arg-type]
    client.runs.read(shard).remainder = shard  # type: ignore[misc]
    sync.runs.plan(target_size=1, outcomes=["FIAL"])  # type: ignore[list-item]


def on_dask(plan: aiotofu.Plan) -> None:
    """``aiotofu.dask.read()`` takes a plan (not a shard) and the client's own options."""
    import dask.bag

    import aiotofu.dask

    bag: dask.bag.Bag = aiotofu.dask.read(plan, base_url="https://example.com/api", timeout=10.0)
    aiotofu.dask.read(plan.shards[0])  # type: ignore[arg-type]
    aiotofu.dask.read(plan, page_size="100")  # type: ignore[arg-type]
    del bag


async def limits() -> None:
    events: list[aiotofu.RetryEvent] = []
    async with (
        Emulator(batches=10, rate_limit=40, rate_burst=5) as emu,
        aiotofu.Client(
            "key",
            base_url=emu.base_url,
            max_concurrency=16,
            adaptive=True,
            rate_limit=40.0,
            on_retry=events.append,
        ) as client,
    ):
        await client.batches.list().collect()
    window: int | None = events[0].concurrency_limit
    rate: float | None = events[0].rate_limit
    del window, rate
    with aiotofu.SyncClient("key", adaptive=False, rate_limit=2) as sync:
        sync.batches.list().collect()


async def tables_and_values() -> None:
    """Typed durations, hashable records, to_dict / to_json_dict, schema, to_arrow / to_pandas."""
    from collections.abc import Mapping
    from datetime import timedelta
    from typing import Any

    import pyarrow

    async with aiotofu.Client("key") as client:
        async for run in client.runs.list(include_metadata=True):
            took: timedelta = run.duration
            metadata: Mapping[str, str | float | bool] | None = run.metadata
            seen: set[aiotofu.Run] = {run}
            plain: dict[str, Any] = aiotofu.to_dict(run)
            data: dict[str, Any] = aiotofu.to_json_dict(run)
            del took, metadata, seen, plain, data
        async for phase in client.phases.list(procedure_id="p"):
            ms: int | None = phase.duration_ms
            phase_took: timedelta | None = phase.duration
            del ms, phase_took
        table: pyarrow.Table = await client.runs.list().to_arrow()
        frame = await client.runs.list().to_pandas()
        del table, frame
    schema: pyarrow.Schema = aiotofu.schema(aiotofu.Run)
    frozen: dict[str, int] = aiotofu.FrozenDict({"a": 1})
    del schema, frozen
    with aiotofu.SyncClient("key") as sync:
        sync_table: pyarrow.Table = sync.runs.list().to_arrow()
        sync_frame = sync.runs.list().to_pandas()
        del sync_table, sync_frame


async def operations() -> None:
    """TLS, events and telemetry options, as a self-hosted daemon writes them."""
    import ssl
    from pathlib import Path

    pages: list[aiotofu.PageEvent] = []
    async with aiotofu.Client(
        "key",
        base_url="https://tofupilot.corp",
        verify="corp-ca.pem",
        cert=("client.pem", "client.key"),
        on_page=pages.append,
        tracer_provider=None,
        meter_provider=None,
    ) as client:
        del client
    aiotofu.Client("key", verify=ssl.create_default_context(), cert=Path("both.pem"))
    aiotofu.Client("key", verify=False)
    with aiotofu.SyncClient("key", verify=Path("ca.pem"), on_page=pages.append) as sync:
        del sync
    event = pages[0]
    total: int = event.records + event.cursor + event.attempts
    seconds: float = event.seconds
    resource: str = event.resource
    del total, seconds, resource
    aiotofu.Client("key", verify=42)  # type: ignore[arg-type]
    aiotofu.Client("key", cert=("a", "b", "c"))  # type: ignore[arg-type]


def tls_errors(error: aiotofu.TransportError) -> None:
    if isinstance(error, aiotofu.TLSError):
        text: str = str(error)
        del text


def on_dlt() -> None:
    """``aiotofu.dlt.source()`` takes keywords only, windows as timedeltas, names of resources;
    ``duckdb_pipeline`` and ``run`` load it."""
    from datetime import timedelta

    import aiotofu.dlt

    source = aiotofu.dlt.source(
        resources=["runs", "measurements"],
        start=datetime(2024, 1, 1, tzinfo=timezone.utc),
        lag=timedelta(minutes=30),
        lookback=timedelta(hours=6),
        page_size=100,
    )
    pipeline = aiotofu.dlt.duckdb_pipeline("tofupilot.duckdb", pipeline_name="nightly")
    counts: dict[str, int] = aiotofu.dlt.run(pipeline, source)
    assert counts
    aiotofu.dlt.source(["runs"])  # type: ignore[call-arg]
    aiotofu.dlt.source(lag=600)  # type: ignore[arg-type]


async def first_ten_minutes() -> None:
    """Issue 25: an upload's unit created by add_run, a request's path."""
    from typing_extensions import assert_type

    from aiotofu.testing import MockTransport, Request, Response, json_response

    async with Emulator(batches=3) as emu:
        run_id = emu.add_run(serial_number="NEW-1", part_number="PCB-V1.2", batch_number="B-1")
        assert_type(run_id, str)

    def handler(request: Request) -> Response:
        assert_type(request.path, str)
        return json_response({"data": [], "meta": {"has_more": False, "next_cursor": None}})

    assert_type(MockTransport(handler).requests, list[Request])

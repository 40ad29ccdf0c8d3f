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
            revisions: list[aiotofu.PartRevision] = part.revisions
            del revisions
    with aiotofu.SyncClient("key") as sync:
        every: list[aiotofu.Part] = sync.parts.list(procedure_ids="p").collect()
        del every


async def stations() -> None:
    async with aiotofu.Client("key") as client:
        async for station in client.stations.list(procedure_ids=["p"], include_metadata=True):
            team: aiotofu.TeamRef | None = station.team
            procedures: list[aiotofu.ProcedureRef] = station.procedures
            del team, procedures

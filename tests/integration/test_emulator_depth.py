"""What a deep listing costs the emulator, and how it rounds time (issue "Depth-independent
listings"): ``emu.stats["rows_scanned"]`` counts the rows every list request walked (the cursor
it skipped + the records it answered), ``Emulator(offset_cost=...)`` charges each request its
offset without blocking the others, and ``Emulator(timestamp_precision="us")`` stores
microseconds and answers milliseconds, as a JavaScript server over PostgreSQL does.

Requests are made with aiohttp alone, so these tests hold the emulator to its answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import signal
import subprocess
import sys
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp
import pytest

import aiotofu
from aiotofu import cli
from aiotofu._emulator import EmulatorServer
from aiotofu._emulator.store import Store, procedure_id, to_micros
from aiotofu.testing import Emulator

UTC = timezone.utc
FUNCTIONAL = procedure_id("Functional test")
Get = Callable[..., Awaitable[Any]]


@contextlib.asynccontextmanager
async def getter(emu: Emulator) -> AsyncIterator[Get]:
    """One GET with the emulator's key: the JSON body of a 200 (any other status fails)."""
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {emu.api_key}"}) as s:

        async def call(
            resource: str, params: dict[str, str] | None = None, status: int = 200
        ) -> Any:
            async with s.get(f"{emu.base_url}/v2/{resource}", params=params or {}) as answer:
                assert answer.status == status, await answer.text()
                return await answer.json()

        yield call


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(batches=60, seed=4) as server:
        yield server


@pytest.fixture
async def get(emu: Emulator) -> AsyncIterator[Get]:
    async with getter(emu) as call:
        yield call


def ms(micros: int) -> str:
    """The query form of an instant, to the millisecond (truncated, as the API shows it)."""
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros - micros % 1000)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


# -- rows_scanned -----------------------------------------------------------------------------

# Every list endpoint, with the parameters it requires.
ENDPOINTS = [
    ("batches", {}),
    ("units", {}),
    ("runs", {}),
    ("procedures", {}),
    ("deployments", {}),
    ("logs", {}),
    ("phases", {"procedure_id": FUNCTIONAL}),
    ("measurements", {"procedure_id": FUNCTIONAL}),
    ("parts", {}),
    ("stations", {}),
]


@pytest.mark.parametrize(("resource", "scope"), ENDPOINTS)
async def test_rows_scanned_is_the_cursor_plus_the_records_answered(
    emu: Emulator, get: Get, resource: str, scope: dict[str, str]
) -> None:
    """Exact, per request and summed: a first page, a deep one, one past the end (the offset
    is walked all the same), the same query again (a cached answer is walked again: the
    database does the work every time), and a 400 (nothing walked)."""
    emu.reset_stats()
    assert emu.stats["rows_scanned"] == 0
    expected = []
    for cursor, limit in ((0, 3), (4, 2), (4, 2), (10_000, 5)):
        body = await get(resource, {**scope, "cursor": str(cursor), "limit": str(limit)})
        expected.append(cursor + len(body["data"]))
    assert expected[0] == 3  # every endpoint has at least 6 records, so no page is short
    assert expected[1] == expected[2] == 6
    assert expected[3] == 10_000
    await get(resource, {**scope, "cursor": "-1"}, status=400)
    assert [entry.rows_scanned for entry in emu.log] == [*expected, 0]
    assert emu.stats["rows_scanned"] == sum(expected)
    emu.reset_stats()
    assert emu.stats["rows_scanned"] == 0


async def test_users_walk_every_member(emu: Emulator, get: Get) -> None:
    """``GET /v2/users`` takes no cursor: it walks (and answers) every member."""
    emu.reset_stats()
    users = await get("users")
    assert len(users) > 1
    assert emu.stats["rows_scanned"] == len(users)
    assert [entry.rows_scanned for entry in emu.log] == [len(users)]


async def test_a_synthetic_store_counts_the_same() -> None:
    server = EmulatorServer(batches=500, synthetic=True)
    await server.start()
    try:
        emu = _Wrapped(server)
        async with getter(emu) as get:  # type: ignore[arg-type]
            await get("batches", {"cursor": "120", "limit": "100"})
            await get("batches", {"cursor": "450", "limit": "100"})
        assert server.state.stats.rows_scanned == (120 + 100) + (450 + 50)
    finally:
        await server.stop()


class _Wrapped:
    """The two attributes ``getter`` needs, of a bare EmulatorServer."""

    def __init__(self, server: EmulatorServer) -> None:
        self.base_url = server.base_url
        self.api_key = server.state.api_key


async def test_a_client_listing_is_counted_request_by_request(emu: Emulator) -> None:
    """Whatever requests a listing makes, each walks its cursor and at most its limit more,
    and the total is the sum of the requests'."""
    emu.reset_stats()
    async with emu.client() as client:
        batches = await client.batches.list(sort_by="number", page_size=10).collect()
    assert len(batches) == 60
    assert len(emu.log) > 1
    for entry in emu.log:
        query = parse_qs(urlsplit(entry.path_qs).query)
        cursor, limit = int(query.get("cursor", ["0"])[0]), int(query["limit"][0])
        assert cursor <= entry.rows_scanned <= cursor + limit, entry
    assert emu.stats["rows_scanned"] == sum(entry.rows_scanned for entry in emu.log)
    assert emu.stats["rows_scanned"] >= 60


# -- offset_cost ------------------------------------------------------------------------------


class Gate:
    """Stands in for the emulator's charge: records each wait and holds it until released."""

    def __init__(self, parties: int) -> None:
        self.waits: list[float] = []
        self.parties = parties
        self.all_waiting = asyncio.Event()
        self.release = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        if len(self.waits) == self.parties:
            self.all_waiting.set()
        await self.release.wait()


async def test_offset_charges_overlap_and_hold_no_lock() -> None:
    """Two concurrent deep requests wait out their charges at the same time (both are in
    their charge at once), after their pages are computed (counted, and a write made during
    the charge does not change them), with neither the store's lock nor the world's held."""
    async with Emulator(batches=300, seed=2, offset_cost=0.001) as emu:
        state = emu._server.state
        waits: list[float] = []

        async def record(seconds: float) -> None:
            waits.append(seconds)

        state.sleep = record
        async with getter(emu) as get:
            before = await get("batches", {"cursor": "200", "limit": "10"})
            assert waits == [pytest.approx(0.2)]
            gate = Gate(parties=2)
            state.sleep = gate.sleep
            emu.reset_stats()
            first = asyncio.create_task(get("batches", {"cursor": "200", "limit": "10"}))
            second = asyncio.create_task(get("runs", {"cursor": "250", "limit": "10"}))
            # Both requests in their charge at once: had the first held a lock or the loop
            # through its charge, the second could not have reached its own, and this wait
            # would never end.
            await asyncio.wait_for(gate.all_waiting.wait(), timeout=60)
            assert sorted(gate.waits) == [pytest.approx(0.2), pytest.approx(0.25)]
            assert state.stats.in_flight == 2
            assert emu.stats["rows_scanned"] == (200 + 10) + (250 + 10)
            store_lock = state.store._lock  # type: ignore[union-attr]
            assert store_lock.acquire(blocking=False)
            store_lock.release()
            world_lock = state.world._lock  # an RLock: tried from another thread
            assert await asyncio.to_thread(_try_and_release, world_lock)
            emu.add_batch("WRITTEN-DURING-THE-CHARGE")  # the newest: shifts every page by one
            gate.release.set()
            answer, runs = await asyncio.gather(first, second)
        assert answer == before
        assert len(runs["data"]) == 10


def _try_and_release(lock: Any) -> bool:
    if not lock.acquire(blocking=False):
        return False
    lock.release()
    return True


async def test_no_charge_without_an_offset_or_a_cost() -> None:
    async with Emulator(batches=30, offset_cost=0.5) as emu:
        gate = Gate(parties=1)
        gate.release.set()
        emu._server.state.sleep = gate.sleep
        async with getter(emu) as get:
            await get("batches", {"cursor": "0", "limit": "5"})
            await get("units", {"limit": "5"})
        assert gate.waits == []
    async with Emulator(batches=30) as emu:
        gate = Gate(parties=1)
        gate.release.set()
        emu._server.state.sleep = gate.sleep
        async with getter(emu) as get:
            await get("batches", {"cursor": "20", "limit": "5"})
        assert gate.waits == []
        assert emu.stats["rows_scanned"] == 25


async def test_the_charge_adds_to_the_latency() -> None:
    """A charge is the database's time: it comes on top of the latency (the network's), not
    inside it. The latency then waits what is left of latency + charge (the charge itself,
    stood in for, returned at once)."""
    async with Emulator(batches=30, offset_cost=10.0, latency=100.0) as emu:
        waits: list[float] = []

        async def record(seconds: float) -> None:
            waits.append(seconds)

        emu._server.state.sleep = record
        async with getter(emu) as get:
            await get("batches", {"cursor": "10", "limit": "5"})
    charge, latency = waits
    assert charge == pytest.approx(100.0)
    # What is left of 100 s + 100 s once the page is served: the milliseconds it took aside.
    assert 150.0 < latency <= 200.0


@pytest.mark.parametrize("cost", [-1.0, math.nan, math.inf, "0.1", True, None])
def test_a_bad_offset_cost_is_a_typed_error(cost: Any) -> None:
    with pytest.raises(aiotofu.InvalidParameterError, match="offset_cost"):
        Emulator(offset_cost=cost)


def test_offset_cost_takes_an_int() -> None:
    assert Emulator(offset_cost=0)._server.state.offset_cost == 0


# -- timestamp_precision ----------------------------------------------------------------------


@pytest.mark.parametrize("precision", ["ns", "MS", "", None, 3])
def test_a_bad_timestamp_precision_is_a_typed_error(precision: Any) -> None:
    with pytest.raises(aiotofu.InvalidParameterError, match="timestamp_precision"):
        Emulator(timestamp_precision=precision)


async def test_a_microsecond_reads_as_its_millisecond_and_is_compared_as_stored() -> None:
    """The issue's example: a batch stored at 12:00:00.123456 reads ``.123Z``;
    ``created_after=...123Z`` includes it, ``created_before=...123Z`` excludes it."""
    async with Emulator(batches=5, timestamp_precision="us") as emu:
        batch_id = emu.add_batch(
            "AT-123456", created_at=datetime(2030, 1, 1, 12, 0, 0, 123456, UTC)
        )
        async with getter(emu) as get:
            scope = {"ids": batch_id}
            [batch] = (await get("batches", scope))["data"]
            assert batch["created_at"] == "2030-01-01T12:00:00.123Z"
            instant = "2030-01-01T12:00:00.123Z"
            assert len((await get("batches", {**scope, "created_after": instant}))["data"]) == 1
            assert (await get("batches", {**scope, "created_before": instant}))["data"] == []
            later = "2030-01-01T12:00:00.124Z"
            assert len((await get("batches", {**scope, "created_before": later}))["data"]) == 1


async def test_queries_are_read_to_the_millisecond_as_javascript_does() -> None:
    """``new Date("...123999Z")`` is ``.123Z``: the digits past the millisecond are dropped
    (with an offset too), in both precisions, on every endpoint."""
    for precision in ("ms", "us"):
        async with Emulator(batches=5, timestamp_precision=precision) as emu:  # type: ignore[arg-type]
            at = datetime(2030, 1, 1, 12, 0, 0, 123000, UTC)
            batch_id = emu.add_batch("AT-123", created_at=at)
            run_id = emu.add_run(created_at=at)
            async with getter(emu) as get:
                for after in ("2030-01-01T12:00:00.123999Z", "2030-01-01T13:00:00.1239+01:00"):
                    body = await get("batches", {"ids": batch_id, "created_after": after})
                    assert [b["id"] for b in body["data"]] == [batch_id], (precision, after)
                    body = await get("runs", {"ids": run_id, "created_after": after})
                    assert [r["id"] for r in body["data"]] == [run_id], (precision, after)
                before = "2030-01-01T12:00:00.122999Z"  # .122: before the batch
                assert (await get("batches", {"ids": batch_id, "created_before": before}))[
                    "data"
                ] == []


def _stored_batches(emu: Emulator) -> list[int]:
    store = emu._server.state.store
    assert isinstance(store, Store)
    return [row[0] for row in store._db.execute("SELECT created_at FROM batches")]


def _world_times(emu: Emulator) -> list[int]:
    records = emu._server.state.world.records()
    times = [r["_created"] for r in records.procedures.values()]
    times += [d["_deployed"] for d in records.deployments.values()]
    times += [u["_created"] for u in records.units.values()]
    for run in records.runs.values():
        times += [run["_created"], run["_started"], run["_ended"]]
    times += [p["_started"] for p in records.phases.values() if p["_started"] is not None]
    times += [log["_created"] for log in records.logs.values()]
    return times


async def test_milliseconds_by_default_as_before() -> None:
    """The default keeps today's data exactly: every generated time is a whole millisecond,
    and the same seed gives the same answers with the precision given or not."""
    async with (
        Emulator(batches=80, seed=3) as emu,
        Emulator(batches=80, seed=3, timestamp_precision="ms") as same,
    ):
        assert all(t % 1000 == 0 for t in _stored_batches(emu))
        assert all(t % 1000 == 0 for t in _world_times(emu))
        async with getter(emu) as get, getter(same) as get_same:
            for resource, scope in ENDPOINTS:
                query = {**scope, "limit": "100"}
                assert await get(resource, query) == await get_same(resource, query)


async def test_generated_records_get_a_deterministic_sub_millisecond_part() -> None:
    """With "us", generated times carry microseconds (the same for the same seed), some
    batches share one instant exactly (a bulk import) and some share only the millisecond;
    the answers still show milliseconds."""
    async with (
        Emulator(batches=400, seed=3, timestamp_precision="us") as emu,
        Emulator(batches=400, seed=3, timestamp_precision="us") as twin,
        Emulator(batches=400, seed=3) as in_ms,
    ):
        stored = _stored_batches(emu)
        assert stored == _stored_batches(twin)
        assert sum(t % 1000 != 0 for t in stored) > 0.9 * len(stored)
        assert sorted(stored) == stored  # generated in order: the sub-millisecond part too
        assert [t - t % 1000 for t in stored] == _stored_batches(in_ms)
        same_instant = sum(a == b for a, b in itertools.pairwise(stored))
        same_ms = sum(a != b and a // 1000 == b // 1000 for a, b in itertools.pairwise(stored))
        assert same_instant > 0
        assert same_ms > 0
        times = _world_times(emu)
        assert times == _world_times(twin)
        assert sum(t % 1000 != 0 for t in times) > 0.9 * len(times)
        async with getter(emu) as get:
            for resource, scope in ENDPOINTS:
                for record in (await get(resource, {**scope, "limit": "100"}))["data"]:
                    for key, value in record.items():
                        if key.endswith("_at") and isinstance(value, str):
                            assert value.endswith("Z")
                            assert len(value) == len("2024-01-01T00:00:00.000Z"), (key, value)


async def test_records_added_at_run_time_get_microseconds() -> None:
    """A batch or a run added now is stamped now to the microsecond, and never before the
    newest: one microsecond after it when the newest is ahead of the clock (in ms, one
    millisecond after)."""
    ahead = datetime(2099, 1, 1, 12, 0, 0, 123456, UTC)
    for precision, step in (("us", 1), ("ms", 1000)):
        async with Emulator(batches=20, timestamp_precision=precision) as emu:  # type: ignore[arg-type]
            emu.add_batch("AHEAD", created_at=ahead)
            emu.add_batch("NOW")
            assert sorted(_stored_batches(emu))[-2:] == [to_micros(ahead), to_micros(ahead) + step]
            records = emu._server.state.world.records()
            emu.add_run(created_at=ahead)
            run_id = emu.add_run()
            assert records.runs[run_id]["_created"] == to_micros(ahead) + step


class _Tables:
    """The world's records of an emulator (``units``, ``runs``...), and its ``store``."""

    def __init__(self, emu: Emulator) -> None:
        self.store = emu._server.state.store
        self.__dict__.update(vars(emu._server.state.world.records()))


# For every time filter: the resource, its filter pair, the scope it needs, and where a
# record keeps the time it is compared by.
TIME_FILTERS: list[tuple[str, str, dict[str, str], Callable[[Any], list[tuple[str, int]]]]] = [
    (
        "batches",
        "created",
        {},
        lambda r: list(r.store._db.execute("SELECT id, created_at FROM batches ORDER BY seq")),
    ),
    (
        "units",
        "created",
        {},
        lambda r: [(u["id"], u["_created"]) for u in r.units.values()],
    ),
    ("runs", "created", {}, lambda r: [(x["id"], x["_created"]) for x in r.runs.values()]),
    ("runs", "started", {}, lambda r: [(x["id"], x["_started"]) for x in r.runs.values()]),
    ("runs", "ended", {}, lambda r: [(x["id"], x["_ended"]) for x in r.runs.values()]),
    (
        "procedures",
        "created",
        {},
        lambda r: [(x["id"], x["_created"]) for x in r.procedures.values()],
    ),
    (
        "deployments",
        "deployed",
        {},
        lambda r: [(x["id"], x["_deployed"]) for x in r.deployments.values()],
    ),
    ("logs", "timestamp", {}, lambda r: [(x["id"], x["_created"]) for x in r.logs.values()]),
    (
        "phases",
        "started",
        {"procedure_id": FUNCTIONAL},
        lambda r: [
            (x["id"], x["_started"])
            for x in r.phases.values()
            if x["_started"] is not None
            and x["is_final_attempt"]
            and x["_run"]["procedure"]["id"] == FUNCTIONAL
        ],
    ),
    (
        "measurements",
        "started",
        {"procedure_id": FUNCTIONAL},
        lambda r: [
            (x["id"], x["_phase"]["_started"])
            for x in r.measurements.values()
            if x["is_final_attempt"] and x["_run"]["procedure"]["id"] == FUNCTIONAL
        ],
    ),
]


@pytest.mark.parametrize(
    ("resource", "bound", "scope", "times"),
    TIME_FILTERS,
    ids=[f"{c[0]}-{c[1]}" for c in TIME_FILTERS],
)
async def test_every_time_filter_compares_the_stored_microseconds(
    resource: str,
    bound: str,
    scope: dict[str, str],
    times: Callable[[Any], list[tuple[str, int]]],
) -> None:
    """A record stored inside a millisecond ``T`` (``T.000123`` to ``T.000999``) is outside
    ``[T, T]`` (what the query means: ``T.000`` only) and inside ``[T, T + 1 ms]``."""
    async with Emulator(batches=40, seed=5, timestamp_precision="us") as emu:
        stored = times(_Tables(emu))
        record_id, micros = next((i, t) for i, t in stored if t % 1000)
        async with getter(emu) as get:

            async def ids(low: int, high: int) -> set[str]:
                found: set[str] = set()
                cursor: int | None = 0
                while cursor is not None:
                    query = {
                        **scope,
                        f"{bound}_after": ms(low),
                        f"{bound}_before": ms(high),
                        "limit": "100",
                        "cursor": str(cursor),
                    }
                    body = await get(resource, query)
                    found |= {record["id"] for record in body["data"]}
                    cursor = body["meta"]["next_cursor"]
                return found

            assert record_id not in await ids(micros, micros)
            assert record_id in await ids(micros, micros + 1000)
            assert record_id in await ids(micros - 1000, micros + 1000)


async def test_order_by_a_time_key_is_by_the_stored_microseconds() -> None:
    """Two batches in one millisecond: the later microsecond comes first in ``desc`` even
    though the id (the tie-breaker of equal instants) would put it second; and an instant
    shared exactly still falls back to the id."""
    async with Emulator(batches=0, timestamp_precision="us") as emu:
        store = emu._server.state.store
        assert isinstance(store, Store)
        base = to_micros(datetime(2030, 1, 1, 12, 0, 0, tzinfo=UTC)) + 123_000
        low_id, high_id = (
            "00000000-0000-4000-8000-000000000000",
            "ffffffff-ffff-4fff-bfff-ffffffffffff",
        )
        store.create_batch("LATER", created_at=base + 900, batch_id=low_id)
        store.create_batch("EARLIER", created_at=base + 100, batch_id=high_id)
        store.create_batch(
            "TIED-A", created_at=base + 500, batch_id="11111111-1111-4111-8111-111111111111"
        )
        store.create_batch(
            "TIED-B", created_at=base + 500, batch_id="22222222-2222-4222-8222-222222222222"
        )
        async with getter(emu) as get:
            desc = [b["number"] for b in (await get("batches", {"sort_order": "desc"}))["data"]]
            asc = [b["number"] for b in (await get("batches", {"sort_order": "asc"}))["data"]]
        assert desc == ["LATER", "TIED-B", "TIED-A", "EARLIER"]
        assert asc == desc[::-1]


async def test_world_listings_are_ordered_by_the_stored_microseconds() -> None:
    """Runs by ``created_at`` and ``started_at``, logs by ``created_at``, phases by
    ``started_at``: every answer follows the stored microseconds, then the id."""
    async with Emulator(batches=40, seed=5, timestamp_precision="us") as emu:
        records = emu._server.state.world.records()
        cases = [
            ("runs", "created_at", {}, records.runs, "_created"),
            ("runs", "started_at", {}, records.runs, "_started"),
            ("logs", "created_at", {}, records.logs, "_created"),
            ("phases", "started_at", {"procedure_id": FUNCTIONAL}, records.phases, "_started"),
        ]
        async with getter(emu) as get:
            for resource, sort_by, scope, table, key in cases:
                answered: list[str] = []
                cursor: int | None = 0
                while cursor is not None:
                    query = {**scope, "sort_by": sort_by, "sort_order": "asc", "limit": "100"}
                    body = await get(resource, {**query, "cursor": str(cursor)})
                    answered += [record["id"] for record in body["data"]]
                    cursor = body["meta"]["next_cursor"]
                keyed = [(table[i][key], i) for i in answered if table[i][key] is not None]
                assert keyed == sorted(keyed), (resource, sort_by)


# -- the description --------------------------------------------------------------------------


async def test_the_stats_name_the_options() -> None:
    async with Emulator(batches=3, offset_cost=5e-7, timestamp_precision="us") as emu:
        assert emu.stats["options"] == {
            "offset_cost": 5e-7,
            "timestamp_precision": "us",
            "tie_order": "stable",
        }
    async with Emulator(batches=3) as emu:
        assert emu.stats["options"] == {
            "offset_cost": 0.0,
            "timestamp_precision": "ms",
            "tie_order": "stable",
        }


# -- the command line -------------------------------------------------------------------------


def test_the_emulator_flags_reach_the_server(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``aiotofu emulator --offset-cost S --timestamp-precision us``: the server it serves is
    made with them (serve() stood in for, so nothing binds a port)."""
    served: list[EmulatorServer] = []
    options: list[dict[str, Any]] = []

    async def serve(server: EmulatorServer, **given: Any) -> None:
        served.append(server)
        options.append(given)

    monkeypatch.setattr("aiotofu._emulator.serve", serve)
    argv = ["emulator", "--batches", "5", "--offset-cost", "5e-7", "--timestamp-precision", "us"]
    assert cli.main(argv) == 0
    [server] = served
    assert (server.state.offset_cost, server.state.timestamp_precision) == (5e-7, "us")
    assert server.state.store.precision == server.state.world.precision == "us"
    assert cli.main(["emulator", "--batches", "5", "--trickle", "2.5", "--verbose"]) == 0
    assert (served[1].state.offset_cost, served[1].state.timestamp_precision) == (0.0, "ms")
    assert options == [{}, {"trickle": 2.5, "verbose": True}]
    capsys.readouterr()
    for rate in ("0", "-1", "nan"):
        assert cli.main(["emulator", "--trickle", rate]) == 2
        assert "--trickle: expected runs per second > 0" in capsys.readouterr().err
    assert len(served) == 2  # refused before any server was made


def test_the_demo_takes_an_offset_cost(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    made: list[EmulatorServer] = []

    class Recorded(EmulatorServer):
        def __init__(self, **options: Any) -> None:
            super().__init__(**options)
            made.append(self)

    monkeypatch.setattr("aiotofu._emulator.EmulatorServer", Recorded)
    argv = ["demo", "--batches", "200", "--latency", "0", "--fail-rate", "0", "--drop-rate", "0"]
    assert cli.main([*argv, "--offset-cost", "1e-9"]) == 0
    assert "every batch exactly once, newest first: yes" in capsys.readouterr().out
    [server] = made
    assert server.state.offset_cost == 1e-9
    assert server.state.stats.rows_scanned > 200


@pytest.mark.parametrize("command", ["emulator", "demo"])
@pytest.mark.parametrize("cost", ["-1", "nan", "inf"])
def test_a_bad_offset_cost_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], command: str, cost: str
) -> None:
    assert cli.main([command, "--offset-cost", cost]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "--offset-cost: expected a finite number of seconds >= 0" in err


def test_a_bad_timestamp_precision_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["emulator", "--timestamp-precision", "ns"])
    assert exited.value.code == 2
    assert "--timestamp-precision: invalid choice: 'ns'" in capsys.readouterr().err


@pytest.mark.slow
def test_the_emulator_command_says_how_it_answers_and_does_it() -> None:
    """The startup lines name the options; a batch then stored inside its millisecond is
    left out by ``created_before`` its own shown time, as the flag asks."""
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "aiotofu", "emulator", "--port", "0", "--batches", "30"),
            *("--offset-cost", "1e-6", "--timestamp-precision", "us", "--api-key", "tp-depth"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(4)]
        base_url = lines[0].split()[-1]
        assert lines[3] == (
            "options: offset cost 1e-06 s per skipped row; times stored in microseconds "
            "(answered in milliseconds); ties stable\n"
        )

        def get(params: dict[str, str]) -> Any:
            url = f"{base_url}/v2/batches?{urlencode(params)}"
            request = urllib.request.Request(url, headers={"Authorization": "Bearer tp-depth"})
            with urllib.request.urlopen(request, timeout=30) as answer:
                return json.load(answer)

        batches = get({"limit": "30"})["data"]
        assert len(batches) == 30
        left_out = [
            b
            for b in batches
            if not get({"ids": b["id"], "created_before": b["created_at"]})["data"]
        ]
        assert len(left_out) > 20  # those stored past their shown millisecond: nearly all
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
    assert process.returncode == 0

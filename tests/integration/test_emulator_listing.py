"""The emulator's listing engine as the API behaves: its defaults (``exclude_retries`` is true
unless asked otherwise) and the order of records whose sort keys are equal, stable (by id) or,
with ``Emulator(tie_order="unstable")``, drawn afresh for every request as SQL without a
unique tie-breaker may, for every endpoint and every ``sort_by``.

Requests are made with aiohttp alone, so these tests hold the emulator to its answers.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

import aiotofu
from aiotofu import cli
from aiotofu._emulator import EmulatorServer
from aiotofu._emulator.endpoints import LISTINGS, PARTS
from aiotofu._emulator.store import parts_catalogue, procedure_id
from aiotofu._emulator.world import PROCEDURE_NAMES
from aiotofu.testing import Emulator

UTC = timezone.utc
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


@pytest.fixture
async def unstable() -> AsyncIterator[Emulator]:
    """The same data, ties unstable, and five batches created in one instant."""
    async with Emulator(batches=60, seed=4, tie_order="unstable") as server:
        for k in range(5):
            server.add_batch(f"SAME-{k}", created_at=datetime(2023, 6, 1, tzinfo=UTC))
        yield server


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


# -- the order of ties ------------------------------------------------------------------------


def _world_key(emu: Emulator, path: str, sort_by: str) -> Callable[[dict[str, Any]], Any]:
    listing, name = LISTINGS[path]
    records = getattr(emu._server.state.world.records(), name)
    return lambda record: listing.sorts[sort_by](records[record["id"]])


def _cases(emu: Emulator) -> list[tuple[str, dict[str, str], Callable[[dict[str, Any]], Any]]]:
    """(resource, query, the sort key of a record) for every endpoint and every sort_by; the
    endpoints that take no order are ordered by a key of their own with no ties in the data,
    so their whole answer must come back the same."""
    cases: list[tuple[str, dict[str, str], Callable[[dict[str, Any]], Any]]] = []
    for sort_by, field in (("created_at", "created_at"), ("number", "number")):
        cases.append(("batches", {"sort_by": sort_by}, lambda r, f=field: r[f]))
    parts = {part["id"]: part for part in parts_catalogue()}
    for sort_by, key in PARTS.sorts.items():
        cases.append(("parts", {"sort_by": sort_by}, lambda r, k=key: k(parts[r["id"]])))
    cases.append(("stations", {}, lambda r: r["id"]))
    for path, (listing, _) in LISTINGS.items():
        resource = path.rsplit("/", 1)[1]
        scope = {"procedure_id": FUNCTIONAL} if resource in ("phases", "measurements") else {}
        if not listing.sorts:
            cases.append((resource, scope, lambda r: r["id"]))
        for sort_by in listing.sorts:
            key = _world_key(emu, path, sort_by)
            cases.append((resource, {**scope, "sort_by": sort_by}, key))
    return cases


def _groups(keys: list[Any]) -> list[tuple[int, int]]:
    """The (start, end) of every run of equal keys."""
    groups, start = [], 0
    for index in range(1, len(keys) + 1):
        if index == len(keys) or keys[index] != keys[start]:
            groups.append((start, index))
            start = index
    return groups


@pytest.mark.parametrize("order", ["asc", "desc"])
async def test_unstable_ties_change_order_on_every_request_and_nothing_else(
    unstable: Emulator, order: str
) -> None:
    """Eight identical requests: the same sort keys in the same order, the same records in
    each group of equal keys (but the one a page cuts), and, wherever a page holds a tie, at
    least two of them ordering it differently."""
    tied = set()
    for resource, params, key in _cases(unstable):
        query = {**params, "sort_order": order, "limit": "100"}
        async with getter(unstable) as get:
            answers = [await get(resource, query) for _ in range(8)]
        pages = [[record["id"] for record in answer["data"]] for answer in answers]
        keys = [[key(record) for record in answer["data"]] for answer in answers]
        assert all(k == keys[0] for k in keys), (resource, params)
        groups = _groups(keys[0])
        if answers[0]["meta"]["has_more"]:
            groups = groups[:-1]  # the group a page cuts may take others of its key
        for start, end in groups:
            members = {frozenset(page[start:end]) for page in pages}
            assert len(members) == 1, (resource, params, keys[0][start])
        if any(end - start > 1 for start, end in _groups(keys[0])):
            tied.add((resource, params.get("sort_by")))
            assert len({tuple(page) for page in pages}) > 1, (resource, params)
        else:
            assert all(page == pages[0] for page in pages), (resource, params)
    # Not vacuous: ties in the first page of every endpoint that takes an order.
    assert {resource for resource, _ in tied} == {
        "batches",
        "parts",
        "units",
        "runs",
        "logs",
        "phases",
        "measurements",
    }
    assert ("batches", "created_at") in tied
    assert ("runs", "outcome") in tied


async def test_stable_ties_are_broken_by_id_and_never_move(emu: Emulator, get: Get) -> None:
    for resource, params, key in _cases(emu):
        query = {**params, "sort_order": "desc", "limit": "100"}
        pages = [(await get(resource, query))["data"] for _ in range(3)]
        assert all(page == pages[0] for page in pages), (resource, params)
        for start, end in _groups([key(record) for record in pages[0]]):
            ids = [record["id"] for record in pages[0][start:end]]
            assert ids == sorted(ids, reverse=True), (resource, params)


async def test_unstable_orders_are_the_same_for_the_same_seed_and_requests() -> None:
    """Reproducible: the permutations follow the seed and the count of requests."""
    seen = []
    for _ in range(2):
        emu = Emulator(batches=20, runs=60, seed=9, tie_order="unstable")
        async with emu, getter(emu) as get:
            query = {"sort_by": "outcome", "limit": "100"}
            answers = [(await get("runs", query))["data"] for _ in range(3)]
        seen.append([[run["id"] for run in answer] for answer in answers])
    assert seen[0] == seen[1]
    assert len({tuple(order) for order in seen[0]}) > 1


def test_tie_order_is_checked() -> None:
    with pytest.raises(aiotofu.InvalidParameterError, match="^tie_order: "):
        Emulator(tie_order="random")  # type: ignore[arg-type]


@pytest.mark.parametrize("given", [[], ["--tie-order", "unstable"], ["--tie-order", "stable"]])
def test_the_emulator_command_takes_the_tie_order(
    monkeypatch: pytest.MonkeyPatch, given: list[str]
) -> None:
    served: list[str] = []

    async def serve(server: EmulatorServer) -> None:
        served.append(server.state.tie_order)
        server.state.store.close()

    # The command imports the emulator when it runs (not with the CLI): patch it at the source.
    monkeypatch.setattr(aiotofu._emulator, "serve", serve)
    assert cli.main(["emulator", "--port", "0", "--batches", "3", *given]) == 0
    assert served == [given[1] if given else "stable"]


def test_the_emulator_command_refuses_an_unknown_tie_order(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["emulator", "--tie-order", "random"])
    assert exited.value.code == 2
    assert "--tie-order" in capsys.readouterr().err

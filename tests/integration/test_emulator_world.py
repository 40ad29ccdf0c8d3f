"""The emulator's world under writes: adding or deleting one record changes exactly the records
the API would change (the deleted one, what cascades from it, the unit a run moves) and leaves
every other record of every endpoint as it was; the same operations on the same seed give the
same world.

Snapshots are read over HTTP with aiohttp alone (every page, every include flag), so these
tests hold the emulator to its answers, not to the client's paginator.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import Any

import aiohttp
import pytest

import aiotofu
from aiotofu._emulator.store import procedure_id, stable_id
from aiotofu._emulator.world import PROCEDURE_NAMES
from aiotofu.testing import Emulator

UTC = timezone.utc
Snapshot = dict[str, dict[str, dict[str, Any]]]

# Every list endpoint with every flag that adds to its records; phases and measurements of
# every procedure, retried attempts included.
PLAIN = {
    "batches": {},
    "units": {"include_metadata": "true"},
    "runs": {"include_metadata": "true", "include_sequences": "true"},
    "parts": {"include_metadata": "true"},
    "stations": {"include_metadata": "true"},
    "procedures": {},
    "deployments": {},
    "logs": {},
}
SCOPED = ("phases", "measurements")


async def snapshot(emu: Emulator) -> Snapshot:
    """Every record of every endpoint, by endpoint and id (and the users, by id)."""
    headers = {"Authorization": f"Bearer {emu.api_key}"}
    found: Snapshot = {}
    async with aiohttp.ClientSession(headers=headers) as session:

        async def walk(resource: str, params: dict[str, str]) -> None:
            records = found.setdefault(resource, {})
            cursor: int | None = 0
            while cursor is not None:
                query = {**params, "limit": "100", "cursor": str(cursor)}
                async with session.get(f"{emu.base_url}/v2/{resource}", params=query) as answer:
                    assert answer.status == 200, await answer.text()
                    body = await answer.json()
                for record in body["data"]:
                    assert record["id"] not in records, (resource, record["id"])
                    records[record["id"]] = record
                cursor = body["meta"]["next_cursor"]

        for resource, params in PLAIN.items():
            await walk(resource, params)
        for resource in SCOPED:
            for name in PROCEDURE_NAMES:
                scope = {"procedure_id": procedure_id(name), "exclude_retries": "false"}
                await walk(resource, scope)
        async with session.get(f"{emu.base_url}/v2/users") as answer:
            found["users"] = {user["id"]: user for user in await answer.json()}
    return found


def changes(before: Snapshot, after: Snapshot) -> dict[str, dict[str, set[str]]]:
    """Per endpoint, the ids added, removed and changed (endpoints without a change left out)."""
    report: dict[str, dict[str, set[str]]] = {}
    for resource in before.keys() | after.keys():
        old, new = before.get(resource, {}), after.get(resource, {})
        delta = {
            "added": set(new) - set(old),
            "removed": set(old) - set(new),
            "changed": {key for key in old.keys() & new.keys() if old[key] != new[key]},
        }
        if any(delta.values()):
            report[resource] = {kind: ids for kind, ids in delta.items() if ids}
    return report


def of_runs(world: Snapshot, run_ids: set[str]) -> dict[str, set[str]]:
    """The phases, measurements and log lines of these runs."""
    return {
        "phases": {k for k, p in world["phases"].items() if p["run_id"] in run_ids},
        "measurements": {k for k, m in world["measurements"].items() if m["run_id"] in run_ids},
        "logs": {k for k, log in world["logs"].items() if log["run"]["id"] in run_ids},
    }


def runs_of(world: Snapshot, unit_ids: set[str]) -> set[str]:
    return {k for k, run in world["runs"].items() if run["unit"]["id"] in unit_ids}


def latest(world: Snapshot, unit_id: str) -> str | None:
    """The id of a unit's run started last (the id breaks a tie), as its last_run names it."""
    tested = [run for run in world["runs"].values() if run["unit"]["id"] == unit_id]
    if not tested:
        return None
    return str(max(tested, key=lambda run: (run["started_at"], run["id"]))["id"])


def removed(resource_ids: dict[str, set[str]]) -> dict[str, dict[str, set[str]]]:
    return {resource: {"removed": ids} for resource, ids in resource_ids.items() if ids}


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    """30 batches (about 170 units) and 120 runs: every endpoint in a few dozen pages."""
    async with Emulator(batches=30, runs=120, seed=5) as server:
        yield server


async def test_add_batch_adds_the_batch_and_its_units_and_changes_nothing_else(
    emu: Emulator,
) -> None:
    before = await snapshot(emu)
    units = [("SN-NEW-A", "PCB-V1.2", "1.0"), ("SN-NEW-B", "PSU-220", "A")]
    batch_id = emu.add_batch("NEW-1", units=units)
    after = await snapshot(emu)
    new_units = {stable_id("unit", serial) for serial, _, _ in units}
    assert changes(before, after) == {
        "batches": {"added": {batch_id}},
        "units": {"added": new_units},
    }
    assert all(after["units"][unit]["last_run"] is None for unit in new_units)


async def test_delete_batch_takes_its_units_their_runs_and_what_the_runs_own(
    emu: Emulator,
) -> None:
    before = await snapshot(emu)
    tested = {run["unit"]["batch"]["id"] for run in before["runs"].values()}
    victim = next(b for b in before["batches"].values() if b["id"] in tested)
    units = {k for k, unit in before["units"].items() if unit["batch"]["id"] == victim["id"]}
    runs = runs_of(before, units)
    assert units
    assert runs
    emu.delete_batch(victim["number"])
    after = await snapshot(emu)
    assert changes(before, after) == removed(
        {"batches": {victim["id"]}, "units": units, "runs": runs, **of_runs(before, runs)}
    )


async def test_add_run_adds_its_records_and_moves_its_unit_only(emu: Emulator) -> None:
    before = await snapshot(emu)
    unit = next(u for u in before["units"].values() if u["last_run"] is not None)
    run_id = emu.add_run(serial_number=unit["serial_number"], procedure="ICT")
    after = await snapshot(emu)
    owned = of_runs(after, {run_id})
    assert all(owned.values())
    assert changes(before, after) == {
        "runs": {"added": {run_id}},
        **{resource: {"added": ids} for resource, ids in owned.items()},
        "units": {"changed": {unit["id"]}},
    }
    moved = after["units"][unit["id"]]
    assert moved["last_run"]["id"] == run_id
    assert moved["last_run"]["procedure"]["name"] == "ICT"
    assert moved["last_run"]["started_at"] == after["runs"][run_id]["started_at"]


async def test_add_run_moves_its_unit_in_the_last_run_sorts(emu: Emulator) -> None:
    async with emu.client() as client:
        untested = next(u for u in await client.units.list().collect() if u.last_run is None)
        run_id = emu.add_run(serial_number=untested.serial_number, procedure="Final QA")
        newest = await client.units.list(sort_by="last_run_at", max_items=1).collect()
        by_procedure = await client.units.list(
            sort_by="last_run_procedure", sort_order="asc", page_size=100
        ).collect()
    assert [unit.id for unit in newest] == [untested.id]
    assert newest[0].last_run is not None
    assert newest[0].last_run.id == run_id
    names = [u.last_run.procedure.name for u in by_procedure if u.last_run is not None]
    assert names == sorted(names)
    moved = next(k for k, u in enumerate(by_procedure) if u.id == untested.id)
    assert names[moved] == "Final QA"


async def test_a_run_added_in_the_past_leaves_its_units_last_run(emu: Emulator) -> None:
    before = await snapshot(emu)
    unit = next(u for u in before["units"].values() if u["last_run"] is not None)
    run_id = emu.add_run(
        serial_number=unit["serial_number"], started_at=datetime(2023, 6, 1, tzinfo=UTC)
    )
    after = await snapshot(emu)
    assert "units" not in changes(before, after)
    assert run_id in after["runs"]


async def test_delete_run_takes_what_it_owns_and_its_unit_falls_back_to_the_previous_run(
    emu: Emulator,
) -> None:
    before = await snapshot(emu)
    unit = next(u for u in before["units"].values() if len(runs_of(before, {u["id"]})) >= 2)
    victim = unit["last_run"]["id"]
    emu.delete_run(victim)
    after = await snapshot(emu)
    assert changes(before, after) == {
        **removed({"runs": {victim}, **of_runs(before, {victim})}),
        "units": {"changed": {unit["id"]}},
    }
    fallback = latest(after, unit["id"])
    assert fallback is not None
    assert fallback != victim
    assert after["units"][unit["id"]]["last_run"]["id"] == fallback


async def test_deleting_a_units_only_run_leaves_it_untested(emu: Emulator) -> None:
    before = await snapshot(emu)
    unit = next(u for u in before["units"].values() if len(runs_of(before, {u["id"]})) == 1)
    emu.delete_run(unit["last_run"]["id"])
    after = await snapshot(emu)
    assert after["units"][unit["id"]]["last_run"] is None
    async with emu.client() as client:
        counted = await client.units.list(ids=unit["id"], run_count_min=1).collect()
    assert counted == []


async def test_delete_unit_takes_its_runs_and_leaves_its_parent_and_children(
    emu: Emulator,
) -> None:
    """A parent loses the unit from its children, the unit's children lose their parent, its
    batch counts one unit less; its runs go with it."""
    before = await snapshot(emu)
    units = before["units"]
    child = next(u for u in units.values() if u["parent"] and runs_of(before, {u["id"]}))
    parent = next(
        u
        for u in units.values()
        if u["children"] and u["batch"]["id"] != child["batch"]["id"] and runs_of(before, {u["id"]})
    )
    orphans = {c["id"] for c in parent["children"]}
    runs = runs_of(before, {child["id"], parent["id"]})
    emu.delete_unit(child["id"])
    emu.delete_unit(parent["serial_number"])  # by serial number too
    after = await snapshot(emu)
    batches = {child["batch"]["id"], parent["batch"]["id"]}
    assert changes(before, after) == {
        "units": {
            "removed": {child["id"], parent["id"]},
            "changed": {child["parent"]["id"], *orphans},
        },
        "batches": {"changed": batches},
        **removed({"runs": runs, **of_runs(before, runs)}),
    }
    assert child["id"] not in {c["id"] for c in after["units"][child["parent"]["id"]]["children"]}
    assert all(after["units"][orphan]["parent"] is None for orphan in orphans)
    for batch in batches:
        assert after["batches"][batch]["unit_count"] == before["batches"][batch]["unit_count"] - 1
    headers = {"Authorization": f"Bearer {emu.api_key}"}
    url = f"{emu.base_url}/v2/batches/{child['batch']['number']}"
    async with aiohttp.ClientSession(headers=headers) as s, s.get(url) as answer:
        listed = {unit["serial_number"] for unit in (await answer.json())["units"]}
    assert child["serial_number"] not in listed
    assert len(listed) == after["batches"][child["batch"]["id"]]["unit_count"]


async def test_the_world_does_not_depend_on_when_it_is_first_read() -> None:
    """A batch added before the first request is one new batch, not a reshuffled world."""
    new = {
        "units": [("SN-NEW-A", "PCB-V1.2", "1.0")],
        "created_at": datetime(2025, 1, 1, tzinfo=UTC),
    }
    async with Emulator(batches=30, runs=120, seed=5) as read_first:
        fresh = await snapshot(read_first)
        read_first.add_batch("NEW-1", **new)  # type: ignore[arg-type]
        grown = await snapshot(read_first)
    async with Emulator(batches=30, runs=120, seed=5) as written_first:
        written_first.add_batch("NEW-1", **new)  # type: ignore[arg-type]
        unread = await snapshot(written_first)
    assert changes(fresh, unread).keys() == {"batches", "units"}
    assert _without_batch_ids(unread) == _without_batch_ids(grown)


def _without_batch_ids(world: Snapshot) -> Snapshot:
    """The world with every batch id written as its number: an added batch's id is random."""
    text = json.dumps(world, sort_keys=True)
    for batch in world["batches"].values():
        text = text.replace(batch["id"], "batch:" + batch["number"])
    return json.loads(text)  # type: ignore[no-any-return]


async def test_the_same_operations_on_the_same_seed_give_the_same_world() -> None:
    worlds = []
    for _ in range(2):
        async with Emulator(batches=30, runs=120, seed=5) as emu:
            first = await snapshot(emu)
            unit = next(iter(first["units"].values()))
            emu.add_batch(
                "NEW-1",
                units=[("SN-NEW-A", "PCB-V1.2", "1.0")],
                created_at=datetime(2025, 1, 1, tzinfo=UTC),
            )
            emu.add_run(serial_number="SN-NEW-A", created_at=datetime(2025, 1, 2, tzinfo=UTC))
            emu.add_run(created_at=datetime(2025, 1, 3, tzinfo=UTC))
            emu.delete_run(
                unit["last_run"]["id"] if unit["last_run"] else next(iter(first["runs"]))
            )
            emu.delete_unit(unit["id"])
            emu.delete_batch(next(iter(first["batches"])))
            worlds.append(_without_batch_ids(await snapshot(emu)))
    assert worlds[0] == worlds[1]


async def test_deleting_what_does_not_exist_is_an_invalid_parameter(emu: Emulator) -> None:
    with pytest.raises(aiotofu.InvalidParameterError, match="^run_id: "):
        emu.delete_run("no-such-run")
    with pytest.raises(aiotofu.InvalidParameterError, match="^id_or_serial_number: "):
        emu.delete_unit("no-such-unit")
    with pytest.raises(aiotofu.InvalidParameterError, match="^run_id: "):
        emu.delete_run(42)  # type: ignore[arg-type]
    async with emu.client() as client:
        run = (await client.runs.list(max_items=1).collect())[0]
        emu.delete_run(run.id)
        with pytest.raises(aiotofu.InvalidParameterError, match="^run_id: "):
            emu.delete_run(run.id)  # already gone
        assert await client.runs.list(ids=run.id).collect() == []


async def test_a_serial_number_names_one_unit(emu: Emulator) -> None:
    """Units are identified by serial number (their id is derived from it): a second batch
    with a serial number already in use is refused and adds nothing."""
    before = await snapshot(emu)
    taken = next(iter(before["units"].values()))["serial_number"]
    with pytest.raises(aiotofu.InvalidParameterError, match=f"^units: .*{taken}"):
        emu.add_batch("DUPLICATE", units=[(taken, "PCB-V1.2", "1.0")])
    assert changes(before, await snapshot(emu)) == {}
    emu.add_batch("FIRST", units=[("SN-ONCE", "PCB-V1.2", "1.0")])
    with pytest.raises(aiotofu.InvalidParameterError, match="^units: "):
        emu.add_batch("SECOND", units=[("SN-TWICE", "PCB-V1.2", "1.0")] * 2)


async def test_added_runs_keep_their_ids_after_deletions() -> None:
    """An added run's id is never reused, whatever was deleted before it."""
    async with Emulator(batches=5, runs=10, seed=1) as emu:
        first = emu.add_run(created_at=datetime(2025, 1, 1, tzinfo=UTC))
        emu.delete_run(first)
        second = emu.add_run(created_at=datetime(2025, 1, 1, tzinfo=UTC) + timedelta(seconds=1))
    assert second != first


async def test_run_outcomes_follow_from_the_measurements_against_their_limits() -> None:
    """What analysis reads from the emulator means something: a numeric measurement passes
    exactly when its value is within its limits, an attempt fails exactly when one of its
    measurements does, a run decided by its phases fails exactly when a last attempt of one of
    them failed; and the values come from processes of different capability (Cpk computed from
    them, as a user's query would, spreads from below 1 to above 1.33), which the first-pass
    yield then follows."""
    async with Emulator(batches=100, runs=800, seed=11) as emu:
        records = emu._server.state.world.records()
    by_phase: dict[str, list[dict[str, Any]]] = {}
    values: dict[str, list[float]] = {}
    limits: dict[str, tuple[float, float]] = {}
    for measurement in records.measurements.values():
        by_phase.setdefault(measurement["_phase"]["id"], []).append(measurement)
        if measurement["measurement_type"] == "numeric":
            low, high = (v["expected_value"] for v in measurement["validators"])
            inside = low <= measurement["value"] <= high
            assert (measurement["measurement_outcome"] == "PASS") == inside, measurement["id"]
            values.setdefault(measurement["measurement_name"], []).append(measurement["value"])
            limits[measurement["measurement_name"]] = (low, high)
    of_run: dict[str, list[dict[str, Any]]] = {}
    for phase in records.phases.values():
        of_run.setdefault(phase["run_id"], []).append(phase)
    for run in records.runs.values():
        phases = of_run[run["id"]]
        for phase in phases:
            if phase["outcome"] in ("PASS", "FAIL"):
                failing = any(
                    m["measurement_outcome"] == "FAIL" for m in by_phase.get(phase["id"], [])
                )
                assert (phase["outcome"] == "FAIL") == failing, phase["id"]
        if run["outcome"] in ("PASS", "FAIL"):
            final_failure = any(p["outcome"] == "FAIL" and p["is_final_attempt"] for p in phases)
            assert (run["outcome"] == "FAIL") == final_failure, run["id"]
    cpk = {}
    for name, taken in values.items():
        low, high = limits[name]
        if high > low and len(taken) > 30:
            mean, sigma = statistics.fmean(taken), statistics.stdev(taken)
            cpk[name] = min(mean - low, high - mean) / (3 * sigma)
    assert min(cpk.values()) < 1.0 < 1.33 < max(cpk.values()), cpk
    outcomes = Counter(run["outcome"] for run in records.runs.values())
    assert 0.03 < outcomes["FAIL"] / len(records.runs) < 0.3, outcomes

"""``aiotofu.dask.read(plan)`` on the emulator (issue 21): one partition per shard, whose union is
one listing up to ``plan.as_of``, record for record, on a LocalCluster in this process, on one
with worker processes, and on Dask's synchronous scheduler; the API key never enters the task
graph unless it is given; records pickle; no session outlives its task; bad arguments raise
before anything is sent."""

from __future__ import annotations

import asyncio
import gc
import os
import pickle
from collections import Counter
from collections.abc import Iterator
from typing import Any

import aiohttp
import cloudpickle
import distributed
import pytest
from anyio.from_thread import start_blocking_portal

import aiotofu
import aiotofu.dask
from aiotofu import Plan
from aiotofu.testing import Emulator

# Batches, units and runs (and the logs of those runs), each enough for several shards.
WORLD: dict[str, Any] = {"batches": 300, "runs": 400, "seed": 3}
TARGET = {"batches": 60, "units": 200, "runs": 80, "logs": 250}
# The inclusive upper bound of each listing on the time its shards cut.
BEFORE = {"batches": "created_before", "units": "created_before", "runs": "created_before"}
BEFORE["logs"] = "timestamp_before"


@pytest.fixture(scope="module")
def world() -> Iterator[Emulator]:
    """One emulator for the module, in its own thread: Dask's schedulers block the caller."""
    with start_blocking_portal(name="emulator") as portal:
        server = Emulator(**WORLD)
        portal.call(server.__aenter__)
        try:
            yield server
        finally:
            portal.call(server.__aexit__, None, None, None)


@pytest.fixture
def env_key(world: Emulator, monkeypatch: pytest.MonkeyPatch) -> str:
    """The key where in-process workers find it: this process's environment."""
    monkeypatch.setenv("TOFUPILOT_API_KEY", world.api_key)
    return world.api_key


@pytest.fixture(scope="module")
def cluster() -> Iterator[distributed.Client]:
    """A LocalCluster of two in-process workers (threads), and a client that computes on it."""
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=2, processes=False, dashboard_address=":0"
        ) as local,
        distributed.Client(local, set_as_default=False) as client,
    ):
        yield client


def plan_of(world: Emulator, resource: str) -> Plan:
    with aiotofu.SyncClient(world.api_key, base_url=world.base_url) as client:
        plan: Plan = getattr(client, resource).plan(target_size=TARGET[resource])
    return plan


def truth(world: Emulator, plan: Plan) -> list[Any]:
    """One listing with the plan's filters, up to its horizon."""
    with aiotofu.SyncClient(world.api_key, base_url=world.base_url) as client:
        listing = getattr(client, plan.resource).list(**{BEFORE[plan.resource]: plan.as_of})
        return list(listing)


def shard_reads(world: Emulator, plan: Plan) -> list[list[Any]]:
    with aiotofu.SyncClient(world.api_key, base_url=world.base_url) as client:
        return [list(getattr(client, plan.resource).read(shard)) for shard in plan.shards]


def assert_one_listing(parts: list[list[Any]], world: Emulator, plan: Plan) -> None:
    records = [record for part in parts for record in part]
    expected = truth(world, plan)
    assert Counter(r.id for r in records) == Counter(r.id for r in expected)
    assert len(records) == len(expected)
    # Record for record: the same values, not only the same ids.
    assert sorted(records, key=lambda r: r.id) == sorted(expected, key=lambda r: r.id)


@pytest.mark.parametrize("resource", sorted(TARGET))
def test_the_partitions_on_a_local_cluster_are_one_listing_up_to_as_of(
    resource: str, world: Emulator, env_key: str, cluster: distributed.Client
) -> None:
    plan = plan_of(world, resource)
    assert len(plan.shards) >= 3
    bag = aiotofu.dask.read(plan, base_url=world.base_url)
    assert bag.npartitions == len(plan.shards)
    # to_delayed keeps the partitions apart: partition i is shard i, in its read's order.
    parts = cluster.compute(bag.to_delayed(), sync=True)
    assert parts == shard_reads(world, plan)
    assert_one_listing(parts, world, plan)


def test_the_bag_is_an_ordinary_bag_on_the_synchronous_scheduler(
    world: Emulator, env_key: str
) -> None:
    """Without distributed: plain dask.bag, computed in this thread; Bag methods compose."""
    plan = plan_of(world, "batches")
    bag = aiotofu.dask.read(plan, base_url=world.base_url, page_size=7, prefetch=0)
    numbers = bag.map(lambda batch: batch.number).compute(scheduler="sync")
    assert sorted(numbers) == sorted(batch.number for batch in truth(world, plan))
    assert bag.count().compute(scheduler="sync") == len(numbers)


def test_the_concurrency_options_reach_every_task(world: Emulator, env_key: str) -> None:
    """``adaptive`` and ``rate_limit`` are client options like the others (the rate limit holds
    each task's client: the README says so)."""
    plan = plan_of(world, "batches")
    bag = aiotofu.dask.read(plan, base_url=world.base_url, adaptive=False, rate_limit=1000.0)
    assert sorted(bag.map(lambda batch: batch.number).compute(scheduler="sync")) == sorted(
        batch.number for batch in truth(world, plan)
    )


async def test_the_synchronous_scheduler_works_inside_a_running_event_loop(
    world: Emulator, env_key: str
) -> None:
    """Computed from async code, a task finds this thread's loop running: it reads on a thread
    of its own instead (asyncio.run refuses to start inside a running loop)."""
    plan = await asyncio.to_thread(plan_of, world, "batches")  # SyncClient: off this loop
    parts = aiotofu.dask.read(plan, base_url=world.base_url).compute(scheduler="sync")
    expected = await asyncio.to_thread(truth, world, plan)
    assert Counter(b.id for b in parts) == Counter(b.id for b in expected)


def graph_bytes(bag: Any) -> bytes:
    """The bag's task graph as a scheduler receives it: every task, pickled."""
    return cloudpickle.dumps(dict(bag.__dask_graph__()))


def test_the_key_never_enters_the_task_graph(world: Emulator, env_key: str) -> None:
    plan = plan_of(world, "runs")
    bag = aiotofu.dask.read(plan, base_url=world.base_url, timeout=10.0)
    derived = bag.filter(lambda run: run.outcome == "FAIL").map(lambda run: run.id)
    for graph in (graph_bytes(bag), graph_bytes(derived), pickle.dumps(bag)):
        assert world.api_key.encode() not in graph
    # The bag still reads, with the key its worker (this process) has.
    failed = sorted(r.id for r in truth(world, plan) if r.outcome == "FAIL")
    assert failed
    assert sorted(derived.compute(scheduler="sync")) == failed


def test_a_key_given_explicitly_is_in_the_graph_and_used(
    world: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The documented exception: ``api_key=`` travels with the tasks (so this test's search
    for the key can fail), and the workers need no environment then."""
    monkeypatch.delenv("TOFUPILOT_API_KEY", raising=False)
    plan = plan_of(world, "batches")
    bag = aiotofu.dask.read(plan, base_url=world.base_url, api_key=world.api_key)
    assert world.api_key.encode() in graph_bytes(bag)
    assert bag.count().compute(scheduler="sync") == len(truth(world, plan))
    # Two bags with a key are never given the same names (which are no hash of the key).
    again = aiotofu.dask.read(plan, base_url=world.base_url, api_key=world.api_key)
    assert set(bag.__dask_graph__()).isdisjoint(again.__dask_graph__())


def test_a_worker_without_a_key_says_where_to_set_it(world: Emulator) -> None:
    plan = plan_of(world, "batches")
    bag = aiotofu.dask.read(plan, base_url=world.base_url)  # the env var is unset (conftest)
    with pytest.raises(aiotofu.TofuPilotError, match="TOFUPILOT_API_KEY in the environment"):
        bag.compute(scheduler="sync")


def test_no_session_outlives_its_task(
    world: Emulator, env_key: str, cluster: distributed.Client
) -> None:
    """Every task closes the aiohttp session its client opened (one left open would warn
    "Unclosed client session" when collected, and warnings are errors here)."""
    plan = plan_of(world, "runs")
    cluster.compute(aiotofu.dask.read(plan, base_url=world.base_url), sync=True)
    aiotofu.dask.read(plan, base_url=world.base_url).compute(scheduler="sync")
    gc.collect()
    sessions = [o for o in gc.get_objects() if isinstance(o, aiohttp.ClientSession)]
    assert [s for s in sessions if not s.closed] == []


@pytest.mark.parametrize("resource", sorted(TARGET))
def test_records_pickle_to_equal_records(
    resource: str, world: Emulator, env_key: str, cluster: distributed.Client
) -> None:
    """What a worker in another process sends back: pickled records, rebuilt equal and of the
    same (importable) classes."""
    records = truth(world, plan_of(world, resource))
    assert records
    again = pickle.loads(pickle.dumps(records))
    assert again == records
    assert {type(r) for r in again} == {type(r) for r in records}


def test_an_empty_plan_is_an_empty_bag(
    world: Emulator, env_key: str, cluster: distributed.Client
) -> None:
    with aiotofu.SyncClient(world.api_key, base_url=world.base_url) as client:
        plan = client.batches.plan(target_size=50, numbers=["NO-SUCH-BATCH"])
    assert plan.shards == ()
    bag = aiotofu.dask.read(plan, base_url=world.base_url)
    assert bag.npartitions == 0
    assert bag.compute(scheduler="sync") == []


@pytest.mark.parametrize(
    ("options", "name"),
    [
        ({"page_size": 0}, "page_size"),
        ({"prefetch": -1}, "prefetch"),
        ({"timeout": 0}, "timeout"),
        ({"max_concurrency": "4"}, "max_concurrency"),
        ({"rate_limit": 0}, "rate_limit"),
        ({"base_url": "ftp://example.com"}, "base_url"),
        ({"api_key": ""}, "api_key"),
        ({"session": object()}, "session"),
        ({"transport": object()}, "transport"),
        ({"page_sise": 10}, "page_sise"),
    ],
)
def test_bad_arguments_raise_before_anything_is_sent(
    options: dict[str, Any], name: str, world: Emulator
) -> None:
    plan = plan_of(world, "batches")
    requests = world.stats["requests"]
    with pytest.raises(aiotofu.InvalidParameterError) as caught:
        aiotofu.dask.read(plan, **options)
    assert caught.value.parameter == name
    assert world.stats["requests"] == requests


def test_a_plan_is_required(world: Emulator) -> None:
    shard = plan_of(world, "batches").shards[0]
    with pytest.raises(aiotofu.InvalidParameterError, match="plan: expected an aiotofu.Plan"):
        aiotofu.dask.read(shard)  # type: ignore[arg-type]


@pytest.mark.slow
def test_worker_processes_read_with_the_key_of_their_own_environment(world: Emulator) -> None:
    """Workers in subprocesses: the key comes from their environment (set before they start,
    which they inherit), records and errors come back pickled. A wrong key given explicitly
    fails as the AuthenticationError it is, rebuilt in this process."""
    plan = plan_of(world, "runs")
    saved = os.environ.get("TOFUPILOT_API_KEY")
    os.environ["TOFUPILOT_API_KEY"] = world.api_key
    try:
        with (
            distributed.LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
            ) as local,
            distributed.Client(local, set_as_default=False) as client,
        ):
            bag = aiotofu.dask.read(plan, base_url=world.base_url)
            parts = client.compute(bag.to_delayed(), sync=True)
            wrong = aiotofu.dask.read(plan, base_url=world.base_url, api_key="tp-wrong-key")
            with pytest.raises(aiotofu.AuthenticationError) as caught:
                client.compute(wrong, sync=True)
    finally:
        if saved is None:
            os.environ.pop("TOFUPILOT_API_KEY", None)
        else:
            os.environ["TOFUPILOT_API_KEY"] = saved
    assert_one_listing(parts, world, plan)
    assert caught.value.status == 401
    assert "tp-wrong-key" not in str(caught.value)

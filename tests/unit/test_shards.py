"""Plan and Shard as data (JSON, pickle, equality, split, validate), and the planning of
``_planning.ShardSearch`` against a model listing: no server, no sockets."""

from __future__ import annotations

import asyncio
import bisect
import itertools
import json
import pickle
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import aiotofu
from aiotofu import Plan, Shard
from aiotofu._planning import ShardSearch
from aiotofu._shards import midpoint
from aiotofu.endpoints import BatchFilters, RunFilters
from aiotofu.errors import InvalidParameterError, TransportError

UTC = timezone.utc
T0 = datetime(2024, 1, 1, tzinfo=UTC)
MS = timedelta(milliseconds=1)


def shard(start: int = 0, end: int = 10, **filters: object) -> Shard:
    """A shard of runs over [T0 + start ms, T0 + end ms)."""
    return Shard("runs", T0 + start * MS, T0 + end * MS, RunFilters(**filters), 50)  # type: ignore[arg-type]


def plan_of(*bounds: int, as_of: int | None = None) -> Plan:
    """A plan of runs whose shards are cut at ``bounds`` (ms after T0)."""
    shards = [shard(a, b) for a, b in itertools.pairwise(bounds)]
    last = bounds[-1] - 1 if as_of is None else as_of
    return Plan("runs", T0 + last * MS, shards, RunFilters(), 50)


# -- Shard ------------------------------------------------------------------------------------


def test_a_shard_round_trips_json_and_pickle_equal_by_value() -> None:
    one = shard(0, 7, outcomes=["FAIL"], created_after=T0, include_metadata=True)
    assert Shard.from_json(one.to_json()) == one
    assert pickle.loads(pickle.dumps(one)) == one
    assert hash(pickle.loads(pickle.dumps(one))) == hash(one)
    assert one == shard(0, 7, outcomes="FAIL", created_after=T0, include_metadata=True)
    assert one != shard(0, 8, outcomes=["FAIL"], created_after=T0, include_metadata=True)


def test_microseconds_survive_the_json() -> None:
    odd = Shard("batches", T0 + timedelta(microseconds=123), T0 + MS, BatchFilters(), 1)
    assert Shard.from_json(odd.to_json()).start == odd.start


def test_times_are_kept_in_utc_so_equal_instants_make_equal_shards() -> None:
    paris = timezone(timedelta(hours=1))
    assert Shard("runs", T0.astimezone(paris), T0 + MS, RunFilters(), 1) == Shard(
        "runs", T0, T0 + MS, RunFilters(), 1
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "not JSON"),
        ("[]", "expected a JSON object"),
        ('{"aiotofu": "plan", "version": 1}', "this JSON is a plan"),
        ('{"aiotofu": "token"}', "this JSON is something else"),
        ('{"aiotofu": "shard", "version": 9}', "version 9"),
    ],
)
def test_a_json_that_is_not_a_shard_is_refused_saying_why(text: str, message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message) as caught:
        Shard.from_json(text)
    assert caught.value.parameter == "shard"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"resource": "phases"}, "resources that can be sharded"),
        ({"resource": 3}, "resources that can be sharded"),
        ({"start": "yesterday"}, "start: expected an RFC 3339"),
        ({"end": "2023-01-01T00:00:00Z"}, "start must be before end"),
        ({"at_most": -1}, "at_most"),
        ({"at_most": True}, "at_most"),
        ({"filters": {"outcomes": ["PASSED"]}}, "outcomes"),
        ({"filters": {"colour": "red"}}, "colour is not a filter of runs"),
        ({"filters": []}, "filters: expected a JSON object"),
        ({"extra": 1}, "unknown key extra"),
    ],
)
def test_an_altered_shard_is_refused_naming_what_is_wrong(
    change: dict[str, object], message: str
) -> None:
    data = json.loads(shard().to_json())
    data.update(change)
    with pytest.raises(InvalidParameterError, match=message):
        Shard.from_json(json.dumps(data))


def test_a_shard_missing_a_key_is_refused_naming_it() -> None:
    data = json.loads(shard().to_json())
    del data["end"]
    with pytest.raises(InvalidParameterError, match="end is missing"):
        Shard.from_json(json.dumps(data))


def test_a_shard_is_checked_when_built() -> None:
    with pytest.raises(InvalidParameterError, match="expected RunFilters for runs"):
        Shard("runs", T0, T0 + MS, BatchFilters(), 1)
    with pytest.raises(InvalidParameterError, match="timezone-aware"):
        Shard("runs", T0.replace(tzinfo=None), T0 + MS, RunFilters(), 1)
    with pytest.raises(InvalidParameterError, match="start must be before end"):
        Shard("runs", T0, T0, RunFilters(), 1)
    with pytest.raises(InvalidParameterError, match="can be sharded"):
        Shard("parts", T0, T0 + MS, RunFilters(), 1)


def test_split_halves_at_the_time_midpoint_on_a_whole_millisecond() -> None:
    left, right = shard(0, 7).split()
    assert (left.start, left.end, right.start, right.end) == (
        T0,
        T0 + 3 * MS,
        T0 + 3 * MS,
        T0 + 7 * MS,
    )
    assert left.at_most == right.at_most == 50
    assert left.filters == right.filters == shard().filters
    assert shard(0, 2).split() == (shard(0, 1), shard(1, 2))


@pytest.mark.parametrize(
    "length", [timedelta(microseconds=1), MS, MS + timedelta(microseconds=999)]
)
def test_split_below_two_milliseconds_is_refused(length: timedelta) -> None:
    with pytest.raises(InvalidParameterError, match="shorter than 2 ms"):
        Shard("runs", T0, T0 + length, RunFilters(), 1).split()


@given(st.integers(0, 10**6), st.integers(1, 10**9))
def test_the_midpoint_leaves_each_half_a_millisecond_at_least(start: int, length: int) -> None:
    a = T0 + timedelta(microseconds=start)
    b = a + timedelta(microseconds=length)
    middle = midpoint(a, b)
    if length < 2000:
        assert middle is None
    else:
        assert middle is not None
        assert a + MS <= middle <= b - MS
        assert (middle - a) % MS == timedelta(0)


# -- Plan -------------------------------------------------------------------------------------


def test_a_plan_round_trips_json_and_pickle() -> None:
    plan = plan_of(0, 5, 9, 20)
    assert Plan.from_json(plan.to_json()) == plan
    assert pickle.loads(pickle.dumps(plan)) == plan
    # Each of its shards in the JSON is what Shard.from_json (and --shard) takes.
    shards = json.loads(plan.to_json())["shards"]
    assert [Shard.from_json(json.dumps(s)) for s in shards] == list(plan.shards)


def test_an_empty_plan_is_valid_and_round_trips() -> None:
    empty = Plan("units", T0, (), aiotofu.endpoints.UnitFilters(), 10)
    empty.validate()
    assert Plan.from_json(empty.to_json()) == empty


def test_a_plan_whose_shards_do_not_partition_it_is_refused_from_json() -> None:
    data = json.loads(plan_of(0, 5, 9).to_json())
    data["shards"].reverse()
    with pytest.raises(InvalidParameterError, match="overlaps"):
        Plan.from_json(json.dumps(data))


def test_a_shard_given_as_a_plan_is_refused() -> None:
    with pytest.raises(InvalidParameterError, match="not a plan: this JSON is a shard"):
        Plan.from_json(shard().to_json())


def test_the_api_key_is_in_no_plan_or_shard_of_a_client() -> None:
    # A plan holds no client and no key by construction: nothing of a client goes in.
    key = "tp-secret-key-123"
    client = aiotofu.Client(key, base_url="http://127.0.0.1:9/api")
    plan = plan_of(0, 5, 9)
    for blob in (plan.to_json(), repr(plan), pickle.dumps(plan), repr(plan.shards[0])):
        assert key not in str(blob)
    del client


@st.composite
def cuts(draw: st.DrawFn) -> list[int]:
    """Increasing millisecond offsets: the bounds of a partition."""
    return sorted(draw(st.sets(st.integers(0, 10**6), min_size=2, max_size=12)))


@given(cuts())
def test_validate_accepts_every_partition(bounds: list[int]) -> None:
    plan_of(*bounds).validate()


@given(cuts(), st.data())
def test_validate_refuses_a_gap_an_overlap_or_a_wrong_end(
    bounds: list[int], data: st.DataObject
) -> None:
    shards = [shard(a, b) for a, b in itertools.pairwise(bounds)]
    as_of = T0 + (bounds[-1] - 1) * MS
    broken = data.draw(st.sampled_from(["gap", "overlap", "end", "order", "filters"]))
    index = data.draw(st.integers(0, len(shards) - 1))
    victim = shards[index]
    if broken == "gap":
        if victim.end - victim.start < 2 * MS and index == len(shards) - 1:
            as_of += MS  # the last shard ends short of as_of: a gap at the end
        else:
            shards[index] = Shard(
                "runs", victim.start, victim.end - timedelta(microseconds=1), victim.filters, 1
            )
            if index == len(shards) - 1:
                as_of = victim.end  # still a gap, at the end
    elif broken == "overlap":
        if index == 0:
            shards.insert(0, victim)
        else:
            shards[index] = Shard("runs", victim.start - MS, victim.end, victim.filters, 1)
    elif broken == "end":
        as_of += data.draw(st.sampled_from([MS, -MS, timedelta(microseconds=1)]))
    elif broken == "order":
        if len(shards) < 2:
            shards.append(victim)
        else:
            shards[0], shards[-1] = shards[-1], shards[0]
    else:
        shards[index] = Shard("runs", victim.start, victim.end, RunFilters(outcomes="FAIL"), 1)
    with pytest.raises(InvalidParameterError):
        Plan("runs", as_of, shards, RunFilters(), 50).validate()


def test_split_shards_still_partition_their_plan() -> None:
    plan = plan_of(0, 10, 25)
    halves = [half for piece in plan.shards for half in piece.split()]
    Plan("runs", plan.as_of, halves, plan.filters, plan.target_size).validate()


# -- planning, against a model listing --------------------------------------------------------


class Model:
    """A listing as the API answers it: record times (whole milliseconds), oldest first,
    ``created_after`` and ``created_before`` inclusive; it counts the probes and rows walked."""

    def __init__(self, times: Sequence[datetime], fail: Sequence[int] = ()) -> None:
        self.times = sorted(times)
        self.probes = 0
        self.rows = 0
        self.fail = set(fail)  # probes (by number) that fail, once each

    async def bounds(self) -> tuple[datetime, datetime] | None:
        self.rows += 2
        return (self.times[0], self.times[-1]) if self.times else None

    async def probe(self, start: datetime, end: datetime, cursor: int) -> datetime | None:
        self.probes += 1
        number = self.probes
        await asyncio.sleep(0)  # probes answer in any order
        if number in self.fail:
            raise TransportError("the network went away")
        low = bisect.bisect_left(self.times, start)
        high = bisect.bisect_right(self.times, end)
        self.rows += min(cursor + 1, max(0, high - low))
        return self.times[low + cursor] if low + cursor < high else None

    def count(self, piece: Shard) -> int:
        return bisect.bisect_left(self.times, piece.end) - bisect.bisect_left(
            self.times, piece.start
        )

    def search(self, target: int) -> ShardSearch:
        return ShardSearch(
            resource="runs",
            filters=RunFilters(),
            target_size=target,
            bounds=self.bounds,
            probe=self.probe,
            empty_as_of=T0,
        )


TIMES = st.lists(st.integers(0, 5000), max_size=400).map(lambda ms: [T0 + m * MS for m in ms])


@settings(max_examples=60, deadline=None)
@given(TIMES, st.integers(1, 60))
def test_the_shards_partition_the_listing_each_within_the_target_or_one_instant(
    times: list[datetime], target: int
) -> None:
    model = Model(times)
    plan = asyncio.run(model.search(target).plan())
    plan.validate()
    assert sum(model.count(piece) for piece in plan.shards) == len(times)
    for piece in plan.shards:
        assert model.count(piece) <= piece.at_most
        assert piece.at_most == target or piece.end - piece.start == MS
    if times:
        assert plan.as_of == max(times)
        assert plan.shards[0].start == min(times)


@settings(max_examples=30, deadline=None)
@given(TIMES, st.integers(1, 60))
def test_each_probe_walks_at_most_its_cursor_and_each_ends_or_finds_a_shard(
    times: list[datetime], target: int
) -> None:
    model = Model(times)
    plan = asyncio.run(model.search(target).plan())
    ties = sum(1 for piece in plan.shards if piece.at_most > target)
    # Each probe of a window cut by time ends a shard or hands one out at once; a tie group's
    # bound takes a probe per doubling (at most log2 of the records, each).
    assert model.probes <= 2 * len(plan.shards) + ties * max(1, len(times)).bit_length()


def test_a_tie_group_larger_than_the_target_is_one_shard_of_one_instant() -> None:
    instant = T0 + 40 * MS
    times = [T0 + m * MS for m in range(0, 80, 2)] + [instant] * 300
    model = Model(times)
    plan = asyncio.run(model.search(25).plan())
    (group,) = [piece for piece in plan.shards if model.count(piece) > 25]
    assert (group.start, group.end) == (instant, instant + MS)
    assert model.count(group) == 300 + 1  # the group, and the record of the same instant
    assert 301 <= group.at_most <= 2 * 301


async def test_the_first_shard_comes_before_planning_ends() -> None:
    model = Model([T0 + m * MS for m in range(1000)])
    async with model.search(10) as search:
        first = await search.__anext__()
        assert not search.done
        probes = model.probes
        rest = [piece async for piece in search]
    assert model.probes > probes
    assert first not in rest
    assert len(rest) >= 99


async def test_a_failed_probe_loses_nothing_and_iterating_again_goes_on() -> None:
    times = [T0 + m * MS for m in range(500)]
    model = Model(times, fail=[3, 7])
    search = model.search(20)
    found: list[Shard] = []
    failures = 0
    while True:
        try:
            async for piece in search:
                found.append(piece)
            break
        except TransportError:
            failures += 1
    assert failures == 2
    Plan(
        "runs", search.as_of or T0, sorted(found, key=lambda s: s.start), RunFilters(), 20
    ).validate()
    assert sum(model.count(piece) for piece in found) == 500


async def test_an_empty_listing_plans_no_shard() -> None:
    plan = await Model([]).search(5).plan()
    assert plan.shards == ()
    assert plan.as_of == T0
    plan.validate()


async def test_closing_the_search_cancels_the_probes_in_flight() -> None:
    started = asyncio.Event()
    never = asyncio.Event()

    async def bounds() -> tuple[datetime, datetime]:
        return T0, T0 + 10_000 * MS

    async def probe(start: datetime, end: datetime, cursor: int) -> datetime | None:
        if end - start < 5000 * MS:
            started.set()
            await never.wait()
        return start  # more than the target: cut again

    search = ShardSearch(
        resource="runs",
        filters=RunFilters(),
        target_size=1,
        bounds=bounds,
        probe=probe,
        empty_as_of=T0,
    )

    async def first() -> Shard | None:
        async for piece in search:
            return piece
        return None

    pending = asyncio.ensure_future(first())
    await started.wait()
    tasks = list(search._running)
    await search.aclose()
    assert all(task.done() for task in tasks)
    assert any(task.cancelled() for task in tasks)
    assert await pending is None  # the consumer waiting sees the end, not an error


def test_exactly_the_shardable_endpoints_have_plan_shards_and_read() -> None:
    from aiotofu._shards import shardable
    from aiotofu.endpoints import ENDPOINTS

    client = aiotofu.Client("key", base_url="http://127.0.0.1:9/api")
    sync = aiotofu.SyncClient("key", base_url="http://127.0.0.1:9/api")
    for endpoint in ENDPOINTS:
        for resource in (getattr(client, endpoint.name), getattr(sync, endpoint.name)):
            for name in ("plan", "shards", "read"):
                assert hasattr(resource, name) == shardable(endpoint), (endpoint.name, name)
    assert sorted(e.name for e in ENDPOINTS if shardable(e)) == ["batches", "logs", "runs", "units"]
    sync.close()


# -- remainders (stragglers) ------------------------------------------------------------------


def remainder_of(start: int = 3, end: int = 10, ids: tuple[str, ...] = ("a", "b")) -> Shard:
    """A remainder of runs: [T0 + start ms, T0 + end ms), its first instant's ``ids`` read."""
    return attrs.evolve(shard(start, end), taken=len(ids), taken_ids=ids)


def test_a_remainder_round_trips_json_and_pickle_with_its_position_and_depth() -> None:
    rest = attrs.evolve(remainder_of(), depth=3)
    for copy in (Shard.from_json(rest.to_json()), pickle.loads(pickle.dumps(rest))):
        assert copy == rest
        assert (copy.taken, copy.taken_ids, copy.depth) == (2, ("a", "b"), 3)
    assert json.loads(rest.to_json())["taken_ids"] == ["a", "b"]


def test_a_planned_shard_writes_no_remainder_keys_and_old_json_still_reads() -> None:
    data = json.loads(shard().to_json())
    assert not {"taken", "taken_ids", "depth"} & set(data)
    assert Shard.from_json(json.dumps(data)) == shard()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"taken": -1}, "taken"),
        ({"taken": 1, "taken_ids": ()}, "taken_ids"),
        ({"taken": 1, "taken_ids": ("a", "b")}, "taken_ids"),
        ({"taken": 2, "taken_ids": ("a", "a")}, "twice"),
        ({"taken": 1, "taken_ids": ("",)}, "taken_ids"),
        ({"taken": 1, "taken_ids": (7,)}, "taken_ids"),
        ({"depth": 11}, "depth"),
        ({"depth": -1}, "depth"),
    ],
)
def test_a_bad_remainder_is_refused_naming_what_is_wrong(
    change: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        attrs.evolve(shard(), **change)
    data = json.loads(shard().to_json()) | {
        key: list(value) if isinstance(value, tuple) else value for key, value in change.items()
    }
    with pytest.raises(InvalidParameterError, match=message) as raised:
        Shard.from_json(json.dumps(data))
    assert raised.value.parameter == "shard"


def test_taken_ids_in_json_must_be_a_list() -> None:
    data = json.loads(remainder_of().to_json()) | {"taken_ids": "ab"}
    with pytest.raises(InvalidParameterError, match="taken_ids: expected a list"):
        Shard.from_json(json.dumps(data))


def test_a_remainder_splits_keeping_its_position_on_the_left_and_counting_depth() -> None:
    left, right = remainder_of(3, 10).split()
    assert (left.start, left.end, left.taken, left.taken_ids) == (
        T0 + 3 * MS,
        T0 + 6 * MS,
        2,
        ("a", "b"),
    )
    assert (right.start, right.taken, right.taken_ids) == (T0 + 6 * MS, 0, ())
    assert left.depth == right.depth == 1
    assert right.split()[0].depth == 2


def test_depth_is_bounded_and_is_not_part_of_equality() -> None:
    piece = shard(0, 10_000)
    for _ in range(10):
        piece = piece.split()[0]
    assert piece.depth == 10
    assert piece == shard(0, 9)  # 10 000 ms halved ten times, on whole milliseconds
    with pytest.raises(InvalidParameterError, match="split 10 times already"):
        piece.split()


def test_a_plan_holding_a_remainder_is_refused() -> None:
    plan = plan_of(0, 3, 10)
    shards = [plan.shards[0], remainder_of(3, 10)]
    with pytest.raises(InvalidParameterError, match=r"shards\[1\] is a remainder"):
        Plan("runs", plan.as_of, shards, RunFilters(), 50).validate()


def test_the_remainder_of_a_read_is_cut_at_its_last_record() -> None:
    from aiotofu._shards import remainder

    rest = remainder(shard(0, 10), T0 + 4 * MS, ("x", "y"), 2)
    assert (rest.start, rest.end, rest.taken, rest.taken_ids) == (
        T0 + 4 * MS,
        T0 + 10 * MS,
        2,
        ("x", "y"),
    )
    with pytest.raises(InvalidParameterError, match="not in"):
        remainder(shard(0, 10), T0 + 10 * MS, ("x",), 1)

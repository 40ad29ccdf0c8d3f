"""Every endpoint of the emulator held against TofuPilot's official SDK (the one module that
compares aiotofu with the SDK endpoint by endpoint; batches have their own in test_conformance.py).

For each one: the SDK pages through it with no validation error (its pydantic models check
every record), its filters narrow the way aiotofu's do (same ids, same order), and for a set of
calls the first query string aiotofu sends equals the SDK's (repeated keys, booleans,
datetimes, durations, numbers, JSON metadata, the API's defaults always sent).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from anyio.from_thread import start_blocking_portal

import aiotofu
from aiotofu._emulator.store import procedure_id
from aiotofu.testing import Emulator

tofupilot_v2 = pytest.importorskip("tofupilot.v2")

FUNCTIONAL = procedure_id("Functional test")
ICT = procedure_id("ICT")
SINCE = datetime(2024, 1, 3, tzinfo=timezone.utc)
UNTIL = datetime(2024, 1, 4, 12, 30, tzinfo=timezone.utc)
FIRST_HOUR = datetime(2024, 1, 1, 1, tzinfo=timezone.utc)
# What phases and measurements require.
SCOPED = {"phases": {"procedure_id": FUNCTIONAL}, "measurements": {"procedure_id": FUNCTIONAL}}


@pytest.fixture(scope="module")
def world() -> Iterator[Emulator]:
    """One emulator for the module (nothing here writes): 18 batches, 100 units (one run each).

    Enough for every filter set below to narrow to a strict, non-empty subset (the test checks
    it), and small enough that the SDK pages through every endpoint in a second or two."""
    with start_blocking_portal(name="emulator") as portal:
        server = Emulator(batches=18, seed=7)
        portal.call(server.__aenter__)
        try:
            yield server
        finally:
            portal.call(server.__aexit__, None, None, None)


@pytest.fixture(scope="module")
def sdk(world: Emulator) -> Iterator[Any]:
    with tofupilot_v2.TofuPilot(api_key=world.api_key, server_url=world.base_url) as client:
        yield client


@pytest.fixture(scope="module")
def ours(world: Emulator) -> Iterator[aiotofu.SyncClient]:
    with aiotofu.SyncClient(world.api_key, base_url=world.base_url) as client:
        yield client


def sdk_all(sdk: Any, resource: str, cursor: int | None = None, **filters: Any) -> list[Any]:
    """Every record through the SDK, following the cursor by hand as its users must (pages of
    25, so that the small world still takes several pages on most endpoints)."""
    records: list[Any] = []
    while True:
        page = getattr(sdk, resource).list(
            limit=25, **({} if cursor is None else {"cursor": cursor}), **filters
        )
        records += page.data
        if not page.meta.has_more:
            return records
        cursor = page.meta.next_cursor


def ours_all(client: aiotofu.SyncClient, resource: str, **filters: Any) -> list[Any]:
    return getattr(client, resource).list(page_size=100, **filters).collect()  # type: ignore[no-any-return]


PAGINATED = [
    "batches",
    "units",
    "runs",
    "parts",
    "procedures",
    "stations",
    "deployments",
    "logs",
    "phases",
    "measurements",
]


@pytest.mark.parametrize("resource", PAGINATED)
def test_the_sdk_pages_through_every_endpoint_and_sees_what_aiotofu_sees(
    sdk: Any, ours: aiotofu.SyncClient, resource: str
) -> None:
    scope = SCOPED.get(resource, {})
    theirs = sdk_all(sdk, resource, **scope)
    mine = ours_all(ours, resource, **scope)
    assert theirs, resource
    assert [record.id for record in theirs] == [record.id for record in mine]


# Per endpoint, filters that narrow (each a strict, non-empty subset), orders included.
NARROWING: list[tuple[str, dict[str, Any]]] = [
    ("units", {"part_numbers": ["PCB-V1.2"], "revision_numbers": ["1.1"]}),
    ("units", {"outcomes": ["FAIL"], "latest_only": True}),
    ("units", {"procedure_ids": [ICT], "started_after": SINCE, "started_before": UNTIL}),
    ("units", {"samples": ["golden", "failing"], "sort_by": "serial_number"}),
    ("units", {"exclude_units_with_parent": True, "sort_by": "last_run_at", "sort_order": "asc"}),
    ("units", {"metadata": {"rework": {"eq": True}, "yield": {"gte": 0.9}}}),
    ("units", {"run_count_min": 1, "sort_by": "last_run_procedure"}),
    # The units were all created in the world's first two hours.
    ("units", {"created_after": FIRST_HOUR, "search_query": "SN-000001"}),
    ("runs", {"outcomes": ["FAIL", "ERROR"], "procedure_ids": [FUNCTIONAL]}),
    ("runs", {"duration_min": "PT40S", "sort_by": "duration", "sort_order": "asc"}),
    ("runs", {"environments": ["production"], "procedure_versions": ["v1.5.0"]}),
    ("runs", {"samples": ["production"], "started_after": SINCE, "ended_before": UNTIL}),
    ("runs", {"metadata": {"temperature": {"gte": 25}, "fixture": {"in": ["F1", "F2"]}}}),
    ("runs", {"operated_by_names": ["Night shift"], "sort_by": "serial_number"}),
    ("runs", {"part_numbers": ["CAM-4K"], "sort_by": "outcome", "sort_order": "asc"}),
    ("runs", {"created_after": SINCE, "sort_by": "created_at"}),
    ("procedures", {"search_query": "test"}),
    ("procedures", {"created_after": datetime(2023, 11, 1, tzinfo=timezone.utc)}),
    ("deployments", {"environments": ["production"], "build_statuses": ["ready"]}),
    ("deployments", {"pushed": True}),
    ("deployments", {"branch_names": ["main"], "procedure_ids": [FUNCTIONAL]}),
    ("logs", {"levels": ["ERROR", "CRITICAL"], "sort_by": "level"}),
    ("logs", {"run_outcomes": ["FAIL"], "search_query": "failed"}),
    ("logs", {"timestamp_after": SINCE, "timestamp_before": UNTIL, "source_files": ["main.py"]}),
    ("phases", {"procedure_id": FUNCTIONAL, "outcomes": ["FAIL"], "exclude_retries": False}),
    ("phases", {"procedure_id": FUNCTIONAL, "sequence_paths": ["power"], "sort_by": "duration"}),
    ("phases", {"procedure_id": ICT, "run_outcomes": ["PASS"], "duration_max": "PT5S"}),
    ("measurements", {"procedure_id": FUNCTIONAL, "measurement_name": "vcc_3v3"}),
    ("measurements", {"procedure_id": FUNCTIONAL, "value_min": 3.3, "sort_by": "value"}),
    ("measurements", {"procedure_id": FUNCTIONAL, "measurement_outcomes": ["FAIL"]}),
    ("measurements", {"procedure_id": FUNCTIONAL, "measurement_types": ["boolean"]}),
    ("measurements", {"procedure_id": ICT, "phase_names": ["resistors"], "value_max": 1000}),
]


@pytest.mark.parametrize(("resource", "filters"), NARROWING, ids=lambda v: str(v)[:40])
def test_filters_narrow_the_same_way_for_the_sdk_and_aiotofu(
    sdk: Any, ours: aiotofu.SyncClient, resource: str, filters: dict[str, Any]
) -> None:
    # Everything there is: the same scope (and attempts), no filter.
    scoping = ("procedure_id", "exclude_retries")
    scope = SCOPED.get(resource, {}) | {k: v for k, v in filters.items() if k in scoping}
    everything = {record.id for record in ours_all(ours, resource, **scope)}
    theirs = [record.id for record in sdk_all(sdk, resource, **filters)]
    mine = [record.id for record in ours_all(ours, resource, **filters)]
    assert theirs == mine
    assert 0 < len(set(mine)) < len(everything)
    assert set(mine) <= everything


# Endpoints without a time filter, each with its own read of a record: the SDK and aiotofu list
# the same records in the same order, read them alike, and send the same first query string.
READ = {
    "parts": lambda p: (p.number, p.created_at, [r.number for r in p.revisions]),
    "stations": lambda s: (s.name, s.procedures_count, [p.id for p in s.procedures]),
}
AGREE: list[tuple[str, dict[str, Any]]] = [
    ("parts", {}),
    ("parts", {"search_query": "board", "sort_by": "name", "sort_order": "asc"}),
    ("parts", {"procedure_ids": [ICT, procedure_id("Burn-in")]}),
    (
        "parts",
        {
            "metadata": {"family": {"in": ["boards"]}, "layers": {"gte": 4}},
            "include_metadata": True,
        },
    ),
    ("stations", {}),
    ("stations", {"search_query": "station"}),
    ("stations", {"procedure_ids": [ICT, procedure_id("Burn-in")]}),
    (
        "stations",
        # Three of the six stations (this filter once matched none, and proved little).
        {"metadata": {"bays": {"gte": 2}, "line": {"in": ["lab", "L2"]}}, "include_metadata": True},
    ),
]


@pytest.mark.parametrize(("resource", "filters"), AGREE, ids=lambda v: str(v)[:40])
def test_the_sdk_and_aiotofu_agree_on_records_and_query_without_a_time_filter(
    sdk: Any, world: Emulator, ours: aiotofu.SyncClient, resource: str, filters: dict[str, Any]
) -> None:
    world.reset_stats()
    theirs = sdk_all(sdk, resource, cursor=0, **filters)
    sdk_first = world.log[0]
    world.reset_stats()
    mine = getattr(ours, resource).list(page_size=25, prefetch=0, **filters).collect()
    our_first = world.log[0]
    assert theirs
    assert [record.id for record in theirs] == [record.id for record in mine]
    read = READ[resource]
    assert [read(record) for record in theirs] == [read(record) for record in mine]
    # Blank values left out: the SDK sends an empty "metadata=" when it has no metadata filter.
    assert parse_qsl(urlsplit(our_first.path_qs).query) == parse_qsl(
        urlsplit(sdk_first.path_qs).query
    )


def test_the_sdk_sees_the_users_aiotofu_sees(sdk: Any, ours: aiotofu.SyncClient) -> None:
    """A bare array, no pages: the same users, read alike."""
    theirs = sdk.users.list()
    mine = ours.users.list()
    assert theirs
    assert [(u.id, u.email, u.name, u.image, u.banned) for u in theirs] == [
        (u.id, u.email, u.name, u.image, u.banned) for u in mine
    ]


# Per endpoint, calls whose first query string must equal the SDK's.
SAME_QUERY: list[tuple[str, dict[str, Any]]] = [
    ("units", {}),
    (
        "units",
        {
            "serial_numbers": ["SN/1", "SN 2"],
            "outcomes": ["PASS", "FAIL"],
            "latest_only": True,
            "run_count_min": 2,
            "created_before": datetime(2024, 2, 3, 4, 5, 6, 123456, tzinfo=timezone.utc),
            "samples": ["production"],
            "metadata": {"lot": {"contains": "LOT"}, "yield": {"lt": 1}},
            "include_metadata": True,
            "sort_by": "serial_number",
        },
    ),
    ("runs", {"sort_by": "created_at"}),
    (
        "runs",
        {
            "sort_by": "created_at",
            "outcomes": ["FAIL"],
            "procedure_ids": [FUNCTIONAL],
            "started_after": datetime(2024, 6, 1, tzinfo=timezone.utc),
            "duration_min": "PT90S",
            "environments": ["preview", "production"],
            "metadata": {"rework": {"eq": False}},
            "include_sequences": True,
        },
    ),
    ("procedures", {"search_query": "Final & QA"}),
    (
        "deployments",
        {"environments": ["production"], "pushed": False, "author_usernames": ["a b"]},
    ),
    ("logs", {"levels": ["WARNING"], "timestamp_after": SINCE, "sort_order": "asc"}),
    ("phases", {"procedure_id": FUNCTIONAL}),
    (
        "phases",
        {"procedure_id": FUNCTIONAL, "exclude_retries": False, "duration_max": "PT2.5S"},
    ),
    ("measurements", {"procedure_id": FUNCTIONAL}),
    (
        "measurements",
        {
            "procedure_id": FUNCTIONAL,
            "value_min": 3.2,
            "value_max": 5,
            "value_bool": True,
            "measurement_types": ["numeric", "boolean"],
            "sort_by": "measurement_name",
        },
    ),
]


@pytest.mark.parametrize(("resource", "filters"), SAME_QUERY, ids=lambda v: str(v)[:40])
def test_aiotofu_sends_the_query_string_the_sdk_sends(
    sdk: Any, world: Emulator, ours: aiotofu.SyncClient, resource: str, filters: dict[str, Any]
) -> None:
    """The SDK's request for the first page, and aiotofu's (after the one-record probe of the
    newest time, which some orders ask first): the same pairs in the same order."""
    world.reset_stats()
    # The SDK types the procedures' cursor as a float and would send cursor=0.0.
    cursor = {} if resource == "procedures" else {"cursor": 0}
    getattr(sdk, resource).list(**cursor, **filters)
    with getattr(ours, resource).list(page_size=50, prefetch=0, **filters) as listing:
        next(listing, None)
    theirs, *mine = (
        parse_qsl(urlsplit(r.path_qs).query, keep_blank_values=True) for r in world.log
    )
    page = next(pairs for pairs in mine if ("limit", "50") in pairs)
    if resource == "procedures":  # aiotofu sends the integer the API documents
        assert ("cursor", "0") in page
        page = [pair for pair in page if pair[0] != "cursor"]
    # The one known difference: the SDK sends an empty "metadata=" when it has no metadata
    # filter (its reference says it omits None); aiotofu sends nothing, which means the same.
    assert page == [pair for pair in theirs if pair != ("metadata", "")]


def test_the_sdk_and_aiotofu_read_the_same_records(sdk: Any, ours: aiotofu.SyncClient) -> None:
    """Field by field, on records with every optional part present (sequences, metadata)."""
    filters = {"include_metadata": True, "include_sequences": True, "procedure_ids": [FUNCTIONAL]}
    theirs = sdk.runs.list(limit=20, **filters).data
    mine = ours.runs.list(max_items=20, **filters).collect()
    for their, my in zip(theirs, mine, strict=True):
        assert their.model_dump(mode="json", by_alias=True) == _sdk_shape(aiotofu.unstructure(my))
    procedure = sdk.procedures.list().data[0].model_dump(mode="json", by_alias=True)
    [mine_first] = ours.procedures.list(max_items=1).collect()
    assert procedure["linkedRepository"] == _renamed(aiotofu.unstructure(mine_first))


def _sdk_shape(value: Any) -> Any:
    """aiotofu's JSON in the SDK's dump: datetimes as its ISO strings, numbers as floats."""
    if isinstance(value, dict):
        return {key: _sdk_shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_sdk_shape(item) for item in value]
    if isinstance(value, str) and value.endswith("Z") and value[:2] == "20":
        return (
            datetime.fromisoformat(value.replace("Z", "+00:00")).isoformat().replace("+00:00", "Z")
        )
    return value


def _renamed(procedure: dict[str, Any]) -> Any:
    repository = procedure["linked_repository"]
    if repository is None:
        return None
    return {
        **{k: v for k, v in repository.items() if k != "full_name"},
        "fullName": repository["full_name"],
    }


def test_the_sdks_float_cursor_for_procedures_is_served(sdk: Any, world: Emulator) -> None:
    """The SDK types this one cursor as a float and sends ``cursor=2.0``; the API reads the
    number, and so does the emulator (aiotofu itself sends integers)."""
    world.reset_stats()
    second = sdk.procedures.list(limit=2, cursor=2)
    assert "cursor=2.0" in world.log[-1].path_qs
    everything = sdk.procedures.list(limit=100).data
    assert [p.id for p in second.data] == [p.id for p in everything[2:4]]

"""The emulator against TofuPilot's reference for GET /v2/batches, over HTTP on a real socket."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from aiotofu import Client
from aiotofu._emulator import EmulatorServer
from aiotofu.testing import Emulator


@pytest.fixture
async def http(emu: Emulator) -> AsyncIterator[Any]:
    """GET/POST helpers with the emulator's key: (status, headers, JSON body)."""
    async with aiohttp.ClientSession() as session:

        async def call(
            method: str, path: str, params: Any = None, *, key: str | None = None, json: Any = None
        ) -> tuple[int, Any, Any]:
            headers = {"Authorization": f"Bearer {emu.api_key if key is None else key}"}
            if key == "":
                headers = {}
            async with session.request(
                method, emu.base_url + path, params=params, headers=headers, json=json
            ) as response:
                body = await response.json(content_type=None)
                return response.status, response.headers, body

        yield call


async def test_defaults_first_page_newest_first(http: Any) -> None:
    status, headers, body = await http("GET", "/v2/batches")
    assert status == 200
    assert headers["Content-Type"].startswith("application/json")
    assert len(body["data"]) == 50
    assert body["meta"] == {"has_more": True, "next_cursor": 50}
    created = [b["created_at"] for b in body["data"]]
    assert created == sorted(created, reverse=True)
    record = body["data"][0]
    assert set(record) == {
        "id",
        "number",
        "created_at",
        "created_by_user",
        "created_by_station",
        "unit_count",
    }


async def test_the_middle_and_the_end_of_the_pages(http: Any) -> None:
    _, _, middle = await http("GET", "/v2/batches", {"limit": "100", "cursor": "500"})
    assert middle["meta"] == {"has_more": True, "next_cursor": 600}
    _, _, last = await http("GET", "/v2/batches", {"limit": "100", "cursor": "900"})
    assert len(last["data"]) == 100
    assert last["meta"] == {"has_more": False, "next_cursor": None}
    _, _, past = await http("GET", "/v2/batches", {"cursor": "5000"})
    assert past == {"data": [], "meta": {"has_more": False, "next_cursor": None}}


async def test_the_data_has_every_shape_the_sdk_allows(http: Any) -> None:
    _, _, body = await http("GET", "/v2/batches", {"limit": "100"})
    records = body["data"]
    assert any(r["created_by_user"] is None for r in records)
    assert any(r["created_by_station"] is None for r in records)
    assert any(r["created_by_user"] and r["created_by_user"]["name"] is None for r in records)
    assert any(r["unit_count"] == 0 for r in records) or len(records) < 100


async def test_filters_by_ids_and_numbers_as_repeated_keys(http: Any) -> None:
    _, _, page = await http("GET", "/v2/batches", {"limit": "3"})
    ids = [r["id"] for r in page["data"]]
    numbers = [r["number"] for r in page["data"]]
    _, _, by_id = await http("GET", "/v2/batches", [("ids", ids[0]), ("ids", ids[2])])
    assert [r["id"] for r in by_id["data"]] == [ids[0], ids[2]]
    _, _, by_number = await http("GET", "/v2/batches", [("numbers", numbers[1])])
    assert [r["number"] for r in by_number["data"]] == [numbers[1]]
    _, _, none = await http("GET", "/v2/batches", [("ids", "no-such-id")])
    assert none["data"] == []


async def test_created_after_and_before_are_inclusive(http: Any) -> None:
    _, _, page = await http("GET", "/v2/batches", {"limit": "10", "cursor": "100"})
    newest, oldest = page["data"][0]["created_at"], page["data"][-1]["created_at"]
    _, _, window = await http(
        "GET",
        "/v2/batches",
        {"created_after": oldest, "created_before": newest, "limit": "100"},
    )
    assert window["data"][0]["created_at"] == newest
    assert window["data"][-1]["created_at"] == oldest
    assert {r["id"] for r in page["data"]} <= {r["id"] for r in window["data"]}


async def test_dates_with_an_offset_are_understood(http: Any) -> None:
    _, _, page = await http("GET", "/v2/batches", {"limit": "1"})
    newest = page["data"][0]["created_at"]  # e.g. 2024-03-01T10:00:00.123Z
    shifted = newest[:-1] + "+00:00"
    _, _, same = await http("GET", "/v2/batches", {"created_after": shifted})
    assert [r["id"] for r in same["data"]] == [page["data"][0]["id"]]


async def test_part_and_revision_filters_and_search(http: Any, emu: Emulator) -> None:
    emu.add_batch(
        "SPECIAL-1", units=[("SER-AAA-1", "PCB-V9", "7.0"), ("SER-AAA-2", "PCB-V9", "7.1")]
    )
    emu.add_batch("SPECIAL-2", units=[("SER-BBB-1", "PCB-V9", "7.1")])
    _, _, by_part = await http("GET", "/v2/batches", [("part_numbers", "PCB-V9")])
    assert [r["number"] for r in by_part["data"]] == ["SPECIAL-2", "SPECIAL-1"]
    _, _, by_revision = await http(
        "GET", "/v2/batches", [("part_numbers", "PCB-V9"), ("revision_numbers", "7.0")]
    )
    assert [r["number"] for r in by_revision["data"]] == ["SPECIAL-1"]
    _, _, by_serial = await http("GET", "/v2/batches", {"search_query": "ser-bbb"})
    assert [r["number"] for r in by_serial["data"]] == ["SPECIAL-2"]
    _, _, by_number = await http("GET", "/v2/batches", {"search_query": "SPECIAL-"})
    assert len(by_number["data"]) == 2
    _, _, wildcard = await http("GET", "/v2/batches", {"search_query": "%"})
    assert wildcard["data"] == []


@pytest.mark.parametrize(("sort_by", "key"), [("number", "number"), ("created_at", "created_at")])
@pytest.mark.parametrize("order", ["asc", "desc"])
async def test_sorting(http: Any, sort_by: str, key: str, order: str) -> None:
    _, _, body = await http(
        "GET", "/v2/batches", {"sort_by": sort_by, "sort_order": order, "limit": "100"}
    )
    values = [r[key] for r in body["data"]]
    assert values == sorted(values, reverse=order == "desc")


@pytest.mark.parametrize(
    ("params", "path"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"cursor": "-1"}, "cursor"),
        ({"cursor": str(2**53)}, "cursor"),
        ({"search_query": "x" * 101}, "search_query"),
        ({"sort_by": "name"}, "sort_by"),
        ({"sort_order": "up"}, "sort_order"),
        ({"created_after": "2024-01-15T10:30:00"}, "created_after"),
        ({"created_before": "2024-02-30T00:00:00Z"}, "created_before"),
        ({"created_before": "yesterday"}, "created_before"),
        ([("limit", "5"), ("limit", "6")], "limit"),
    ],
)
async def test_bad_queries_get_400_naming_the_parameter(http: Any, params: Any, path: str) -> None:
    status, _, body = await http("GET", "/v2/batches", params)
    assert status == 400
    assert (body["message"], body["code"]) == ("Bad request", "BAD_REQUEST")
    assert [issue["path"] for issue in body["issues"]] == [[path]]
    assert all(issue["message"] for issue in body["issues"])


async def test_every_bad_field_is_an_issue(http: Any) -> None:
    status, _, body = await http("GET", "/v2/batches", {"limit": "0", "sort_order": "up"})
    assert status == 400
    assert sorted(issue["path"][0] for issue in body["issues"]) == ["limit", "sort_order"]


@pytest.mark.parametrize("key", ["", "wrong-key"])
async def test_a_missing_or_wrong_key_is_401(http: Any, key: str) -> None:
    status, _, body = await http("GET", "/v2/batches", key=key)
    assert status == 401
    assert body == {"message": "Unauthorized", "code": "UNAUTHORIZED", "issues": []}


async def test_create_then_get_a_batch(http: Any) -> None:
    status, _, created = await http("POST", "/v2/batches", json={"number": "NEW-001"})
    assert status == 200
    _, _, newest = await http("GET", "/v2/batches", {"limit": "1"})
    assert newest["data"][0]["id"] == created["id"]
    assert newest["data"][0]["unit_count"] == 0
    status, _, fetched = await http("GET", "/v2/batches/NEW-001")
    assert status == 200
    assert (fetched["id"], fetched["number"], fetched["units"]) == (created["id"], "NEW-001", [])


async def test_get_returns_units_with_part_and_revision(http: Any, emu: Emulator) -> None:
    emu.add_batch("WITH-UNITS", units=[("SER-1", "PCB-V1.2", "2.0")])
    status, _, batch = await http("GET", "/v2/batches/WITH-UNITS")
    assert status == 200
    [unit] = batch["units"]
    assert unit["serial_number"] == "SER-1"
    assert unit["part"]["number"] == "PCB-V1.2"
    assert unit["part"]["revision"]["number"] == "2.0"


async def test_create_errors(http: Any) -> None:
    await http("POST", "/v2/batches", json={"number": "DUP"})
    status, _, body = await http("POST", "/v2/batches", json={"number": "DUP"})
    assert (status, body["code"]) == (409, "CONFLICT")
    status, _, body = await http("POST", "/v2/batches", json={"name": "x"})
    assert (status, body["issues"][0]["path"]) == (400, ["number"])
    status, _, body = await http("GET", "/v2/batches/NOPE")
    assert (status, body["code"]) == (404, "NOT_FOUND")


@pytest.mark.parametrize(("rate", "kind"), [(0.3, "fail"), (0.2, "drop")])
async def test_random_faults_appear_at_their_configured_rate(rate: float, kind: str) -> None:
    async with Emulator(batches=10, seed=3) as emu, aiohttp.ClientSession() as session:
        emu.set_faults(**{f"{kind}_rate": rate})
        headers = {"Authorization": f"Bearer {emu.api_key}"}
        failures = 0
        trials = 400
        for cursor in range(trials):
            try:
                url = f"{emu.base_url}/v2/batches?cursor={cursor}"
                async with session.get(url, headers=headers) as response:
                    await response.read()
                    failures += response.status >= 500
            except aiohttp.ClientPayloadError:
                failures += 1
        assert abs(failures / trials - rate) < 0.07
        kinds = emu.stats["faults"]
        if kind == "fail":
            assert set(kinds) == {"500", "502", "503", "504"}
        else:
            assert set(kinds) == {"drop"}


async def test_faults_are_the_same_for_the_same_seed() -> None:
    outcomes = []
    for _ in range(2):
        async with Emulator(batches=5, seed=11, fail_rate=0.5) as emu:
            async with aiohttp.ClientSession() as session:
                statuses = []
                for cursor in range(30):
                    async with session.get(
                        f"{emu.base_url}/v2/batches?cursor={cursor}",
                        headers={"Authorization": f"Bearer {emu.api_key}"},
                    ) as response:
                        statuses.append(response.status)
            outcomes.append(statuses)
    assert outcomes[0] == outcomes[1]
    assert 200 in outcomes[0]
    assert any(s >= 500 for s in outcomes[0])


async def test_rate_limit_answers_429_with_retry_after(http: Any, emu: Emulator) -> None:
    emu.set_faults(rate_limit=3)
    statuses = []
    for _ in range(10):
        status, headers, body = await http("GET", "/v2/batches", {"limit": "1"})
        statuses.append(status)
        if status == 429:
            # A token bucket of 3 (one second's worth): the seconds until the next token.
            assert 0 < float(headers["Retry-After"]) <= 0.334
            assert body["code"] == "TOO_MANY_REQUESTS"
    assert statuses.count(429) >= 2
    assert statuses[:3] == [200, 200, 200]


async def test_proxy_errors_are_html(http: Any, emu: Emulator) -> None:
    emu.inject(502)
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            emu.base_url + "/v2/batches", headers={"Authorization": f"Bearer {emu.api_key}"}
        ) as response,
    ):
        assert response.status == 502
        assert response.content_type == "text/html"
        assert "502 Bad Gateway" in await response.text()


async def test_a_kept_database_survives_a_restart(tmp_path: Any) -> None:
    path = str(tmp_path / "tofu.db")
    first = EmulatorServer(batches=120, seed=2, db=path)
    await first.start()
    first.state.store.create_batch("KEPT-1")
    await first.stop()
    again = EmulatorServer(batches=120, seed=2, db=path)  # 121 already: nothing is added
    await again.start()
    try:
        async with Client(again.state.api_key, base_url=again.base_url) as client:
            batches = await client.batches.list(page_size=100).collect()
    finally:
        await again.stop()
    assert len(batches) == 121
    assert batches[0].number == "KEPT-1"
    grown = EmulatorServer(batches=200, seed=2, db=path)  # topped up to 200
    assert grown.state.store.count() == 200
    grown.state.store.close()


async def test_answers_change_as_soon_as_the_data_does(http: Any) -> None:
    """The emulator caches answers, but never past a write."""
    _, _, before = await http("GET", "/v2/batches", {"limit": "1"})
    _, _, again = await http("GET", "/v2/batches", {"limit": "1"})
    assert again == before
    _, _, created = await http("POST", "/v2/batches", json={"number": "FRESH"})
    _, _, after = await http("GET", "/v2/batches", {"limit": "1"})
    assert after["data"][0]["id"] == created["id"] != before["data"][0]["id"]

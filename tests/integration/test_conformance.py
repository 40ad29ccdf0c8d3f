"""The emulator held against TofuPilot's official SDK (``tofupilot``, pinned in the test extra).

The SDK validates every answer with its pydantic models: if the emulator drifted from the real
API's shapes, these tests would fail on the SDK's side. It is synchronous (httpx), so the
emulator runs in its own thread here.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

import aiotofu
from aiotofu.testing import Emulator

tofupilot_v2 = pytest.importorskip("tofupilot.v2")
sdk_errors = pytest.importorskip("tofupilot.v2.errors")


@pytest.fixture
def sdk(threaded_emu: Emulator) -> Iterator[Any]:
    with tofupilot_v2.TofuPilot(
        api_key=threaded_emu.api_key, server_url=threaded_emu.base_url
    ) as client:
        yield client


def sdk_all(sdk: Any, **filters: Any) -> list[Any]:
    """Every batch through the SDK, following the cursor by hand as its users must."""
    records: list[Any] = []
    cursor = 0
    while True:
        page = sdk.batches.list(cursor=cursor, limit=100, **filters)
        records += page.data
        if not page.meta.has_more:
            return records
        cursor = page.meta.next_cursor


def aiotofu_all(emu: Emulator, **filters: Any) -> list[aiotofu.Batch]:
    with aiotofu.SyncClient(emu.api_key, base_url=emu.base_url) as client:
        return client.batches.list(page_size=100, **filters).collect()


def test_the_sdk_pages_through_everything_and_sees_what_aiotofu_sees(
    sdk: Any, threaded_emu: Emulator
) -> None:
    records = sdk_all(sdk)
    assert len(records) == 1000
    ours = aiotofu_all(threaded_emu)
    assert [r.id for r in records] == [b.id for b in ours]
    for theirs, mine in zip(records[:50], ours[:50], strict=True):
        assert theirs.created_at == mine.created_at
        assert theirs.number == mine.number
        assert theirs.unit_count == mine.unit_count


@pytest.mark.parametrize(("sort_by", "sort_order"), [("number", "asc"), ("created_at", "asc")])
def test_the_same_order_for_every_sort(
    sdk: Any, threaded_emu: Emulator, sort_by: str, sort_order: str
) -> None:
    theirs = [r.id for r in sdk_all(sdk, sort_by=sort_by, sort_order=sort_order)]
    mine = [b.id for b in aiotofu_all(threaded_emu, sort_by=sort_by, sort_order=sort_order)]
    assert theirs == mine


def test_the_sdk_filters_by_ids_numbers_and_dates(sdk: Any, threaded_emu: Emulator) -> None:
    sample = sdk.batches.list(limit=5, cursor=200).data
    by_ids = sdk.batches.list(ids=[sample[0].id, sample[3].id]).data
    assert [r.id for r in by_ids] == [sample[0].id, sample[3].id]
    by_numbers = sdk.batches.list(numbers=[sample[1].number]).data
    assert [r.number for r in by_numbers] == [sample[1].number]
    newest, oldest = sample[0].created_at, sample[-1].created_at
    window = sdk_all(sdk, created_after=oldest, created_before=newest)
    assert {r.id for r in sample} <= {r.id for r in window}
    mine = aiotofu_all(threaded_emu, created_after=oldest, created_before=newest)
    assert [r.id for r in window] == [b.id for b in mine]
    later = sdk_all(sdk, created_after=newest + timedelta(milliseconds=1))
    assert [r.id for r in later] == [r.id for r in sdk_all(sdk) if r.created_at > newest]
    assert 190 <= len(later) <= 200


def test_the_sdk_gets_the_documented_400(sdk: Any) -> None:
    with pytest.raises(sdk_errors.ErrorBADREQUEST) as info:
        sdk.batches.list(limit=101)
    assert info.value.data.code == "BAD_REQUEST"
    assert info.value.data.issues
    assert info.value.data.issues[0].message


def test_the_sdk_gets_the_documented_400_for_a_naive_date(sdk: Any) -> None:
    with pytest.raises(sdk_errors.ErrorBADREQUEST):
        sdk.batches.list(created_after=datetime(2024, 1, 1))


def test_the_sdk_gets_the_documented_401(threaded_emu: Emulator) -> None:
    sdk = tofupilot_v2.TofuPilot(api_key="wrong", server_url=threaded_emu.base_url)
    with sdk, pytest.raises(sdk_errors.ErrorUNAUTHORIZED) as info:
        sdk.batches.list()
    assert info.value.data.code == "UNAUTHORIZED"


def test_the_sdk_creates_and_gets_a_batch(sdk: Any) -> None:
    created = sdk.batches.create(number="SDK-MADE-1")
    fetched = sdk.batches.get(number="SDK-MADE-1")
    assert (fetched.id, fetched.number, fetched.units) == (created.id, "SDK-MADE-1", [])
    assert sdk.batches.list(limit=1).data[0].id == created.id


@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"ids": ["a", "b"], "numbers": ["N/1", "N 2"]},
        {"part_numbers": ["PCB-V1.2", "PCB-V1.3"], "revision_numbers": ["1.0"]},
        {"search_query": "BATCH 0001&x=y", "sort_by": "created_at", "sort_order": "asc"},
        {
            "created_after": datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
            "created_before": datetime(2024, 2, 3, 4, 5, 6, 123456, tzinfo=timezone.utc),
        },
    ],
    ids=["defaults", "ids-numbers", "parts", "search-order", "dates"],
)
def test_aiotofu_sends_the_query_string_the_sdk_sends(
    sdk: Any, threaded_emu: Emulator, filters: dict[str, Any]
) -> None:
    """Same filters, same first request: keys, repeated keys, order and values (UTC datetimes).
    Later requests differ on purpose (the consistency pin, the overlap), and so does the first
    one when sorted by number (the pin is asked for first)."""
    threaded_emu.reset_stats()
    sdk.batches.list(cursor=0, **filters)
    client = aiotofu.SyncClient(threaded_emu.api_key, base_url=threaded_emu.base_url)
    with client, client.batches.list(page_size=50, prefetch=0, **filters) as batches:
        next(batches, None)
    theirs, ours = (
        parse_qsl(urlsplit(logged.path_qs).query, keep_blank_values=True)
        for logged in threaded_emu.log[:2]
    )
    assert ours == theirs

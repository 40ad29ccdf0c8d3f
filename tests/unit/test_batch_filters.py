"""Filter validation and query encoding for ``batches.list()`` (pure, no network): the batches
endpoint's filters class and its Query."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from aiotofu import InvalidParameterError
from aiotofu._convert import format_datetime
from aiotofu._endpoint import Query
from aiotofu._filters import check_int
from aiotofu.endpoints import BATCHES, BatchFilters

UTC = timezone.utc


def make_list_query(
    *, sort_by: Any = "created_at", sort_order: Any = "desc", **filters: Any
) -> Query[BatchFilters]:
    return BATCHES.query(BatchFilters(**filters), sort_by=sort_by, sort_order=sort_order)


def test_defaults_send_only_position_and_order() -> None:
    query = make_list_query().to_query(cursor=0, limit=50)
    assert query == [
        ("limit", "50"),
        ("cursor", "0"),
        ("sort_by", "created_at"),
        ("sort_order", "desc"),
    ]


def test_every_filter_is_encoded_with_repeated_keys_and_rfc3339() -> None:
    query = make_list_query(
        ids=["a", "b"],
        numbers="N-1",
        part_numbers=("PCB-V1.2", "PCB-V1.3"),
        revision_numbers=["1.0"],
        created_after=datetime(2024, 1, 15, 10, 30, tzinfo=UTC),
        created_before=datetime(
            2024, 1, 15, 13, 30, 0, 250000, tzinfo=timezone(timedelta(hours=2))
        ),
        search_query="BATCH 2024&x=y",
        sort_by="number",
        sort_order="asc",
    ).to_query(cursor=100, limit=25)
    assert query == [
        ("ids", "a"),
        ("ids", "b"),
        ("numbers", "N-1"),
        ("created_after", "2024-01-15T10:30:00Z"),
        ("created_before", "2024-01-15T11:30:00.250000Z"),
        ("limit", "25"),
        ("cursor", "100"),
        ("search_query", "BATCH 2024&x=y"),
        ("part_numbers", "PCB-V1.2"),
        ("part_numbers", "PCB-V1.3"),
        ("revision_numbers", "1.0"),
        ("sort_by", "number"),
        ("sort_order", "asc"),
    ]


def test_the_pin_overrides_created_before() -> None:
    query = make_list_query(created_before=datetime(2030, 1, 1, tzinfo=UTC))
    pin = datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert ("created_before", "2024-05-01T12:00:00Z") in query.to_query(
        cursor=0, limit=1, bounds={"created_before": pin}
    )


def test_a_bare_string_is_a_one_item_list() -> None:
    assert make_list_query(ids="abc").filters.ids == ("abc",)


def test_any_iterable_of_strings_is_accepted() -> None:
    assert make_list_query(numbers=(n for n in ["x", "y"])).filters.numbers == ("x", "y")


@pytest.mark.parametrize("name", ["ids", "numbers", "part_numbers", "revision_numbers"])
@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([], "must not be empty"),
        ([1], "got an item of type int"),
        (["ok", None], "got an item of type NoneType"),
        ([""], "empty string"),
        (b"abc", "got bytes"),
        ({"a": "b"}, "got dict"),
        (42, "got int"),
    ],
)
def test_bad_string_lists_name_the_argument(name: str, value: Any, message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message) as info:
        make_list_query(**{name: value})
    assert info.value.parameter == name
    assert str(info.value).startswith(f"{name}: ")


@pytest.mark.parametrize("name", ["created_after", "created_before"])
def test_naive_datetimes_are_rejected(name: str) -> None:
    with pytest.raises(InvalidParameterError, match=f"^{name}: naive"):
        make_list_query(**{name: datetime(2024, 1, 1)})


@pytest.mark.parametrize("name", ["created_after", "created_before"])
@pytest.mark.parametrize("value", ["2024-01-01T00:00:00Z", 1700000000, datetime.now(UTC).date()])
def test_non_datetimes_are_rejected(name: str, value: Any) -> None:
    with pytest.raises(InvalidParameterError, match=f"^{name}: expected a timezone-aware"):
        make_list_query(**{name: value})


def test_an_empty_date_range_is_rejected() -> None:
    with pytest.raises(InvalidParameterError, match="^created_after: must not be later"):
        make_list_query(
            created_after=datetime(2024, 2, 1, tzinfo=UTC),
            created_before=datetime(2024, 1, 1, tzinfo=UTC),
        )


def test_search_query_bounds() -> None:
    assert make_list_query(search_query="x" * 100).filters.search_query == "x" * 100
    with pytest.raises(
        InvalidParameterError, match="^search_query: at most 100 characters, got 101"
    ):
        make_list_query(search_query="x" * 101)
    with pytest.raises(InvalidParameterError, match="^search_query: expected a string"):
        make_list_query(search_query=5)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("sort_by", "name"),
        ("sort_by", None),
        ("sort_by", ["number"]),
        ("sort_order", "ASC"),
        ("sort_order", "descending"),
        ("sort_order", 1),
    ],
)
def test_enums_reject_other_values(name: str, value: Any) -> None:
    with pytest.raises(InvalidParameterError, match=f"^{name}: expected ") as info:
        make_list_query(**{name: value})
    assert info.value.parameter == name


@pytest.mark.parametrize(
    ("value", "low", "high", "ok"),
    [
        (1, 1, 100, True),
        (100, 1, 100, True),
        (0, 1, 100, False),
        (101, 1, 100, False),
        (2**53 - 1, 0, 2**53 - 1, True),
        (2**53, 0, 2**53 - 1, False),
        (-1, 0, None, False),
        (10**9, 0, None, True),
        (True, 0, 100, False),
        (1.0, 0, 100, False),
        ("5", 0, 100, False),
    ],
)
def test_check_int_bounds_and_types(value: Any, low: int, high: int | None, ok: bool) -> None:
    if ok:
        assert check_int("n", value, low, high) == value
    else:
        with pytest.raises(InvalidParameterError, match="^n: "):
            check_int("n", value, low, high)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (datetime(2024, 1, 15, 10, 30, tzinfo=UTC), "2024-01-15T10:30:00Z"),
        (datetime(2024, 1, 15, 10, 30, 0, 5, tzinfo=UTC), "2024-01-15T10:30:00.000005Z"),
        (datetime(2024, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=3))), "2023-12-31T22:00:00Z"),
        (datetime(1, 1, 1, tzinfo=UTC), "0001-01-01T00:00:00Z"),
    ],
)
def test_format_datetime_is_utc_rfc3339(value: datetime, text: str) -> None:
    assert format_datetime(value) == text


def test_list_query_is_frozen() -> None:
    import attrs

    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        make_list_query().sort_by = "number"  # type: ignore[misc]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        BatchFilters().ids = ("a",)  # type: ignore[misc]

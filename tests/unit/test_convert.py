"""Structuring response records into models: strict types, readable paths, aware datetimes."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiotofu import Batch, DecodeError, StationRef, UserRef
from aiotofu._convert import _parse_rfc3339, parse_datetime, structure

UTC = timezone.utc

RECORD: dict[str, Any] = {
    "id": "550e8400-e29b-41d4-a716-446655440000",
    "number": "BATCH-2024-001",
    "created_at": "2024-01-15T10:30:00Z",
    "created_by_user": {"id": "u1", "name": "John Doe"},
    "created_by_station": {"id": "s1", "name": "Assembly Station 01"},
    "unit_count": 150,
}


def test_the_seed_example_structures() -> None:
    assert structure(RECORD, Batch, "$") == Batch(
        id="550e8400-e29b-41d4-a716-446655440000",
        number="BATCH-2024-001",
        created_at=datetime(2024, 1, 15, 10, 30, tzinfo=UTC),
        unit_count=150,
        created_by_user=UserRef(id="u1", name="John Doe"),
        created_by_station=StationRef(id="s1", name="Assembly Station 01"),
    )


@pytest.mark.parametrize("field", ["created_by_user", "created_by_station"])
def test_creators_may_be_absent_or_null(field: str) -> None:
    absent = {k: v for k, v in RECORD.items() if k != field}
    assert getattr(structure(absent, Batch, "$"), field) is None
    assert getattr(structure({**RECORD, field: None}, Batch, "$"), field) is None


def test_a_user_without_a_name() -> None:
    batch = structure({**RECORD, "created_by_user": {"id": "u", "name": None}}, Batch, "$")
    assert batch.created_by_user == UserRef(id="u", name=None)


def test_unknown_fields_are_ignored() -> None:
    extra = {**RECORD, "units": [{"serial_number": "S1"}], "new_field": 1}
    assert structure(extra, Batch, "$") == structure(RECORD, Batch, "$")


@pytest.mark.parametrize("field", ["id", "number", "created_at", "unit_count"])
def test_a_missing_required_field_names_its_path(field: str) -> None:
    record = {k: v for k, v in RECORD.items() if k != field}
    with pytest.raises(DecodeError, match=rf"required field missing @ \$\.data\[0\]\.{field}"):
        structure([record], list[Batch], "$.data")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("id", 5, "expected a string, got an integer"),
        ("number", None, "expected a string, got null"),
        ("unit_count", "150", "expected an integer, got a string"),
        ("unit_count", True, "expected an integer, got a boolean"),
        ("unit_count", 1.5, "expected an integer, got a number"),
        ("created_at", 1700000000, "expected an RFC 3339 date-time string, got an integer"),
        ("created_at", "2024-01-15", "not an RFC 3339 date-time"),
        ("created_at", "2024-01-15T10:30:00", "not an RFC 3339 date-time"),
        ("created_by_user", "u1", "expected an object, got a string"),
        ("created_by_user", {"name": "x"}, "required field missing"),
        ("created_by_station", {"id": "s"}, "required field missing"),
        ("created_by_station", {"id": "s", "name": 3}, "expected a string, got an integer"),
    ],
)
def test_a_mistyped_field_is_a_decode_error(field: str, value: Any, message: str) -> None:
    with pytest.raises(DecodeError, match=message) as info:
        structure([{**RECORD, field: value}], list[Batch], "$.data")
    assert f"$.data[0].{field}" in str(info.value)


def test_a_record_that_is_not_an_object() -> None:
    with pytest.raises(DecodeError, match=r"expected an object, got an array @ \$\.data\[1\]"):
        structure([RECORD, []], list[Batch], "$.data")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-15T10:30:00Z", datetime(2024, 1, 15, 10, 30, tzinfo=UTC)),
        ("2024-01-15t10:30:00z", datetime(2024, 1, 15, 10, 30, tzinfo=UTC)),
        ("2024-01-15T10:30Z", datetime(2024, 1, 15, 10, 30, tzinfo=UTC)),
        ("2024-01-15T10:30:00.1Z", datetime(2024, 1, 15, 10, 30, 0, 100000, tzinfo=UTC)),
        ("2024-01-15T10:30:00.123Z", datetime(2024, 1, 15, 10, 30, 0, 123000, tzinfo=UTC)),
        ("2024-01-15T10:30:00.1234567891Z", datetime(2024, 1, 15, 10, 30, 0, 123456, tzinfo=UTC)),
        (
            "2024-01-15T10:30:00+05:30",
            datetime(2024, 1, 15, 10, 30, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        ),
        (
            "2024-01-15T10:30:00-08:00",
            datetime(2024, 1, 15, 10, 30, tzinfo=timezone(timedelta(hours=-8))),
        ),
    ],
)
def test_parse_datetime_accepts_rfc3339(text: str, expected: datetime) -> None:
    parsed = parse_datetime(text)
    assert parsed == expected
    assert parsed.utcoffset() == expected.utcoffset()


@pytest.mark.parametrize(
    "text",
    [
        "2024-01-15",
        "2024-01-15T10:30:00",
        "2024-01-15 10:30:00Z",
        "20240115T103000Z",
        "2024-13-01T00:00:00Z",
        "2024-02-30T00:00:00Z",
        "2024-01-15T24:00:00Z",
        "2024-01-15T10:30:00+24:00",
        "2024-01-15T10:30:00.Z",
        " 2024-01-15T10:30:00Z",
        "",
    ],
)
def test_parse_datetime_rejects_everything_else(text: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message is checked through DecodeError above
        parse_datetime(text)


OFFSETS = st.integers(-1439, 1439).map(lambda minutes: timezone(timedelta(minutes=minutes)))


@given(st.datetimes(timezones=OFFSETS))
def test_parse_datetime_round_trips_isoformat(value: datetime) -> None:
    parsed = parse_datetime(value.isoformat())
    assert parsed == value
    assert parsed.utcoffset() == value.utcoffset()


SHAPED = st.tuples(
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)),
    st.sampled_from(["", ".1", ".123", ".123456", ".1234567", ".", ",5"]),
    st.sampled_from(["Z", "z", "+00:00", "-07:30", ""]),
    st.integers(0, 40),
    st.sampled_from(list("0123456789-T:.Z ,+x\u0663")),
)


@given(SHAPED)
def test_the_fast_path_agrees_with_the_reference_parser(shape: tuple[Any, ...]) -> None:
    """datetime.fromisoformat serves TofuPilot-shaped strings; it must accept exactly what the
    RFC 3339 regular expression accepts, and parse it the same."""
    moment, fraction, zone, position, char = shape
    text = moment.strftime("%Y-%m-%dT%H:%M:%S") + fraction + zone
    if position < len(text) and position % 3 == 0:  # sometimes, damage one character
        text = text[:position] + char + text[position + 1 :]
    try:
        expected: datetime | None = _parse_rfc3339(text)
    except ValueError:
        expected = None
    try:
        parsed: datetime | None = parse_datetime(text)
    except ValueError:
        parsed = None
    assert parsed == expected
    if parsed is not None and expected is not None:
        assert parsed.utcoffset() == expected.utcoffset()

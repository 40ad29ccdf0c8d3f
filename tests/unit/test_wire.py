"""The wire decoder (msgspec, the hot path) against the cattrs converter (the careful path).

For every model, the same JSON must give equal records or be refused by both: the two paths
are one definition of "fits", and a refused body is worded by the careful one.
"""

from __future__ import annotations

import collections.abc
import json
import types
import typing
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import aiotofu
from aiotofu import Batch, DecodeError, StationRef, UserRef
from aiotofu._convert import structure
from aiotofu._models import JSON_KEYS
from aiotofu._sansio import Response, decode_page
from aiotofu._wire import decode_body

# Every record class the API answers with, nested ones included.
MODELS = [
    getattr(aiotofu, name)
    for name in aiotofu.__all__
    # Not decoded from the API: Plan and Shard are the client's own (see tests/unit/test_shards.py).
    if attrs.has(getattr(aiotofu, name)) and name not in ("Page", "Plan", "RetryEvent", "Shard")
]

STAMPS = st.one_of(
    st.datetimes(
        min_value=datetime(1970, 1, 1),
        max_value=datetime(2100, 1, 1),
        timezones=st.just(timezone.utc),
    ).map(lambda d: d.isoformat().replace("+00:00", "Z")),
    st.sampled_from(
        [
            "2024-01-15T10:30:00.123Z",
            "2024-01-15T10:30:00+05:30",
            "2024-01-15T10:30:00",  # no offset
            "2024-01-15",
            "2024-02-30T00:00:00Z",
            "15/01/2024",
            "",
        ]
    ),
)
DURATIONS = st.one_of(
    st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=40)).map(
        lambda d: f"PT{d.total_seconds():.6f}".rstrip("0").rstrip(".") + "S"
    ),
    st.sampled_from(
        [
            "PT12.5S",
            "PT1M30.5S",
            "P1DT2H",
            "PT0S",
            "-PT1S",
            "P1Y",  # years and months have no fixed length: refused
            "P1W",
            "PT",
            "P",
            "12.5",
            "PT1,5S",
            "",
        ]
    ),
)
JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=5),
    st.just([]),
    st.just({}),
)


def field_values(kind: Any) -> st.SearchStrategy[Any]:
    """Values for a field of type ``kind``: mostly fitting ones, sometimes junk."""
    origin = typing.get_origin(kind)
    args = typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        return st.one_of(*(field_values(arg) for arg in args))
    if kind is type(None):
        return st.none()
    if origin is typing.Literal:
        fitting: st.SearchStrategy[Any] = st.sampled_from(args) | st.sampled_from(
            [arg.lower() for arg in args] + [""]
        )
    elif origin in (list, tuple):
        fitting = st.lists(field_values(args[0]), max_size=3)
    elif origin in (dict, collections.abc.Mapping):
        fitting = st.dictionaries(st.text(max_size=5), field_values(args[1]), max_size=3)
    elif kind is str:
        fitting = st.text(max_size=20)
    elif kind is int:
        fitting = st.integers(-(2**62), 2**62)
    elif kind is float:
        fitting = st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2**40), 2**40)
    elif kind is bool:
        fitting = st.booleans()
    elif attrs.has(kind):
        fitting = records(kind)
    elif kind is timedelta:
        fitting = DURATIONS
    else:
        assert kind is datetime, kind  # a new kind of field needs its own values here
        fitting = STAMPS
    return st.one_of(fitting, fitting, fitting, JUNK)


def records(cls: type[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """JSON objects shaped like ``cls``, with fields sometimes missing, extra or mistyped."""
    hints = typing.get_type_hints(cls, include_extras=False)
    renamed = JSON_KEYS.get(cls, {})
    fields = {
        renamed.get(field.name, field.name): field_values(hints[field.name])
        for field in attrs.fields(cls)
    }

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        record = {name: draw(values) for name, values in fields.items()}
        if draw(st.integers(0, 5)) == 0:
            record.pop(draw(st.sampled_from(sorted(record))))
        if draw(st.booleans()):
            record["unknown_field"] = draw(JUNK)
        return record

    return build()


def msgspec_decision(data: Any, cls: type[Any]) -> Any:
    """What the hot path makes of ``data`` as a page's records."""
    body = json.dumps({"data": data, "meta": {"has_more": False}}).encode()
    try:
        return list(decode_body(body, cls).data)
    except DecodeError:
        return "refused"


def cattrs_decision(data: Any, cls: type[Any]) -> Any:
    try:
        return structure(data, list[cls], "$.data")  # type: ignore[valid-type]
    except DecodeError:
        return "refused"


@pytest.mark.parametrize("cls", MODELS, ids=lambda cls: cls.__name__)
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_msgspec_and_cattrs_agree_on_every_model(cls: type[Any], data: st.DataObject) -> None:
    value = data.draw(st.lists(records(cls), max_size=3) | JUNK)
    assert msgspec_decision(value, cls) == cattrs_decision(value, cls)


def test_a_page_decodes_to_frozen_models_in_a_tuple() -> None:
    body = {
        "data": [
            {
                "id": "a",
                "number": "N-1",
                "created_at": "2024-01-15T10:30:00.123Z",
                "unit_count": 3,
                "created_by_user": {"id": "u", "name": None},
                "ignored": [1, 2],
            }
        ],
        "meta": {"has_more": True, "next_cursor": 50},
    }
    page = decode_body(json.dumps(body).encode(), Batch)
    [batch] = page.data
    assert isinstance(page.data, tuple)
    assert batch.created_at.tzinfo is not None
    assert batch.created_by_user == UserRef("u", None)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        batch.id = "b"  # type: ignore[misc]


def test_a_misfit_names_its_path_in_the_careful_wording() -> None:
    body = {
        "data": [{"id": "a", "number": "N", "created_at": "2024-01-15T10:30:00Z", "unit_count": 1}]
        * 3
        + [{"id": "a", "number": "N", "created_at": "2024-01-15T10:30:00", "unit_count": 1}],
        "meta": {"has_more": False},
    }
    response = Response(200, {"Content-Type": "application/json"}, json.dumps(body).encode())
    with pytest.raises(DecodeError, match=r"\$\.data\[3\]\.created_at") as info:
        decode_page(response, Batch, cursor=0)
    assert "RFC 3339" in str(info.value)


def test_unstructure_gives_the_json_shape_back() -> None:
    batch = Batch(
        id="a",
        number="N",
        created_at=datetime(2024, 1, 15, 10, 30, 0, 123000, tzinfo=timezone.utc),
        unit_count=1,
        created_by_station=StationRef("s", "Station"),
    )
    assert aiotofu.unstructure(batch) == {
        "id": "a",
        "number": "N",
        "created_at": "2024-01-15T10:30:00.123000Z",
        "unit_count": 1,
        "created_by_user": None,
        "created_by_station": {"id": "s", "name": "Station"},
    }
    assert decode_body(
        json.dumps({"data": [aiotofu.unstructure(batch)], "meta": {"has_more": False}}).encode(),
        Batch,
    ).data == (batch,)


def test_a_misfit_in_metadata_or_a_union_is_worded_with_its_path() -> None:
    """The careful path once had no hook for ``str | float | bool``: every part or station
    page msgspec refused was worded as an unsupported type, not as what was wrong."""
    part = {
        "id": "p",
        "number": "N",
        "name": "n",
        "created_at": "2024-01-15T10:30:00Z",
        "revisions": [],
        "metadata": {"fine": 1, "bad": [1]},
    }
    body = json.dumps({"data": [part], "meta": {"has_more": False}}).encode()
    with pytest.raises(
        DecodeError, match=r"got an array @ \$\.data\[0\]\.metadata\['bad'\]"
    ) as info:
        decode_body(body, aiotofu.Part)
    assert "Unsupported" not in str(info.value)
    fine = json.dumps({"data": [{**part, "metadata": {"n": 1}}], "meta": {"has_more": False}})
    assert decode_body(fine.encode(), aiotofu.Part).data[0].metadata == {"n": 1.0}


@pytest.mark.parametrize("cls", MODELS, ids=lambda cls: cls.__name__)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_every_record_the_decoder_accepts_is_hashable(cls: type[Any], data: st.DataObject) -> None:
    """Frozen means hashable: a record with a dict (metadata) or a list (revisions,
    sequences, a validator's expected values) made ``hash()`` raise TypeError."""
    decided = msgspec_decision(data.draw(st.lists(records(cls), min_size=1, max_size=3)), cls)
    if decided != "refused":
        for record in decided:
            assert hash(record) == hash(attrs.evolve(record))

"""``aiotofu.schema()`` and record batches (issue 22 item 1): one fixed schema per record class,
derived from the models, the same on every page whatever its data (nulls included), and every
value in its column as the record holds it."""

from __future__ import annotations

import json
import typing
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import attrs
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import aiotofu
from aiotofu import _models
from aiotofu._convert import unstructure
from aiotofu._tables import TableBuilder, columns, record_batch, to_pandas

# Every record class the API answers with, nested ones included.
MODELS = [
    getattr(_models, name)
    for name in _models.__all__
    if attrs.has(getattr(_models, name)) and name != "Page"
]
UTC = timezone.utc
OFFSETS = st.builds(
    lambda minutes: timezone(timedelta(minutes=minutes)), st.integers(-23 * 60, 23 * 60)
)
TEXT = st.text(max_size=6)
SCALARS = st.one_of(TEXT, st.floats(allow_nan=False, allow_infinity=False), st.booleans())


def values(kind: Any) -> st.SearchStrategy[Any]:
    """Python values of a field type, None wherever the model allows it."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return st.one_of(*(values(arg) for arg in args))
    if kind is type(None):
        return st.none()
    if origin is typing.Literal:
        return st.sampled_from(args)
    if origin is tuple:
        return st.lists(values(args[0]), max_size=2).map(tuple)
    if origin is Mapping:
        return st.dictionaries(TEXT, SCALARS, max_size=3)
    if attrs.has(kind):
        return instances(kind)
    simple: dict[Any, st.SearchStrategy[Any]] = {
        str: TEXT,
        int: st.integers(-(2**40), 2**40),
        float: st.floats(allow_nan=False, allow_infinity=False),
        bool: st.booleans(),
        datetime: st.datetimes(
            min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1), timezones=OFFSETS
        ),
        timedelta: st.timedeltas(min_value=-timedelta(days=9), max_value=timedelta(days=99)),
    }
    return simple[kind]


def instances(cls: type[Any]) -> st.SearchStrategy[Any]:
    hints = typing.get_type_hints(cls)
    return st.builds(cls, **{field.name: values(hints[field.name]) for field in attrs.fields(cls)})


def expected_cell(record: Any, column: Any) -> Any:
    """What a record's column should read as, from the record itself."""
    value = record
    for name in column.path:
        value = None if value is None else getattr(value, name)
    if value is None:
        return None
    if column.kind == "json":
        return unstructure(value) if not isinstance(value, Mapping) else dict(value)
    if column.kind == "duration" and column.unit == "ms":
        return timedelta(milliseconds=value)
    return value


@pytest.mark.parametrize("cls", MODELS, ids=lambda cls: cls.__name__)
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_page_gets_the_class_schema_and_every_value_its_column(
    cls: type[Any], data: st.DataObject
) -> None:
    records = data.draw(st.lists(instances(cls), max_size=3))
    batch = record_batch(cls, records)
    assert batch.schema.equals(aiotofu.schema(cls), check_metadata=True)
    rows = batch.to_pylist()
    for record, row in zip(records, rows, strict=True):
        for column in columns(cls):
            cell = row[column.name]
            if column.kind == "json" and cell is not None:
                cell = json.loads(cell)
            assert cell == expected_cell(record, column), column.name


def test_the_schema_follows_the_models_rules() -> None:
    expected = pa.schema(
        [
            pa.field("id", pa.string(), nullable=False),
            pa.field("number", pa.string(), nullable=False),
            pa.field("created_at", pa.timestamp("us", tz="UTC"), nullable=False),
            pa.field("unit_count", pa.int64(), nullable=False),
            pa.field("created_by_user.id", pa.string()),
            pa.field("created_by_user.name", pa.string()),
            pa.field("created_by_station.id", pa.string()),
            pa.field("created_by_station.name", pa.string()),
        ]
    )
    assert aiotofu.schema(aiotofu.Batch).equals(expected)
    run = aiotofu.schema(aiotofu.Run)
    assert run.field("duration").type == pa.duration("us")
    assert run.field("outcome").type == pa.dictionary(pa.int32(), pa.string())
    assert run.field("unit.part.revision.number").nullable is False
    assert run.field("unit.batch.number").nullable  # under an optional parent
    assert run.field("metadata").type == pa.string()  # JSON text
    assert run.field("sequences").type == pa.string()
    phase = aiotofu.schema(aiotofu.Phase)
    assert phase.field("duration_ms").type == pa.duration("us")
    assert aiotofu.schema(aiotofu.Run) is run  # derived once


@pytest.mark.parametrize("value", [dict, "Run", 42, aiotofu.Page])
def test_schema_refuses_what_is_not_a_record_class(value: Any) -> None:
    with pytest.raises(aiotofu.InvalidParameterError, match="record class"):
        aiotofu.schema(value)


def null_run(**changes: Any) -> aiotofu.Run:
    """A run with every field that may be None set to None."""
    part = aiotofu.PartRef("p", "PCB", "Board", aiotofu.PartRevision("r", "A"))
    run = aiotofu.Run(
        id="run-0",
        created_at=datetime(2024, 6, 1, tzinfo=UTC),
        started_at=datetime(2024, 6, 1, tzinfo=UTC),
        ended_at=datetime(2024, 6, 1, 0, 0, 1, tzinfo=UTC),
        duration=timedelta(seconds=1),
        outcome="PASS",
        execution_id=None,
        slot_key=None,
        slot_name=None,
        procedure=aiotofu.RunProcedure("proc", "Proc", None),
        unit=aiotofu.RunUnit("u", "SN-0", None, part),
    )
    return attrs.evolve(run, **changes)


def full_run(index: int) -> aiotofu.Run:
    return null_run(
        id=f"run-{index}",
        execution_id="x",
        unit=attrs.evolve(null_run().unit, sample="golden", batch=aiotofu.BatchRef("b", "B-1")),
        metadata={"fw": "1.2", "temp": 21.5, "ok": True},
        sequences=(),
        created_by_user=aiotofu.MemberRef("m", None, "a@b.c"),
    )


def test_a_page_of_nulls_and_an_empty_listing_have_the_same_schema(tmp_path: Path) -> None:
    """Issue 22: writing Parquet page by page failed on the second page, because a page of
    nulls inferred another schema."""
    builder = TableBuilder(aiotofu.Run)
    builder.add([full_run(1), full_run(2)])
    builder.add([null_run(), null_run()])
    builder.add([])
    table = builder.table()
    assert table.schema.equals(aiotofu.schema(aiotofu.Run), check_metadata=True)
    assert table.num_rows == 4
    assert table.column("metadata").to_pylist()[2:] == [None, None]
    empty = TableBuilder(aiotofu.Run).table()
    assert empty.num_rows == 0
    assert empty.schema.equals(table.schema, check_metadata=True)

    path = tmp_path / "runs.parquet"
    with pq.ParquetWriter(path, aiotofu.schema(aiotofu.Run)) as writer:
        for batch in table.to_batches():
            writer.write_batch(batch)
    back = pq.read_table(path, schema=aiotofu.schema(aiotofu.Run))
    assert back.equals(table)
    assert back.schema.equals(table.schema)


def test_records_of_another_class_or_an_unknown_enum_value_are_refused() -> None:
    with pytest.raises(aiotofu.InvalidParameterError, match="expected Run records, got Batch"):
        record_batch(
            aiotofu.Run,
            [aiotofu.Batch("b", "B", datetime(2024, 1, 1, tzinfo=UTC), 0)],
        )
    with pytest.raises(aiotofu.InvalidParameterError, match="outcome is 'pass', not one of"):
        record_batch(aiotofu.Run, [null_run(outcome="pass")])


def test_to_pandas_has_the_same_dtypes_whatever_the_data() -> None:
    full = TableBuilder(aiotofu.Run)
    full.add([full_run(1)])
    nulls = TableBuilder(aiotofu.Run)
    nulls.add([null_run()])
    frames = [
        to_pandas(builder.table(), aiotofu.Run)
        for builder in (full, nulls, TableBuilder(aiotofu.Run))
    ]
    dtypes = [frame.dtypes.to_dict() for frame in frames]
    assert dtypes[0] == dtypes[1] == dtypes[2]
    frame = frames[0]
    assert str(frame["created_at"].dtype) == "datetime64[us, UTC]"
    assert str(frame["duration"].dtype) == "timedelta64[us]"
    assert list(frame["outcome"].cat.categories) == list(typing.get_args(_models.Outcome))
    assert str(frame["id"].dtype) == "string"
    assert frame.loc[0, "duration"] == timedelta(seconds=1)
    phases = TableBuilder(aiotofu.Phase)
    assert str(to_pandas(phases.table(), aiotofu.Phase)["retry_count"].dtype) == "Int64"

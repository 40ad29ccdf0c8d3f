"""Records as tables: one fixed Arrow schema per record class, derived from the attrs models.

``schema(Run)`` walks the model's fields once: a nested record becomes flat ``parent.child``
columns (``unit.part.revision.number``), a datetime a ``timestamp("us", tz="UTC")``, a
``timedelta`` (or an integer field that declares a time unit, ``Phase.duration_ms``) a
``duration("us")``, a ``Literal`` enum a dictionary-encoded string whose dictionary is the
enum's own values in declared order, and everything else that has no column type of its own
(arrays, metadata, unions of JSON types) compact JSON text.

Why JSON text rather than Arrow lists, structs or maps: metadata mixes strings, numbers and
booleans under one key across records (no Arrow map value type holds that without a union,
which pandas, Parquet and DuckDB read poorly or not at all), and a list of sequence calls or
validators would be a list of structs with the same problem inside (a validator's expected
value is a bool, a number, a string or a list). JSON text is lossless, reads back exactly as
``to_json_dict`` writes it, and DuckDB queries it with ``->>`` and ``json_extract``.

The schema depends on the class alone, never on the data: a page of nulls, an empty page and
a page from another version of the data all get the same one, so that pages concatenate and
a Parquet file is written page by page. A column is non-nullable exactly when the model
requires its value all the way down from the record.

pyarrow is imported here only, and only when a table is made (extra ``aiotofu[arrow]``):
``import aiotofu`` works without it, and each function that needs it says how to install it.
"""

from __future__ import annotations

import operator
import types
import typing
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import attrs

from ._convert import json_text
from ._models import DURATION_UNIT
from .errors import InvalidParameterError, TofuPilotError

if TYPE_CHECKING:
    import pandas
    import pyarrow

__all__ = ["TableBuilder", "record_type_of", "schema", "to_pandas"]

Kind = Literal["string", "int", "float", "bool", "timestamp", "duration", "enum", "json"]

_UNIT_MICROSECONDS = {"us": 1, "ms": 1_000, "s": 1_000_000}


def _pyarrow() -> Any:
    try:
        import pyarrow
    except ImportError as exc:
        raise ImportError(
            f"aiotofu's tables need pyarrow: pip install 'aiotofu[arrow]' ({exc})", name=exc.name
        ) from exc
    return pyarrow


def _pandas() -> Any:
    try:
        import pandas
    except ImportError as exc:
        raise ImportError(
            f"to_pandas() needs pandas: pip install 'aiotofu[pandas]' ({exc})", name=exc.name
        ) from exc
    return pandas


@attrs.frozen
class Column:
    """One flat column of a record class: its dotted ``name``, the attribute ``path`` from the
    record, its kind, whether it may be null, the enum's values, the field's type (for JSON
    text) and the time unit of an integer duration."""

    name: str
    path: tuple[str, ...]
    kind: Kind
    nullable: bool
    values: tuple[str, ...] = ()
    hint: Any = None
    unit: str = "us"


def _members(hint: Any) -> tuple[list[Any], bool]:
    """The members of a field type other than None, and whether None is one of them."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        return [arg for arg in args if arg is not type(None)], type(None) in args
    return [hint], False


def _kind(hint: Any, field: attrs.Attribute[Any]) -> Kind:
    if typing.get_origin(hint) is Literal and all(type(v) is str for v in typing.get_args(hint)):
        return "enum"
    if hint is bool:  # before int: a bool is an int to Python, not to a table
        return "bool"
    if hint is int:
        return "duration" if DURATION_UNIT in field.metadata else "int"
    simple: dict[Any, Kind] = {
        str: "string",
        float: "float",
        datetime: "timestamp",
        timedelta: "duration",
    }
    return simple.get(hint, "json")


def _flatten(cls: type[Any], prefix: tuple[str, ...], nullable: bool) -> Iterable[Column]:
    hints = typing.get_type_hints(cls)  # Annotated (the aware datetime) is stripped
    for field in attrs.fields(cls):
        hint = hints[field.name]
        members, optional = _members(hint)
        path = (*prefix, field.name)
        may_be_null = nullable or optional
        if len(members) == 1 and attrs.has(members[0]):
            yield from _flatten(members[0], path, may_be_null)
            continue
        kind = _kind(members[0], field) if len(members) == 1 else "json"
        yield Column(
            name=".".join(path),
            path=path,
            kind=kind,
            nullable=may_be_null,
            values=typing.get_args(members[0]) if kind == "enum" else (),
            hint=hint,
            unit=field.metadata.get(DURATION_UNIT, "us"),
        )


# Derived once per class: the columns, and the schema (pyarrow objects, built on first use).
_COLUMNS: dict[type[Any], tuple[Column, ...]] = {}
_SCHEMAS: dict[type[Any], Any] = {}


def columns(cls: type[Any]) -> tuple[Column, ...]:
    """The flat columns of the record class ``cls``, in field order (nested records in place)."""
    found = _COLUMNS.get(cls) if isinstance(cls, type) else None
    if found is None:
        # A generic class (Page[T]) holds records of a class it does not name: no table of it.
        if not isinstance(cls, type) or not attrs.has(cls) or cls.__dict__.get("__parameters__"):
            raise InvalidParameterError(
                "cls", f"expected an aiotofu record class (aiotofu.Run...), got {cls!r}"
            )
        found = _COLUMNS[cls] = tuple(_flatten(cls, (), False))
    return found


def _arrow_type(column: Column) -> Any:
    pa = _pyarrow()
    return {
        "string": pa.string,
        "json": pa.string,
        "int": pa.int64,
        "float": pa.float64,
        "bool": pa.bool_,
        "timestamp": lambda: pa.timestamp("us", tz="UTC"),
        "duration": lambda: pa.duration("us"),
        "enum": lambda: pa.dictionary(pa.int32(), pa.string()),
    }[column.kind]()


def schema(cls: type[Any]) -> pyarrow.Schema:
    """The one Arrow schema of the record class ``cls`` (``aiotofu.schema(aiotofu.Run)``):
    the same for every page and every listing, whatever the data.

    Nested records are flat ``parent.child`` columns; datetimes are ``timestamp("us",
    tz="UTC")``, durations ``duration("us")``, enums dictionary-encoded strings, and arrays,
    metadata and mixed-type values compact JSON text (as ``aiotofu.to_json_dict`` writes
    them). A column is nullable unless the model requires it all the way from the record.
    Needs pyarrow (``pip install 'aiotofu[arrow]'``).
    """
    found: pyarrow.Schema | None = _SCHEMAS.get(cls) if isinstance(cls, type) else None
    if found is None:
        pa = _pyarrow()
        fields = [pa.field(c.name, _arrow_type(c), nullable=c.nullable) for c in columns(cls)]
        found = _SCHEMAS[cls] = pa.schema(fields, metadata={"aiotofu.record": cls.__qualname__})
    return found


def _values(
    records: Sequence[Any], cache: dict[tuple[str, ...], list[Any]], path: tuple[str, ...]
) -> list[Any]:
    """The values at ``path`` of every record, None below a None; each level is read once and
    shared by the columns under it."""
    found = cache.get(path)
    if found is None:
        if len(path) == 1:
            found = list(map(operator.attrgetter(path[0]), records))
        else:
            name = path[-1]
            found = [
                None if parent is None else getattr(parent, name)
                for parent in _values(records, cache, path[:-1])
            ]
        cache[path] = found
    return found


def _array(column: Column, values: list[Any]) -> Any:
    pa = _pyarrow()
    kind = column.kind
    if kind == "timestamp":
        return pa.array(values, pa.timestamp("us", tz="UTC"))
    if kind == "duration":
        if column.unit != "us":  # an integer count of the field's unit
            scale = _UNIT_MICROSECONDS[column.unit]
            values = [None if v is None else v * scale for v in values]
        return pa.array(values, pa.duration("us"))
    if kind == "enum":
        index = {value: position for position, value in enumerate(column.values)}
        try:
            indices = [None if v is None else index[v] for v in values]
        except KeyError as exc:
            raise InvalidParameterError(
                "records", f"{column.name} is {exc.args[0]!r}, not one of {column.values}"
            ) from None
        return pa.DictionaryArray.from_arrays(
            pa.array(indices, pa.int32()), pa.array(column.values, pa.string())
        )
    if kind == "json":
        hint = column.hint
        values = [None if v is None else json_text(v, hint) for v in values]
    return pa.array(values, _arrow_type(column))


def record_batch(cls: type[Any], records: Sequence[Any]) -> pyarrow.RecordBatch:
    """``records`` (all of class ``cls``) as one Arrow record batch with ``schema(cls)``."""
    pa = _pyarrow()
    for record in records:
        if type(record) is not cls:
            raise InvalidParameterError(
                "records", f"expected {cls.__name__} records, got {type(record).__name__}"
            )
    cache: dict[tuple[str, ...], list[Any]] = {}
    arrays = [_array(column, _values(records, cache, column.path)) for column in columns(cls)]
    batch: pyarrow.RecordBatch = pa.RecordBatch.from_arrays(arrays, schema=schema(cls))
    return batch


class TableBuilder:
    """A table made page by page: each page's records become a record batch at once, so that
    the records themselves are not kept (only their columns)."""

    def __init__(self, cls: type[Any]) -> None:
        self.cls = cls
        self.schema = schema(cls)
        self._batches: list[Any] = []

    def add(self, records: Sequence[Any]) -> None:
        """Add one page's records (an empty page adds nothing)."""
        if records:
            self._batches.append(record_batch(self.cls, records))

    def table(self) -> pyarrow.Table:
        """Every record added, in order, as one table with the class's schema."""
        table: pyarrow.Table = _pyarrow().Table.from_batches(self._batches, schema=self.schema)
        return table


def to_pandas(table: pyarrow.Table, cls: type[Any]) -> pandas.DataFrame:
    """A table of ``cls`` records as a pandas DataFrame with the same dtypes whatever the data
    (an empty table included): integers and booleans as pandas' nullable ``Int64`` and
    ``boolean`` (a null stays a null, an integer stays an integer), timestamps as
    ``datetime64[us, UTC]``, durations as ``timedelta64[us]``, enums as categoricals of all
    the enum's values (not only those present), text as pandas' ``string``."""
    pa, pd = _pyarrow(), _pandas()
    mapping = {pa.int64(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}
    string = pd.StringDtype()
    frame: pandas.DataFrame = table.to_pandas(
        types_mapper=lambda kind: mapping.get(kind, string if kind == pa.string() else None)
    )
    for column in columns(cls):
        if column.kind == "enum":
            categories = pd.Index(column.values, dtype=string)
            frame[column.name] = frame[column.name].astype(pd.CategoricalDtype(categories))
    return frame


def record_type_of(listing: Any) -> type[Any]:
    """The record class of a Paginator's listing: its endpoint's model, known before any page
    (an empty listing has a schema too)."""
    model = getattr(listing, "_record_type", None)
    if not isinstance(model, type) or not attrs.has(model):
        raise TofuPilotError("this listing does not say which records it lists: no table of it")
    return model


# Rows per Parquet row group: pages are made record batches as they arrive and written out
# every this many rows. A row group per page (100 rows) would make a million-record file's
# footer, which the writer keeps in memory until it closes, grow with every page; this many
# rows of the largest records (runs) are a few MB of columns, the bound on what is held.
ROW_GROUP_ROWS = 10_000


class ParquetSink:
    """Records written to a Parquet file with ``schema(cls)`` as they come: each page of
    ``page_size`` records becomes a record batch at once (the records are let go), and the
    batches are written as a row group every ``ROW_GROUP_ROWS`` rows. Nothing is created
    before the first row group or ``close()``; ``close(keep=False)`` with nothing written
    creates nothing (a listing that failed at once leaves no empty file behind)."""

    def __init__(self, path: str, cls: type[Any], *, page_size: int) -> None:
        self._path = path
        self._cls = cls
        self._page_size = page_size
        self._records: list[Any] = []
        self._batches: list[Any] = []
        self._rows = 0
        self._writer: Any = None
        self._pq = _parquet()
        self.schema = schema(cls)

    def write(self, record: Any) -> None:
        """Take one record."""
        records = self._records
        records.append(record)
        if len(records) >= self._page_size:
            self._batch()

    def _batch(self) -> None:
        if self._records:
            batch = record_batch(self._cls, self._records)
            self._records = []
            self._batches.append(batch)
            self._rows += batch.num_rows
            if self._rows >= ROW_GROUP_ROWS:
                self._write()

    def _write(self) -> None:
        if self._writer is None:
            self._writer = self._pq.ParquetWriter(self._path, self.schema)
        if self._batches:
            table = _pyarrow().Table.from_batches(self._batches, schema=self.schema)
            self._writer.write_table(table, row_group_size=max(table.num_rows, 1))
        self._batches, self._rows = [], 0

    def close(self, *, keep: bool = True) -> None:
        """Write what is left and close the file (``keep=False``: unless nothing was written,
        in which case no file is made)."""
        self._batch()
        if self._writer is None and not keep and not self._batches:
            return
        self._write()
        self._writer.close()


def _parquet() -> Any:
    _pyarrow()
    import pyarrow.parquet

    return pyarrow.parquet

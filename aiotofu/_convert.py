"""The cattrs Converters aiotofu uses off the hot path, RFC 3339 date-times and ISO durations.

Response bodies are decoded by msgspec (``_wire``); one converter words why a body msgspec
refused does not fit, and turns records back into JSON-able data (``to_json_dict``, for the
CLI's jsonl and csv and for users); a second turns them into plain Python (``to_dict``: the
same dicts with datetimes and durations as they are, for pandas, dlt and the like).
cattrs' default hooks coerce (``str(123)`` becomes ``"123"``); an
API client must not guess, so the primitive hooks here accept only the JSON type the API
documents, exactly as msgspec does (a differential test holds the two to the same decisions).
Structuring failures become :class:`aiotofu.DecodeError` whose message names the field path.
"""

from __future__ import annotations

import collections.abc
import json
import re
import sys
import types
import typing
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

import attrs
import cattrs
import cattrs.gen
import cattrs.v
import msgspec
from cattrs.errors import IterableValidationNote

from ._models import JSON_KEYS, FrozenDict
from .errors import DecodeError, InvalidParameterError

__all__ = [
    "format_datetime",
    "format_duration",
    "json_text",
    "json_type",
    "parse_datetime",
    "structure",
    "structure_strictly",
    "table_time",
    "to_dict",
    "to_json_dict",
    "unstructure",
]

T = TypeVar("T")

# RFC 3339 date-time. Seconds are optional because TofuPilot's own query pattern accepts
# ``HH:MM``; the offset is mandatory, so every datetime aiotofu returns is time-zone aware.
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))"
)


# ``datetime.fromisoformat`` (C, and ten times faster than the regular expression) accepts ``Z``
# from Python 3.11 on. It is lenient (a comma for the decimal point, no digits after it, dates
# without an offset), so it only sees strings already shaped like TofuPilot's own timestamps.
_FROMISOFORMAT_TAKES_Z = sys.version_info >= (3, 11)


def parse_datetime(value: str) -> datetime:
    """Parse an RFC 3339 date-time with ``Z`` or an offset into an aware ``datetime``."""
    if (
        _FROMISOFORMAT_TAKES_Z
        and len(value) >= 20
        and value[-1] == "Z"
        and value[10] == "T"
        and (len(value) == 20 or (value[19] == "." and len(value) > 21 and value[20:-1].isdigit()))
    ):  # fromisoformat itself refuses digits other than ASCII ones
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass  # the regular expression below words the error
    return _parse_rfc3339(value)


def _parse_rfc3339(value: str) -> datetime:
    """The reference parser: RFC 3339 by regular expression, on every Python version.

    ``datetime.fromisoformat`` alone would not do: it accepts ``Z`` only from Python 3.11 on,
    takes only 3 or 6 fractional digits on 3.10, and accepts forms RFC 3339 does not.
    """
    match = _RFC3339.fullmatch(value)
    if match is None:
        raise ValueError(f"not an RFC 3339 date-time with a time zone: {value[:40]!r}")
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = match.groups()
    if zulu:
        tz = timezone.utc
    else:
        offset = timedelta(hours=int(off_h), minutes=int(off_m))
        if offset >= timedelta(hours=24):
            raise ValueError(f"time zone offset out of range: {value[:40]!r}")
        tz = timezone(-offset if sign == "-" else offset)
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    return datetime(
        int(year), int(month), int(day), int(hour), int(minute), int(second or 0), micro, tz
    )


def _strict(kind: type[Any], description: str) -> Callable[[Any, type[Any]], Any]:
    """A structuring hook that accepts exactly ``kind`` (no bool for int, no coercion)."""

    def hook(value: Any, _: type[Any]) -> Any:
        if type(value) is not kind:
            raise TypeError(f"expected {description}, got {json_type(value)}")
        return value

    return hook


def _datetime(value: Any, _: type) -> datetime:
    if type(value) is not str:
        raise TypeError(f"expected an RFC 3339 date-time string, got {json_type(value)}")
    # msgspec's own parser: a record is accepted here exactly when the wire decoder accepts it.
    try:
        parsed: datetime = msgspec.convert(value, datetime)
    except msgspec.ValidationError:
        parsed = None  # type: ignore[assignment]
    if parsed is None or parsed.tzinfo is None:
        raise ValueError(f"not an RFC 3339 date-time with a time zone: {value[:40]!r}")
    return parsed


def _timedelta(value: Any, _: type) -> timedelta:
    if type(value) is not str:
        raise TypeError(f"expected an ISO 8601 duration string, got {json_type(value)}")
    # msgspec's own parser, as for datetimes: the same decisions as the wire decoder.
    try:
        parsed: timedelta = msgspec.convert(value, timedelta)
    except msgspec.ValidationError:
        raise ValueError(f"not an ISO 8601 duration (days to seconds): {value[:40]!r}") from None
    return parsed


def format_duration(value: timedelta) -> str:
    """``PT90.5S``: ISO 8601 in seconds, a fraction only when there is one (to the
    microsecond): the form the API writes a run's duration in, so its text reads back as it
    came (``PT12.5S``, a negative one as ``-PT1S``)."""
    sign, micros = ("-", -value) if value < timedelta(0) else ("", value)
    whole, fraction = divmod(micros // timedelta(microseconds=1), 1_000_000)
    text = f"{whole}.{fraction:06d}".rstrip("0").rstrip(".")
    return f"{sign}PT{text}S"


def format_datetime(value: datetime) -> str:
    """RFC 3339 in UTC with ``Z``, microseconds only when present: the form TofuPilot documents."""
    utc = value.astimezone(timezone.utc)
    spec = "microseconds" if utc.microsecond else "seconds"
    return utc.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def json_type(value: Any) -> str:
    """The JSON name of a decoded value's type, for messages."""
    if value is None:
        return "null"
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}
    names.update({list: "an array", dict: "an object"})
    return names.get(type(value), type(value).__name__)


def _objects_only(converter: cattrs.Converter) -> None:
    """Make every attrs class accept only a JSON object, with a message that says so; the
    few fields whose JSON key is not their name (``JSON_KEYS``) are read under that key."""

    def generate(cls: type[Any]) -> Callable[[Any, type[Any]], Any]:
        renamed = JSON_KEYS.get(cls)
        if not renamed:
            return converter.gen_structure_attrs_fromdict(cls)
        overrides = {name: cattrs.gen.override(rename=key) for name, key in renamed.items()}
        return cattrs.gen.make_dict_structure_fn(cls, converter, **overrides)  # type: ignore[arg-type]

    def factory(cls: type[Any]) -> Callable[[Any, type[Any]], Any]:
        structure_fields = generate(cls)

        def structure_object(value: Any, cls: type[Any]) -> Any:
            if type(value) is not dict:
                raise TypeError(f"expected an object, got {json_type(value)}")
            return structure_fields(value, cls)

        return structure_object

    converter.register_structure_hook_factory(attrs.has, factory)


def _lists_only(converter: cattrs.Converter) -> None:
    """Make every list accept only a JSON array (cattrs would iterate an object or a string)."""

    def is_list(kind: Any) -> bool:
        return _is_array(kind)

    def factory(kind: Any) -> Callable[[Any, type[Any]], Any]:
        item = (typing.get_args(kind) or (Any,))[0]
        structure_item = converter.get_structure_hook(item)
        # A record's arrays are tuples (frozen means hashable); a plain list stays a list.
        made = tuple if typing.get_origin(kind) is tuple else list

        def structure_array(value: Any, _: type[Any]) -> Any:
            if type(value) is not list:
                raise TypeError(f"expected an array, got {json_type(value)}")
            errors = []
            items = []
            for index, element in enumerate(value):
                try:
                    items.append(structure_item(element, item))
                except Exception as exc:
                    note = IterableValidationNote(
                        f"Structuring {kind} @ index {index}", index, item
                    )
                    exc.__notes__ = [*getattr(exc, "__notes__", []), note]  # type: ignore[attr-defined]
                    errors.append(exc)
            if errors:
                raise cattrs.IterableValidationError(f"While structuring {kind!r}", errors, kind)
            return made(items)

        return structure_array

    converter.register_structure_hook_factory(is_list, factory)


def _number(value: Any, _: type[Any]) -> float:
    """A JSON number as a float (an integer included, as msgspec reads it; never a bool)."""
    if type(value) not in (int, float):
        raise TypeError(f"expected a number, got {json_type(value)}")
    return float(value)


_SCALARS = (str, int, float, bool, type(None))


def _is_mapping(kind: Any) -> bool:
    """``Mapping[K, V]``: a record's metadata, as its annotation says."""
    origin: Any = typing.get_origin(kind)
    return origin is collections.abc.Mapping


def _is_array(kind: Any) -> bool:
    """``list[X]`` or ``tuple[X, ...]``: what a JSON array is read into."""
    origin = typing.get_origin(kind)
    if origin is tuple:
        args = typing.get_args(kind)
        return len(args) == 2 and args[1] is Ellipsis
    return origin is list


def _json_unions(converter: cattrs.Converter) -> None:
    """Unions of JSON scalars and lists (``str | float | bool``, a validator's expected value),
    decided by the JSON type of the value, as msgspec decides them: no guessing between
    members, an integer read as a float where the union has no int."""

    def is_json_union(kind: Any) -> bool:
        return typing.get_origin(kind) in (typing.Union, types.UnionType) and all(
            arg in _SCALARS or _is_array(arg) for arg in typing.get_args(kind)
        )

    def factory(kind: Any) -> Callable[[Any, type[Any]], Any]:
        members = typing.get_args(kind)
        lists = [arg for arg in members if _is_array(arg)]
        structure_list = converter.get_structure_hook(lists[0]) if lists else None
        names = " or ".join(json_type(arg()) if arg in _SCALARS else "an array" for arg in members)

        def structure_member(value: Any, _: type[Any]) -> Any:
            kind_of = type(value)
            if kind_of in members and kind_of is not list:
                return value
            if kind_of is int and float in members:
                return float(value)
            if kind_of is list and structure_list is not None:
                return structure_list(value, lists[0])
            raise TypeError(f"expected {names}, got {json_type(value)}")

        return structure_member

    converter.register_structure_hook_factory(is_json_union, factory)


def _format_exception(exc: BaseException, type_: type[Any] | None) -> str:
    """Word one structuring failure; the hooks above already phrase their own errors."""
    if isinstance(exc, KeyError):
        return "required field missing"
    if isinstance(exc, (TypeError, ValueError)) and exc.args:
        return str(exc)
    return cattrs.v.format_exception(exc, type_)


def _make_converter() -> cattrs.Converter:
    converter = cattrs.Converter(detailed_validation=True, forbid_extra_keys=False)
    _objects_only(converter)
    _lists_only(converter)
    converter.register_structure_hook(str, _strict(str, "a string"))
    converter.register_structure_hook(int, _strict(int, "an integer"))
    converter.register_structure_hook(bool, _strict(bool, "a boolean"))
    converter.register_structure_hook(float, _number)
    _json_unions(converter)
    converter.register_structure_hook(datetime, _datetime)
    converter.register_structure_hook(timedelta, _timedelta)
    converter.register_unstructure_hook(datetime, format_datetime)
    converter.register_unstructure_hook(timedelta, format_duration)
    _plain_containers(converter)
    return converter


def _plain_containers(converter: cattrs.Converter) -> None:
    """Unstructure a record's tuples as lists and its metadata as a plain dict: what JSON,
    pandas and dlt take as they are."""

    def array_factory(kind: Any) -> Callable[[Any], Any]:
        item = typing.get_args(kind)[0]
        unstructure_item = converter.get_unstructure_hook(item)
        return lambda value: [unstructure_item(element) for element in value]

    converter.register_unstructure_hook_factory(_is_array, array_factory)
    # Metadata values are JSON scalars already; the annotation (a Mapping) or the value's type
    # (a FrozenDict) is what cattrs dispatches on.
    converter.register_unstructure_hook(FrozenDict, dict)
    converter.register_unstructure_hook_func(_is_mapping, dict)


def _make_plain_converter() -> cattrs.Converter:
    """The converter of ``to_dict``: records as dicts and lists, every value a Python one
    (datetimes and timedeltas are left as they are, cattrs' default for them)."""
    converter = cattrs.Converter()
    _plain_containers(converter)
    return converter


_converter = _make_converter()
_plain = _make_plain_converter()


def structure(data: Any, cls: type[T], path: str) -> T:
    """Structure decoded JSON into ``cls``; any failure is a DecodeError naming the field path."""
    try:
        return _converter.structure(data, cls)
    except Exception as exc:  # cattrs raises ClassValidationError, but hooks may raise anything
        details = cattrs.transform_error(exc, path=path, format_exception=_format_exception)
        raise DecodeError("unexpected response body: " + "; ".join(details[:5])) from exc


def structure_strictly(data: Any, cls: type[T]) -> T:
    """Structure JSON that came from outside but not from the API (a token's payload);
    ValueError, with the first problem and its path, if it does not fit."""
    try:
        return _converter.structure(data, cls)
    except Exception as exc:
        details = cattrs.transform_error(exc, path="$", format_exception=_format_exception)
        raise ValueError(details[0] if details else str(exc)) from None


def table_time(value: datetime) -> str:
    """``2024-01-02 15:51:06.021``: a whole UTC time in milliseconds, TofuPilot's precision, for
    people (the command line's table)."""
    utc = value.astimezone(timezone.utc)
    return utc.strftime("%Y-%m-%d %H:%M:%S.") + f"{utc.microsecond // 1000:03d}"


def _check_record(record: Any) -> None:
    if not attrs.has(type(record)) or isinstance(record, type):
        raise InvalidParameterError(
            "record", f"expected an aiotofu record (aiotofu.Run...), got {type(record).__name__}"
        )


def to_dict(record: Any) -> dict[str, Any]:
    """One record as plain Python: a dict per record (nested records as nested dicts, under
    their field names), lists for its arrays, a plain ``dict`` for its metadata, and every
    value as the record holds it: aware ``datetime`` s, ``timedelta`` durations.

    InvalidParameterError if ``record`` is not an aiotofu record.
    """
    _check_record(record)
    data: dict[str, Any] = _plain.unstructure(record)
    return data


def to_json_dict(record: Any) -> dict[str, Any]:
    """One record as JSON-ready data (``json.dumps`` takes it as it is): ``to_dict``'s shape,
    with datetimes as RFC 3339 strings in UTC (``2024-01-15T10:30:00.123000Z``; whole
    seconds as ``2024-01-15T10:30:00Z``) and durations as ISO 8601 in seconds (``PT90.5S``),
    the API's forms.

    InvalidParameterError if ``record`` is not an aiotofu record.
    """
    _check_record(record)
    data: dict[str, Any] = _converter.unstructure(record)
    return data


def json_text(value: Any, kind: Any) -> str:
    """``value`` (of the field type ``kind``: a list, metadata, a union) as compact JSON text in
    ``to_json_dict``'s forms: a table's cell for what has no column type of its own."""
    data = _converter.unstructure(value, unstructure_as=kind)
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def unstructure(record: Any) -> Any:
    """An alias of :func:`to_json_dict`, kept for the code written against it: one record (or,
    as before, a list of them) as JSON-ready data."""
    return _converter.unstructure(record)

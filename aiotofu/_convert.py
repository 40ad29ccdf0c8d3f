"""The one cattrs Converter aiotofu uses, and the strict hooks that make it reject mistyped data.

cattrs' default hooks coerce (``str(123)`` becomes ``"123"``, ``int("7")`` becomes ``7``); an API
client must not guess, so the primitive hooks here accept only the JSON type the API documents.
Structuring failures become :class:`aiotofu.DecodeError` whose message names the field path.
"""

from __future__ import annotations

import re
import sys
import typing
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

import attrs
import cattrs
import cattrs.v

from .errors import DecodeError

__all__ = ["json_type", "parse_datetime", "structure", "structure_list"]

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
    return parse_datetime(value)


def json_type(value: Any) -> str:
    """The JSON name of a decoded value's type, for messages."""
    if value is None:
        return "null"
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}
    names.update({list: "an array", dict: "an object"})
    return names.get(type(value), type(value).__name__)


def _objects_only(converter: cattrs.Converter) -> None:
    """Make every attrs class accept only a JSON object, with a message that says so."""
    generate = converter.gen_structure_attrs_fromdict

    def factory(cls: type[Any]) -> Callable[[Any, type[Any]], Any]:
        structure_fields = generate(cls)

        def structure_object(value: Any, cls: type[Any]) -> Any:
            if type(value) is not dict:
                raise TypeError(f"expected an object, got {json_type(value)}")
            return structure_fields(value, cls)

        return structure_object

    converter.register_structure_hook_factory(attrs.has, factory)


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
    converter.register_structure_hook(str, _strict(str, "a string"))
    converter.register_structure_hook(int, _strict(int, "an integer"))
    converter.register_structure_hook(bool, _strict(bool, "a boolean"))
    converter.register_structure_hook(datetime, _datetime)
    return converter


_converter = _make_converter()


def structure(data: Any, cls: type[T], path: str) -> T:
    """Structure decoded JSON into ``cls``; any failure is a DecodeError naming the field path."""
    try:
        return _converter.structure(data, cls)
    except Exception as exc:  # cattrs raises ClassValidationError, but hooks may raise anything
        details = cattrs.transform_error(exc, path=path, format_exception=_format_exception)
        raise DecodeError("unexpected response body: " + "; ".join(details[:5])) from exc


def structure_list(data: list[Any], cls: type[T], path: str) -> list[T]:
    """Structure a JSON array of ``cls`` records: the hot path of every page.

    Records go through a function compiled once per class (see ``_compile``); the first one
    that does not fit is handed, with the whole array, to the cattrs converter, whose error
    names the path.
    """
    fast = _fast_structure(cls)
    try:
        return [fast(record) for record in data]
    except Exception:
        return structure(data, list[cls], path)  # type: ignore[valid-type]


_compiled: dict[type[Any], Callable[[Any], Any]] = {}


def _fast_structure(cls: type[T]) -> Callable[[Any], T]:
    function = _compiled.get(cls)
    if function is None:
        function = _compiled[cls] = _compile(cls)
    return function


def _compile(cls: type[Any]) -> Callable[[Any], Any]:
    """Generate a structuring function for an attrs class, the way cattrs does, but leaner.

    Strict checks are inlined (``type(v) is str``), nested attrs classes and datetimes call
    their own hooks, and nothing is collected for error messages: on any misfit it raises and
    ``structure_list`` asks the converter to explain. Two more savings, both safe because the
    models are frozen: the instance's slots are filled directly (what attrs' ``__init__`` does,
    less its per-field ``object.__setattr__`` calls), and small references that repeat from
    record to record (the same user, the same station) are built once and shared.
    """
    hints = typing.get_type_hints(cls)
    fields = attrs.fields(cls)
    names: dict[str, Any] = {"_cls": cls, "_new": object.__new__, "_dt": parse_datetime}
    names["_Misfit"] = _Misfit
    lines = ["def structure(d):", "    if type(d) is not dict: raise _Misfit"]
    for index, field in enumerate(fields):
        var = f"v{index}"
        kind = hints[field.name]
        optional = type(None) in typing.get_args(kind)
        if optional:
            kind = next(arg for arg in typing.get_args(kind) if arg is not type(None))
        key = repr(field.name)
        if field.default is attrs.NOTHING:
            lines.append(f"    {var} = d[{key}]")
        else:
            lines.append(f"    {var} = d.get({key})")
        guard = f"{var} is not None and " if optional else ""
        if kind in (str, int, bool):
            names[f"_{kind.__name__}"] = kind
            lines.append(f"    if {guard}type({var}) is not _{kind.__name__}: raise _Misfit")
        elif kind is datetime:
            lines.append(f"    if {guard}type({var}) is not str: raise _Misfit")
            convert = f"_dt({var})"
            if _FROMISOFORMAT_TAKES_Z:
                # TofuPilot's own form, 2024-01-15T10:30:00.123Z, straight to the C parser;
                # anything else takes the full path of parse_datetime.
                names["_fromiso"] = datetime.fromisoformat
                convert = (
                    f"_fromiso({var}) if len({var}) == 24 and {var}[23] == 'Z' and "
                    f"{var}[10] == 'T' and {var}[19] == '.' and {var}[20:23].isdigit() "
                    f"else _dt({var})"
                )
            if optional:
                convert = f"None if {var} is None else ({convert})"
            lines.append(f"    {var} = {convert}")
        elif attrs.has(kind) and _is_reference(kind):
            names[f"_s{index}"] = _compile(kind)
            names[f"_c{index}"] = {}
            ref_key = ", ".join(f"{var}.get({f.name!r})" for f in attrs.fields(kind))
            lines += [
                f"    if {var} is not None:",
                f"        if type({var}) is not dict: raise _Misfit",
                f"        k = ({ref_key},)",
                f"        o = _c{index}.get(k)",
                "        if o is None:",
                f"            if len(_c{index}) >= {_SHARED_REFERENCES}: _c{index}.clear()",
                f"            o = _c{index}[k] = _s{index}({var})",
                f"        {var} = o",
            ]
        elif attrs.has(kind):  # pragma: no cover - every nested model is a reference today
            names[f"_s{index}"] = _compile(kind)
            lines.append(f"    {var} = None if {var} is None else _s{index}({var})")
        else:  # pragma: no cover - no such field in the models today
            raise TypeError(f"no fast structuring for {field.name}: {kind}")
    if _plain_slots(cls):
        for index, field in enumerate(fields):
            names[f"_set{index}"] = cls.__dict__[field.name].__set__
        lines.append("    o = _new(_cls)")
        lines += [f"    _set{index}(o, v{index})" for index in range(len(fields))]
        lines.append("    return o")
    else:  # pragma: no cover - every model has plain slots today
        lines.append(f"    return _cls({', '.join(f'v{i}' for i in range(len(fields)))})")
    # Everything the function uses arrives as a default argument: a local, the fastest lookup.
    lines[0] = f"def structure(d, *, {', '.join(f'{name}={name}' for name in names)}):"
    namespace = dict(names)
    exec("\n".join(lines), namespace)
    function: Callable[[Any], Any] = namespace["structure"]
    return function


_SHARED_REFERENCES = 4096


def _is_reference(cls: type[Any]) -> bool:
    """A small record of strings only (UserRef, StationRef): equal JSON, equal instance."""
    hints = typing.get_type_hints(cls)
    return all(hints[field.name] in (str, str | None) for field in attrs.fields(cls))


def _plain_slots(cls: type[Any]) -> bool:
    """Whether filling the slots directly does all that ``cls.__init__`` would."""
    return (
        "__slots__" in cls.__dict__
        and not hasattr(cls, "__attrs_post_init__")
        and all(f.validator is None and f.converter is None for f in attrs.fields(cls))
        and all(
            type(cls.__dict__.get(f.name)).__name__ == "member_descriptor"
            for f in attrs.fields(cls)
        )
    )


class _Misfit(Exception):
    """A record the fast path cannot structure; the converter explains why."""

"""The one cattrs Converter aiotofu uses, and the strict hooks that make it reject mistyped data.

cattrs' default hooks coerce (``str(123)`` becomes ``"123"``, ``int("7")`` becomes ``7``); an API
client must not guess, so the primitive hooks here accept only the JSON type the API documents.
Structuring failures become :class:`aiotofu.DecodeError` whose message names the field path.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

import attrs
import cattrs
import cattrs.v

from .errors import DecodeError

__all__ = ["json_type", "parse_datetime", "structure"]

T = TypeVar("T")

# RFC 3339 date-time. Seconds are optional because TofuPilot's own query pattern accepts
# ``HH:MM``; the offset is mandatory, so every datetime aiotofu returns is time-zone aware.
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))"
)


def parse_datetime(value: str) -> datetime:
    """Parse an RFC 3339 date-time with ``Z`` or an offset into an aware ``datetime``.

    Written out rather than delegated to ``datetime.fromisoformat`` because that accepts ``Z``
    only from Python 3.11 on, takes only 3 or 6 fractional digits on 3.10, and accepts forms
    RFC 3339 does not (date only, no offset).
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


def _strict_str(value: Any, _: type) -> str:
    if type(value) is not str:
        raise TypeError(f"expected a string, got {json_type(value)}")
    return value


def _strict_int(value: Any, _: type) -> int:
    if type(value) is not int:
        raise TypeError(f"expected an integer, got {json_type(value)}")
    return value


def _strict_bool(value: Any, _: type) -> bool:
    if type(value) is not bool:
        raise TypeError(f"expected a boolean, got {json_type(value)}")
    return value


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
    converter.register_structure_hook(str, _strict_str)
    converter.register_structure_hook(int, _strict_int)
    converter.register_structure_hook(bool, _strict_bool)
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

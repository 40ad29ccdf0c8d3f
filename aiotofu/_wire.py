"""The wire format: msgspec decoders that turn a response body into frozen records in one C call.

One ``msgspec.json.Decoder`` per record type, built on first use and kept: JSON bytes become the
page's ``data`` (a tuple of the endpoint's attrs models, nested classes, ``Literal`` enums and
aware datetimes included) and its ``meta``, validated as they are parsed. Unknown fields are
ignored; a missing or mistyped one fails with its JSON path (``$.data[3].created_at``).

Two keys of the whole API are camelCase (``linkedRepository`` on procedures and its
``fullName``); msgspec does not read attrs aliases, so procedures are decoded through msgspec
Structs that rename those keys (``_ProcedureWire``) and are then made ``Procedure`` records.

msgspec's messages are terse, so on a failure (the rare path) the body is decoded again with the
standard library and the cattrs converter, which word the problem the way the rest of aiotofu does
(see ``explain``). Both are held to the same accept-or-reject decision by a differential test.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any, Generic, TypeVar

import attrs
import msgspec

from ._convert import json_type, structure
from ._models import (
    JSON_KEYS,
    AwareDatetime,
    LinkedRepository,
    MemberRef,
    Procedure,
    Provider,
)
from .errors import DecodeError

__all__ = ["MAX_CURSOR", "PageBody", "PageMeta", "decode_array", "decode_body", "explain"]

T = TypeVar("T")

MAX_CURSOR = 2**53 - 1


@attrs.frozen
class PageMeta:
    """``meta`` of a list answer: whether more follows, and the cursor of the next page."""

    has_more: bool
    next_cursor: Annotated[int, msgspec.Meta(ge=0, le=MAX_CURSOR)] | None = None


@attrs.frozen
class PageBody(Generic[T]):
    """A whole list answer: ``{"data": [...], "meta": {...}}``."""

    data: tuple[T, ...]
    meta: PageMeta


class _LinkedRepositoryWire(msgspec.Struct, rename=JSON_KEYS[LinkedRepository]):
    id: str
    name: str
    full_name: str
    provider: Provider


class _ProcedureWire(msgspec.Struct, rename=JSON_KEYS[Procedure]):
    id: str
    name: str
    created_at: AwareDatetime
    created_by_user: MemberRef
    linked_repository: _LinkedRepositoryWire | None


def _repository(wire: _LinkedRepositoryWire) -> LinkedRepository:
    return LinkedRepository(wire.id, wire.name, wire.full_name, wire.provider)


def _procedure(wire: _ProcedureWire) -> Procedure:
    repository = wire.linked_repository
    return Procedure(
        wire.id,
        wire.name,
        wire.created_at,
        wire.created_by_user,
        None if repository is None else _repository(repository),
    )


# Models whose JSON keys are not their field names: the shape msgspec decodes, and the record.
WIRE_FORMS: dict[type[Any], tuple[type[Any], Callable[[Any], Any]]] = {
    Procedure: (_ProcedureWire, _procedure),
    LinkedRepository: (_LinkedRepositoryWire, _repository),
}

_decoders: dict[Any, msgspec.json.Decoder[Any]] = {}
_page_decoders: dict[type[Any], msgspec.json.Decoder[Any]] = {}  # by record class


def _decoder(shape: Any) -> msgspec.json.Decoder[Any]:
    """The decoder of a body of type ``shape``, built on first use and kept."""
    decoder = _decoders.get(shape)
    if decoder is None:
        decoder = _decoders[shape] = msgspec.json.Decoder(shape)
    return decoder


def decode_body(body: bytes, cls: type[T]) -> PageBody[T]:
    """Decode a list answer whose records are ``cls``; DecodeError (worded) if it does not fit."""
    form = WIRE_FORMS.get(cls)
    decoder = _page_decoders.get(cls)
    if decoder is None:  # by the record class: a PageBody[...] alias costs a lookup of its own
        decoder = _page_decoders[cls] = _decoder(PageBody[form[0] if form else cls])  # type: ignore[misc]
    try:
        page: PageBody[Any] = decoder.decode(body)
    except msgspec.DecodeError as exc:  # ValidationError is a subclass: the body does not fit
        raise explain(body, cls, exc) from exc
    if form is not None:
        return PageBody(tuple(map(form[1], page.data)), page.meta)
    return page


def decode_array(body: bytes, cls: type[T]) -> list[T]:
    """Decode an answer that is a bare JSON array of ``cls`` (``GET /v2/users``)."""
    decoder = _decoder(list[cls])  # type: ignore[valid-type]
    try:
        records: list[T] = decoder.decode(body)
    except msgspec.ValidationError as exc:
        try:
            structure(json.loads(body), list[cls], "$")  # type: ignore[valid-type]
        except DecodeError as worded:
            raise worded from exc
        except (ValueError, RecursionError):
            pass
        raise _unexpected(str(exc)) from exc
    except msgspec.DecodeError as exc:
        raise DecodeError(f"the response body is not valid JSON: {exc}") from exc
    return records


def explain(body: bytes, cls: type[Any], exc: msgspec.DecodeError) -> DecodeError:
    """The DecodeError for a body msgspec refused, worded by the slow, careful path."""
    if not isinstance(exc, msgspec.ValidationError):
        return DecodeError(f"the response body is not valid JSON: {exc}")
    try:
        value = json.loads(body)
    except RecursionError:  # valid for msgspec, too deep for the standard library
        return _unexpected(f"{exc} (nested too deeply to say more)")
    except ValueError as error:  # the two disagree on what JSON is: both views, then
        return _unexpected(f"{exc} ({error})")
    if type(value) is not dict:
        return _unexpected(f"expected an object with data and meta, got {json_type(value)}")
    data, meta = value.get("data"), value.get("meta")
    if type(data) is not list:
        return _unexpected(f"$.data must be an array, got {json_type(data)}")
    if type(meta) is not dict:
        return _unexpected(f"$.meta must be an object, got {json_type(meta)}")
    has_more, next_cursor = meta.get("has_more"), meta.get("next_cursor")
    if type(has_more) is not bool:
        return _unexpected(f"$.meta.has_more must be a boolean, got {json_type(has_more)}")
    if next_cursor is not None and (
        type(next_cursor) is not int or not 0 <= next_cursor <= MAX_CURSOR
    ):
        return _unexpected(
            "$.meta.next_cursor must be null or an integer between 0 and 2^53-1, "
            f"got {json_type(next_cursor)}"
        )
    try:
        structure(data, list[cls], "$.data")  # type: ignore[valid-type]
    except DecodeError as error:
        return error
    # The careful path accepts what msgspec refused: report msgspec's own words and path.
    return _unexpected(str(exc))


def _unexpected(what: str) -> DecodeError:
    return DecodeError(f"unexpected response body: {what}")

"""Resume and watch tokens: typed payloads, and their opaque, URL-safe, checksummed encoding.

Every token is one of the attrs payloads below, unstructured and structured by the library's
cattrs converter, so that what a token holds is declared in one place. The encoding is
``base64url(version byte + 8-byte SHA-256 prefix + compact JSON)``. The checksum is not a
secret: it detects truncated or altered tokens, it does not authenticate them, so everything
inside is validated again when a token is used.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from datetime import datetime
from typing import Any, TypeVar

import attrs

from ._convert import structure_strictly, unstructure
from .errors import InvalidParameterError

__all__ = [
    "AnchorPayload",
    "ListingToken",
    "LogWatchToken",
    "WatchToken",
    "decode_payload",
    "decode_token",
    "encode_payload",
    "encode_token",
]

P = TypeVar("P")


@attrs.frozen
class AnchorPayload:
    """The last record handed out: its id, offset, sort key (``key`` a time, else ``value``, the
    key as JSON), how many records taken share it (``rank``), where they begin (``first``) and
    their ids while they are few (``_pages.TOKEN_TIES``), so that a token stays a few KB
    whatever the ties."""

    id: str
    offset: int
    key: datetime | None
    ties: list[str]
    rank: int
    value: str | None = None
    first: int = -1


@attrs.frozen
class ListingToken:
    """Where a listing stands: its filters (as ``ListQuery.to_json``), page size, the offset of
    the next record, the consistency pin and the anchor."""

    resource: str
    query: dict[str, Any]
    page_size: int
    cursor: int
    pin: datetime | None
    anchor: AnchorPayload | None = None
    start: datetime | None = None
    base: int = 0


@attrs.frozen
class WatchToken:
    """Where a watch stands (see ``WatchState``), with its filters and page size."""

    resource: str
    query: dict[str, Any]
    page_size: int
    since: datetime | None
    seen: list[str]
    skipped: int = 0
    lookback: float = 0.0
    recent: list[tuple[str, datetime]] = attrs.field(factory=list)
    # Where the look-back window starts, kept until it is read whole again (absent from tokens
    # made before it existed, which mean since - lookback).
    floor: datetime | None = None


@attrs.frozen
class LogWatchToken:
    """Where a watch of log lines stands (see ``aiotofu._log_watch``): its log filters (as
    ``Query.to_json``) and page size, the payload of its runs watch's token (just after the run
    whose lines are being handed out), and the payload of the listing token of that run's lines
    (None between runs). Both inner payloads are checked again by what resumes them."""

    resource: str
    query: dict[str, Any]
    page_size: int
    runs: dict[str, Any]
    lines: dict[str, Any] | None = None


def encode_payload(payload: Any) -> str:
    """The token of a payload."""
    return encode_token(unstructure(payload))


def decode_payload(token: Any, cls: type[P], *, resource: str, name: str) -> P:
    """The payload of ``token``, a ``cls`` made for ``resource``; InvalidParameterError naming
    ``name`` if the token is malformed, altered, or made for something else."""
    raw = decode_token(token, name)
    if raw.get("resource") != resource:
        kind = "watch" if cls is WatchToken else "listing"
        raise InvalidParameterError(name, f"not a resume token of a {resource} {kind}")
    try:
        return structure_strictly(raw, cls)
    except ValueError as exc:
        raise InvalidParameterError(name, f"not a valid resume token ({exc})") from None


# 2: restarts bound the sort key (``start``), anchors count their ties (``rank``).
_VERSION = 2
_DIGEST = 8


def encode_token(payload: dict[str, Any]) -> str:
    """Encode a JSON-able payload as a token."""
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    return encode_raw(bytes([_VERSION]) + hashlib.sha256(body).digest()[:_DIGEST] + body)


def decode_token(token: Any, name: str = "token") -> dict[str, Any]:
    """The payload of a token made by ``encode_token``; InvalidParameterError naming ``name``
    if it is not one."""
    if not isinstance(token, str):
        raise InvalidParameterError(name, f"expected a string, got {type(token).__name__}")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        raise InvalidParameterError(name, "not a resume token (bad encoding)") from None
    # Base64 leaves unused bits in the last character: compare the round trip, so that no
    # altered character goes unnoticed.
    if encode_raw(raw) != token:
        raise InvalidParameterError(name, "not a resume token (bad encoding)")
    if len(raw) <= 1 + _DIGEST:
        raise InvalidParameterError(name, "not a resume token (truncated)")
    if raw[0] != _VERSION:
        raise InvalidParameterError(name, f"unsupported resume token version {raw[0]}")
    digest, body = raw[1 : 1 + _DIGEST], raw[1 + _DIGEST :]
    if hashlib.sha256(body).digest()[:_DIGEST] != digest:
        raise InvalidParameterError(name, "the resume token is damaged or was altered")
    try:
        payload = json.loads(body)
    except ValueError:
        raise InvalidParameterError(name, "the resume token is damaged") from None
    if not isinstance(payload, dict):
        raise InvalidParameterError(name, "the resume token is damaged")
    return payload


def encode_raw(raw: bytes) -> str:
    """Unpadded URL-safe base64."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")

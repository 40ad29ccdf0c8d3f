"""Resume tokens: an opaque, URL-safe, versioned and checksummed record of where a listing stands.

A token is ``base64url(version byte + 8-byte SHA-256 prefix + compact JSON)``. The checksum is
not a secret: it detects truncated or altered tokens, it does not authenticate them, and the
filters inside are validated again when the token is used.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any

from .errors import InvalidParameterError

__all__ = ["decode_token", "encode_token"]

_VERSION = 1
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

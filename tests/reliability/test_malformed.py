"""Malformed answers, served over a real socket: each one is a typed aiotofu error with a
readable message, never a KeyError or a TypeError, never an endless loop."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st

import aiotofu
from aiotofu import Batch
from aiotofu._sansio import Response, decode_page
from aiotofu._transport import MAX_BODY_BYTES
from tests.helpers import serving

GOOD = {"id": "a", "number": "N1", "created_at": "2024-01-15T10:30:00Z", "unit_count": 1}
JSON = "application/json"


def page(data: Any, meta: Any) -> bytes:
    return json.dumps({"data": data, "meta": meta}).encode()


def without(field: str) -> dict[str, Any]:
    return {k: v for k, v in GOOD.items() if k != field}


# (name, status, content type, body, expected error, words the message must contain)
CORPUS: list[tuple[str, int, str, bytes, type[Exception], str]] = [
    (
        "HTML 200",
        200,
        "text/html",
        b"<html><title>Login</title></html>",
        aiotofu.DecodeError,
        "HTML page titled 'Login'",
    ),
    (
        "truncated JSON",
        200,
        JSON,
        page([GOOD], {"has_more": False})[:-7],
        aiotofu.DecodeError,
        "not valid JSON",
    ),
    ("empty body", 200, JSON, b"", aiotofu.DecodeError, "not valid JSON"),
    ("wrong top-level type", 200, JSON, b"[1, 2, 3]", aiotofu.DecodeError, "got an array"),
    ("null body", 200, JSON, b"null", aiotofu.DecodeError, "got null"),
    (
        "missing data",
        200,
        JSON,
        json.dumps({"meta": {"has_more": False}}).encode(),
        aiotofu.DecodeError,
        "$.data must be an array",
    ),
    (
        "missing meta",
        200,
        JSON,
        json.dumps({"data": []}).encode(),
        aiotofu.DecodeError,
        "$.meta must be an object",
    ),
    (
        "missing id",
        200,
        JSON,
        page([without("id")], {"has_more": False}),
        aiotofu.DecodeError,
        "$.data[0].id",
    ),
    (
        "missing number",
        200,
        JSON,
        page([without("number")], {"has_more": False}),
        aiotofu.DecodeError,
        "$.data[0].number",
    ),
    (
        "missing created_at",
        200,
        JSON,
        page([without("created_at")], {"has_more": False}),
        aiotofu.DecodeError,
        "$.data[0].created_at",
    ),
    (
        "missing unit_count",
        200,
        JSON,
        page([without("unit_count")], {"has_more": False}),
        aiotofu.DecodeError,
        "$.data[0].unit_count",
    ),
    (
        "mistyped id",
        200,
        JSON,
        page([{**GOOD, "id": 7}], {"has_more": False}),
        aiotofu.DecodeError,
        "$.data[0].id",
    ),
    (
        "mistyped unit_count",
        200,
        JSON,
        page([{**GOOD, "unit_count": "7"}], {"has_more": False}),
        aiotofu.DecodeError,
        "expected an integer",
    ),
    (
        "mistyped user",
        200,
        JSON,
        page([{**GOOD, "created_by_user": []}], {"has_more": False}),
        aiotofu.DecodeError,
        "$.data[0].created_by_user",
    ),
    (
        "non-RFC 3339 date",
        200,
        JSON,
        page([{**GOOD, "created_at": "15/01/2024"}], {"has_more": False}),
        aiotofu.DecodeError,
        "not an RFC 3339",
    ),
    (
        "date without offset",
        200,
        JSON,
        page([{**GOOD, "created_at": "2024-01-15T10:30:00"}], {"has_more": False}),
        aiotofu.DecodeError,
        "with a time zone",
    ),
    (
        "has_more with a null cursor",
        200,
        JSON,
        page([GOOD], {"has_more": True, "next_cursor": None}),
        aiotofu.PaginationError,
        "would never end",
    ),
    (
        "has_more with a repeating cursor",
        200,
        JSON,
        page([GOOD], {"has_more": True, "next_cursor": 0}),
        aiotofu.PaginationError,
        "would never end",
    ),
    (
        "has_more as a string",
        200,
        JSON,
        page([GOOD], {"has_more": "yes"}),
        aiotofu.DecodeError,
        "has_more must be a boolean",
    ),
    (
        "wrong content type",
        200,
        "text/plain",
        page([GOOD], {"has_more": False}),
        aiotofu.DecodeError,
        "expected a JSON body",
    ),
    ("binary garbage", 200, JSON, bytes(range(256)), aiotofu.DecodeError, "not valid JSON"),
    (
        "deeply nested",
        200,
        JSON,
        b"[" * 100_000 + b"]" * 100_000,
        aiotofu.DecodeError,
        "got `array` (nested too deeply",
    ),
    (
        "proxy 502 page",
        502,
        "text/html",
        b"<html><title>502 Bad Gateway</title></html>",
        aiotofu.ServerError,
        "502 BAD_GATEWAY",
    ),
    ("an error with no body", 403, JSON, b"", aiotofu.PermissionDeniedError, "403 FORBIDDEN"),
]


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[int, str, bytes], Any]]:
    """A local server answering every request with the body the test sets."""
    answer: dict[str, Any] = {}

    async def handler(request: web.Request) -> web.Response:
        answer["requests"] = answer.get("requests", 0) + 1
        return web.Response(
            status=answer["status"], body=answer["body"], headers={"Content-Type": answer["type"]}
        )

    async with serving(handler) as base_url:

        def set_answer(status: int, content_type: str, body: bytes) -> Any:
            answer.update(status=status, type=content_type, body=body)
            return aiotofu.Client("key", base_url=base_url, retry=None)

        yield set_answer


@pytest.mark.parametrize(
    ("status", "content_type", "body", "error", "words"),
    [case[1:] for case in CORPUS],
    ids=[case[0] for case in CORPUS],
)
async def test_every_malformed_answer_is_a_typed_error(
    serve: Callable[[int, str, bytes], aiotofu.Client],
    status: int,
    content_type: str,
    body: bytes,
    error: type[Exception],
    words: str,
) -> None:
    async with serve(status, content_type, body) as client:
        with pytest.raises(error) as info:
            await client.batches.list().collect()
    assert words in str(info.value)
    assert len(str(info.value)) < 600  # readable, not the whole body


async def test_an_enormous_body_is_refused_before_it_is_read_whole(
    serve: Callable[[int, str, bytes], aiotofu.Client],
) -> None:
    huge = b'{"data": [' + b'"x",' * (MAX_BODY_BYTES // 4 + 10) + b'"x"], "meta": {}}'
    async with serve(200, JSON, huge) as client:
        with pytest.raises(aiotofu.DecodeError, match="larger than 32 MiB"):
            await client.batches.list().collect()


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5)
    ),
    max_leaves=40,
)


@settings(max_examples=300)
@given(
    body=JSON_VALUES
    | st.fixed_dictionaries({"data": st.lists(JSON_VALUES, max_size=3), "meta": JSON_VALUES})
)
def test_arbitrary_json_gives_a_page_or_an_aiotofu_error(body: Any) -> None:
    try:
        raw = json.dumps(body).encode()
    except ValueError:
        return
    with contextlib.suppress(aiotofu.TofuPilotError):
        decode_page(Response(200, {"Content-Type": JSON}, raw), Batch, cursor=0)


@settings(max_examples=300)
@given(raw=st.binary(max_size=300), status=st.integers(100, 599))
def test_arbitrary_bytes_and_statuses_give_a_page_or_an_aiotofu_error(
    raw: bytes, status: int
) -> None:
    with contextlib.suppress(aiotofu.TofuPilotError):
        decode_page(Response(status, {"Content-Type": JSON}, raw), Batch, cursor=0)

"""Deciphering responses: status to error class, body to Page, Retry-After. No I/O."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import aiotofu
from aiotofu import Batch, DecodeError, PaginationError
from aiotofu._sansio import (
    Response,
    build_request,
    decode_page,
    error_from_response,
    parse_retry_after,
)

JSON = {"Content-Type": "application/json; charset=utf-8"}
RECORD = {"id": "a", "number": "N1", "created_at": "2024-01-15T10:30:00Z", "unit_count": 1}


def ok(body: Any, headers: dict[str, str] = JSON) -> Response:
    return Response(status=200, headers=headers, body=json.dumps(body).encode())


def page(data: list[Any], has_more: bool, next_cursor: Any) -> Response:
    return ok({"data": data, "meta": {"has_more": has_more, "next_cursor": next_cursor}})


def test_build_request_carries_the_key_only_in_the_header_and_out_of_repr() -> None:
    request = build_request(
        "https://example.test/api/", "/v2/batches", api_key="sk-secret", user_agent="ua"
    )
    assert request.url == "https://example.test/api/v2/batches"
    assert request.headers["Authorization"] == "Bearer sk-secret"
    assert "sk-secret" not in repr(request)


def test_a_page_in_the_middle() -> None:
    result = decode_page(page([RECORD, {**RECORD, "id": "b"}], True, 52), Batch, cursor=50)
    assert [b.id for b in result.items] == ["a", "b"]
    assert (result.cursor, result.has_more, result.next_cursor) == (50, True, 52)


def test_the_last_page_may_have_a_null_cursor() -> None:
    result = decode_page(page([RECORD], False, None), Batch, cursor=0)
    assert (result.has_more, result.next_cursor) == (False, None)


def test_an_empty_page_with_has_more_is_valid() -> None:
    result = decode_page(page([], True, 100), Batch, cursor=50)
    assert result.items == ()
    assert result.has_more


@pytest.mark.parametrize(("next_cursor", "cursor"), [(None, 0), (50, 50), (10, 50), (0, 0)])
def test_has_more_without_an_advancing_cursor_is_a_pagination_error(
    next_cursor: Any, cursor: int
) -> None:
    with pytest.raises(PaginationError, match=f"has_more at cursor {cursor}"):
        decode_page(page([RECORD], True, next_cursor), Batch, cursor=cursor)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "expected an object with data and meta, got an array"),
        ("x", "got a string"),
        (
            {"meta": {"has_more": False, "next_cursor": None}},
            r"\$\.data must be an array, got null",
        ),
        ({"data": {}, "meta": {"has_more": False}}, r"\$\.data must be an array, got an object"),
        ({"data": []}, r"\$\.meta must be an object, got null"),
        ({"data": [], "meta": {}}, r"has_more must be a boolean, got null"),
        ({"data": [], "meta": {"has_more": "false"}}, r"has_more must be a boolean, got a string"),
        ({"data": [], "meta": {"has_more": True, "next_cursor": "50"}}, "next_cursor must be"),
        ({"data": [], "meta": {"has_more": True, "next_cursor": -1}}, "next_cursor must be"),
        ({"data": [], "meta": {"has_more": True, "next_cursor": 2**53}}, "next_cursor must be"),
        ({"data": [], "meta": {"has_more": True, "next_cursor": 5.0}}, "next_cursor must be"),
        ({"data": [{"id": 1}], "meta": {"has_more": False}}, r"\$\.data\[0\]\.id"),
    ],
)
def test_a_body_of_the_wrong_shape_is_a_decode_error(body: Any, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        decode_page(ok(body), Batch, cursor=0)


@pytest.mark.parametrize(
    ("headers", "body", "message"),
    [
        ({"Content-Type": "text/html"}, b"<html><title>Welcome</title></html>", "HTML page titled"),
        ({}, b'{"data": []}', "expected a JSON body, got .* no content type"),
        (JSON, b"", "not valid JSON"),
        (JSON, b'{"data": [', "not valid JSON"),
        (JSON, b"\xff\xfe", "not valid JSON"),
    ],
)
def test_a_2xx_that_is_not_json_is_a_decode_error(
    headers: dict[str, str], body: bytes, message: str
) -> None:
    with pytest.raises(DecodeError, match=message):
        decode_page(Response(200, headers, body), Batch, cursor=0)


@pytest.mark.parametrize(
    ("status", "cls", "code"),
    [
        (400, aiotofu.BadRequestError, "BAD_REQUEST"),
        (401, aiotofu.AuthenticationError, "UNAUTHORIZED"),
        (403, aiotofu.PermissionDeniedError, "FORBIDDEN"),
        (404, aiotofu.NotFoundError, "NOT_FOUND"),
        (408, aiotofu.APIError, "TIMEOUT"),
        (409, aiotofu.ConflictError, "CONFLICT"),
        (418, aiotofu.APIError, "HTTP_418"),
        (429, aiotofu.RateLimitError, "TOO_MANY_REQUESTS"),
        (500, aiotofu.ServerError, "INTERNAL_SERVER_ERROR"),
        (502, aiotofu.ServerError, "BAD_GATEWAY"),
        (503, aiotofu.ServerError, "SERVICE_UNAVAILABLE"),
        (504, aiotofu.ServerError, "GATEWAY_TIMEOUT"),
        (599, aiotofu.ServerError, "HTTP_599"),
        (302, aiotofu.APIError, "HTTP_302"),
    ],
)
@pytest.mark.parametrize(
    ("headers", "body"),
    [
        (
            {"Content-Type": "text/html"},
            b"<html><head><title>502 Bad Gateway</title></head></html>",
        ),
        ({}, b""),
        ({"Content-Type": "text/plain"}, b"upstream connect error"),
    ],
)
def test_every_status_without_a_json_body_gets_its_class(
    status: int, cls: type[aiotofu.APIError], code: str, headers: dict[str, str], body: bytes
) -> None:
    error = error_from_response(Response(status, headers, body))
    assert type(error) is cls
    assert (error.status, error.code, error.issues) == (status, code, ())
    assert str(status) in str(error)
    assert error.message  # something readable, never empty
    with pytest.raises(cls):
        decode_page(Response(status, headers, body), Batch, cursor=0)


def test_tofupilots_error_body_fills_the_fields() -> None:
    body = {
        "message": "Bad request",
        "code": "BAD_REQUEST",
        "issues": [
            {"path": ["limit"], "message": "Number must be less than or equal to 100"},
            {"path": [], "message": "other"},
            "free text",
        ],
    }
    error = error_from_response(Response(400, JSON, json.dumps(body).encode()))
    assert isinstance(error, aiotofu.BadRequestError)
    assert error.message == "Bad request"
    assert error.issues[0]["path"] == ["limit"]
    assert str(error) == (
        "400 BAD_REQUEST: Bad request "
        "(limit: Number must be less than or equal to 100; other; free text)"
    )


def test_many_issues_are_summarised() -> None:
    issues = [{"path": [f"f{i}"], "message": "bad"} for i in range(8)]
    body = {"message": "Bad request", "code": "BAD_REQUEST", "issues": issues}
    error = error_from_response(Response(400, JSON, json.dumps(body).encode()))
    assert str(error).endswith("and 3 more issues")
    assert len(error.issues) == 8


def test_a_json_error_body_of_another_shape_keeps_the_defaults() -> None:
    error = error_from_response(Response(500, JSON, b'{"error": 1, "code": 5, "issues": "x"}'))
    assert (error.code, error.issues) == ("INTERNAL_SERVER_ERROR", ())


def test_429_carries_retry_after() -> None:
    error = error_from_response(Response(429, {"Retry-After": "7"}, b""))
    assert isinstance(error, aiotofu.RateLimitError)
    assert error.retry_after == 7.0
    assert "retry after 7 s" in str(error)


def test_an_error_carries_the_headers_and_the_request_id() -> None:
    headers = {**JSON, "X-Request-Id": "req-42", "Retry-After": "3"}
    error = error_from_response(Response(503, headers, b'{"message": "busy"}'))
    assert (error.request_id, error.retry_after) == ("req-42", 3.0)
    assert error.headers["Content-Type"] == JSON["Content-Type"]
    assert error_from_response(Response(400, JSON, b"{}")).request_id is None


NOW = datetime(2024, 1, 15, 10, 30, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("0", 0.0),
        ("120", 120.0),
        (" 3 ", 3.0),
        ("1.5", 1.5),
        ("Mon, 15 Jan 2024 10:30:30 GMT", 30.0),
        ("Mon, 15 Jan 2024 10:29:00 GMT", 0.0),
        ("Monday, 15-Jan-24 10:31:00 GMT", 60.0),
        (None, None),
        ("", None),
        ("soon", None),
        ("-5", None),
        ("inf", None),
        ("nan", None),
    ],
)
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, NOW) == seconds


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=6)
    ),
    max_leaves=30,
)
RECORDISH = st.fixed_dictionaries(
    {},
    optional={
        "id": st.text(max_size=5) | JSON_VALUES,
        "number": st.text(max_size=5) | JSON_VALUES,
        "created_at": st.just("2024-01-15T10:30:00Z") | JSON_VALUES,
        "unit_count": st.integers() | JSON_VALUES,
        "created_by_user": st.none()
        | st.fixed_dictionaries({"id": st.text(max_size=3)})
        | JSON_VALUES,
    },
)
BODIES = JSON_VALUES | st.fixed_dictionaries(
    {
        "data": st.lists(RECORDISH, max_size=3) | JSON_VALUES,
        "meta": st.fixed_dictionaries(
            {"has_more": st.booleans() | JSON_VALUES, "next_cursor": st.integers() | JSON_VALUES}
        )
        | JSON_VALUES,
    }
)


@given(body=BODIES, cursor=st.integers(0, 1000))
def test_any_json_gives_a_valid_page_or_a_decode_error(body: Any, cursor: int) -> None:
    try:
        result = decode_page(ok(body), Batch, cursor=cursor)
    except DecodeError:
        return
    assert all(isinstance(b, Batch) for b in result.items)
    assert not result.has_more or (result.next_cursor is not None and result.next_cursor > cursor)

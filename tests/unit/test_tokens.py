"""Resume tokens: round trips, and every damaged or altered token refused (pure, no network)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import aiotofu
from aiotofu._tokens import decode_token, encode_token

PAYLOAD = {
    "resource": "batches",
    "query": {"ids": ["a"]},
    "page_size": 50,
    "cursor": 7,
    "pin": None,
}


def test_a_token_round_trips_and_is_url_safe() -> None:
    token = encode_token(PAYLOAD)
    assert decode_token(token) == PAYLOAD
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


@given(position=st.integers(0, 1000))
def test_every_single_character_change_is_refused(position: int) -> None:
    token = encode_token(PAYLOAD)
    index = position % len(token)
    for replacement in "AZaz09-_":
        if replacement == token[index]:
            continue
        altered = token[:index] + replacement + token[index + 1 :]
        with pytest.raises(aiotofu.InvalidParameterError, match="^token: "):
            decode_token(altered)


@pytest.mark.parametrize("cut", [1, 5, 12, 30])
def test_truncated_tokens_are_refused(cut: int) -> None:
    token = encode_token(PAYLOAD)
    with pytest.raises(aiotofu.InvalidParameterError, match="^token: "):
        decode_token(token[:-cut])


@pytest.mark.parametrize(
    "token", ["", "!!!", "a", "AAAA", "not a token at all", "A" * 400, 12, None, b"AAAA"]
)
def test_garbage_is_refused(token: Any) -> None:
    with pytest.raises(aiotofu.InvalidParameterError, match="^token: "):
        decode_token(token)


def test_another_version_is_refused() -> None:
    raw = base64.urlsafe_b64decode(encode_token(PAYLOAD) + "==")
    token = base64.urlsafe_b64encode(b"\x03" + raw[1:]).rstrip(b"=").decode()
    with pytest.raises(aiotofu.InvalidParameterError, match="version 3"):
        decode_token(token)


def test_a_valid_checksum_over_json_that_is_not_an_object_is_refused() -> None:
    import hashlib

    body = json.dumps([1, 2]).encode()
    raw = b"\x02" + hashlib.sha256(body).digest()[:8] + body
    token = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    with pytest.raises(aiotofu.InvalidParameterError, match="damaged"):
        decode_token(token)


@pytest.mark.parametrize(
    "payload",
    [
        {**PAYLOAD, "resource": "units"},
        {**PAYLOAD, "page_size": 500},
        {**PAYLOAD, "cursor": -1},
        {**PAYLOAD, "pin": "yesterday"},
        {**PAYLOAD, "query": {"sort_by": "name"}},
        {**PAYLOAD, "query": {"ids": []}},
        {**PAYLOAD, "query": {"bogus": 1}},
        {key: value for key, value in PAYLOAD.items() if key != "cursor"},
        # A well-formed checksum does not make a payload well-typed (it is not a secret).
        {**PAYLOAD, "cursor": "40"},
        {**PAYLOAD, "cursor": True},
        {**PAYLOAD, "page_size": 2.5},
        {**PAYLOAD, "anchor": "r1"},
        {**PAYLOAD, "anchor": {"id": "r1", "offset": -5, "key": None, "ties": []}},
        {**PAYLOAD, "anchor": {"id": "r1", "offset": 3, "key": "soon", "ties": []}},
        {**PAYLOAD, "anchor": {"id": "r1", "offset": 3, "key": None, "ties": "r1"}},
        {**PAYLOAD, "query": []},
    ],
)
def test_resume_validates_what_the_token_carries(payload: dict[str, Any]) -> None:
    client = aiotofu.Client("key")
    with pytest.raises(aiotofu.InvalidParameterError, match="^(token|ids|sort_by): "):
        client.batches.resume(encode_token(payload))


def test_resume_restores_filters_position_and_pin() -> None:
    from datetime import datetime, timezone

    client = aiotofu.Client("key")
    paginator = client.batches.list(
        part_numbers=["PCB"],
        created_after=datetime(2024, 1, 1, tzinfo=timezone.utc),
        search_query="x",
        sort_by="number",
        page_size=20,
        cursor=40,
    )
    token = paginator.resume_token
    payload = decode_token(token)
    assert payload["cursor"] == 40
    assert payload["page_size"] == 20
    assert payload["query"] == {
        "part_numbers": ["PCB"],
        "created_after": "2024-01-01T00:00:00Z",
        "search_query": "x",
        "sort_by": "number",
        "sort_order": "desc",
    }
    resumed = client.batches.resume(token)
    assert decode_token(resumed.resume_token) == payload

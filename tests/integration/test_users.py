"""``client.users.list()``: a bare array, on the emulator and through a MockTransport (the SDK's
view of it is in test_every_endpoint_conformance.py)."""

from __future__ import annotations

from typing import Any

import pytest

import aiotofu
from aiotofu.testing import Emulator, MockTransport, Request, Response, json_response


async def test_users_are_listed_as_frozen_records(emu: Emulator) -> None:
    async with emu.client() as client:
        users = await client.users.list()
    assert len(users) == 12
    assert all(isinstance(user, aiotofu.User) for user in users)
    assert any(user.email is None for user in users)
    assert any(user.name is None for user in users)
    assert {type(user.banned) for user in users} == {bool}
    # The creators of batches are among them.
    async with emu.client() as client:
        batches = await client.batches.list(max_items=50).collect()
    creators = {b.created_by_user.id for b in batches if b.created_by_user}
    assert creators <= {user.id for user in users}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"data": []}, "expected an array"),
        ([{"id": "u", "email": None, "name": None, "image": None}], r"\$\[0\]\.banned"),
        ([{"id": 5, "email": None, "name": None, "image": None, "banned": False}], r"\$\[0\]\.id"),
    ],
)
async def test_a_users_answer_of_the_wrong_shape_is_a_decode_error(body: Any, message: str) -> None:
    def handler(request: Request) -> Response:
        return json_response(body)

    async with aiotofu.Client("k", transport=MockTransport(handler), retry=None) as client:
        with pytest.raises(aiotofu.DecodeError, match=message):
            await client.users.list()


async def test_users_errors_are_typed_and_retried(clock: Any) -> None:
    answers = [Response(503, {"Retry-After": "1"}, b""), json_response([])]

    def handler(request: Request) -> Response:
        assert request.url.endswith("/v2/users")
        return answers.pop(0)

    async with aiotofu.Client("k", transport=MockTransport(handler)) as client:
        assert await client.users.list() == []
    assert clock.sleeps == [1.0]

"""Every error of ``aiotofu.errors`` survives pickling with its type, message and attributes:
a Dask worker in another process (``aiotofu.dask``) hands the exception of a failed shard read
back to the caller pickled, and one that cannot be rebuilt there turns into an unrelated
TypeError instead of the AuthenticationError or InvalidParameterError that happened."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from aiotofu import errors

API_ERRORS = [
    getattr(errors, name)
    for name in errors.__all__
    if issubclass(getattr(errors, name), errors.APIError)
]


def roundtrip(error: BaseException) -> Any:
    return pickle.loads(pickle.dumps(error))


def test_an_invalid_parameter_error_keeps_its_parameter_and_message() -> None:
    error = errors.InvalidParameterError("page_size", "expected an integer, got 'x'")
    again = roundtrip(error)
    assert type(again) is errors.InvalidParameterError
    assert again.parameter == "page_size"
    assert str(again) == str(error) == "page_size: expected an integer, got 'x'"


@pytest.mark.parametrize("cls", API_ERRORS, ids=lambda cls: cls.__name__)
def test_an_api_error_keeps_every_attribute(cls: type[errors.APIError]) -> None:
    error = cls(
        401,
        "UNAUTHORIZED",
        "invalid key",
        [{"path": ["limit"], "message": "too big"}],
        retry_after=2.5,
        headers={"X-Request-Id": "req-1"},
        hint="check TOFUPILOT_API_KEY",
    )
    again = roundtrip(error)
    assert type(again) is cls
    assert str(again) == str(error)
    for name in ("status", "code", "message", "issues", "retry_after", "hint", "request_id"):
        assert getattr(again, name) == getattr(error, name), name
    assert dict(again.headers) == {"X-Request-Id": "req-1"}


@pytest.mark.parametrize(
    "cls",
    [getattr(errors, n) for n in errors.__all__ if getattr(errors, n) not in API_ERRORS],
    ids=lambda cls: cls.__name__,
)
def test_every_other_error_keeps_its_type_and_message(cls: type[errors.TofuPilotError]) -> None:
    error = cls("page_size", "bad") if cls is errors.InvalidParameterError else cls("went wrong")
    again = roundtrip(error)
    assert type(again) is cls
    assert str(again) == str(error)

"""Integers are checked by one rule, whose message names only the bounds that exist: a filter
bounded below says "at least", never "between 0 and None"."""

from __future__ import annotations

import pytest

import aiotofu
from aiotofu._filters import Integer, check_int
from aiotofu.cli import main
from aiotofu.testing import MockTransport, Request, Response


def refuse(request: Request) -> Response:
    raise AssertionError(f"no request may be sent, got {request.path}")


async def test_a_unit_filter_below_its_bound_says_at_least() -> None:
    async with aiotofu.Client("key", transport=MockTransport(refuse)) as client:
        with pytest.raises(
            aiotofu.InvalidParameterError, match=r"^run_count_min: must be at least 0, got -1$"
        ):
            client.units.list(run_count_min=-1)


def test_the_command_line_says_at_least_under_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    """Refused before any request (the URL is a closed loopback port, in case one were sent)."""
    argv = ["units", "list", "--run-count-max", "-2"]
    status = main([*argv, "--api-key", "key", "--base-url", "http://127.0.0.1:9/api"])
    assert status == 2
    err = capsys.readouterr().err
    assert err == "aiotofu: error: --run-count-max: must be at least 0, got -2\n"


@pytest.mark.parametrize(
    ("low", "high", "value", "message"),
    [
        (0, None, -1, "must be at least 0, got -1"),
        (None, 10, 11, "must be at most 10, got 11"),
        (1, 100, 0, "must be between 1 and 100, got 0"),
        (1, 100, 101, "must be between 1 and 100, got 101"),
    ],
)
def test_one_message_for_filters_and_listing_options(
    low: int | None, high: int | None, value: int, message: str
) -> None:
    """The filters' Integer and the listings' check_int are one check: same rule, same words."""
    with pytest.raises(aiotofu.InvalidParameterError) as by_filter:
        Integer(low=low, high=high).check("n", value)
    assert str(by_filter.value) == f"n: {message}"
    if low is not None:
        with pytest.raises(aiotofu.InvalidParameterError) as by_option:
            check_int("n", value, low, high)
        assert str(by_option.value) == str(by_filter.value)


@pytest.mark.parametrize("value", [True, 1.0, "1"])
def test_a_non_integer_is_refused_by_both(value: object) -> None:
    expected = f"n: expected an integer, got {type(value).__name__}"
    with pytest.raises(aiotofu.InvalidParameterError, match=f"^{expected}$"):
        Integer(low=0).check("n", value)
    with pytest.raises(aiotofu.InvalidParameterError, match=f"^{expected}$"):
        check_int("n", value, 0)


@pytest.mark.parametrize("value", [-(2**70), 0, 2**70])
def test_an_integer_kind_without_bounds_takes_any_integer(value: int) -> None:
    assert Integer().check("n", value) == value

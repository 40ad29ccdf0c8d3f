"""RetryPolicy decisions: what is retried, exact backoff sequences, Retry-After and its cap."""

from __future__ import annotations

from typing import Any

import pytest

import aiotofu
from aiotofu import RetryPolicy
from aiotofu._retry import is_retryable


def test_defaults_match_the_contract() -> None:
    policy = RetryPolicy()
    assert (policy.attempts, policy.initial_backoff, policy.max_backoff) == (5, 0.5, 30.0)
    assert (policy.jitter, policy.max_retry_after) == (True, 120.0)


@pytest.mark.parametrize(
    "error",
    [
        aiotofu.TransportError("reset"),
        aiotofu.RateLimitError(429, "X", "m"),
        aiotofu.ServerError(500, "X", "m"),
        aiotofu.ServerError(502, "X", "m"),
        aiotofu.ServerError(503, "X", "m"),
        aiotofu.ServerError(504, "X", "m"),
    ],
)
def test_transient_failures_are_retried(error: aiotofu.TofuPilotError) -> None:
    assert is_retryable(error)


@pytest.mark.parametrize(
    "error",
    [
        aiotofu.BadRequestError(400, "X", "m"),
        aiotofu.AuthenticationError(401, "X", "m"),
        aiotofu.PermissionDeniedError(403, "X", "m"),
        aiotofu.NotFoundError(404, "X", "m"),
        aiotofu.ConflictError(409, "X", "m"),
        aiotofu.APIError(408, "X", "m"),
        aiotofu.ServerError(501, "X", "m"),
        aiotofu.ServerError(505, "X", "m"),
        aiotofu.DecodeError("bad"),
        aiotofu.PaginationError("loop"),
        aiotofu.TofuPilotError("other"),
    ],
)
def test_other_failures_are_not(error: aiotofu.TofuPilotError) -> None:
    assert not is_retryable(error)
    assert RetryPolicy().wait_before_retry(1, error) is None


def test_exponential_backoff_without_jitter_is_exact_and_capped() -> None:
    policy = RetryPolicy(attempts=10, initial_backoff=0.5, max_backoff=5.0, jitter=False)
    error = aiotofu.ServerError(503, "X", "m")
    waits = [policy.wait_before_retry(attempt, error) for attempt in range(1, 10)]
    assert waits == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0, 5.0, 5.0]
    assert policy.wait_before_retry(10, error) is None


def test_jitter_spreads_each_wait_between_half_and_all_of_it() -> None:
    policy = RetryPolicy(attempts=4, initial_backoff=1.0)
    error = aiotofu.TransportError("reset")
    draws = iter([0.0, 0.5, 0.999])
    waits = [policy.wait_before_retry(a, error, lambda: next(draws)) for a in (1, 2, 3)]
    assert waits == [0.5, 1.5, pytest.approx(3.998)]


def test_attempts_counts_the_first_try() -> None:
    policy = RetryPolicy(attempts=3, jitter=False)
    error = aiotofu.ServerError(500, "X", "m")
    assert policy.wait_before_retry(1, error) is not None
    assert policy.wait_before_retry(2, error) is not None
    assert policy.wait_before_retry(3, error) is None
    assert RetryPolicy(attempts=1).wait_before_retry(1, error) is None


def test_retry_after_replaces_the_backoff_even_above_max_backoff() -> None:
    policy = RetryPolicy(max_backoff=1.0, max_retry_after=120.0)
    assert policy.wait_before_retry(1, aiotofu.RateLimitError(429, "X", "m", retry_after=90)) == 90
    assert policy.wait_before_retry(1, aiotofu.RateLimitError(429, "X", "m", retry_after=0)) == 0


def test_retry_after_above_the_cap_is_not_waited_for() -> None:
    policy = RetryPolicy(max_retry_after=60.0)
    assert (
        policy.wait_before_retry(1, aiotofu.RateLimitError(429, "X", "m", retry_after=61)) is None
    )
    assert policy.wait_before_retry(1, aiotofu.RateLimitError(429, "X", "m", retry_after=60)) == 60


def test_429_without_retry_after_backs_off() -> None:
    policy = RetryPolicy(jitter=False)
    assert policy.wait_before_retry(2, aiotofu.RateLimitError(429, "X", "m")) == 1.0


def test_a_huge_attempt_number_does_not_overflow() -> None:
    policy = RetryPolicy(attempts=10**6, jitter=False)
    assert policy.wait_before_retry(5000, aiotofu.TransportError("x")) == 30.0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("attempts", 0),
        ("attempts", 1.5),
        ("attempts", True),
        ("initial_backoff", -1),
        ("initial_backoff", "1"),
        ("max_backoff", float("nan")),
        ("max_retry_after", None),
        ("jitter", 1),
    ],
)
def test_bad_settings_are_invalid_parameters(field: str, value: Any) -> None:
    with pytest.raises(aiotofu.InvalidParameterError, match=f"^{field}: "):
        RetryPolicy(**{field: value})


def test_policy_is_frozen_and_keyword_only() -> None:
    with pytest.raises(TypeError):
        RetryPolicy(3)  # type: ignore[misc]
    with pytest.raises(AttributeError):
        RetryPolicy().attempts = 2  # type: ignore[misc]

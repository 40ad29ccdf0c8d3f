"""RetryPolicy: which failures are retried, and how long to wait before the next try.

The decision is a pure function of (attempt, error, a random number), so tests can assert exact
backoff sequences; the waiting itself happens in one place, the client's request loop.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import attrs

from .errors import (
    APIError,
    InvalidParameterError,
    RateLimitError,
    ServerError,
    TLSError,
    TofuPilotError,
    TransportError,
)

__all__ = ["RetryPolicy", "is_retryable", "is_seconds"]

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


def is_retryable(error: TofuPilotError) -> bool:
    """True for 429, 500, 502, 503, 504, connection errors and timeouts; never for a DecodeError,
    nor for a TLSError (trying again cannot change a certificate)."""
    if isinstance(error, TLSError):
        return False
    if isinstance(error, TransportError):
        return True
    if isinstance(error, (RateLimitError, ServerError)):
        return error.status in RETRYABLE_STATUSES
    return False


def _positive(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not is_seconds(value):
        raise InvalidParameterError(attribute.name, f"must be a finite number >= 0, got {value!r}")


def is_seconds(value: object) -> bool:
    """Whether ``value`` is a finite, non-negative number of seconds (not a bool)."""
    return (
        not isinstance(value, bool)
        and isinstance(value, (int, float))
        and math.isfinite(value)
        and value >= 0
    )


def _attempts(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if type(value) is not int or value < 1:
        raise InvalidParameterError(attribute.name, f"must be an integer >= 1, got {value!r}")


def _flag(instance: object, attribute: attrs.Attribute[bool], value: bool) -> None:
    if type(value) is not bool:
        raise InvalidParameterError(attribute.name, f"must be True or False, got {value!r}")


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How failed requests are retried. Pass ``retry=None`` to the client to disable retries.

    ``attempts`` counts every try, the first included. Waits grow exponentially from
    ``initial_backoff`` and are capped at ``max_backoff``; with ``jitter`` each wait is drawn
    between half and all of that value, so that many clients do not retry in lockstep. A
    ``Retry-After`` (on a 429, a 503 or any retried status) replaces the backoff for that wait,
    even above ``max_backoff``; one above ``max_retry_after`` is not waited for: the error is
    raised instead.
    """

    attempts: int = attrs.field(default=5, validator=_attempts)
    initial_backoff: float = attrs.field(default=0.5, validator=_positive)
    max_backoff: float = attrs.field(default=30.0, validator=_positive)
    jitter: bool = attrs.field(default=True, validator=_flag)
    max_retry_after: float = attrs.field(default=120.0, validator=_positive)

    def backoff(self, attempt: int, rand: float = 1.0) -> float:
        """The wait after failed try ``attempt`` (1-based); ``rand`` in [0, 1) is the jitter."""
        wait = min(self.max_backoff, self.initial_backoff * 2.0 ** min(attempt - 1, 64))
        return wait * (0.5 + rand / 2) if self.jitter else wait

    def wait_before_retry(
        self,
        attempt: int,
        error: TofuPilotError,
        rand: Callable[[], float] = random.random,
    ) -> float | None:
        """Seconds to wait before try ``attempt + 1``, or None when ``error`` must be raised."""
        if attempt >= self.attempts or not is_retryable(error):
            return None
        # Retry-After replaces the backoff on every retried status (RFC 9110 gives it to 503
        # too), in seconds or as an HTTP date, capped by max_retry_after.
        retry_after = error.retry_after if isinstance(error, APIError) else None
        if retry_after is not None:
            if retry_after > self.max_retry_after:
                return None
            return retry_after
        return self.backoff(attempt, rand())

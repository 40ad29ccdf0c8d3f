"""Faults the emulator injects on demand: latency, 5xx, dropped connections, rate limits, hangs.

Random faults are decided from a hash of (seed, request, how many times that request was seen),
not from one shared random stream, so that a run gets the same faults whatever the order in which
concurrent requests arrive. Scripted faults (``inject``) are applied first, in order.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Literal

from .._retry import is_seconds

__all__ = ["FAULT_KINDS", "Fault", "FaultSettings", "Faults"]

Fault = Literal[429, 500, 502, 503, 504, "drop", "hang", "slow", "html"]
FAULT_KINDS: tuple[Fault, ...] = (429, 500, 502, 503, 504, "drop", "hang", "slow", "html")
_RANDOM_ERRORS: tuple[Fault, ...] = (500, 502, 503, 504)


@dataclass
class FaultSettings:
    """What goes wrong, and how often.

    ``latency``: seconds added to every answer. ``fail_rate``: share of requests answered with a
    500, 502, 503 or 504 (502 and 504 with a proxy's HTML page). ``drop_rate``: share of
    connections closed halfway through the body. ``rate_limit``: requests per second allowed,
    a token bucket (None: no limit) that holds ``rate_burst`` tokens (None: one second's worth,
    at least one); a request that finds no token gets a 429 whose ``Retry-After`` is the
    seconds until the next one (fractional, to the millisecond). ``retry_after``: the seconds a
    scripted 429 asks for.
    """

    latency: float = 0.0
    fail_rate: float = 0.0
    drop_rate: float = 0.0
    rate_limit: float | None = None
    retry_after: float = 1.0
    seed: int = 0
    rate_burst: float | None = None

    def __post_init__(self) -> None:
        # The library's own vocabulary: finite seconds >= 0, shares in 0..1, positive rates.
        for name in ("latency", "retry_after", "fail_rate", "drop_rate"):
            if not is_seconds(getattr(self, name)):
                raise ValueError(
                    f"{name} must be a finite number >= 0, got {getattr(self, name)!r}"
                )
        for name in ("fail_rate", "drop_rate"):
            value = getattr(self, name)
            if not value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
        if self.fail_rate + self.drop_rate > 1.0:
            raise ValueError("fail_rate + drop_rate must not exceed 1")
        rate = self.rate_limit
        if rate is not None and (not is_seconds(rate) or not rate > 0):
            raise ValueError(f"rate_limit must be a finite number > 0 per second, got {rate!r}")
        burst = self.rate_burst
        if burst is not None and (not is_seconds(burst) or not burst >= 1):
            raise ValueError(f"rate_burst must be a finite number >= 1, got {burst!r}")
        if type(self.seed) is not int:
            raise ValueError(f"seed must be an integer, got {self.seed!r}")


@dataclass
class Faults:
    """The fault plan of one emulator: settings, a script, and what was injected so far."""

    settings: FaultSettings = field(default_factory=FaultSettings)
    injected: Counter[str] = field(default_factory=Counter)
    _script: deque[tuple[int | None, Fault]] = field(default_factory=deque)
    _seen: Counter[str] = field(default_factory=Counter)
    _bucket: tuple[float, float] | None = None  # (tokens, when they were counted)

    def inject(self, *faults: Fault, cursor: int | None = None) -> None:
        """Answer the next matching requests with these faults, one each, in order.

        With ``cursor``, only requests for that page match; without, any request does.
        """
        for fault in faults:
            if fault not in FAULT_KINDS:
                raise ValueError(f"unknown fault {fault!r}; expected one of {FAULT_KINDS}")
            self._script.append((cursor, fault))

    def decide(self, key: str, cursor: int | None, now: float) -> tuple[Fault | None, float]:
        """The fault for this request (None: answer normally) and the Retry-After of a 429."""
        for index, (wanted, fault) in enumerate(self._script):
            if wanted is None or wanted == cursor:
                del self._script[index]
                self.injected[str(fault)] += 1
                return fault, self.settings.retry_after
        limited = self._rate_limited(now)
        if limited is not None:
            self.injected["429"] += 1
            return 429, limited
        fail, drop = self.settings.fail_rate, self.settings.drop_rate
        if not fail and not drop:
            return None, 0.0
        if len(self._seen) >= 1_000_000:  # bounded, for an emulator that serves for days
            self._seen.clear()
        self._seen[key] += 1
        draw = _uniform(f"{self.settings.seed}:{key}:{self._seen[key]}")
        if draw < fail:
            fault = _RANDOM_ERRORS[int(draw / fail * len(_RANDOM_ERRORS)) % len(_RANDOM_ERRORS)]
        elif draw < fail + drop:
            fault = "drop"
        else:
            return None, 0.0
        self.injected[str(fault)] += 1
        return fault, 0.0

    def _rate_limited(self, now: float) -> float | None:
        """Seconds until the next token when the bucket is empty, else None (a token taken).

        A bucket rather than one-second windows: a window lets twice its rate through across
        its edge, and says "come back next second" to a request that a token 25 ms later would
        let through; a real API's limiter behaves like the bucket.
        """
        rate = self.settings.rate_limit
        if rate is None:
            self._bucket = None
            return None
        burst = self.settings.rate_burst or max(1.0, rate)
        tokens, then = self._bucket or (burst, now)
        tokens = min(burst, tokens + max(0.0, now - then) * rate)
        if tokens >= 1.0 - 1e-9:  # a token that float arithmetic left a hair short counts
            self._bucket = (max(0.0, tokens - 1.0), now)
            return None
        self._bucket = (tokens, now)
        return math.ceil((1.0 - tokens) / rate * 1000) / 1000


def _uniform(text: str) -> float:
    """A number in [0, 1) that depends only on ``text``."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big") / 2**64

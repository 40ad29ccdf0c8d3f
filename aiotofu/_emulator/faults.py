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
    then 429 with ``Retry-After`` (None: no limit). ``retry_after``: the seconds a scripted 429
    asks for.
    """

    latency: float = 0.0
    fail_rate: float = 0.0
    drop_rate: float = 0.0
    rate_limit: float | None = None
    retry_after: float = 1.0
    seed: int = 0

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
        if type(self.seed) is not int:
            raise ValueError(f"seed must be an integer, got {self.seed!r}")


@dataclass
class Faults:
    """The fault plan of one emulator: settings, a script, and what was injected so far."""

    settings: FaultSettings = field(default_factory=FaultSettings)
    injected: Counter[str] = field(default_factory=Counter)
    _script: deque[tuple[int | None, Fault]] = field(default_factory=deque)
    _seen: Counter[str] = field(default_factory=Counter)
    _window: tuple[int, int] = (0, 0)  # (second, requests in it)

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
        """Seconds until the next window when over ``rate_limit``, else None.

        Windows last a second, or longer when the limit is below one request per second
        (0.5: one request every 2 s), so that every limit above 0 lets requests through.
        """
        limit = self.settings.rate_limit
        if limit is None:
            return None
        length = max(1.0, 1.0 / limit)
        window = int(now // length)
        start, count = self._window
        if start != window:
            start, count = window, 0
        count += 1
        self._window = (start, count)
        if count <= limit * length:
            return None
        return float(max(1, math.ceil((start + 1) * length - now)))


def _uniform(text: str) -> float:
    """A number in [0, 1) that depends only on ``text``."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big") / 2**64

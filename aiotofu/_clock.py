"""The one place aiotofu waits: a clock with ``monotonic()`` and ``sleep()``.

Clients take the clock in force when they are created. ``aiotofu.testing.virtual_clock()`` swaps
in a virtual one whose sleeps return at once and advance its time, so that tests of backoff and
``Retry-After`` assert the exact waits without sleeping.
"""

from __future__ import annotations

import time
from typing import Protocol

import anyio

__all__ = ["Clock", "SystemClock", "get_clock", "set_clock"]


class Clock(Protocol):
    """What the client needs of time."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back."""

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` without blocking the event loop."""


class SystemClock:
    """Real time: ``time.monotonic`` and ``anyio.sleep``."""

    def monotonic(self) -> float:
        """``time.monotonic()``, looked up when called (a test may patch it)."""
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        """``anyio.sleep(seconds)``."""
        await anyio.sleep(seconds)


_clock: Clock = SystemClock()


def get_clock() -> Clock:
    """The clock new clients will use."""
    return _clock


def set_clock(clock: Clock) -> Clock:
    """Make ``clock`` the one new clients use; return the previous one."""
    global _clock
    previous, _clock = _clock, clock
    return previous

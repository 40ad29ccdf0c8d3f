"""The concurrency controller: how many requests of a client may be in flight, and when the next
may start.

Pure decisions over an injected ``now`` (no I/O, no event loop), like RetryPolicy: the requester
(``_requester``) asks :meth:`Controller.admit` before each try, waits where it says, and reports
each try's outcome to :meth:`Controller.release`. One controller per client, shared by every
paginator and watch of it, so that they draw on one budget.

Four limits, the tightest one wins:

- **the window** (AIMD, as TCP's congestion window): it starts at the ceiling
  (``max_concurrency``), so that a server that never throttles sees no change; it shrinks by
  ``WINDOW_BETA`` (floor 1) on a 429, a 503, a 504 or a timeout, and grows back by one slot per
  window of successes while at least half of it is in use (an idle window proves nothing).
  Latency plays no part: on an offset server it grows with depth, not with load, and a
  latency-gradient controller would throttle a healthy deep listing.
- **the adaptive bucket** (botocore's adaptive retry mode, ``botocore/retries/adaptive.py``): it
  opens on the first 429 that follows a success, at ``RATE_BETA`` times the rate of successes
  measured over the last second not paused, and then recovers on a cubic curve (CUBIC, RFC
  8312) to the rate it was cut from and past it, there never above twice the rate measured.
  A window alone cannot find a rate: against a fast server one request in flight is already
  too many.
- **the hard cap** ``rate_limit``: the user's own requests per second (a key shared by several
  daemons), whatever the server says.
- **the pause**: a 429's ``Retry-After`` holds every request of the client until then; it is
  the floor under the buckets.

A throttled answer cuts the window and the rate once per round trip, not once per answer: the
requests already in flight when the first 429 came back were sent at the old rate and say
nothing new about the cut one (TCP's rule; without it a burst of 429s would collapse the window
to 1). Both buckets hold one token (no bursts): over any half-open second ``[t, t + 1)`` the
cap admits at most ``ceil(rate_limit)`` requests.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Literal

import attrs

__all__ = ["Controller", "Outcome", "Ticket", "classify"]

Outcome = Literal["ok", "throttled", "overloaded", "failed"]
"""What a try says about the server's load: ``ok`` (it answered, whatever the status),
``throttled`` (429), ``overloaded`` (503, 504, a timeout), ``failed`` (anything else: a 500, a
dropped connection; no signal either way)."""

WINDOW_BETA = 0.9  # the window's multiplicative decrease
RATE_BETA = 0.7  # botocore's: the rate after a throttle, from the rate measured
CUBIC_SCALE = 0.4  # botocore's scale constant of the cubic recovery
MIN_RATE = 0.5  # botocore's floor of the bucket, requests per second
MEASURE_SPAN = 1.0  # seconds of successes the measured rate is taken over
MIN_SPAN = 0.1  # the shortest span a rate is measured on (the first 429 may come early)


@attrs.define  # one per try, never changed: not frozen, whose __init__ is slower
class Ticket:
    """An admitted try: its place in the sequence of admissions (``seq``, from 1) and when it
    started. Hand it back to :meth:`Controller.release`."""

    seq: int
    started: float


class Controller:
    """The window, the buckets and the pause of one client (see the module's docstring).

    ``ceiling`` is ``max_concurrency``; with ``adaptive=False`` the window stays there and the
    adaptive bucket never opens (the cap and the pause still apply). ``rate_limit`` is the hard
    cap in requests per second (None: none).
    """

    def __init__(self, ceiling: int, *, adaptive: bool = True, rate_limit: float | None = None):
        self.ceiling = ceiling
        self.adaptive = adaptive
        self.rate_limit = rate_limit
        self.in_flight = 0
        self._window = float(ceiling)  # it grows by fractions of a request
        # The requests that may be in flight now, 1..ceiling: the whole part of ``_window``,
        # kept with it (read on every try).
        self.window = ceiling
        self._seq = 0  # the last ticket admitted
        self._window_epoch = 0  # tickets up to this one cannot cut the window again
        self._rate_epoch = 0  # nor the rate
        self._paused_until = -math.inf
        self._pause_start: float | None = None  # the last pause (a 429's Retry-After)
        self._paused_before = 0.0  # the seconds of the pauses before it
        self._cap_last = -math.inf  # when the cap last admitted a request
        # The adaptive bucket: closed (None) until the first 429.
        self._rate: float | None = None
        self._bucket_last = -math.inf
        self._w_max = 0.0  # the cubic curve: the rate it was cut from, its zero point, when
        self._k = 0.0
        self._last_cut = 0.0
        # Measured on the active clock (the time not paused), so that a pause, in which
        # nothing is sent, does not read as a server that answers slowly: with a Retry-After
        # of whole seconds every rate measured across it would collapse.
        self._successes: deque[float] = deque()
        self._since: float | None = None  # the first admission: the start of measuring

    def _resize(self, window: float) -> None:
        self._window = window
        self.window = max(1, int(window))

    @property
    def rate(self) -> float | None:
        """The requests per second in force (the adaptive bucket's or the cap, the lower);
        None while neither limits the client."""
        rates = [r for r in (self._rate, self.rate_limit) if r is not None]
        return min(rates) if rates else None

    def admit(self, now: float) -> Ticket | float:
        """Start a try now (a Ticket), or the seconds to wait before asking again: ``math.inf``
        while the window is full (ask again after a release)."""
        if self.in_flight >= self.window:
            return math.inf
        wait = self._paused_until - now
        if self.rate_limit is not None:
            wait = max(wait, self._cap_last + 1.0 / self.rate_limit - now)
        if self._rate is not None:
            wait = max(wait, self._bucket_last + 1.0 / self._rate - now)
        if wait > 0:
            return wait
        self.in_flight += 1
        self._seq += 1
        self._cap_last = self._bucket_last = now
        if self._since is None:
            self._since = self._active(now)
        return Ticket(self._seq, now)

    def release(self, ticket: Ticket, outcome: Outcome, now: float) -> None:
        """The try of ``ticket`` ended with ``outcome``: adapt the window and the rate."""
        in_use = self.in_flight
        self.in_flight -= 1
        if not self.adaptive:
            return
        if outcome == "ok":
            self._succeeded(now, in_use)
        elif outcome in ("throttled", "overloaded") and ticket.seq > self._window_epoch:
            self._resize(max(1.0, self._window * WINDOW_BETA))
            self._window_epoch = self._seq
        if outcome == "throttled" and ticket.seq > self._rate_epoch and self._cut_rate(now):
            self._rate_epoch = self._seq

    def pause(self, now: float, until: float) -> None:
        """Hold every try from ``now`` until ``until`` (a 429's Retry-After)."""
        if self._pause_start is not None and now <= self._paused_until:
            self._paused_until = max(self._paused_until, until)  # the same pause, longer
            return
        if self._pause_start is not None:
            self._paused_before += self._paused_until - self._pause_start
        self._pause_start, self._paused_until = now, max(now, until)

    def measured_rate(self, now: float) -> float:
        """Successes per second over the last ``MEASURE_SPAN`` seconds not paused (over the
        time since the first admission while that is shorter, at least ``MIN_SPAN``)."""
        active = self._active(now)
        self._forget_before(active - MEASURE_SPAN)
        since = active if self._since is None else self._since
        return len(self._successes) / max(MIN_SPAN, min(MEASURE_SPAN, active - since))

    def _forget_before(self, active: float) -> None:
        successes = self._successes
        while successes and successes[0] <= active:
            successes.popleft()

    def _active(self, now: float) -> float:
        """``now`` on the active clock: the seconds not paused."""
        paused = self._paused_before
        if self._pause_start is not None:
            paused += max(0.0, min(self._paused_until, now) - self._pause_start)
        return now - paused

    def _succeeded(self, now: float, in_use: int) -> None:
        active = self._active(now)
        # Forgotten here too, not only when a rate is measured: a client that is never
        # throttled never measures one, and would keep a time per request for ever.
        successes = self._successes
        if successes and successes[0] <= active - MEASURE_SPAN:  # most tries: nothing to forget
            self._forget_before(active - MEASURE_SPAN)
        successes.append(active)
        if in_use * 2 >= self.window and self._window < self.ceiling:
            self._resize(min(float(self.ceiling), self._window + 1.0 / self._window))
        if self._rate is not None:
            # Cubic recovery from the cut: back to the rate cut from whatever was measured
            # meanwhile, past it no faster than twice what the server was seen to serve
            # (botocore's bound, so that a client that sends little cannot claim a rate).
            since = self._active(now) - self._last_cut
            cubic = CUBIC_SCALE * (since - self._k) ** 3 + self._w_max
            bound = max(self._w_max, 2.0 * self.measured_rate(now))
            self._rate = max(MIN_RATE, min(cubic, bound))

    def _cut_rate(self, now: float) -> bool:
        """Open or narrow the bucket; False when nothing was measured to cut from (the pause
        alone answers a 429 that comes before any success)."""
        measured = self.measured_rate(now)
        if not measured:
            return False
        current = measured if self._rate is None else min(measured, self._rate)
        self._w_max = current
        self._k = (current * (1 - RATE_BETA) / CUBIC_SCALE) ** (1 / 3)
        self._last_cut = self._active(now)
        self._rate = max(MIN_RATE, current * RATE_BETA)
        return True


def classify(status: int | None, timeout: bool = False) -> Outcome:
    """The outcome of a try from its status (None: no answer; ``timeout``: none in time)."""
    if status is None:
        return "overloaded" if timeout else "failed"
    if status == 429:
        return "throttled"
    if status in (503, 504):
        return "overloaded"
    if status >= 500:
        return "failed"
    return "ok"

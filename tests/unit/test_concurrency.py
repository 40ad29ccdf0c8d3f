"""The concurrency controller's decisions, exactly, on a virtual clock: answers in, windows,
rates and waits out (``aiotofu._concurrency``)."""

from __future__ import annotations

import heapq
import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiotofu._concurrency import (
    MIN_RATE,
    RATE_BETA,
    WINDOW_BETA,
    Controller,
    Outcome,
    Ticket,
    classify,
)


def admit(control: Controller, now: float) -> Ticket:
    ticket = control.admit(now)
    assert isinstance(ticket, Ticket), f"refused at {now}: wait {ticket}"
    return ticket


def test_a_server_that_never_throttles_sees_the_ceiling_and_no_rate() -> None:
    control = Controller(4)
    for step in range(100):
        tickets = [admit(control, step * 0.01) for _ in range(4)]
        assert control.admit(step * 0.01) == math.inf  # the window is full
        for ticket in tickets:
            control.release(ticket, "ok", step * 0.01 + 0.005)
    assert (control.window, control.rate) == (4, None)


def test_a_client_that_is_never_throttled_keeps_no_history() -> None:
    """The successes that measure a rate are kept for MEASURE_SPAN seconds, throttled or not:
    a daemon on a healthy server must not keep one per request for ever."""
    control = Controller(2)
    for step in range(10_000):
        control.release(admit(control, step * 0.01), "ok", step * 0.01 + 0.005)
    assert len(control._successes) <= 101  # the last second's, at 100 a second


def test_the_window_shrinks_once_per_round_trip_on_429_503_and_timeouts() -> None:
    control = Controller(16)
    first = [admit(control, 0.0) for _ in range(16)]
    for ticket in first:  # sixteen 503s of one round trip: one cut, not sixteen
        control.release(ticket, "overloaded", 0.01)
    assert control.window == int(16 * WINDOW_BETA) == 14
    second = [admit(control, 0.02) for _ in range(14)]
    control.release(second[0], "overloaded", 0.03)  # sent after the cut: cuts again
    assert control.window == int(16 * WINDOW_BETA**2) == 12
    control.release(second[1], "overloaded", 0.03)  # same round trip as the last cut
    assert control.window == 12


def test_the_window_floor_is_one() -> None:
    control = Controller(3)
    for step in range(30):
        control.release(admit(control, float(step)), "overloaded", step + 0.5)
    assert control.window == 1
    assert isinstance(control.admit(40.0), Ticket)
    assert control.admit(40.0) == math.inf


def test_the_window_grows_back_by_one_per_window_of_successes_while_half_in_use() -> None:
    control = Controller(8)
    control.release(admit(control, 0.0), "overloaded", 0.1)
    control.release(admit(control, 0.2), "overloaded", 0.3)
    assert control.window == 6  # 8 * 0.81 = 6.48
    windows = []
    now = 1.0
    for _ in range(4):
        tickets = [admit(control, now) for _ in range(control.window)]
        for ticket in tickets:
            control.release(ticket, "ok", now + 0.01)
        windows.append(control.window)
        now += 1.0
    # About one slot per window's worth (the releases that find half of it still in use),
    # never above the ceiling.
    assert windows == [7, 7, 8, 8]


def test_an_idle_window_does_not_grow() -> None:
    control = Controller(8)
    control.release(admit(control, 0.0), "overloaded", 0.1)
    assert control.window == 7
    for step in range(100):  # one request at a time: 1 of 7 in use proves nothing
        control.release(admit(control, 1.0 + step), "ok", 1.5 + step)
    assert control.window == 7


def test_failures_without_a_load_signal_change_nothing() -> None:
    control = Controller(4)
    for step in range(10):
        control.release(admit(control, float(step)), "failed", step + 0.5)
    assert (control.window, control.rate) == (4, None)


def test_the_bucket_opens_on_the_first_429_at_the_measured_rate_and_recovers_cubically() -> None:
    control = Controller(4)
    # Ten successes per second for two seconds, one at a time: the measured rate is 10/s.
    for step in range(20):
        now = step / 10
        control.release(admit(control, now), "ok", now + 0.001)
    assert control.rate is None
    assert control.measured_rate(2.0) == pytest.approx(10.0)
    throttled = admit(control, 2.0)
    control.release(throttled, "throttled", 2.0)
    assert control.rate == pytest.approx(10.0 * RATE_BETA)
    # The next request waits for its token: 1 / 7 s after the last start.
    assert control.admit(2.0) == pytest.approx(1 / 7)
    # Cubic recovery: back at the rate of the cut after k = cbrt(w_max (1 - beta) / C) s.
    k = (10.0 * (1 - RATE_BETA) / 0.4) ** (1 / 3)
    rates = []
    now = 2.0
    while now < 2.0 + 2 * k:
        wait = control.admit(now)
        if isinstance(wait, float):
            now += wait
            continue
        control.release(wait, "ok", now)
        rates.append((now - 2.0, control.rate))
    assert all(b[1] >= a[1] for a, b in itertools.pairwise(rates))  # it only rises
    at_k = min(rates, key=lambda item: abs(item[0] - k))[1]
    assert at_k == pytest.approx(10.0, rel=0.15)
    last = rates[-1][1]
    assert last is not None
    assert last > 10.0  # and probes past it


def test_a_burst_of_429_cuts_the_rate_once() -> None:
    control = Controller(8)
    for step in range(20):
        control.release(admit(control, step / 10), "ok", step / 10 + 0.001)
    tickets = [admit(control, 2.0) for _ in range(4)]
    for ticket in tickets:
        control.release(ticket, "throttled", 2.0)
    assert control.rate == pytest.approx(10.0 * RATE_BETA)


def test_a_429_before_any_success_leaves_the_bucket_closed() -> None:
    control = Controller(4)
    control.release(admit(control, 0.0), "throttled", 0.1)
    assert (control.window, control.rate) == (3, None)
    control.release(admit(control, 0.2), "ok", 0.3)
    control.release(admit(control, 0.3), "throttled", 0.4)  # now there is a rate to cut from
    # One success in the 0.4 s since the first admission: 2.5/s, cut to 1.75/s.
    assert control.rate == pytest.approx(1 / 0.4 * RATE_BETA)


def test_the_rate_never_falls_below_the_floor() -> None:
    control = Controller(2)
    now = 0.0
    rates = []
    for _ in range(40):  # a success, then a 429, on and on
        for outcome in ("ok", "throttled"):
            wait = control.admit(now)
            if isinstance(wait, float):
                now += wait
                wait = control.admit(now)
            assert isinstance(wait, Ticket)
            control.release(wait, outcome, now)  # type: ignore[arg-type]
            rates.append(control.rate)
    assert all(rate is not None and rate >= MIN_RATE for rate in rates[1:])
    assert now < 40 * 2 / MIN_RATE  # and it keeps sending


def test_retry_after_pauses_every_admission_until_then() -> None:
    control = Controller(4)
    control.pause(1.0, 5.0)
    assert control.admit(1.0) == 4.0
    assert control.admit(4.5) == 0.5
    assert isinstance(control.admit(5.0), Ticket)
    control.pause(2.0, 3.0)  # an earlier end does not shorten the pause in force
    assert isinstance(control.admit(5.0), Ticket)


def test_retry_after_is_a_floor_under_the_bucket() -> None:
    control = Controller(4, rate_limit=100.0)
    admit(control, 0.0)
    control.pause(0.0, 2.0)
    assert control.admit(0.005) == pytest.approx(1.995)  # the pause, not the bucket's 5 ms


def test_the_hard_cap_spaces_admissions() -> None:
    control = Controller(16, rate_limit=4.0)
    starts = []
    now = 0.0
    while len(starts) < 9:
        wait = control.admit(now)
        if isinstance(wait, float):
            now += wait
        else:
            starts.append(now)
    assert starts == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0])
    assert control.rate == 4.0


def test_without_adaptation_only_the_cap_and_the_pause_apply() -> None:
    control = Controller(4, adaptive=False)
    for step in range(10):
        control.release(admit(control, float(step)), "throttled", step + 0.5)
    assert (control.window, control.rate) == (4, None)
    capped = Controller(4, adaptive=False, rate_limit=2.0)
    admit(capped, 0.0)
    assert capped.admit(0.0) == 0.5


@pytest.mark.parametrize(
    ("status", "timeout", "outcome"),
    [
        (200, False, "ok"),
        (400, False, "ok"),
        (404, False, "ok"),
        (429, False, "throttled"),
        (503, False, "overloaded"),
        (504, False, "overloaded"),
        (500, False, "failed"),
        (502, False, "failed"),
        (None, True, "overloaded"),
        (None, False, "failed"),
    ],
)
def test_what_each_answer_says_about_load(status: int | None, timeout: bool, outcome: str) -> None:
    assert classify(status, timeout) == outcome


# -- against a model server: a token bucket of R per second and a burst ------------------


def simulate(
    control: Controller, *, rate: float, burst: float, demand: int, seconds: float
) -> tuple[int, int, list[float]]:
    """``demand`` requests always ready, 3 ms each, against a server bucket; successes,
    429s and every start. A 429 says when the server's next token comes (Retry-After)."""
    tokens, filled = burst, 0.0
    events: list[tuple[float, int, Ticket | None, float | None]] = []
    ok = throttled = order = 0
    starts: list[float] = []
    waiting = demand

    def start(now: float) -> None:
        nonlocal waiting, order, tokens, filled
        while waiting:
            ticket = control.admit(now)
            if isinstance(ticket, float):
                if ticket != math.inf:
                    order += 1
                    heapq.heappush(events, (now + ticket, order, None, None))
                return
            waiting -= 1
            starts.append(now)
            arrival = now + 0.0015
            tokens, filled = min(burst, tokens + (arrival - filled) * rate), arrival
            retry_after = None
            if tokens >= 1:
                tokens -= 1
            else:
                retry_after = math.ceil((1 - tokens) / rate * 1000) / 1000
            order += 1
            heapq.heappush(events, (now + 0.003, order, ticket, retry_after))

    start(0.0)
    while events:
        now, _, ticket, retry_after = heapq.heappop(events)
        if now > seconds:
            break
        if ticket is not None:
            waiting += 1
            outcome: Outcome = "ok" if retry_after is None else "throttled"
            control.release(ticket, outcome, now)
            if retry_after is None:
                ok += 1
            else:
                throttled += 1
                control.pause(now, now + retry_after)
        start(now)
    return ok, throttled, starts


def test_adaptive_finds_the_servers_rate_with_few_429s() -> None:
    ok, throttled, _ = simulate(Controller(16), rate=40, burst=5, demand=16, seconds=10)
    assert ok >= 0.9 * 40 * 10
    assert throttled < 0.06 * (ok + throttled)


def test_a_fixed_window_draws_a_429_for_most_requests() -> None:
    fixed = Controller(16, adaptive=False)
    ok, throttled, _ = simulate(fixed, rate=40, burst=5, demand=16, seconds=10)
    assert throttled > 10 * ok


def test_a_cap_at_the_servers_rate_draws_no_429() -> None:
    capped = Controller(16, rate_limit=40)
    ok, throttled, _ = simulate(capped, rate=40, burst=5, demand=16, seconds=5)
    assert (throttled, ok) == (0, 200)


# -- invariants ----------------------------------------------------------------------------

answers = st.lists(
    st.tuples(
        st.sampled_from(["ok", "throttled", "overloaded", "failed"]),
        st.floats(0.0, 0.2),  # how long the try took
        st.floats(0.0, 0.1),  # a pause, on a 429
    ),
    max_size=200,
)


@settings(max_examples=60, deadline=None)
@given(
    ceiling=st.integers(1, 32),
    rate_limit=st.one_of(st.none(), st.floats(0.5, 200.0)),
    adaptive=st.booleans(),
    script=answers,
)
def test_window_bounds_and_the_cap_hold_whatever_the_answers(
    ceiling: int,
    rate_limit: float | None,
    adaptive: bool,
    script: list[tuple[str, float, float]],
) -> None:
    control = Controller(ceiling, adaptive=adaptive, rate_limit=rate_limit)
    now = 0.0
    starts: list[float] = []
    in_flight: list[tuple[float, int, Ticket, str, float]] = []
    for index, (outcome, took, pause) in enumerate(script):
        while True:
            decision = control.admit(now)
            if isinstance(decision, Ticket):
                starts.append(now)
                heapq.heappush(in_flight, (now + took, index, decision, outcome, pause))
                break
            if decision == math.inf or (in_flight and in_flight[0][0] <= now + decision):
                end, _, ticket, said, paused = heapq.heappop(in_flight)
                now = max(now, end)
                control.release(ticket, said, now)  # type: ignore[arg-type]
                if said == "throttled":
                    control.pause(now, now + paused)
            else:
                now += decision
            assert 1 <= control.window <= ceiling
            assert control.in_flight <= ceiling
            assert control.rate is None or control.rate >= min(MIN_RATE, rate_limit or MIN_RATE)
    if rate_limit is not None:
        # Over any second, at most ceil(rate_limit) starts (1 µs of slack for float sums).
        allowed = math.ceil(rate_limit)
        for first, at in enumerate(starts):
            within = sum(1 for t in starts[first:] if t < at + 1.0 - 1e-6)
            assert within <= allowed

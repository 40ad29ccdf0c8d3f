"""The emulator's rate limit is a token bucket: ``rate_limit`` requests per second after a
burst of ``rate_burst``, then 429 with the seconds until the next token as ``Retry-After``."""

from __future__ import annotations

import pytest

from aiotofu._emulator import FaultSettings
from aiotofu._emulator.faults import Faults


def decisions(faults: Faults, times: list[float]) -> list[float | None]:
    """The Retry-After of each request at these times (None: answered)."""
    answers: list[float | None] = []
    for now in times:
        fault, retry_after = faults.decide("GET /api/v2/batches", None, now)
        answers.append(retry_after if fault == 429 else None)
    return answers


def test_a_burst_then_one_request_per_token() -> None:
    faults = Faults(FaultSettings(rate_limit=40, rate_burst=5))
    answers = decisions(faults, [100.0] * 7 + [100.025, 100.030, 100.050])
    assert answers[:5] == [None] * 5
    assert answers[5:7] == [pytest.approx(0.025), pytest.approx(0.025)]  # no token yet
    assert answers[7] is None  # a token came 25 ms later
    assert answers[8] == pytest.approx(0.020)
    assert answers[9] is None
    assert faults.injected["429"] == 3


def test_over_a_long_run_the_bucket_admits_its_rate_plus_its_burst() -> None:
    faults = Faults(FaultSettings(rate_limit=40, rate_burst=5))
    times = [i / 200 for i in range(2000)]  # 200 requests a second for 10 s
    answered = sum(1 for answer in decisions(faults, times) if answer is None)
    assert answered == pytest.approx(5 + 40 * 10, abs=1)


def test_the_default_burst_is_one_second_of_the_rate() -> None:
    faults = Faults(FaultSettings(rate_limit=3))
    answers = decisions(faults, [0.0] * 4)
    assert answers == [None, None, None, 0.334]  # rounded up to the millisecond


def test_a_rate_below_one_per_second_still_lets_one_through() -> None:
    faults = Faults(FaultSettings(rate_limit=0.5))
    assert decisions(faults, [0.0, 0.0, 2.0]) == [None, pytest.approx(2.0), None]


@pytest.mark.parametrize("burst", [0, -1, 0.5, float("inf"), float("nan")])
def test_a_bad_burst_is_refused(burst: float) -> None:
    with pytest.raises(ValueError, match="rate_burst"):
        FaultSettings(rate_limit=40, rate_burst=burst)

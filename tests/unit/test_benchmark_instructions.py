"""The instructions benchmark's arithmetic (``benchmarks/instructions.py``): reading callgrind's
totals, one listing's counts from the difference of two runs, and the cycle estimate. Valgrind
itself runs only in the benchmark (``python -m benchmarks --only instructions``)."""

from __future__ import annotations

import pytest

from benchmarks import instructions

# The end of a real callgrind run's standard error (--cache-sim=yes --branch-sim=yes).
STDERR = """\
==3624== Events    : Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw Bc Bcm Bi Bim
==3624== Collected : 1000 300 200 10 20 5 1 2 0 150 8 40 12
==3624==
==3624== I   refs:      1000
"""


def test_the_totals_are_read_by_event_name() -> None:
    counts = instructions.collected(STDERR)
    assert counts == {
        "Ir": 1000,
        "Dr": 300,
        "Dw": 200,
        "I1mr": 10,
        "D1mr": 20,
        "D1mw": 5,
        "ILmr": 1,
        "DLmr": 2,
        "DLmw": 0,
        "Bc": 150,
        "Bcm": 8,
        "Bi": 40,
        "Bim": 12,
    }


@pytest.mark.parametrize(
    "stderr",
    [
        "valgrind: command not found\n",
        "==1== Collected : 1 2 3\n",  # callgrind without the cache and branch simulation
    ],
)
def test_output_without_the_expected_totals_is_refused(stderr: str) -> None:
    with pytest.raises(ValueError, match="callgrind"):
        instructions.collected(stderr)


def test_the_cycle_estimate_weighs_misses_and_mispredictions() -> None:
    counts = instructions.collected(STDERR)
    # 1000 instructions, 10 x (8 + 12) mispredicted, 10 x (10 + 20 + 5) L1, 100 x (1 + 2 + 0) LL
    assert instructions.estimated_cycles(counts) == 1000 + 200 + 350 + 300


def test_one_listing_is_the_difference_of_two_runs_per_record() -> None:
    one = instructions.collected(STDERR)
    two = {name: 3 * count for name, count in one.items()}  # one listing = twice the first run
    figures = instructions.per_record(one, two, records=10)
    assert figures["Ir"] == 200
    assert figures["Bim"] == 2.4
    assert figures["estimated_cycles"] == pytest.approx(2 * (1000 + 200 + 350 + 300) / 10)


def test_a_skipped_scenario_says_why() -> None:
    assert instructions.table({"skipped": "valgrind is not installed"}) == [
        "Instructions: skipped (valgrind is not installed)"
    ]

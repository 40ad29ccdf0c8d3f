"""The CPU-bound listing counted in instructions, not seconds: each contender's client process
under Valgrind's callgrind, with its cache and branch simulation (``--only instructions``).

Seconds of CPU on a shared machine move by a quarter from round to round; callgrind's counts
hardly move (only where a path depends on timing: which prefetched pages have arrived), so they
tell apart two versions of the code by a fraction of a per cent, and they split a gap in time
into the work done (instructions) and what each instruction costs (cache misses, mispredicted
branches). They miss what the machine adds: the emulator running between two pages and cooling
the client's caches (callgrind simulates one process), and the kernel's share. So they explain
the CPU figures of the ``cpu`` scenario, never replace them.

Each contender runs in a child process (``python -m benchmarks.instructions NAME URL KEY N``)
that lists once to warm up, then N times; one listing's counts are those of N = 2 less those of
N = 1 (the interpreter's start, the imports and the warm-up cancel out). Every listing starts
after ``gc.collect()`` (as many in both runs), so that a full collection does not land in one
run and not the other. Under callgrind a client runs about 50 times slower, so the emulator, at
full speed in its own process, always has the next answer ready: prefetch finds its pages
waiting.
"""

from __future__ import annotations

import asyncio
import gc
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks import contenders
from benchmarks.emulator import emulator

# callgrind's events with --cache-sim=yes --branch-sim=yes, in the order it prints them.
EVENTS = (
    "Ir",  # instructions executed
    "Dr",  # memory reads
    "Dw",  # memory writes
    "I1mr",  # first-level instruction cache misses
    "D1mr",  # first-level data cache misses, reading
    "D1mw",  # ... writing
    "ILmr",  # last-level cache misses: instructions
    "DLmr",  # ... data read
    "DLmw",  # ... data written
    "Bc",  # conditional branches
    "Bcm",  # ... mispredicted
    "Bi",  # indirect branches (the interpreter's dispatch of each bytecode among them)
    "Bim",  # ... mispredicted
)

FLOOR = "raw floor (aiohttp + JSON)"
NAMED: dict[str, contenders.Contender] = {  # the cpu scenario's names, for the same contenders
    FLOOR: contenders.raw_aiohttp,
    "aiotofu (defaults)": contenders.aiotofu_contender(prefetch=2),
    "aiotofu prefetch=0": contenders.aiotofu_contender(prefetch=0),
}

_COLLECTED = re.compile(r"^==\d+== Collected : ([\d ]+)$", re.MULTILINE)


def collected(stderr: str) -> dict[str, int]:
    """The totals callgrind prints when its process ends (``==pid== Collected : 1 2 3``), by
    event name. Raises ValueError if there are none (valgrind failed, or another tool ran)."""
    match = _COLLECTED.search(stderr)
    if match is None:
        raise ValueError(f"no callgrind totals in its output: {stderr[-500:]!r}")
    counts = [int(n) for n in match.group(1).split()]
    if len(counts) != len(EVENTS):
        raise ValueError(f"expected {len(EVENTS)} callgrind events, got {len(counts)}")
    return dict(zip(EVENTS, counts, strict=True))


def l1_misses(events: dict[str, float]) -> float:
    """First-level cache misses: instructions, data read and data written."""
    return events["I1mr"] + events["D1mr"] + events["D1mw"]


def mispredicted(events: dict[str, float]) -> float:
    """Mispredicted branches, conditional and indirect."""
    return events["Bcm"] + events["Bim"]


def estimated_cycles(events: dict[str, float]) -> float:
    """KCachegrind's cycle estimation, ``Ir + 10 Bm + 10 L1m + 100 LLm``: a rough weight of a
    miss and a mispredicted branch against an instruction, the same for every contender."""
    ll_misses = events["ILmr"] + events["DLmr"] + events["DLmw"]
    return events["Ir"] + 10 * mispredicted(events) + 10 * l1_misses(events) + 100 * ll_misses


def per_record(one: dict[str, int], two: dict[str, int], records: int) -> dict[str, float]:
    """One listing's counts per record (``two`` less ``one``: the runs of 2 and 1 listings),
    with the estimated cycles."""
    events: dict[str, float] = {name: (two[name] - one[name]) / records for name in EVENTS}
    events["estimated_cycles"] = estimated_cycles(events)
    return events


def _callgrind(name: str, base_url: str, key: str, listings: int) -> dict[str, int]:
    """The totals of a child process (``_child``) making ``listings`` listings, under callgrind."""
    command = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        "--cache-sim=yes",
        "--branch-sim=yes",
        sys.executable,
        "-m",
        "benchmarks.instructions",
        name,
        base_url,
        key,
        str(listings),
    ]
    root = Path(__file__).resolve().parent.parent  # where ``-m benchmarks`` is found
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=root)
    if done.returncode != 0:
        raise RuntimeError(f"callgrind failed ({done.returncode}): {done.stderr[-2000:]}")
    return collected(done.stderr)


def instructions(quick: bool) -> dict[str, Any]:
    """Per record, for the floor and aiotofu: callgrind's counts and their ratio to the floor's
    (skipped in ``--quick``, and where valgrind is not installed)."""
    if quick:
        return {"skipped": "not in --quick: each contender runs about 50 times slower"}
    if shutil.which("valgrind") is None:
        return {"skipped": "valgrind is not installed"}
    records = 5_000
    figures: dict[str, dict[str, float]] = {}
    with emulator(records) as server:
        for name in NAMED:
            one, two = (_callgrind(name, server.base_url, server.api_key, n) for n in (1, 2))
            figures[name] = per_record(one, two, records)
    floor = figures[FLOOR]
    return {
        "records": records,
        "contenders": figures,
        "ratio_to_floor": {
            name: {
                "instructions": figure["Ir"] / floor["Ir"],
                "estimated_cycles": figure["estimated_cycles"] / floor["estimated_cycles"],
            }
            for name, figure in figures.items()
        },
    }


def table(section: dict[str, Any]) -> list[str]:
    """The scenario as a Markdown table (or the reason it was skipped)."""
    if "skipped" in section:
        return [f"Instructions: skipped ({section['skipped']})"]
    lines = [
        f"Instructions (callgrind, {section['records']} records in pages of 100, per record)",
        "",
        "| contender | instructions | L1 misses | mispredicted branches | est. cycles "
        "| x floor (instr.) | x floor (cycles) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, f in section["contenders"].items():
        ratio = section["ratio_to_floor"][name]
        lines.append(
            f"| {name} | {f['Ir']:,.0f} | {l1_misses(f):,.0f} "
            f"| {mispredicted(f):,.0f} | {f['estimated_cycles']:,.0f} "
            f"| {ratio['instructions']:.2f} | {ratio['estimated_cycles']:.2f} |"
        )
    return lines


_MOST_LISTINGS = 2


def _child(name: str, base_url: str, key: str, listings: int) -> None:
    """What runs under callgrind: one listing to warm up, then ``listings`` more (at most
    ``_MOST_LISTINGS``)."""
    contender = NAMED[name]

    async def listing() -> None:
        await contender(base_url, key, 100)

    for index in range(_MOST_LISTINGS + 1):
        # From the same state of the garbage collector each time: a full collection walks every
        # object of the process (tens of ms), and where one falls would otherwise decide which
        # listing's counts hold it. The cpu scenario's seconds include collections as they come.
        # As many in every run, listings or not, so that they cancel out too.
        gc.collect()
        if index <= listings:
            asyncio.run(listing())  # a loop each, as in the cpu scenario's measure()


if __name__ == "__main__":
    _child(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))

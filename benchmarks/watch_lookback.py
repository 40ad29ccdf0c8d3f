"""``--only watch-lookback``: the client CPU per record a watch yields, with and without a
look-back, at two window sizes, under a steady 100 inserts a second.

The emulator runs in a thread of this process, and the figures are the CPU time of the
client's thread alone (``time.thread_time``). The watch polls on a clock whose sleep is the
writer: each poll interval it inserts the records of that second (stamped 10 ms apart, in
record time, so nothing waits), and the time it spends inserting is taken out. The window is
full when the watch starts: the look-back's records exist already, as they would after a while.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from datetime import datetime, timedelta, timezone
from typing import Any

from anyio.from_thread import start_blocking_portal

from aiotofu._clock import set_clock
from aiotofu.testing import Emulator

RATE = 100  # inserts a second
T0 = datetime(2031, 1, 1, tzinfo=timezone.utc)


class WriterClock:
    """A clock whose every sleep inserts the records of that much time, and returns at once."""

    def __init__(self, emu: Emulator, first: int) -> None:
        self.emu = emu
        self.next = first
        self.now = 0.0
        self.writing = 0.0  # this thread's CPU spent inserting, to take out

    def monotonic(self) -> float:
        """The virtual time."""
        return self.now

    async def sleep(self, seconds: float) -> None:
        """Insert ``seconds`` worth of records, then let the loop run once."""
        started = time.thread_time()
        self.now += seconds
        for _ in range(round(seconds * RATE)):
            self.emu.add_batch(f"B-{self.next:07d}", created_at=stamp(self.next))
            self.next += 1
        self.writing += time.thread_time() - started
        await asyncio.sleep(0)


def stamp(k: int) -> datetime:
    """The time of the k-th record: RATE a second from T0."""
    return T0 + timedelta(microseconds=k * 1_000_000 // RATE)


def one_run(
    emu: Emulator, first: int, lookback: float, records: int, poll_interval: float
) -> tuple[float, int]:
    """Client CPU µs per record yielded by a watch with ``lookback`` seconds, whose records
    are numbered from ``first``; and the number of the next record to insert."""
    window = max(round(lookback * RATE), 1)
    for k in range(first, first + window):  # the window, full when the watch starts
        emu.add_batch(f"B-{k:07d}", created_at=stamp(k))
    clock = WriterClock(emu, first + window)
    previous = set_clock(clock)  # clients take the clock in force when they are created
    try:
        cpu = asyncio.run(follow(emu, clock, lookback, records, poll_interval))
    finally:
        set_clock(previous)
    return cpu, clock.next


async def follow(
    emu: Emulator, clock: WriterClock, lookback: float, records: int, poll_interval: float
) -> float:
    """Watch until ``records`` were yielded: the client's CPU µs per record."""
    async with emu.client() as client:
        watch = client.batches.watch(poll_interval=poll_interval, lookback=lookback)
        async with watch as watcher:
            started, count = time.thread_time(), 0
            clock.writing = 0.0
            async for _ in watcher:
                count += 1
                if count == records:
                    break
            cpu = time.thread_time() - started - clock.writing
    return cpu / records * 1e6


def watch_lookback(quick: bool) -> dict[str, Any]:
    """CPU µs per record yielded: no look-back, and look-backs of 10 s and 60 s (1 000 and
    6 000 records in the window), polling every second (100 new records a poll) and every
    0.1 s (10 a poll)."""
    records = 1_000 if quick else 3_000
    runs = 1 if quick else 3
    figures: dict[str, dict[str, float]] = {}
    with start_blocking_portal(name="emulator") as portal:
        emu = Emulator()
        portal.call(emu.__aenter__)
        try:
            first = 0
            for poll_interval in (1.0, 0.1):
                row: dict[str, float] = {}
                for lookback in (0.0, 10.0, 60.0):
                    samples = []
                    for _ in range(runs):
                        cpu, first = one_run(emu, first, lookback, records, poll_interval)
                        samples.append(cpu)
                    row[f"lookback {lookback:g} s"] = statistics.median(samples)
                figures[f"poll every {poll_interval:g} s"] = row
        finally:
            portal.call(emu.__aexit__, None, None, None)
    ratios = {
        name: {key: value / row["lookback 0 s"] for key, value in row.items()}
        for name, row in figures.items()
    }
    return {
        "records": records,
        "inserts_per_second": RATE,
        "cpu_us_per_record": figures,
        "ratio_to_no_lookback": ratios,
        "targets": {
            # Linear in the records yielded: a window six times deeper costs no more per record.
            "look-back CPU/record independent of the window (60 s <= 1.5x 10 s)": all(
                row["lookback 60 s"] <= 1.5 * row["lookback 10 s"] for row in figures.values()
            ),
        },
    }


def report(section: dict[str, Any]) -> list[str]:
    """The scenario's table, in Markdown."""
    figures = section["cpu_us_per_record"]
    columns = list(next(iter(figures.values())))
    lines = [
        f"Watch with a look-back: client CPU µs per record yielded, {section['inserts_per_second']}"
        f" inserts a second, {section['records']:,} records a run",
        "",
        "| polling | " + " | ".join(columns) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    for name, row in figures.items():
        lines.append(f"| {name} | " + " | ".join(f"{row[c]:.0f}" for c in columns) + " |")
    lines.append("")
    return lines

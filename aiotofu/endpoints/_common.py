"""Filter declarations several endpoints share word for word, and helpers for their tables.

Each endpoint module stays the single source of its own filters: it picks from here what the API
spells the same way on several endpoints (the unit, part, batch and procedure filters of runs,
logs, phases and measurements), so that their help texts and kinds cannot drift apart.
"""

from __future__ import annotations

import typing
from datetime import datetime, timedelta
from typing import Any

from .._convert import table_time
from .._filters import Choices, Duration, Strings, Text, filter_field
from .._models import Environment, Outcome, Sample, SampleFilter

__all__ = [
    "ENVIRONMENTS",
    "OUTCOMES",
    "SAMPLES",
    "SAMPLES_WITH_PRODUCTION",
    "choices",
    "duration",
    "search",
    "strings",
    "when",
]

OUTCOMES: tuple[str, ...] = typing.get_args(Outcome)
ENVIRONMENTS: tuple[str, ...] = typing.get_args(Environment)
SAMPLES: tuple[str, ...] = typing.get_args(Sample)
# A filter on samples may also ask for production units (the records' sample: None).
SAMPLES_WITH_PRODUCTION: tuple[str, ...] = typing.get_args(SampleFilter)


def strings(flag: str, help: str) -> Any:
    """A filter of strings (a string or a list), with its command-line flag (repeatable)."""
    return filter_field(Strings(), flag=flag, help=help)


def choices(values: tuple[str, ...], flag: str, help: str) -> Any:
    """A filter of enum values, checked against ``values`` before any request."""
    return filter_field(Choices(values), flag=flag, help=f"{help}: {', '.join(values)}")


def search(help: str) -> Any:
    """The ``search_query`` filter (at most 100 characters, as the API's reference bounds it)."""
    return filter_field(Text(max_length=100), flag="--search", help=help)


def when(value: datetime | None) -> str:
    """A table cell for an optional time."""
    return "-" if value is None else table_time(value)


def duration(value: str | timedelta | None) -> str:
    """A table cell for a duration, the same for runs and phases whatever the record holds (an
    ISO 8601 text, a timedelta): ``850 ms``, ``12.3 s``, ``4 min 05 s``, ``2 h 03 min``."""
    if value is None:
        return "-"
    try:
        iso: str = Duration().check("duration", value)  # PT<seconds>S
    except ValueError:
        return str(value)  # not one this reads: shown as the API sent it
    seconds = float(iso[2:-1])
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    return f"{minutes // 60} h {minutes % 60:02d} min"

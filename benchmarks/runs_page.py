"""A page of 100 test runs shaped like ``GET /v2/runs`` answers, each with 8 sequence calls and
metadata: decoding alone, aiotofu's ``Run`` against the standard library and the SDK's models.
(The emulator's runs, streamed end to end, are the ``runs`` scenario.)
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from aiotofu import Run
from aiotofu._wire import decode_body


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def fixture_page(count: int = 100, *, sequences: int = 8, seed: int = 1) -> bytes:
    """A deterministic page of ``count`` runs, each with ``sequences`` sequence calls."""
    rng = random.Random(seed)
    start = datetime(2024, 6, 1, tzinfo=timezone.utc)
    runs: list[dict[str, Any]] = []
    for index in range(count):
        began = start + timedelta(minutes=index)
        ended = began + timedelta(seconds=rng.randrange(5, 300))
        calls = []
        for k in range(sequences):
            call_start = began + timedelta(seconds=k)
            calls.append(
                {
                    "id": f"seq-{index}-{k}",
                    "path": f"main/step-{k}",
                    "key": f"step-{k}",
                    "parent_path": "main" if k else None,
                    "name": f"Step {k}: measure rail {k}",
                    "source": "./sequences/rails.yaml" if k % 2 else None,
                    "outcome": rng.choice(["PASS", "PASS", "PASS", "FAIL", "SKIP"]),
                    "started_at": _stamp(call_start),
                    "ended_at": _stamp(call_start + timedelta(milliseconds=800)),
                    "duration": "PT0.8S",
                }
            )
        runs.append(
            {
                "id": f"run-{index:05d}-{rng.getrandbits(64):016x}",
                "created_at": _stamp(ended),
                "started_at": _stamp(began),
                "ended_at": _stamp(ended),
                "duration": f"PT{(ended - began).seconds}S",
                "outcome": rng.choice(["PASS", "PASS", "PASS", "FAIL", "ERROR"]),
                "execution_id": None,
                "slot_key": None,
                "slot_name": None,
                "procedure": {
                    "id": "proc-1",
                    "name": "Functional test",
                    "version": {"id": "v-3", "tag": "v3.1.0"},
                },
                "unit": {
                    "id": f"unit-{index}",
                    "serial_number": f"SN-{index:07d}",
                    "sample": None,
                    "part": {
                        "id": "part-1",
                        "number": "PCB-V1.2",
                        "name": "Main board",
                        "revision": {"id": "rev-2", "number": "2.0"},
                    },
                    "batch": {"id": "batch-9", "number": "BATCH-0000009"},
                },
                "docstring": "Nightly regression",
                "operated_by": {"id": None, "name": "Line 2 operator", "email": None},
                "metadata": {"fixture": "F-12", "temperature_c": 23.5, "retest": False},
                "sequences": calls,
            }
        )
    return json.dumps({"data": runs, "meta": {"has_more": True, "next_cursor": count}}).encode()


def decoding(rounds: int = 300) -> dict[str, float]:
    """µs per record and per KiB to decode the page: aiotofu's wire decoder into frozen attrs
    models, the standard library into dicts, and the official SDK's pydantic models."""
    from tofupilot.v2.models import RunListResponse

    body = fixture_page()
    records = 100
    kib = len(body) / 1024

    def per_page(work: Callable[[], object]) -> float:
        work()
        started = time.perf_counter()
        for _ in range(rounds):
            work()
        return (time.perf_counter() - started) / rounds * 1e6

    timings = {
        "aiotofu": per_page(lambda: decode_body(body, Run)),
        "json.loads (dicts)": per_page(lambda: json.loads(body)),
        "official SDK": per_page(lambda: RunListResponse.model_validate_json(body)),
    }
    figures: dict[str, float] = {"page_kib": kib}
    for name, us in timings.items():
        figures[f"{name} µs/record"] = us / records
        figures[f"{name} µs/KiB"] = us / kib
    return figures

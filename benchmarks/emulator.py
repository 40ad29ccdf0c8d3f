"""An emulator in its own process, so that the client's CPU time is the client's alone."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator

import attrs

KEY = "tp-benchmark-key"


@attrs.frozen
class Server:
    """A running emulator: where it is and its key."""

    base_url: str
    api_key: str


@contextlib.contextmanager
def emulator(
    batches: int,
    *,
    latency: float = 0.0,
    synthetic: bool = False,
    seed: int = 1,
    runs: int | None = None,
) -> Iterator[Server]:
    """Start ``aiotofu emulator`` on a free port; stop it on exit."""
    argv = [
        sys.executable,
        "-m",
        "aiotofu",
        "emulator",
        "--port",
        "0",
        "--batches",
        str(batches),
        "--seed",
        str(seed),
        "--latency",
        str(latency),
        "--api-key",
        KEY,
    ]
    if synthetic:
        argv.append("--synthetic")
    if runs is not None:
        argv += ["--runs", str(runs)]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        if not first:
            raise RuntimeError("the emulator did not start")
        yield Server(base_url=first.split()[-1], api_key=KEY)
    finally:
        process.terminate()
        process.wait(timeout=30)

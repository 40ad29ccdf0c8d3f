"""Shared fixtures: a clean environment, a virtual clock, and the emulator on a real socket."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest
from anyio.from_thread import start_blocking_portal

from aiotofu.testing import Emulator, VirtualClock, virtual_clock

# The official SDK (a test dependency) must never try to report anything over the network.
os.environ["DISABLE_TELEMETRY"] = "1"
# Nor dlt (aiotofu.dlt's tests, the README's Analysis example in a subprocess).
os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"


@pytest.fixture(autouse=True)
def _no_tofupilot_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never pick up a developer's real key or URL from the environment."""
    monkeypatch.delenv("TOFUPILOT_API_KEY", raising=False)
    monkeypatch.delenv("TOFUPILOT_URL", raising=False)


@pytest.fixture
def clock() -> Iterator[VirtualClock]:
    """Backoff and Retry-After waits return at once and are recorded in ``clock.sleeps``."""
    with virtual_clock() as fake:
        yield fake


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    """An emulator with 1 000 generated batches, in the test's event loop."""
    async with Emulator(batches=1000, seed=7) as server:
        yield server


@pytest.fixture
def threaded_emu() -> Iterator[Emulator]:
    """An emulator in its own thread and loop, for blocking callers (SyncClient, the SDK)."""
    with start_blocking_portal(name="emulator") as portal:
        server = Emulator(batches=1000, seed=7)
        portal.call(server.__aenter__)
        try:
            yield server
        finally:
            portal.call(server.__aexit__, None, None, None)

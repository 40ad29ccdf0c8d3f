"""End-to-end fixtures: the emulator on a real loopback socket, in the test's loop or a thread."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from anyio.from_thread import start_blocking_portal

from aiotofu.testing import Emulator


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

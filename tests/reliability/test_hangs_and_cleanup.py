"""No hang, no leak: servers that never answer or trickle, and every way a consumer can stop."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import subprocess
import sys
import threading
import time

import anyio
import pytest

import aiotofu
from aiotofu.testing import Emulator, VirtualClock
from tests.helpers import aiotofu_tasks


@pytest.mark.parametrize("fault", ["hang", "slow"])
async def test_a_server_that_never_finishes_gives_a_transport_error(
    emu: Emulator, clock: VirtualClock, fault: str
) -> None:
    """Accepting and never answering, or answering one byte a second: the timeout, per try."""
    emu.inject(fault, fault)
    started = time.monotonic()
    async with emu.client(timeout=0.3, retry=aiotofu.RetryPolicy(attempts=2)) as client:
        with pytest.raises(aiotofu.TransportError, match=r"within 0\.3 s") as info:
            await client.batches.list().collect()
    assert time.monotonic() - started < 5
    assert isinstance(info.value, aiotofu.RequestTimeoutError)
    assert isinstance(info.value, TimeoutError)
    assert emu.stats["faults"] == {fault: 2}


async def test_fail_after_around_a_stream_leaves_nothing_behind(emu: Emulator) -> None:
    emu.set_faults(latency=0.02)
    async with emu.client() as client:

        async def stream_with_a_deadline() -> None:
            with anyio.fail_after(0.1):
                async with client.batches.list(page_size=10, prefetch=5) as paginator:
                    async for _ in paginator:
                        pass

        with pytest.raises(TimeoutError):
            await stream_with_a_deadline()
        assert not aiotofu_tasks()
    await asyncio.sleep(0.05)
    assert emu.stats["peak_in_flight"] <= 6


async def test_a_dropped_paginator_is_cleaned_up_by_the_collector(emu: Emulator) -> None:
    emu.set_faults(latency=0.05)
    async with emu.client() as client:
        paginator = client.batches.list(page_size=10, prefetch=5)
        await paginator.__anext__()
        for _ in range(10):
            await paginator.__anext__()  # the speculation has started
        del paginator
        gc.collect()
        await asyncio.sleep(0.01)
        assert not aiotofu_tasks()


def test_keyboard_interrupt_in_a_sync_loop_leaves_no_thread(threaded_emu: Emulator) -> None:
    threads = set(threading.enumerate())

    def sync_worker() -> None:
        with aiotofu.SyncClient(threaded_emu.api_key, base_url=threaded_emu.base_url) as client:
            for index, _ in enumerate(client.batches.list(page_size=10, prefetch=4)):
                if index == 25:
                    raise KeyboardInterrupt  # what Ctrl-C raises in the main thread

    with pytest.raises(KeyboardInterrupt):
        sync_worker()
    assert set(threading.enumerate()) <= threads


@pytest.mark.slow
def test_ctrl_c_in_the_cli_exits_cleanly_and_quickly(threaded_emu: Emulator) -> None:
    threaded_emu.set_faults(latency=1.0)  # ten pages: the listing takes seconds
    env = {**os.environ, "TOFUPILOT_API_KEY": threaded_emu.api_key}
    process = subprocess.Popen(
        [sys.executable, "-m", "aiotofu", "batches", "list", "--base-url", threaded_emu.base_url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stdout is not None
    process.stdout.readline()  # the first page is out; the next ones are on their way
    interrupted = time.monotonic()
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=10)
    assert time.monotonic() - interrupted < 5  # it did not wait for the pages in flight
    assert process.returncode == 130
    assert "Traceback" not in err
    assert err.startswith("aiotofu: interrupted")

"""``SyncClient`` in a notebook (issue 25, item 7): an IPython kernel runs its event loop in the
main thread and every cell inside it, so a cell is "the thread of a running event loop", and
SyncClient refused to run there. It owns its own loop thread: blocking the kernel's loop while
a cell waits cannot deadlock it. The refusal stays for async code outside a kernel, where a
blocking call would stall the loop its own awaitables need.

The first test starts a real kernel with jupyter_client (what Jupyter, VS Code and nbclient
do) and runs cells in it; the second runs the same check in-process, with IPython's state as a
kernel leaves it (``sys.modules["ipykernel"]``, ``get_ipython().kernel``), so that the quick run
covers the code path too.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import types
from collections.abc import Iterator
from typing import Any

import pytest

import aiotofu
from aiotofu.testing import Emulator


@pytest.fixture
def small(threaded_emu: Emulator) -> Emulator:
    return threaded_emu


def run_cell(client: object, code: str) -> str:
    """Run ``code`` as one cell; what it printed, or its traceback's last line."""
    output: list[str] = []

    def hook(message: dict[str, object]) -> None:
        content = message["content"]
        assert isinstance(content, dict)
        if message["msg_type"] == "stream":
            output.append(str(content["text"]))
        elif message["msg_type"] == "error":
            output.append(f"ERROR {content['ename']}: {content['evalue']}")

    client.execute_interactive(code, output_hook=hook, timeout=60)  # type: ignore[attr-defined]
    return "".join(output)


@pytest.fixture
def kernel() -> Iterator[object]:
    """A real IPython kernel in a subprocess, and a client talking to it."""
    manager_module = pytest.importorskip("jupyter_client.manager")
    pytest.importorskip("ipykernel")
    manager, client = manager_module.start_new_kernel(
        kernel_name="python3", stderr=subprocess.DEVNULL
    )
    try:
        yield client
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


@pytest.mark.slow
def test_sync_client_works_in_a_jupyter_kernels_cell(kernel: object, small: Emulator) -> None:
    connect = f"aiotofu.SyncClient({small.api_key!r}, base_url={small.base_url!r})"
    said = run_cell(
        kernel,
        "import asyncio, aiotofu\n"
        "asyncio.get_running_loop()  # the kernel's loop runs this cell\n"
        f"with {connect} as client:\n"
        "    print(len(client.batches.list().collect()), len(client.users.list()))\n",
    )
    with aiotofu.SyncClient(small.api_key, base_url=small.base_url) as here:
        assert said == f"{len(here.batches.list().collect())} {len(here.users.list())}\n"
    # A client kept across cells, as a notebook does, and a listing iterated in a later cell.
    assert run_cell(kernel, f"client = {connect}\nrows = client.runs.list(page_size=10)") == ""
    assert run_cell(kernel, "print(next(rows).id == client.runs.list().collect()[0].id)") == (
        "True\n"
    )
    assert run_cell(kernel, "rows.close(); client.close(); print('closed')") == "closed\n"


def test_the_kernels_loop_is_no_reason_to_refuse_but_async_code_is(
    monkeypatch: pytest.MonkeyPatch, small: Emulator
) -> None:
    """In-process: the same check, with IPython's state as a kernel sets it."""

    async def cell() -> int:
        # A cell runs inside the kernel's loop, as this coroutine runs inside asyncio.run's.
        with aiotofu.SyncClient(small.api_key, base_url=small.base_url) as client:
            return len(client.batches.list(max_items=30).collect())

    with pytest.raises(aiotofu.StateError, match="in async code, use aiotofu.Client"):
        asyncio.run(cell())  # no kernel: async code blocking its own loop, refused
    shell = types.SimpleNamespace(kernel=object())
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: shell))
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    assert asyncio.run(cell()) == 30
    shell.kernel = None  # IPython in a terminal (no kernel): its loop is the caller's own
    with pytest.raises(aiotofu.StateError):
        asyncio.run(cell())


def test_in_a_kernel_the_clients_own_loop_thread_is_still_refused(
    monkeypatch: pytest.MonkeyPatch, small: Emulator
) -> None:
    """A kernel's exemption is for its cells (the main thread), not for the client's own loop
    thread: a hook there that calls the client would wait on the loop it blocks, for ever."""
    shell = types.SimpleNamespace(kernel=object())
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: shell))
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    refused: list[BaseException] = []
    client: aiotofu.SyncClient

    def hook(event: aiotofu.PageEvent) -> None:
        try:
            client.stations.list().collect()
        except aiotofu.StateError as exc:
            refused.append(exc)

    def use() -> None:
        nonlocal client
        with aiotofu.SyncClient(small.api_key, base_url=small.base_url, on_page=hook) as client:
            client.batches.list(max_items=5).collect()

    # In a thread of its own, so that the hang this guards against fails the test instead.
    thread = threading.Thread(target=use, daemon=True)
    thread.start()
    thread.join(20)
    assert not thread.is_alive(), "the hook's call waited on the loop thread it blocked"
    assert refused


def test_in_a_kernel_another_thread_running_a_loop_is_still_refused(
    monkeypatch: pytest.MonkeyPatch, small: Emulator
) -> None:
    shell = types.SimpleNamespace(kernel=object())
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: shell))
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))

    async def elsewhere() -> int:
        with aiotofu.SyncClient(small.api_key, base_url=small.base_url) as client:
            return len(client.batches.list(max_items=5).collect())

    outcome: list[BaseException | int] = []
    thread = threading.Thread(target=lambda: outcome.append(_run_caught(elsewhere)))
    thread.start()
    thread.join(30)
    assert not thread.is_alive()
    assert isinstance(outcome[0], aiotofu.StateError)


def _run_caught(main: Any) -> BaseException | int:
    try:
        result: int = asyncio.run(main())
    except aiotofu.StateError as exc:
        return exc
    return result

"""A SyncClient used before os.fork() works in the child (multiprocessing's fork start method,
gunicorn --preload, celery prefork), and the child never disturbs the parent's connections.

Every child runs under a watchdog: its answer comes through a pipe that the parent waits on with
a timeout, so a regression that hangs the child fails the test (the child is killed) instead of
hanging the run. Children leave with os._exit(), never back into pytest.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import select
import signal
import warnings
from collections.abc import Callable
from typing import Any

import pytest

import aiotofu
from aiotofu.testing import Emulator

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork()")

WATCHDOG_SECONDS = 30.0


def _fork() -> int:
    with warnings.catch_warnings():
        # Python 3.12+ warns that forking a process with threads may deadlock the child: the
        # emulator's thread is ours, and what the child does is what this module tests.
        warnings.simplefilter("ignore", DeprecationWarning)
        return os.fork()


def in_child(work: Callable[[], Any]) -> Any:
    """Run ``work()`` in a forked child; what it returned (JSON), or fail if it raised, or if
    no answer came within WATCHDOG_SECONDS (the child is killed then)."""
    read_end, write_end = os.pipe()
    pid = _fork()
    if pid == 0:  # pragma: no cover - runs in the child, whose coverage is not collected
        status = 1
        try:
            os.close(read_end)
            try:
                answer = {"result": work()}
                status = 0
            except BaseException as exc:
                answer = {"error": f"{type(exc).__name__}: {exc}"}
            os.write(write_end, json.dumps(answer).encode())
        finally:
            os._exit(status)
    os.close(write_end)
    data = b""
    try:
        while True:
            ready, _, _ = select.select([read_end], [], [], WATCHDOG_SECONDS)
            if not ready:
                os.kill(pid, signal.SIGKILL)
                pytest.fail(f"the child gave no answer within {WATCHDOG_SECONDS:g} s: it hangs")
            chunk = os.read(read_end, 1 << 16)
            if not chunk:
                break
            data += chunk
    finally:
        os.close(read_end)
        os.waitpid(pid, 0)
    answer = json.loads(data)
    if "error" in answer:
        pytest.fail(f"in the child: {answer['error']}")
    return answer["result"]


def _client(emu: Emulator, **options: Any) -> aiotofu.SyncClient:
    return aiotofu.SyncClient(emu.api_key, base_url=emu.base_url, **options)


def test_a_sync_client_used_before_fork_works_in_the_child(threaded_emu: Emulator) -> None:
    """Its loop thread is gone in the child: the child gets a loop thread and a session of its
    own, lists, collects, watches and closes; the parent goes on with its own."""
    with _client(threaded_emu) as client:
        expected = [b.id for b in client.batches.list(max_items=120)]

        def work() -> dict[str, Any]:
            listed = [b.id for b in client.batches.list(max_items=120, prefetch=3)]
            collected = [b.id for b in client.batches.list(max_items=120).collect()]
            with client.batches.watch(since=threaded_emu_start(client)) as watcher:
                watched = next(watcher).id
            client.close()
            return {"listed": listed, "collected": collected, "watched": watched}

        child = in_child(work)
        assert child["listed"] == expected
        assert child["collected"] == expected
        assert child["watched"] == expected[-1]  # the oldest of the newest 120, watched since
        # The parent's client is untouched by the child's close().
        assert [b.id for b in client.batches.list(max_items=120)] == expected


def threaded_emu_start(client: aiotofu.SyncClient) -> Any:
    """Just before the 120th newest batch: a watch since then yields that batch first."""
    batches = client.batches.list(max_items=121).collect()
    return batches[-1].created_at


def test_a_sync_client_first_used_in_the_child_works_with_its_iterators(
    threaded_emu: Emulator,
) -> None:
    """Created before the fork and never used there: the client and a listing created with
    it (nothing of it ran in the parent) work in the child."""
    with _client(threaded_emu) as client:
        listing = client.batches.list(max_items=50)

        def work() -> list[str]:
            return [b.id for b in listing]

        child = in_child(work)
        assert child == [b.id for b in client.batches.list(max_items=50)]


def test_the_parent_keeps_its_connections_whatever_the_child_does_with_its_copies(
    threaded_emu: Emulator,
) -> None:
    """The child inherits the parent's loop, session and pooled keep-alive connection: file
    descriptors shared with the parent, the epoll instance included. When the child's copy of
    the connector is finalized (aiohttp's finalizer closes its connections), the parent's next
    request on its pooled connection is still answered. (Had the copied epoll unregistered
    the connection, the parent would wait for an answer it never reads: a timeout.)"""
    with _client(threaded_emu, timeout=5, retry=None) as client:
        expected = [b.id for b in client.batches.list(max_items=10)]
        session = client._client._transport._session  # type: ignore[attr-defined]

        def work() -> list[str]:
            # When the copy would be collected depends on what the child's copy of the loop
            # still holds: run its finalizer now, the worst a child can do by dropping it.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ResourceWarning)
                session.connector.__del__()
            return [b.id for b in client.batches.list(max_items=10)]

        assert in_child(work) == expected
        for _ in range(3):
            assert [b.id for b in client.batches.list(max_items=10)] == expected


def test_the_child_keeps_none_of_the_parents_loop_sockets(threaded_emu: Emulator) -> None:
    """In the child, every socket of the inherited loop (its self-pipe, the pooled keep-alive
    connection) is a stand-in of the child's own, not the parent's socket: whatever the
    child's copies do with it (a TLS close_notify written as a connection closes) cannot reach
    the parent. (The epoll instance is held to the same by the test above: epoll descriptors
    all share one inode, so it cannot be told apart this way.)"""
    with _client(threaded_emu) as client:
        client.batches.list(max_items=10).collect()
        fds = list(client._thread._selector.get_map())  # type: ignore[union-attr]
        assert len(fds) >= 2  # the self-pipe, a keep-alive connection
        parents = {fd: os.fstat(fd).st_ino for fd in fds}

        def work() -> dict[str, int]:
            return {str(fd): os.fstat(fd).st_ino for fd in fds}

        childs = in_child(work)
        assert all(childs[str(fd)] != parents[fd] for fd in fds), (parents, childs)
        # The parent's are still its own.
        assert {fd: os.fstat(fd).st_ino for fd in fds} == parents


def test_an_iterator_started_before_the_fork_raises_state_error_in_the_child(
    threaded_emu: Emulator,
) -> None:
    """A listing and a watch that ran in the parent belong to the parent's loop: in the child
    they raise StateError at once (never hang), their tokens still tell where they stood, and
    a listing resumed from its token in the child continues exactly there."""
    with _client(threaded_emu) as client:
        full = [b.id for b in client.batches.list(page_size=100)]
        listing = client.batches.list(page_size=10)
        first = [next(listing).id for _ in range(10)]  # a whole page: the next needs a request
        watcher = client.batches.watch(poll_interval=3600)
        watcher.__enter__()
        token = listing.resume_token

        def work() -> dict[str, Any]:
            errors = []
            for call in (lambda: next(listing), listing.collect, lambda: next(watcher)):
                try:
                    call()
                except aiotofu.StateError as exc:
                    errors.append(str(exc))
            same_token = listing.resume_token == token
            watch_token = isinstance(watcher.resume_token, str)
            listing.close()
            watcher.close()
            rest = [b.id for b in client.batches.resume(listing.resume_token)]
            client.close()
            return {"errors": errors, "same": same_token, "watch": watch_token, "rest": rest}

        child = in_child(work)
        watcher.close()
        assert len(child["errors"]) == 3
        assert all("fork" in message for message in child["errors"])
        assert child["same"]
        assert child["watch"]
        assert first + child["rest"] == full
        # In the parent, both still work.
        assert [b.id for b in listing] == full[10:]


def _list_in_a_pool_worker(connection: Any) -> None:  # pragma: no cover - in the child
    client = _POOL_CLIENT[0]
    connection.send([b.id for b in client.batches.list(max_items=30)])
    connection.close()


_POOL_CLIENT: list[aiotofu.SyncClient] = []


def test_a_sync_client_works_in_a_multiprocessing_fork_child(threaded_emu: Emulator) -> None:
    """multiprocessing with the fork start method: the worker inherits the client."""
    context = multiprocessing.get_context("fork")
    with _client(threaded_emu) as client:
        expected = [b.id for b in client.batches.list(max_items=30)]
        _POOL_CLIENT[:] = [client]
        receiving, sending = context.Pipe(duplex=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # see _fork()
            process = context.Process(target=_list_in_a_pool_worker, args=(sending,))
            process.start()
        try:
            assert receiving.poll(WATCHDOG_SECONDS), "the worker gave no answer: it hangs"
            assert receiving.recv() == expected
        finally:
            process.join(WATCHDOG_SECONDS)
            if process.is_alive():
                process.kill()
                process.join()
            _POOL_CLIENT.clear()
        assert process.exitcode == 0

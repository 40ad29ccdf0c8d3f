"""SyncClient.close() from another thread while a thread iterates: the iterating thread gets a
typed StateError, never a raw concurrent.futures.CancelledError nor a silent end, and nothing
counts as handed out that it did not get.

A gate (a small HTTP server in front of the emulator) holds one chosen request unanswered and
sets an event when it arrives, so that close() comes exactly while that request is awaited.
"""

from __future__ import annotations

import asyncio
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

import aiotofu
from aiotofu._clock import set_clock
from aiotofu.testing import Emulator
from tests.helpers import sync_listed_cursors

WATCHDOG_SECONDS = 30.0


class Gate:
    """Forwards requests to ``upstream``, but holds the one that ``hold`` picks unanswered
    until ``release`` is set; ``arrived`` is set when it comes in. ``hold`` is a request's
    number (1-based: requests made one after the other) or its query's cursor (``"cursor=29"``:
    prefetched requests may arrive in any order)."""

    def __init__(self, upstream: str, hold: int | str) -> None:
        self.hold = hold
        self.arrived = threading.Event()
        self.release = threading.Event()
        self.requests = 0
        self._lock = threading.Lock()
        origin = upstream.removesuffix("/api")
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        gate = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with gate._lock:
                    gate.requests += 1
                    number = gate.requests
                query = self.path.partition("?")[2].split("&")
                if number == gate.hold or gate.hold in query:
                    gate.arrived.set()
                    gate.release.wait(WATCHDOG_SECONDS)
                    self.close_connection = True
                    return
                forwarded = urllib.request.Request(
                    origin + self.path, headers={"Authorization": self.headers["Authorization"]}
                )
                try:
                    with opener.open(forwarded) as answer:
                        status, body = answer.status, answer.read()
                except urllib.error.HTTPError as exc:
                    status, body = exc.code, exc.read()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}/api"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Gate:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(WATCHDOG_SECONDS)


@pytest.fixture
def full(threaded_emu: Emulator) -> list[str]:
    """Every batch id, in the default order."""
    with aiotofu.SyncClient(threaded_emu.api_key, base_url=threaded_emu.base_url) as client:
        return [b.id for b in client.batches.list(page_size=100)]


def _close_while_held(
    emu: Emulator, hold: int | str, work: Callable[[aiotofu.SyncClient, list[Any]], None]
) -> tuple[BaseException | None, list[Any]]:
    """Run ``work(client, got)`` in a thread, close the client from this thread once the
    request that ``hold`` picks is held at the gate; what the worker raised, and what it got."""
    got: list[Any] = []
    raised: list[BaseException] = []
    with Gate(emu.base_url, hold) as gate:
        client = aiotofu.SyncClient(emu.api_key, base_url=gate.base_url)

        def worker() -> None:
            try:
                work(client, got)
            except BaseException as exc:
                raised.append(exc)

        thread = threading.Thread(target=worker)
        thread.start()
        assert gate.arrived.wait(WATCHDOG_SECONDS), "the held request never came"
        client.close()
        thread.join(WATCHDOG_SECONDS)
        assert not thread.is_alive(), "the iterating thread hangs after close()"
    return (raised[0] if raised else None), got


def _resumed(emu: Emulator, token: str) -> list[str]:
    with aiotofu.SyncClient(emu.api_key, base_url=emu.base_url) as client:
        return [b.id for b in client.batches.resume(token)]


@pytest.mark.parametrize(
    ("prefetch", "page"),
    [(0, 0), (2, 0), (0, 1), (2, 1)],
    ids=["prefetch-0-first-page", "first-page", "prefetch-0-later-page", "prefetched-page"],
)
def test_closing_the_client_during_a_listing_raises_state_error_in_the_iterating_thread(
    threaded_emu: Emulator, full: list[str], prefetch: int, page: int
) -> None:
    """The first page, or the second (fetched by the consumer itself with prefetch 0, or
    prefetched): StateError, and the token resumes just after the last record received.
    (Pages of 30 overlap the page before: where the second starts is read from a listing.)"""
    cursor = sync_listed_cursors(threaded_emu, page_size=30)[page]
    iterators: list[aiotofu.SyncPaginator[aiotofu.Batch]] = []

    def work(client: aiotofu.SyncClient, got: list[Any]) -> None:
        iterator = client.batches.list(page_size=30, prefetch=prefetch)
        iterators.append(iterator)
        for batch in iterator:
            got.append(batch.id)

    error, got = _close_while_held(threaded_emu, f"cursor={cursor}", work)
    assert isinstance(error, aiotofu.StateError), repr(error)
    assert "closed" in str(error)
    assert len(got) == (30 if cursor else 0)
    assert got + _resumed(threaded_emu, iterators[0].resume_token) == full


def test_closing_the_client_during_collect_raises_state_error_and_counts_nothing(
    threaded_emu: Emulator, full: list[str]
) -> None:
    """collect() had a page when the client was closed: StateError, and that page does not
    count (collect() returned nothing)."""
    iterators: list[aiotofu.SyncPaginator[aiotofu.Batch]] = []

    def work(client: aiotofu.SyncClient, got: list[Any]) -> None:
        iterator = client.batches.list(page_size=30)
        iterators.append(iterator)
        got += iterator.collect()

    second = sync_listed_cursors(threaded_emu, page_size=30)[1]
    error, got = _close_while_held(threaded_emu, f"cursor={second}", work)
    assert isinstance(error, aiotofu.StateError), repr(error)
    assert got == []
    assert _resumed(threaded_emu, iterators[0].resume_token) == full


@pytest.mark.parametrize("hold_at", [1, 3], ids=["its-start", "its-first-poll"])
def test_closing_the_client_during_a_watch_request_raises_state_error(
    threaded_emu: Emulator, hold_at: int
) -> None:
    """The watch's start (requests 1 and 2: the newest batch, and those at its instant) or its
    first poll (request 3) is held when the client closes: StateError."""
    watchers: list[aiotofu.SyncWatcher] = []

    def work(client: aiotofu.SyncClient, got: list[Any]) -> None:
        watcher = client.batches.watch(poll_interval=3600)
        watchers.append(watcher)
        with watcher:
            got.append(next(watcher))

    error, got = _close_while_held(threaded_emu, hold_at, work)
    assert isinstance(error, aiotofu.StateError), repr(error)
    assert "closed" in str(error)
    assert got == []
    if hold_at == 3:  # started: the watch can be resumed from where it stood
        assert isinstance(watchers[0].resume_token, str)


class SignallingClock:
    """Real time, but ``sleeping`` is set when a wait of at least ``signal_above`` seconds
    starts (the watch's wait between polls, not a retry's backoff)."""

    def __init__(self, signal_above: float) -> None:
        self.signal_above = signal_above
        self.sleeping = threading.Event()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        if seconds >= self.signal_above:
            self.sleeping.set()
        await asyncio.sleep(seconds)


def test_closing_the_client_while_a_watch_waits_between_polls_raises_state_error(
    threaded_emu: Emulator,
) -> None:
    """The first poll is answered (nothing new) and the watch waits an hour for the next:
    closed during that wait, StateError."""
    raised: list[BaseException] = []
    clock = SignallingClock(signal_above=3600)
    previous = set_clock(clock)
    try:
        client = aiotofu.SyncClient(threaded_emu.api_key, base_url=threaded_emu.base_url)
    finally:
        set_clock(previous)

    def worker() -> None:
        try:
            with client.batches.watch(poll_interval=3600) as watcher:
                next(watcher)
        except BaseException as exc:
            raised.append(exc)

    thread = threading.Thread(target=worker)
    thread.start()
    assert clock.sleeping.wait(WATCHDOG_SECONDS), "the watch never waited between polls"
    client.close()
    thread.join(WATCHDOG_SECONDS)
    assert not thread.is_alive(), "the watching thread hangs after close()"
    assert len(raised) == 1
    assert isinstance(raised[0], aiotofu.StateError), repr(raised[0])
    assert "closed" in str(raised[0])

"""SyncClient: the same API for synchronous code, on an event loop in a background thread.

The loop runs in a daemon thread that the client owns, so a client that is never closed (used
like ``requests.Session``) never keeps the interpreter from exiting; a finalizer closes it at
exit or when it is collected. Every blocking call waits for a coroutine in that loop; on Ctrl-C
the coroutine is cancelled and awaited before KeyboardInterrupt reaches the caller, and what it
had already produced is kept, so nothing counts as handed out that the caller did not get.

Iterators pull a page at a time across the thread boundary (not a record at a time, which
would cost a round trip per record) and hand the records out locally; the resume token still
marks the last record actually handed out.

After ``os.fork()`` only the forking thread exists in the child: a fork handler gives each client
a fresh start there, and cuts the loop it inherited off from the parent's file descriptors
(``_LoopThread.abandon``) without closing any of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import os
import selectors
import socket
import sys
import threading
import typing
import warnings
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Concatenate, Generic, ParamSpec, overload

from ._client import API_KEY_ENV, Client
from ._events import PageEvent
from ._models import Batch, Page, User
from ._pagestate import Chunk, Position
from ._paginate import Paginator
from ._planning import ShardSearch
from ._requester import RetryEvent
from ._resources import (
    Batches,
    Deployments,
    Logs,
    Measurements,
    Parts,
    Phases,
    Procedures,
    Runs,
    Stations,
    Units,
)
from ._retry import RetryPolicy
from ._shardreader import ShardReader
from ._shards import Plan, Shard
from ._tls import CertOption, VerifyOption
from ._watch import Watcher, WatchState
from .errors import InvalidParameterError, StateError, TofuPilotError

__all__ = ["SyncClient", "SyncPaginator", "SyncShardReader", "SyncShards", "SyncWatcher"]

if TYPE_CHECKING:
    import pandas
    import pyarrow

    # A TypeVar default (PEP 696) is for type checkers alone, which read typing_extensions
    # from their own stubs: at run time a TypeVar needs none, and the package no dependency.
    from typing_extensions import TypeVar

    # What a SyncWatcher yields; a bare ``SyncWatcher`` annotation means a watch of batches.
    W = TypeVar("W", default=Batch)
else:
    from typing import TypeVar

    W = TypeVar("W")

T = TypeVar("T")
R = TypeVar("R")
P = ParamSpec("P")

# How long Ctrl-C waits for the interrupted call to unwind, and close() for the loop to stop.
UNWIND_SECONDS = 10.0

CAN_FORK = hasattr(os, "register_at_fork")

# Every SyncClient alive, for the fork handler; and what forked children inherited from their
# parent and must neither use nor let be collected (see SyncClient._after_fork).
_clients: weakref.WeakSet[SyncClient] = weakref.WeakSet()
_ABANDONED: list[object] = []


def _after_fork_in_child() -> None:
    for client in list(_clients):
        client._after_fork()


if CAN_FORK:
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _ignore(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """An exception handler that drops what an abandoned loop reports."""


class _LoopThread:
    """An asyncio event loop running forever in a daemon thread, until ``stop()``."""

    def __init__(self) -> None:
        self._selector: selectors.BaseSelector | None = None
        if CAN_FORK:
            # The loop's selector is ours, so that a forked child can tell which file
            # descriptors the loop shares with its parent (``abandon``).
            self._selector = selectors.DefaultSelector()
            self.loop: asyncio.AbstractEventLoop = asyncio.SelectorEventLoop(self._selector)
        else:
            self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="aiotofu-sync-loop", daemon=True
        )
        self._thread.start()

    def abandon(self) -> None:
        """In a forked child: leave this loop to the parent, harmless to it forever.

        The child has a copy of the loop, its thread gone, and of everything in it: aiohttp's
        session and connections, whose sockets and epoll instance are the parent's own (fork
        shares them). Closing any of it here, even letting aiohttp's finalizers run, would act
        on the parent's: a connection closed sends TLS's close_notify on the parent's socket,
        and a socket unregistered from the copied epoll is unregistered in the parent, whose
        next answer on that connection would then never be read. So the child's file
        descriptors of the loop are pointed at private stand-ins (the epoll at a new empty
        one, the sockets at one end of a socket pair of its own), and what the abandoned
        objects report as they are collected is not logged: it is about the parent's things.
        """
        self.loop.set_exception_handler(_ignore)
        selector = self._selector
        if selector is None:
            return
        # (The loop's other end of its self-pipe is not registered, and stays shared: a
        # wake-up written to it from here is a spurious wake-up there, which does no harm.)
        stand_ins = socket.socketpair()
        for key in list(selector.get_map().values()):
            os.dup2(stand_ins[0].fileno(), key.fd, inheritable=False)
        fileno = getattr(selector, "fileno", None)  # epoll, kqueue, devpoll: a kernel object
        if fileno is not None:
            fresh: Any = type(selector)()
            os.dup2(fresh.fileno(), fileno(), inheritable=False)
            fresh.close()
        _ABANDONED.append(stand_ins)

    def call_keeping(
        self,
        func: Callable[..., Awaitable[R]],
        args: tuple[Any, ...],
        keep: Callable[[R], None] | None,
    ) -> R:
        """Run ``func(*args)`` in the loop and wait for it. Interrupted (Ctrl-C), cancel it, wait
        until it has unwound, hand a result it produced all the same to ``keep``, and raise."""
        finished = threading.Event()
        produced: list[R] = []

        async def run() -> R:
            try:
                result = await func(*args)
                produced.append(result)
                return result
            finally:
                finished.set()

        future = asyncio.run_coroutine_threadsafe(run(), self.loop)
        try:
            return future.result()
        except (KeyboardInterrupt, SystemExit):
            future.cancel()
            finished.wait(UNWIND_SECONDS)
            if produced and keep is not None:
                keep(produced[0])
            raise

    def stop(self, cleanup: Callable[[], Awaitable[None]] | None = None) -> None:
        """Run ``cleanup``, cancel whatever still runs in the loop, stop it and join the thread."""
        if not self._thread.is_alive():
            return
        if threading.current_thread() is self._thread:
            # Collected inside the loop itself: waiting on the loop from here would never end.
            self.loop.call_soon(self.loop.stop)
            return

        async def shut_down() -> None:
            if cleanup is not None:
                with contextlib.suppress(Exception):
                    await cleanup()
            current = asyncio.current_task()
            tasks = [task for task in asyncio.all_tasks() if task is not current]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(shut_down(), self.loop).result(UNWIND_SECONDS)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(UNWIND_SECONDS)
        if not self._thread.is_alive():
            self.loop.close()


def _closed_error() -> StateError:
    """What a call gets when SyncClient.close() (in another thread) ends it while it waits."""
    return StateError(
        "the client was closed (SyncClient.close()) while this call was waiting; nothing it "
        "was fetching counts as handed out, so resume_token continues after the last record "
        "received"
    )


class SyncClient:
    """A blocking client with the constructor and API of :class:`aiotofu.Client`.

    ::

        with aiotofu.SyncClient() as client:
            for batch in client.batches.list(part_numbers=["PCB-V1.2"]):
                ...

    It runs an event loop in one background daemon thread, started on first use and stopped
    by ``close()`` (or leaving the ``with`` block), which also cancels whatever is still
    running. A client that is never closed is closed when it is garbage-collected or when the
    interpreter exits, and never delays that exit. Ctrl-C during a call cancels the call, waits
    until it has unwound, then raises KeyboardInterrupt: no record counts as handed out that
    the caller did not get. Calling it from the thread of a running event loop raises
    StateError at once (it would block that loop): use :class:`aiotofu.Client` there. A
    notebook's cell (an IPython kernel, whose own loop runs the cell) is the exception: there
    it works as in a script.

    ``close()`` from another thread while a thread waits in a call (``next()`` on a listing
    or a watch, ``collect()``, ``pages()``) ends that call with StateError, never a silent end
    that would look like the end of the listing: what it was fetching does not count as
    handed out, so ``resume_token`` continues just after the last record received.

    ``on_retry`` and ``on_page`` are called in the client's loop thread, not the caller's:
    keep them quick, and thread-safe (appending to a list, a metrics counter).

    A client used before ``os.fork()`` (multiprocessing's fork start method, gunicorn
    ``--preload``, celery prefork) works in the child: the child starts a loop thread and an
    HTTP session of its own, and leaves the parent's (whose connections it shares) untouched.
    A listing or watch started before the fork belongs to the parent: in the child it raises
    StateError at once, and its ``resume_token`` continues it there.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        max_concurrency: int = 4,
        retry: RetryPolicy | None = RetryPolicy(),  # noqa: B008 - immutable
        timeout: float = 30.0,
        session: None = None,
        trust_env: bool = True,
        adaptive: bool = True,
        rate_limit: float | None = None,
        on_retry: Callable[[RetryEvent], None] | None = None,
        verify: VerifyOption = True,
        cert: CertOption = None,
        on_page: Callable[[PageEvent], None] | None = None,
        tracer_provider: object | None = None,
        meter_provider: object | None = None,
    ) -> None:
        if session is not None:
            raise InvalidParameterError(
                "session",
                "SyncClient runs its own event loop and cannot use an aiohttp session "
                "created for another one; use aiotofu.Client to bring your own session",
            )
        if api_key is None:
            # Read once: a process forked from this one builds its own Client with this key.
            api_key = os.environ.get(API_KEY_ENV) or None

        def new_client(base_url: str | None) -> Client:
            # A closure, not a partial: its repr never shows the key.
            return Client(
                api_key,
                base_url=base_url,
                max_concurrency=max_concurrency,
                retry=retry,
                timeout=timeout,
                trust_env=trust_env,
                adaptive=adaptive,
                rate_limit=rate_limit,
                on_retry=on_retry,
                verify=verify,
                cert=cert,
                on_page=on_page,
                tracer_provider=tracer_provider,
                meter_provider=meter_provider,
            )

        # Built here, in the caller's thread, so that bad arguments raise before any thread starts.
        self._client = new_client(base_url)
        self._new_client = new_client
        self._pid = os.getpid()
        _clients.add(self)
        self._lock = threading.Lock()
        self._thread: _LoopThread | None = None
        self._finalizer: weakref.finalize[Any, Any] | None = None
        self._closed = False
        self._iterators: weakref.WeakSet[SyncPaginator[Any] | SyncWatcher[Any] | SyncShards] = (
            weakref.WeakSet()
        )
        self.batches = SyncBatches(self)
        """Batches: ``list()``, ``resume()``, ``watch()``."""
        self.units = SyncUnits(self)
        """Units: ``list()``, ``resume()``, ``watch()``."""
        self.runs = SyncRuns(self)
        """Test runs: ``list()``, ``resume()``, ``watch()``."""
        self.parts = SyncParts(self)
        """Parts: ``list()``, ``resume()``."""
        self.procedures = SyncProcedures(self)
        """Procedures: ``list()``, ``resume()``."""
        self.stations = SyncStations(self)
        """Stations: ``list()``, ``resume()``."""
        self.deployments = SyncDeployments(self)
        """Deployments: ``list()``, ``resume()``."""
        self.logs = SyncLogs(self)
        """Log lines of runs: ``list()``, ``resume()``, ``watch()``."""
        self.phases = SyncPhases(self)
        """Phases of one procedure's runs: ``list(procedure_id=...)``, ``resume()``."""
        self.measurements = SyncMeasurements(self)
        """Measurements of one procedure's runs: ``list(procedure_id=...)``, ``resume()``."""
        self.users = SyncUsers(self)
        """Users: ``client.users.list()``."""

    @property
    def base_url(self) -> str:
        """The API's base URL."""
        return self._client.base_url

    def __repr__(self) -> str:
        return repr(self._client).replace("aiotofu.Client", "aiotofu.SyncClient", 1)

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Cancel open iterators, close the HTTP session, and stop the background thread."""
        with self._lock:
            self._closed = True
            thread, self._thread = self._thread, None
            finalizer, self._finalizer = self._finalizer, None
        if finalizer is not None:
            finalizer.detach()
        if thread is not None:
            _shut_down(thread, self._client, self._iterators)

    def _call(self, func: Callable[..., Awaitable[R]], *args: Any) -> R:
        """Run ``func(*args)`` in the client's loop and wait for the result."""
        return self._call_keeping(func, None, *args)

    def _call_keeping(
        self, func: Callable[..., Awaitable[R]], keep: Callable[[R], None] | None, *args: Any
    ) -> R:
        """``_call``, but a result produced while Ctrl-C interrupted the wait goes to ``keep``.

        Closed by another thread meanwhile, the call was cancelled (or its request failed as
        the session closed under it, or its iterator ended early): whatever it raised, the
        caller gets the one typed error that says what happened.
        """
        thread = self._loop_thread()
        try:
            return thread.call_keeping(func, args, keep)
        except Exception as exc:  # not Ctrl-C: KeyboardInterrupt stays what it is
            if self._closed and not isinstance(exc, StateError):
                raise _closed_error() from exc
            raise

    def _after_fork(self) -> None:
        """In the child of ``os.fork()``: start afresh, leaving the parent's things alone.

        Only the thread that forked lives on in the child: the loop thread is gone, and its
        loop, session and connections are the parent's (see ``_LoopThread.abandon``). They
        are abandoned, never used, closed or collected here; the next call starts a loop
        thread and a session of the child's own. Iterators that ran in the parent belong to
        its loop and raise StateError here (their resume tokens still work).
        """
        self._lock = threading.Lock()  # a thread that is gone may have held it
        self._pid = os.getpid()
        thread, self._thread = self._thread, None
        if thread is None:
            return  # nothing ran (or it was closed): nothing of the parent's is in use
        finalizer, self._finalizer = self._finalizer, None
        thread.abandon()
        # Kept for the child's whole life, so that no finalizer of the parent's objects runs.
        _ABANDONED.append((thread, self._client, finalizer.detach() if finalizer else None))
        self._iterators = weakref.WeakSet()
        with warnings.catch_warnings():
            # Anything the configuration deserves a warning for was said in the parent.
            warnings.simplefilter("ignore")
            self._client = self._new_client(self._client.base_url)

    def _loop_thread(self) -> _LoopThread:
        if self._pid != os.getpid():
            # Forked without Python's fork handlers (a C extension calling fork()): the loop
            # thread is gone, and waiting for it would never end.
            raise StateError(
                f"this SyncClient was created in process {self._pid} and this process was "
                "forked from it without Python's fork handlers: create a new SyncClient here"
            )
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not None and not _in_a_notebook_cell():
            raise StateError(
                "SyncClient was called from the thread of a running event loop, which it would "
                "block until every timeout ran out: in async code, use aiotofu.Client "
                "(async with aiotofu.Client() as client: await client.batches.list().collect())"
            )
        with self._lock:
            if self._closed:
                raise StateError("this client is closed")
            if self._thread is None:
                self._thread = _LoopThread()
                # Never closed: closed when collected, or at exit (the thread is a daemon, so
                # the exit is never held up, and this closes the session cleanly before it).
                # Its iterators are closed first, so that their prefetches are cancelled
                # rather than failed by the closing session.
                self._finalizer = weakref.finalize(
                    self, _shut_down, self._thread, self._client, self._iterators
                )
            return self._thread


def _shut_down(
    thread: _LoopThread,
    client: Client,
    iterators: weakref.WeakSet[SyncPaginator[Any] | SyncWatcher[Any] | SyncShards],
) -> None:
    """Close ``iterators`` (cancelling their requests), then ``client``, then stop ``thread``:
    what ``SyncClient.close()`` does, and its finalizer at exit (which must not hold the
    client itself, hence the parts)."""
    open_iterators = list(iterators)

    async def cleanup() -> None:
        for iterator in open_iterators:
            await iterator.aclose()
        await client.aclose()

    thread.stop(cleanup)


def _in_a_notebook_cell() -> bool:
    """Whether this runs in a cell of an IPython kernel (Jupyter, VS Code's notebooks).

    The kernel runs its event loop in the main thread and each cell inside it, so a cell is
    "the thread of a running event loop"; but that loop is the kernel's, which only waits for
    the cell to finish. Blocking it cannot deadlock a SyncClient, whose requests run on its own
    loop thread: what the refusal protects against (async code blocking the loop its own
    awaitables need) is not the case. Read from IPython's own state, never imported here.

    Only the kernel's own thread, the main one, is exempt: a loop running in any other thread
    (the SyncClient's own, where ``on_page`` and ``on_retry`` hooks run, or the user's) is a
    loop that blocking would deadlock, kernel or not.
    """
    if threading.current_thread() is not threading.main_thread():
        return False
    ipython = sys.modules.get("IPython")
    if ipython is None or "ipykernel" not in sys.modules:
        return False
    try:
        shell = ipython.get_ipython()
    except Exception:  # an IPython half torn down at exit: no kernel to run in
        return False
    return getattr(shell, "kernel", None) is not None


class SyncPaginator(Generic[T]):
    """A blocking iterator over records: ``for``, ``pages()``, ``collect()``, ``resume_token``.

    Use it in a ``with`` block (or call ``close()``) when you may stop early; an iterator
    dropped after ``break`` is closed when it is garbage-collected. ``resume_token`` marks the
    record just after the last one handed out, by ``next()``, ``pages()`` or ``collect()`` in
    any mix, exactly as the async Paginator's does.
    """

    def __init__(self, client: SyncClient, paginator: Paginator[T]) -> None:
        self._client = client
        self._paginator = paginator
        # The Client whose loop this listing's requests belong to: a process forked from the
        # one that ran it has another (see SyncClient._after_fork).
        self._origin = client._client
        # Chunks (pages' records) taken from the paginator in the loop's thread but not handed
        # out yet, each with the index of its first record not handed out: the calls append
        # to it as each chunk arrives, so that a call that fails or is interrupted halfway
        # (Ctrl-C, an error on a later page) loses nothing it took.
        self._taken: deque[tuple[Chunk[T], int]] = deque()
        # The chunk handing out now: its records from ``_first`` on, ``_index`` of them out.
        self._chunk: Chunk[T] | None = None
        self._records: Sequence[T] = ()
        self._first = 0
        self._index = 0
        self._closed = False

    def __iter__(self) -> SyncPaginator[T]:
        return self

    def __next__(self) -> T:
        index = self._index
        if index >= len(self._records):
            if not self._next_chunk():
                raise StopIteration
            index = 0
        self._index = index + 1
        return self._records[index]

    def _next_chunk(self) -> bool:
        """Make the next chunk the current one: a chunk taken before, else the next page's
        (one round trip to the loop); False at the end of the listing."""
        if self._closed:
            return False
        if not self._taken:
            self._check_process()
            self._client._call(self._take, False)
            if not self._taken:
                return False
        self._chunk, self._first = self._taken.popleft()
        self._records, self._index = self._chunk.records[self._first :], 0
        return True

    async def _take(self, everything: bool) -> None:
        """In the loop: take the next chunk (``everything``: every remaining one) into
        ``_taken``, each as soon as it arrives."""
        while (taken := await self._paginator.take_chunk()) is not None:
            self._taken.append(taken)
            if not everything:
                return
        if self._client._closed and not self._paginator.done:
            # Not the end: SyncClient.close() closed the listing while this call waited.
            raise _closed_error()

    def pages(self) -> Iterator[Page[T]]:
        """Iterate page by page: the rest of the current page first, if records were taken."""
        while self._index < len(self._records) or self._next_chunk():
            assert self._chunk is not None
            start = self._first + self._index
            offsets = self._chunk.offsets[start:]
            items = tuple(self._records[self._index :])
            self._index = len(self._records)
            more = bool(self._taken) or not self._paginator.done
            yield Page(items, offsets[0], more, offsets[-1] + 1 if more else None)

    def collect(self) -> list[T]:
        """Every remaining record in a list.

        If it fails, nothing it gathered counts as handed out (see the async ``collect()``):
        calling it again, or iterating, continues from the same record, and so does
        ``resume_token``.
        """
        if not self._closed:
            self._check_process()
            self._client._call(self._take, True)
        records = list(self._records[self._index :])
        self._index = len(self._records)
        while self._taken:
            # Each chunk becomes the current one, all handed out: the token follows the last.
            self._next_chunk()
            records += self._records
            self._index = len(self._records)
        return records

    @property
    def resume_token(self) -> str:
        """The position just after the last record handed out (see the async ``resume_token``).

        The same inside and after a ``with`` block: closing hands out nothing more.
        """
        return self._paginator.token_at(self._position())

    def _position(self) -> Position:
        """Where the listing stands for this iterator's caller: after its last record."""
        if self._chunk is not None:
            return self._chunk.position(self._first + self._index)
        if self._taken:
            # Taken, none handed out yet: just before the first of them.
            chunk, first = self._taken[0]
            return chunk.position(first)
        return self._paginator.position

    def to_arrow(self) -> pyarrow.Table:
        """Every remaining record as a ``pyarrow.Table``, page by page (see the async
        ``to_arrow()``): the records taken but not handed out yet first, then each page as it
        arrives. If it fails, nothing counts as handed out."""
        from ._tables import TableBuilder, record_type_of

        builder = TableBuilder(record_type_of(self._paginator))
        builder.add(self._records[self._index :])
        for chunk, first in self._taken:
            builder.add(chunk.records[first:])
        if not self._closed:
            self._check_process()
            self._client._call(self._paginator.feed_pages, builder.add)
        # Everything is handed out: the position is the listing's own, after its last record.
        self._chunk, self._records, self._index = None, (), 0
        self._taken.clear()
        return builder.table()

    def to_pandas(self) -> pandas.DataFrame:
        """``to_arrow()`` as a pandas DataFrame (see the async ``to_pandas()``)."""
        from ._tables import record_type_of, to_pandas

        return to_pandas(self.to_arrow(), record_type_of(self._paginator))

    def close(self) -> None:
        """Cancel the requests in flight."""
        self._closed = True
        self._records = self._records[: self._index]
        self._taken.clear()
        if self._origin is not self._client._client:
            return  # its requests are the parent process's (see _check_process)
        with contextlib.suppress(TofuPilotError):
            self._client._call(self._paginator.aclose)

    def _check_process(self) -> None:
        if self._origin is not self._client._client:
            raise StateError(
                "this listing was started before os.fork(), in the parent process, and its "
                "requests belong to that process's event loop: continue it in this one with "
                "client.<resource>.resume(listing.resume_token)"
            )

    def __enter__(self) -> SyncPaginator[T]:
        return self

    async def aclose(self) -> None:
        """What SyncClient.close() calls in its loop."""
        await self._paginator.aclose()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        thread = getattr(self._client, "_thread", None)
        if thread is not None and self._origin is self._client._client:
            _close_soon(self._paginator, thread.loop)


def _close_soon(paginator: Paginator[Any], loop: asyncio.AbstractEventLoop) -> None:
    """Have ``loop`` close ``paginator``, from any thread (a collector's). A loop already
    closed (at interpreter exit, after the client's finalizer) has nothing left to cancel: the
    coroutine is then never made, so that none is left "never awaited"."""
    if loop.is_closed():
        return
    closing = paginator.aclose()
    try:
        asyncio.run_coroutine_threadsafe(closing, loop)
    except RuntimeError:  # closed meanwhile
        closing.close()


class SyncShardReader(SyncPaginator[T]):
    """What ``SyncClient.<resource>.read(shard)`` returns: a blocking iterator over a shard's
    records (see ``SyncPaginator``) whose ``remainder`` is what it has not handed out (see
    the async ``ShardReader``)."""

    _paginator: ShardReader[T]

    @property
    def remainder(self) -> Shard | None:
        """The part of the shard not handed out by this iterator (see the async
        ``ShardReader.remainder``); None once the shard was read to its end."""
        paginator = self._paginator
        handed_out = not self._taken and (
            self._chunk is None or self._first + self._index >= len(self._chunk.records)
        )
        if handed_out and paginator.remainder is None:
            return None
        return paginator.remainder_at(self._position())


class SyncWatcher(Generic[W]):
    """A blocking, endless iterator of new records (see ``Client.batches.watch``); a bare
    ``SyncWatcher`` annotation means a watch of batches."""

    def __init__(self, client: SyncClient, watcher: Watcher[W]) -> None:
        self._client = client
        self._watcher = watcher
        self._origin = client._client  # as SyncPaginator's
        # A record the watch produced while Ctrl-C interrupted the wait for it, and the state
        # before it: handed out first by the next call, and not counted by the token until then.
        self._pending: list[tuple[W, WatchState | None]] = []

    def __iter__(self) -> SyncWatcher[W]:
        return self

    def __next__(self) -> W:
        if self._pending:
            return self._pending.pop()[0]
        self._check_process()
        before = self._watcher.state
        try:
            return self._client._call_keeping(
                self._watcher.__anext__, lambda batch: self._pending.append((batch, before))
            )
        except StopAsyncIteration:
            raise StopIteration from None

    @property
    def resume_token(self) -> str:
        """The position just after the last record handed out."""
        if self._pending:
            return self._watcher.token_at(self._pending[0][1])
        return self._watcher.resume_token

    def close(self) -> None:
        """Stop watching."""
        if self._origin is not self._client._client:
            return  # the watch's requests are the parent process's (see _check_process)
        with contextlib.suppress(TofuPilotError):
            self._client._call(self._watcher.aclose)

    def _check_process(self) -> None:
        if self._origin is not self._client._client:
            raise StateError(
                "this watch was started before os.fork(), in the parent process, and its "
                "requests belong to that process's event loop: continue it in this one with "
                "client.<resource>.watch(resume_token=watch.resume_token)"
            )

    def __enter__(self) -> SyncWatcher[W]:
        """Fix the start of the watch here (see ``Watcher.__aenter__``)."""
        self._check_process()
        self._client._call(self._watcher.__aenter__)
        return self

    @property
    def since(self) -> datetime | None:
        """The instant the watch has reached (see ``Watcher.since``)."""
        return self._watcher.since

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def aclose(self) -> None:
        """What SyncClient.close() calls in its loop."""
        await self._watcher.aclose()


class SyncShards:
    """A blocking iterator over the shards of a listing as they are found (see
    ``Client.runs.shards``); ``as_of`` is known once the first is asked for."""

    def __init__(self, client: SyncClient, search: ShardSearch) -> None:
        self._client = client
        self._search = search
        self._origin = client._client  # as SyncPaginator's

    def __iter__(self) -> SyncShards:
        return self

    def __next__(self) -> Shard:
        if self._origin is not self._client._client:
            raise StateError(
                "this planning was started before os.fork(), in the parent process: plan "
                "again in this one"
            )
        try:
            return self._client._call(self._search.__anext__)
        except StopAsyncIteration:
            raise StopIteration from None

    @property
    def as_of(self) -> datetime | None:
        """The plan's horizon (see ``Plan.as_of``); None before the first shard is asked for."""
        return self._search.as_of

    def close(self) -> None:
        """Stop planning: cancel the probes in flight."""
        if self._origin is self._client._client:
            with contextlib.suppress(TofuPilotError):
                self._client._call(self._search.aclose)

    def __enter__(self) -> SyncShards:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def aclose(self) -> None:
        """What SyncClient.close() calls in its loop."""
        await self._search.aclose()


async def _awaited(awaitable: Awaitable[R]) -> R:
    return await awaitable


@overload
def blocking(
    method: Callable[Concatenate[Any, P], ShardReader[T]],
) -> Callable[Concatenate[SyncResource, P], SyncShardReader[T]]: ...
@overload
def blocking(
    method: Callable[Concatenate[Any, P], Paginator[T]],
) -> Callable[Concatenate[SyncResource, P], SyncPaginator[T]]: ...
@overload
def blocking(
    method: Callable[Concatenate[Any, P], Watcher[T]],
) -> Callable[Concatenate[SyncResource, P], SyncWatcher[T]]: ...
@overload
def blocking(
    method: Callable[Concatenate[Any, P], ShardSearch],
) -> Callable[Concatenate[SyncResource, P], SyncShards]: ...
@overload
def blocking(
    method: Callable[Concatenate[Any, P], Coroutine[Any, Any, R]],
) -> Callable[Concatenate[SyncResource, P], R]: ...
def blocking(
    method: Callable[
        Concatenate[Any, P],
        Paginator[Any] | Watcher[Any] | ShardSearch | Coroutine[Any, Any, Any],
    ],
) -> Callable[Concatenate[SyncResource, P], Any]:
    """The blocking twin of a resource's method: same parameters and checks (its
    ``__signature__`` too), its async iterator wrapped in a blocking one (registered, so that
    ``SyncClient.close()`` can cancel it), its coroutine (``plan()``) awaited."""

    @functools.wraps(method)
    def twin(self: SyncResource, /, *args: P.args, **kwargs: P.kwargs) -> Any:
        resource = getattr(self._client._client, self._name)
        made = method(resource, *args, **kwargs)
        if isinstance(made, Coroutine):
            try:
                return self._client._call(_awaited, made)
            except StateError:
                # Refused before the loop thread took it (a closed client, a running loop):
                # closed here, or it warns "never awaited" when collected. Once run, a no-op.
                made.close()
                raise
        iterator: SyncPaginator[Any] | SyncWatcher[Any] | SyncShards
        if isinstance(made, Watcher):
            iterator = SyncWatcher(self._client, made)
        elif isinstance(made, ShardSearch):
            iterator = SyncShards(self._client, made)
        elif isinstance(made, ShardReader):
            iterator = SyncShardReader(self._client, made)
        else:
            iterator = SyncPaginator(self._client, made)
        self._client._iterators.add(iterator)
        return iterator

    # A derived facade's signature (``_facades``) says what the twin returns, blocking.
    signature: inspect.Signature | None = getattr(method, "__signature__", None)
    if signature is not None:
        returns = signature.return_annotation
        if returns is ShardSearch:
            returns = SyncShards
        elif returns is not Plan:  # plan() returns it, blocking as well
            wrapper = SyncWatcher if typing.get_origin(returns) is Watcher else SyncPaginator
            returns = wrapper[typing.get_args(returns)]
        twin.__signature__ = signature.replace(return_annotation=returns)  # type: ignore[attr-defined]
        twin.__annotations__ = {**twin.__annotations__, "return": returns}
    return twin


class SyncResource:
    """The blocking side of one resource of ``Client`` (``batches``, ``parts``...)."""

    _name = ""

    def __init__(self, client: SyncClient) -> None:
        self._client = client


class SyncBatches(SyncResource):
    """``SyncClient.batches``: ``list()``, ``resume()``, ``watch()``, ``plan()``, ``shards()``
    and ``read()`` with the parameters of ``Client.batches``, blocking. Arguments are checked
    at once."""

    _name = "batches"

    list = blocking(Batches.list)
    resume = blocking(Batches.resume)
    watch = blocking(Batches.watch)
    plan = blocking(Batches.plan)
    shards = blocking(Batches.shards)
    read = blocking(Batches.read)


class SyncParts(SyncResource):
    """``SyncClient.parts``: ``list()`` and ``resume()`` with the parameters of
    ``Client.parts``, returning blocking iterators."""

    _name = "parts"

    list = blocking(Parts.list)
    resume = blocking(Parts.resume)


class SyncStations(SyncResource):
    """``SyncClient.stations``: ``list()`` and ``resume()`` with the parameters of
    ``Client.stations``, returning blocking iterators."""

    _name = "stations"

    list = blocking(Stations.list)
    resume = blocking(Stations.resume)


class SyncUnits(SyncResource):
    """``SyncClient.units``: ``list()``, ``resume()``, ``watch()``, ``plan()``, ``shards()``
    and ``read()`` with the parameters of ``Client.units``, blocking."""

    _name = "units"

    list = blocking(Units.list)
    resume = blocking(Units.resume)
    watch = blocking(Units.watch)
    plan = blocking(Units.plan)
    shards = blocking(Units.shards)
    read = blocking(Units.read)


class SyncRuns(SyncResource):
    """``SyncClient.runs``: ``list()``, ``resume()``, ``watch()``, ``plan()``, ``shards()``
    and ``read()`` with the parameters of ``Client.runs``, blocking."""

    _name = "runs"

    list = blocking(Runs.list)
    resume = blocking(Runs.resume)
    watch = blocking(Runs.watch)
    plan = blocking(Runs.plan)
    shards = blocking(Runs.shards)
    read = blocking(Runs.read)


class SyncProcedures(SyncResource):
    """``SyncClient.procedures``: ``list()`` and ``resume()`` with the parameters of
    ``Client.procedures``, returning blocking iterators."""

    _name = "procedures"

    list = blocking(Procedures.list)
    resume = blocking(Procedures.resume)


class SyncDeployments(SyncResource):
    """``SyncClient.deployments``: ``list()`` and ``resume()`` with the parameters of
    ``Client.deployments``, returning blocking iterators."""

    _name = "deployments"

    list = blocking(Deployments.list)
    resume = blocking(Deployments.resume)


class SyncLogs(SyncResource):
    """``SyncClient.logs``: ``list()``, ``resume()``, ``watch()``, ``plan()``, ``shards()``
    and ``read()`` with the parameters of ``Client.logs``, blocking."""

    _name = "logs"

    list = blocking(Logs.list)
    resume = blocking(Logs.resume)
    watch = blocking(Logs.watch)
    plan = blocking(Logs.plan)
    shards = blocking(Logs.shards)
    read = blocking(Logs.read)


class SyncPhases(SyncResource):
    """``SyncClient.phases``: ``list()`` and ``resume()`` with the parameters of
    ``Client.phases``, returning blocking iterators."""

    _name = "phases"

    list = blocking(Phases.list)
    resume = blocking(Phases.resume)


class SyncMeasurements(SyncResource):
    """``SyncClient.measurements``: ``list()`` and ``resume()`` with the parameters of
    ``Client.measurements``, returning blocking iterators."""

    _name = "measurements"

    list = blocking(Measurements.list)
    resume = blocking(Measurements.resume)


class SyncUsers:
    """``SyncClient.users``: ``list()``, blocking."""

    def __init__(self, client: SyncClient) -> None:
        self._client = client

    def list(self) -> list[User]:
        """Every member of the organisation (see ``Client.users.list``)."""
        return self._client._call(self._client._client.users.list)

"""SyncClient: the same API for synchronous code, on an event loop in a background thread.

The loop runs in a thread of anyio's blocking portal. Iterators pull a page at a time across the
thread boundary (not a record at a time, which would cost a round trip per record) and hand the
records out locally; the resume token still marks the last record actually handed out.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import weakref
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar

from anyio.from_thread import BlockingPortal, start_blocking_portal

from ._client import Client
from ._models import Batch, Page
from ._pagestate import Chunk
from ._paginate import Paginator
from ._resources import Batches
from ._retry import RetryPolicy
from ._watch import Watcher
from .errors import InvalidParameterError, TofuPilotError

__all__ = ["SyncClient", "SyncPaginator", "SyncWatcher"]

T = TypeVar("T")
R = TypeVar("R")
P = ParamSpec("P")
A = TypeVar("A")
B = TypeVar("B", bound="SyncPaginator[Any] | SyncWatcher")


class SyncClient:
    """A blocking client with the constructor and API of :class:`aiotofu.Client`.

    ::

        with aiotofu.SyncClient() as client:
            for batch in client.batches.list(part_numbers=["PCB-V1.2"]):
                ...

    It runs an event loop in one background thread, started on first use and stopped by
    ``close()`` (or leaving the ``with`` block), which also cancels whatever is still running.
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
    ) -> None:
        if session is not None:
            raise InvalidParameterError(
                "session",
                "SyncClient runs its own event loop and cannot use an aiohttp session "
                "created for another one; use aiotofu.Client to bring your own session",
            )
        # Built here, in the caller's thread, so that bad arguments raise before any thread starts.
        self._client = Client(
            api_key,
            base_url=base_url,
            max_concurrency=max_concurrency,
            retry=retry,
            timeout=timeout,
        )
        self._lock = threading.Lock()
        self._stack: contextlib.ExitStack | None = None
        self._portal: BlockingPortal | None = None
        self._closed = False
        self._iterators: weakref.WeakSet[SyncPaginator[Any] | SyncWatcher] = weakref.WeakSet()
        self.batches = SyncBatches(self)
        """Batches: ``list()``, ``resume()``, ``watch()``."""

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
            portal, stack = self._portal, self._stack
            self._portal = self._stack = None
        if portal is None or stack is None:
            return
        try:
            for iterator in list(self._iterators):
                portal.call(iterator.aclose)
            portal.call(self._client.aclose)
        finally:
            with contextlib.suppress(RuntimeError):
                # Cancel anything an interrupted call left running, then end the thread.
                portal.call(portal.stop, True)
            stack.close()

    def _call(self, func: Callable[..., Awaitable[R]], *args: Any) -> R:
        return self._get_portal().call(func, *args)

    def _get_portal(self) -> BlockingPortal:
        with self._lock:
            if self._closed:
                raise TofuPilotError("this client is closed")
            if self._portal is None:
                self._stack = contextlib.ExitStack()
                self._portal = self._stack.enter_context(
                    start_blocking_portal(name="aiotofu-sync-loop")
                )
            return self._portal


class SyncPaginator(Generic[T]):
    """A blocking iterator over records: ``for``, ``pages()``, ``collect()``, ``resume_token``.

    Use it in a ``with`` block (or call ``close()``) when you may stop early; an iterator
    dropped after ``break`` is closed when it is garbage-collected.
    """

    def __init__(self, client: SyncClient, paginator: Paginator[T]) -> None:
        self._client = client
        self._paginator = paginator
        # The chunk of records fetched across the thread boundary, where this iterator started
        # handing them out, and how many it has handed out since.
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
            if self._closed or not self._fetch_chunk():
                raise StopIteration
            index = 0
        self._index = index + 1
        return self._records[index]

    def _fetch_chunk(self) -> bool:
        taken = self._client._call(self._paginator.take_chunk)
        if taken is None:
            return False
        self._chunk, self._first = taken
        self._records, self._index = self._chunk.records[self._first :], 0
        return True

    def pages(self) -> Iterator[Page[T]]:
        """Iterate page by page."""
        if self._index < len(self._records):
            assert self._chunk is not None
            offsets = self._chunk.offsets[self._first + self._index :]
            items = tuple(self._records[self._index :])
            self._index = len(self._records)
            yield Page(items, offsets[0], True, offsets[-1] + 1)
        pages = self._paginator.pages()
        while not self._closed:
            try:
                yield self._client._call(pages.__anext__)
            except StopAsyncIteration:
                return

    def collect(self) -> list[T]:
        """Every remaining record in a list.

        If it fails, nothing it gathered counts as handed out (see the async ``collect()``).
        """
        rest = list(self._records[self._index :])
        records = self._client._call(self._paginator.collect)
        self._index = len(self._records)
        return rest + records

    @property
    def resume_token(self) -> str:
        """The position just after the last record handed out (see the async ``resume_token``).

        The same inside and after a ``with`` block: closing hands out nothing more.
        """
        if self._chunk is None:
            return self._paginator.resume_token
        return self._paginator.token_at(self._chunk.position(self._first + self._index))

    def close(self) -> None:
        """Cancel the requests in flight."""
        self._closed = True
        self._records = self._records[: self._index]
        with contextlib.suppress(TofuPilotError):
            self._client._call(self._paginator.aclose)

    def __enter__(self) -> SyncPaginator[T]:
        return self

    async def aclose(self) -> None:
        """What SyncClient.close() calls in its loop."""
        await self._paginator.aclose()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        portal = getattr(self._client, "_portal", None)
        if portal is not None:
            with contextlib.suppress(RuntimeError):
                portal.start_task_soon(self._paginator.aclose)


class SyncWatcher:
    """A blocking, endless iterator of new batches (see ``Client.batches.watch``)."""

    def __init__(self, client: SyncClient, watcher: Watcher) -> None:
        self._client = client
        self._watcher = watcher

    def __iter__(self) -> SyncWatcher:
        return self

    def __next__(self) -> Batch:
        try:
            return self._client._call(self._watcher.__anext__)
        except StopAsyncIteration:
            raise StopIteration from None

    @property
    def resume_token(self) -> str:
        """The position just after the last batch handed out."""
        return self._watcher.resume_token

    def close(self) -> None:
        """Stop watching."""
        with contextlib.suppress(TofuPilotError):
            self._client._call(self._watcher.aclose)

    def __enter__(self) -> SyncWatcher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def aclose(self) -> None:
        """What SyncClient.close() calls in its loop."""
        await self._watcher.aclose()


def _blocking(
    method: Callable[Concatenate[Batches, P], A],
    wrap: Callable[[SyncClient, A], B],
) -> Callable[Concatenate[SyncBatches, P], B]:
    """The blocking twin of a ``Batches`` method: same parameters and checks, and its async
    iterator wrapped in ``wrap`` (registered, so that ``SyncClient.close()`` can cancel it)."""

    @functools.wraps(method)
    def blocking(self: SyncBatches, /, *args: P.args, **kwargs: P.kwargs) -> B:
        iterator = wrap(self._client, method(self._client._client.batches, *args, **kwargs))
        self._client._iterators.add(iterator)
        return iterator

    return blocking


class SyncBatches:
    """``SyncClient.batches``: ``list()``, ``resume()`` and ``watch()`` with the parameters of
    ``Client.batches``, returning blocking iterators. Arguments are checked at once."""

    def __init__(self, client: SyncClient) -> None:
        self._client = client

    list = _blocking(Batches.list, SyncPaginator[Batch])
    resume = _blocking(Batches.resume, SyncPaginator[Batch])
    watch = _blocking(Batches.watch, SyncWatcher)

"""Planning shards by time bisection with bounded probes: ``client.runs.shards()`` and ``plan()``.

The API has no count, and an offset walk to find quantiles costs what the offsets skip. So a
window ``[a, b)`` is asked one bounded question: the record at offset ``T`` of the window,
oldest first (``created_after=a&created_before=b&limit=1&cursor=T``), which a server finds by
walking ``T + 1`` rows whatever the depth. Its time ``w`` (the witness) answers "more than
``T`` records in ``[a, b)``?": no page, or ``w >= b`` (the API's ``created_before`` is
inclusive, so the window's own end may answer), means at most ``T``; ``w < b`` means more.

A window with more is split at its time midpoint ``m``, and the witness says at once which
half still holds more: ``w < m`` puts ``T + 1`` records before ``m`` (the left half is split
again, with no request), ``w >= m`` leaves at most ``T`` there (the left half is a shard, with
no request); only the right half needs a probe of its own. So each probe either ends a shard
or finds one, and a shard is handed out as soon as it is found: workers start reading while
planning goes on. A window of one instant (one millisecond, as the API answers times) that
still holds more is a tie group no window can cut: one shard, whose bound is found by probing
it at doubling offsets (what walking it costs anyway).

Probes are independent, so several run at once, through the client's requester (its
concurrency limit and its retries). Writes during planning change sizes, never the partition:
the windows are cut by time alone.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import datetime

import anyio
import attrs

from ._filters import Filters
from ._options import MAX_CURSOR
from ._shards import TICK, Plan, Shard, midpoint

__all__ = ["MAX_PROBES_IN_FLIGHT", "ShardSearch"]

# Probes started at once (the client's limit decides how many are on the wire): enough to keep
# it busy, few enough that closing the search early wastes little.
MAX_PROBES_IN_FLIGHT = 16

# (first, newest): the times of the oldest and newest records of the listing, None if empty.
Bounds = Callable[[], Awaitable["tuple[datetime, datetime] | None"]]
# The time of the record at offset ``cursor`` of ``[start, end]`` oldest first (None: none).
Probe = Callable[[datetime, datetime, int], Awaitable["datetime | None"]]


@attrs.frozen
class _Window:
    """A window to probe: ``[start, end)``, asked about the record at offset ``cursor``."""

    start: datetime
    end: datetime
    cursor: int


class ShardSearch:
    """The shards of one listing, yielded as they are found (``async for shard in search``).

    ``as_of`` is known from the first ``__anext__`` on (None before). Use ``async with`` (or
    ``aclose()``) when you may stop early: probes in flight are cancelled. After an error
    (a probe whose retries ran out), nothing is lost: the windows not answered are probed
    again by the next ``__anext__``, and no shard is yielded twice. ``plan()`` collects the
    shards into a ``Plan``, in time order.
    """

    def __init__(
        self,
        *,
        resource: str,
        filters: Filters,
        target_size: int,
        bounds: Bounds,
        probe: Probe,
        empty_as_of: datetime,
    ) -> None:
        self.resource = resource
        self.filters = filters
        self.target_size = target_size
        self._bounds = bounds
        self._probe = probe
        self._empty_as_of = empty_as_of
        self.as_of: datetime | None = None
        self._started = False
        self._todo: deque[_Window] = deque()
        self._ready: deque[Shard] = deque()
        self._running: dict[asyncio.Task[datetime | None], _Window] = {}
        self._closed = False

    def __repr__(self) -> str:
        state = "closed" if self._closed else "done" if self.done else "planning"
        return f"<aiotofu.ShardSearch of {self.resource} {state}>"

    @property
    def done(self) -> bool:
        """Whether every shard was found (and handed out)."""
        return self._started and not (self._todo or self._running or self._ready)

    def __aiter__(self) -> ShardSearch:
        return self

    async def __anext__(self) -> Shard:
        if not self._started:
            await self._start()
        while not self._ready:
            if self._closed or not (self._todo or self._running):
                raise StopAsyncIteration
            self._launch()
            await self._settle()
        return self._ready.popleft()

    async def plan(self) -> Plan:
        """Every shard (those not yielded yet), as a Plan in time order, validated."""
        async with self:
            shards = [shard async for shard in self]
        assert self.as_of is not None
        plan = Plan(
            resource=self.resource,
            as_of=self.as_of,
            shards=sorted(shards, key=lambda shard: shard.start),
            filters=self.filters,
            target_size=self.target_size,
        )
        plan.validate()
        return plan

    async def __aenter__(self) -> ShardSearch:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop planning: cancel the probes in flight, and wait until they let go."""
        self._closed = True
        await self._cancel()

    def __del__(self) -> None:
        for task in getattr(self, "_running", {}):
            if not task.done():
                with contextlib.suppress(RuntimeError):  # the loop is already closed
                    task.get_loop().call_soon_threadsafe(task.cancel)

    async def _start(self) -> None:
        bounds = await self._bounds()
        self._started = True
        if bounds is None:
            self.as_of = self._empty_as_of
            return
        first, newest = bounds
        self.as_of = newest
        # The last shard holds every record that reads as as_of: it ends one TICK later.
        self._todo.append(_Window(min(first, newest), newest + TICK, self.target_size))

    def _launch(self) -> None:
        while self._todo and len(self._running) < MAX_PROBES_IN_FLIGHT:
            window = self._todo.popleft()
            task = asyncio.ensure_future(self._probe(window.start, window.end, window.cursor))
            self._running[task] = window

    async def _settle(self) -> None:
        """Wait for a probe to answer and take every answer in; on an error, put the windows
        not taken in back to be probed again, and raise it."""
        await asyncio.wait(self._running, return_when=asyncio.FIRST_COMPLETED)
        error: BaseException | None = None
        for task in [task for task in self._running if task.done()]:
            window = self._running.pop(task)
            if task.cancelled() or task.exception() is not None:
                self._todo.appendleft(window)
                if error is None and not task.cancelled():
                    error = task.exception()
                continue
            self._take(window, task.result())
        if error is not None:
            await self._cancel()
            raise error

    def _take(self, window: _Window, witness: datetime | None) -> None:
        """What the record at offset ``window.cursor`` (its time, ``witness``) says."""
        if witness is None or witness >= window.end:
            self._emit(window.start, window.end, window.cursor)
            return
        if window.cursor != self.target_size:
            self._tie_group(window)
            return
        start, end = window.start, window.end
        while True:
            middle = midpoint(start, end)
            if middle is None:
                # One instant holds more than target_size: a tie group, one shard.
                self._tie_group(_Window(start, end, window.cursor))
                return
            self._todo.append(_Window(middle, end, self.target_size))
            if witness >= middle:
                self._emit(start, middle, self.target_size)
                return
            end = middle  # the left half still holds more: cut it again, no request needed

    def _tie_group(self, window: _Window) -> None:
        """Probe a window of one instant further out, to bound it (at worst, MAX_CURSOR)."""
        if window.cursor >= MAX_CURSOR:
            self._emit(window.start, window.end, MAX_CURSOR)
            return
        self._todo.append(attrs.evolve(window, cursor=min(window.cursor * 2, MAX_CURSOR)))

    def _emit(self, start: datetime, end: datetime, at_most: int) -> None:
        self._ready.append(Shard(self.resource, start, end, self.filters, at_most))

    async def _cancel(self) -> None:
        running, self._running = self._running, {}
        for task, window in running.items():
            task.cancel()
            self._todo.appendleft(window)
        if running:
            # Shielded: cleanup that must finish even inside a cancelled scope.
            with anyio.CancelScope(shield=True):
                await asyncio.wait(running)
            for task in running:
                if not task.cancelled():
                    task.exception()  # seen: a probe that failed as it was cancelled

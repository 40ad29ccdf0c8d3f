"""``client.batches.watch()``: follow new batches as they are created, each exactly once.

Each poll lists, oldest first, the batches created at or after the newest one already
yielded. TofuPilot's ``created_after`` is inclusive, so batches that share that timestamp come
back again: the watcher remembers the ids yielded at exactly that instant and skips them, and
so yields a batch created in the same millisecond as the last one, but never one twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import attrs

from ._clock import Clock
from ._models import Batch
from ._paginate import Paginator
from ._params import ListQuery, format_datetime
from ._resume import encode_token
from .errors import StateError

__all__ = ["WatchState", "Watcher"]

# Tokens must stay short: past this many batches at a single instant, the oldest are forgotten.
MAX_REMEMBERED = 1000


@attrs.frozen
class WatchState:
    """Where a watch stands: everything created before ``since`` has been dealt with, and of
    what was created exactly at ``since``, the batches in ``seen``. ``since`` None: the
    organisation had no batch at all when watching started."""

    since: datetime | None
    seen: frozenset[str] = frozenset()

    def after(self, batch: Batch) -> WatchState | None:
        """The state once ``batch`` is yielded; None if it must not be (seen, or too old)."""
        if self.since is not None:
            if batch.created_at < self.since:
                return None
            if batch.created_at == self.since:
                if batch.id in self.seen:
                    return None
                seen = self.seen if len(self.seen) < MAX_REMEMBERED else frozenset()
                return WatchState(self.since, seen | {batch.id})
        return WatchState(batch.created_at, frozenset({batch.id}))

    @classmethod
    def exclusive(cls, since: datetime) -> WatchState:
        """Batches created strictly after ``since`` (a time the caller gave)."""
        # Timestamps are microseconds at best: one more is the first instant "after".
        return cls(since + timedelta(microseconds=1))


class Watcher:
    """An endless async iterator of new batches, oldest first; ``async with`` it to stop cleanly.

    ``resume_token`` marks the last batch handed out: ``client.batches.watch(resume_token=...)``
    picks up there, in this process or another.
    """

    def __init__(
        self,
        *,
        query: ListQuery,
        page_size: int,
        poll_interval: float,
        start: Callable[[], Awaitable[WatchState]] | WatchState,
        listing: Callable[[ListQuery], Paginator[Batch]],
        clock: Clock,
    ) -> None:
        self._query = query
        self._page_size = page_size
        self._poll_interval = poll_interval
        self._start = start
        self._state = start if isinstance(start, WatchState) else None
        self._listing = listing
        self._clock = clock
        self._poll: Paginator[Batch] | None = None
        self._closed = False

    def __aiter__(self) -> Watcher:
        return self

    async def __anext__(self) -> Batch:
        if self._state is None:
            assert not isinstance(self._start, WatchState)
            self._state = await self._start()
        while not self._closed:
            if self._poll is None:
                self._poll = self._listing(self._poll_query(self._state))
            async for batch in self._poll:
                state = self._state.after(batch)
                if state is not None:
                    self._state = state
                    return batch
            self._poll = None
            await self._clock.sleep(self._poll_interval)
        raise StopAsyncIteration

    def _poll_query(self, state: WatchState) -> ListQuery:
        return attrs.evolve(
            self._query, created_after=state.since, sort_by="created_at", sort_order="asc"
        )

    @property
    def state(self) -> WatchState | None:
        """Where the watch stands (None before it has started)."""
        return self._state

    @property
    def resume_token(self) -> str:
        """An opaque token for the position just after the last batch handed out."""
        return self.token_at(self._state)

    def token_at(self, state: WatchState | None) -> str:
        """The resume token of ``state`` (for wrappers that hand batches out themselves)."""
        if state is None:
            raise StateError("the watch has not started: there is nothing to resume yet")
        return encode_token(
            {
                "resource": "batches-watch",
                "query": self._query.to_json(),
                "page_size": self._page_size,
                "since": None if state.since is None else format_datetime(state.since),
                "seen": sorted(state.seen),
            }
        )

    async def __aenter__(self) -> Watcher:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop watching: cancel the poll in flight."""
        self._closed = True
        poll, self._poll = self._poll, None
        if poll is not None:
            await poll.aclose()

    def __repr__(self) -> str:
        since = self._state.since if self._state else "not started"
        return f"<aiotofu.Watcher since {since}>"

"""``client.batches.watch()``: follow new batches as they are created, each exactly once.

Each poll lists, oldest first, the batches created at or after the newest one already yielded.
TofuPilot's ``created_after`` is inclusive, so batches that share that instant come back again:
the watcher remembers the latest ids yielded at exactly that instant and skips them, and so
yields a batch created in the same millisecond as the last one, but never one twice. Past
``MAX_REMEMBERED`` ids in one instant (a storm of batches created at once) it forgets the oldest
and counts them instead, so memory stays bounded. A poll starts just after the records of the
instant already dealt with, and verifies that start as a listing verifies its pages: the last
record yielded must be where the count says (the API orders ties by id, so a batch created later
in the same instant may land anywhere among them). While the watch remembers every id of the
instant, such a batch is found and yielded, wherever it lands. Past that, the poll starts at the
first id remembered and checks it is where the count says: a batch that lands among the
remembered ones is found; one that lands among the forgotten ones cannot be told from them, and
the watch raises ConsistencyError rather than skip or repeat.

Batches that become visible late (a commit that took long, a station clock behind the
server's) carry a ``created_at`` older than what the watch has reached, and a poll from that
instant does not see them. ``lookback`` re-reads that much history on every poll and yields
such batches once, remembering the ids it yielded within the window.
"""

from __future__ import annotations

import operator
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Generic

import attrs

from ._clock import Clock
from ._endpoint import Query
from ._models import Batch
from ._pagestate import Anchor, Position
from ._paginate import Paginator
from .errors import StateError

__all__ = ["MAX_REMEMBERED", "WatchState", "Watcher"]

if TYPE_CHECKING:
    # A TypeVar default (PEP 696) is for type checkers alone, which read typing_extensions
    # from their own stubs: at run time a TypeVar needs none, and the package no dependency.
    from typing_extensions import TypeVar

    # What a watch yields; a bare ``aiotofu.Watcher`` annotation means a watch of batches.
    R = TypeVar("R", default=Batch)
else:
    from typing import TypeVar

    R = TypeVar("R")

# Tokens must stay short: past this many batches at a single instant, the oldest are counted
# instead of remembered.
MAX_REMEMBERED = 1000


@attrs.frozen
class WatchState:
    """Where a watch stands: everything created before ``since`` has been dealt with; of what
    was created exactly at ``since``, the batches in ``seen`` (the latest ones yielded, in
    order) and ``skipped`` more before them. ``since`` None: the organisation had no batch at
    all when watching started.

    ``lookback`` (a timedelta, zero by default) also yields batches that appear late with a
    ``created_at`` up to that much before ``since``; ``recent`` holds the ids yielded within
    that window, with their ``created_at``, so that none is yielded twice.
    """

    since: datetime | None
    seen: tuple[str, ...] = ()
    skipped: int = 0
    lookback: timedelta = timedelta(0)
    recent: tuple[tuple[str, datetime], ...] = ()

    def after(self, record_id: str, at: datetime) -> WatchState | None:
        """The state once the record ``record_id`` created ``at`` is yielded; None if it must
        not be (seen, or too old)."""
        since = self.since
        if since is None or at > since:
            return attrs.evolve(
                self, since=at, seen=(record_id,), skipped=0, recent=self._remember(record_id, at)
            )
        if at == since:
            if record_id in self.seen or (self.lookback and self._recalls(record_id)):
                return None
            seen, skipped = (*self.seen, record_id), self.skipped
            if len(seen) > MAX_REMEMBERED:
                seen, skipped = seen[1:], skipped + 1
            return attrs.evolve(
                self, seen=seen, skipped=skipped, recent=self._remember(record_id, at)
            )
        # Older than the newest yielded: a late commit, if the look-back window covers it.
        if not self.lookback or at < since - self.lookback or self._recalls(record_id):
            return None
        return attrs.evolve(self, recent=self._remember(record_id, at))

    def _recalls(self, batch_id: str) -> bool:
        return any(seen == batch_id for seen, _ in self.recent)

    def _remember(self, record_id: str, at: datetime) -> tuple[tuple[str, datetime], ...]:
        """``recent`` with this record, less what has left the look-back window."""
        if not self.lookback:
            return ()
        start = max(at, self.since or at) - self.lookback
        kept = tuple(item for item in self.recent if item[1] >= start)
        return (*kept, (record_id, at))

    def poll_from(self) -> tuple[datetime | None, Position]:
        """Where the next poll starts: its ``created_after``, and its position within that
        (after what was taken at ``since``, verified by the last of them)."""
        since = self.since
        if since is None:
            return None, Position(0)
        if self.lookback:
            return since - self.lookback, Position(0)
        if not self.seen:
            return since, Position(0)
        if not self.skipped:
            # Every id of the instant is known: a record that lands anywhere in it is found.
            taken = len(self.seen)
            anchor = Anchor(self.seen[-1], taken - 1, since, frozenset(self.seen), taken)
            return since, Position(taken, anchor=anchor)
        # Some were forgotten: start at the first one remembered and verify it is where the
        # count says (nothing landed among the forgotten; a record remembered may stand before
        # it, one yielded later in the instant); what follows it and is not remembered is new.
        anchor = Anchor(self.seen[0], self.skipped, since, frozenset(), self.skipped + 1)
        return since, Position(self.skipped + 1, anchor=anchor, known=self.seen[1:])

    @classmethod
    def exclusive(cls, since: datetime, lookback: timedelta = timedelta(0)) -> WatchState:
        """Batches created strictly after ``since`` (a time the caller gave)."""
        # Timestamps are microseconds at best: one more is the first instant "after".
        return cls(since + timedelta(microseconds=1), lookback=lookback)


class Watcher(Generic[R]):
    """An endless async iterator of new records, oldest first; ``async with`` it to stop cleanly.

    ``resume_token`` marks the last record handed out: ``client.batches.watch(resume_token=...)``
    picks up there, in this process or another.
    """

    def __init__(
        self,
        *,
        query: Query[Any],
        time_field: str,
        token: Callable[[WatchState], str],
        poll_interval: float,
        start: Callable[[], Awaitable[WatchState]] | WatchState,
        listing: Callable[[Query[Any], Position], Paginator[R]],
        clock: Clock,
    ) -> None:
        self._query = query
        self._time_of = operator.attrgetter(time_field)
        self._time_field = time_field
        self._token = token
        self._poll_interval = poll_interval
        self._start = start
        self._state = start if isinstance(start, WatchState) else None
        self._listing = listing
        self._clock = clock
        self._poll: Paginator[R] | None = None
        self._closed = False

    def __aiter__(self) -> Watcher[R]:
        return self

    async def __anext__(self) -> R:
        state = self._state or await self._started()
        while not self._closed:
            if self._poll is None:
                after, position = state.poll_from()
                query = self._query.with_bounds(
                    after=after, before=None, sort_by=self._time_field, sort_order="asc"
                )
                self._poll = self._listing(query, position)
            async for record in self._poll:
                following = state.after(record.id, self._time_of(record))  # type: ignore[attr-defined]
                if following is not None:
                    self._state = following
                    return record
            self._poll = None
            await self._clock.sleep(self._poll_interval)
        raise StopAsyncIteration

    async def _started(self) -> WatchState:
        """Fix where the watch starts (the newest batch on the server now), once."""
        if self._state is None:
            assert not isinstance(self._start, WatchState)
            self._state = await self._start()
        return self._state

    @property
    def since(self) -> datetime | None:
        """The instant the watch has reached: fixed when it is entered (``async with``) or first
        iterated, then the ``created_at`` of the newest batch yielded. None before it starts, or
        while the organisation has no batch at all.

        ``client.batches.list(created_before=watcher.since)`` lists the backlog up to where the
        watch begins, so that a listing hands over to a watch without a gap.
        """
        return None if self._state is None else self._state.since

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
        return self._token(state)

    async def __aenter__(self) -> Watcher[R]:
        """Fix the start here: what is created from now on is yielded, however long the caller
        works on something else before iterating."""
        await self._started()
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

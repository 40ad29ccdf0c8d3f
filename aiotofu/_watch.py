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
instant does not see them. ``lookback`` keeps a window of that much history behind ``since``
and yields such batches once, remembering every record of the window it has dealt with
(``WatchState.recent``). It does not re-read the window on every poll: one request of two
records, at the offset of the known records' count, checks that the server's window below
``since`` holds as many records as the watch knows there. Nothing known there can have been
deleted without changing that count, so when it matches and nothing was deleted, the window
holds exactly what the watch knows and the poll reads on from ``since``, as a watch without
look-back does; when it does not match (a late record, a deletion), the poll reads the whole
window again, yields what it did not know and forgets what was deleted. A deletion and a late
record in the same interval cancel out in the count, so the window's floor stays where it was
when the window was last read whole, and the whole window is read again before the floor would
move by more than the look-back, and after ``AUDIT_POLLS`` idle polls: a late record hidden by
a deletion is yielded then. A window is therefore between ``lookback`` and twice that deep,
and a poll costs the server an offset into it but the client only the records it yields (a
full read, amortised, about two records read per record the window held).
"""

from __future__ import annotations

import operator
from collections.abc import Awaitable, Callable, Hashable, Iterable, Iterator, Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Generic

import attrs

from ._clock import Clock
from ._endpoint import Query
from ._models import Batch
from ._pagestate import Anchor, Position
from ._paginate import Paginator
from .errors import StateError

__all__ = ["AUDIT_POLLS", "MAX_REMEMBERED", "WatchState", "Watcher"]

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
# With a look-back, polls that found nothing after which the whole window is read again (see
# WatchState.audit_due): a late record hidden from the window's count by a deletion in the same
# poll interval waits no longer than this many idle polls.
AUDIT_POLLS = 8
_NEVER = datetime.min.replace(tzinfo=timezone.utc)  # "since" of a watch that saw nothing yet


def _floor_ms(value: datetime) -> datetime:
    """``value`` truncated to the millisecond: the time filter the server applies for it."""
    return value - timedelta(microseconds=value.microsecond % 1000)


def _same(item: Hashable) -> Hashable:
    return item


class _Log:
    """An append-only log shared by successive states of one watch, each of which sees a prefix
    of it (``WatchState`` stays immutable while taking a record costs O(1)): ``items`` in
    order, ``index`` the position of each key. A state that is not the newest and takes a
    record copies its prefix first, so that no state ever sees another's records."""

    __slots__ = ("index", "items")

    def __init__(self, items: Iterable[Any] = (), key: Callable[[Any], Hashable] = _same) -> None:
        self.items: list[Any] = []
        self.index: dict[Hashable, int] = {}
        for item in items:
            self.index.setdefault(key(item), len(self.items))
            if self.index[key(item)] == len(self.items):
                self.items.append(item)

    def __len__(self) -> int:
        return len(self.items)


class _Seen(Sequence[str]):
    """The ids ``WatchState.seen`` holds: a slice ``[start, end)`` of a shared ``_Log``."""

    __slots__ = ("end", "log", "start")

    def __init__(self, log: _Log, start: int, end: int) -> None:
        self.log, self.start, self.end = log, start, end

    @classmethod
    def of(cls, ids: Iterable[str]) -> _Seen:
        if isinstance(ids, _Seen):
            return ids
        log = _Log(ids)
        return cls(log, 0, len(log))

    def __contains__(self, record_id: object) -> bool:
        at = self.log.index.get(record_id)
        return at is not None and self.start <= at < self.end

    def with_id(self, record_id: str, *, alone: bool) -> _Seen:
        """These ids and ``record_id`` (only it, if ``alone``), the oldest forgotten past
        MAX_REMEMBERED (what ``dropped`` counts, by comparing lengths)."""
        log = self.log
        if self.end != len(log) or record_id in log.index or len(log) > 4 * MAX_REMEMBERED:
            # Not the newest state, a key met again, or a log grown long: start a new one.
            log = _Log(() if alone else self.log.items[self.start : self.end])
            start, end = (0, 0) if alone else (0, len(log))
        else:
            start, end = (len(log), len(log)) if alone else (self.start, self.end)
        log.index[record_id] = len(log.items)
        log.items.append(record_id)
        end += 1
        if end - start > MAX_REMEMBERED:
            start += 1
        return _Seen(log, start, end)

    def __len__(self) -> int:
        return self.end - self.start

    def __getitem__(self, index: Any) -> Any:
        return tuple(self.log.items[self.start : self.end])[index]

    def __iter__(self) -> Iterator[str]:
        return iter(self.log.items[self.start : self.end])

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (_Seen, tuple, list)):
            return tuple(self) == tuple(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return repr(tuple(self))


def _key_of_entry(entry: tuple[str, datetime]) -> str:
    return entry[0]


class _Recent(Sequence[tuple[str, datetime]]):
    """The records ``WatchState.recent`` holds, ``(id, created_at)`` in the order they were
    taken: a prefix ``[0, end)`` of a shared ``_Log``; ``before`` counts those created before
    ``since`` (what the window's check expects the server to hold below since)."""

    __slots__ = ("before", "end", "log")

    def __init__(self, log: _Log, end: int, before: int) -> None:
        self.log, self.end, self.before = log, end, before

    @classmethod
    def of(cls, entries: Iterable[Any], since: datetime | None = None) -> _Recent:
        if isinstance(entries, _Recent):
            return entries
        log = _Log(((str(i), at) for i, at in entries), key=_key_of_entry)
        # -1: not counted yet (WatchState counts what it is given, once it knows `since`).
        before = -1 if since is None else sum(1 for _, at in log.items if at < since)
        return cls(log, len(log), before)

    def recalls(self, record_id: str) -> bool:
        at = self.log.index.get(record_id)
        return at is not None and at < self.end

    def with_entry(self, record_id: str, at: datetime, before: int) -> _Recent:
        """These records and ``record_id`` created ``at``; ``before`` the new count below since."""
        log = self.log
        if self.end != len(log):  # not the newest state: branch off a copy of what it sees
            log = _Log(log.items[: self.end], key=_key_of_entry)
        log.index[record_id] = len(log.items)
        log.items.append((record_id, at))
        return _Recent(log, len(log.items), before)

    def __len__(self) -> int:
        return self.end

    def __getitem__(self, index: Any) -> Any:
        return tuple(self.log.items[: self.end])[index]

    def __iter__(self) -> Iterator[tuple[str, datetime]]:
        return iter(self.log.items[: self.end])

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (_Recent, tuple, list)):
            return sorted(self) == sorted(map(tuple, other))
        return NotImplemented

    def __hash__(self) -> int:
        return hash(frozenset(self))

    def __repr__(self) -> str:
        return repr(tuple(self))


def _seen_of(ids: Iterable[str]) -> _Seen:
    return _Seen.of(ids)


def _no_ids() -> _Seen:
    return _Seen.of(())


def _no_entries() -> _Recent:
    return _Recent.of(())


def _recent_of(entries: Iterable[tuple[str, datetime]]) -> _Recent:
    return _Recent.of(entries)


@attrs.frozen
class WatchState:
    """Where a watch stands: everything created before ``since`` has been dealt with; of what
    was created exactly at ``since``, the batches in ``seen`` (the latest ones yielded, in
    order) and ``skipped`` more before them. ``since`` None: the organisation had no batch at
    all when watching started.

    ``lookback`` (a timedelta, zero by default) also yields batches that appear late with a
    ``created_at`` up to that much before ``since``; ``recent`` holds every record of that
    window the watch has dealt with (yielded, or there when it started), with its
    ``created_at``, so that none is yielded twice, and so that a poll can check with one small
    request that the server's window holds exactly those. ``floor`` is where that window
    starts: ``since - lookback`` (to the millisecond) when the window was last read whole, kept
    until it is read whole again (``after_full_read``), so that a late record no count could
    reveal is still inside it then. None: ``since - lookback``.

    Taking a record (``after``) costs O(1): ``seen`` and ``recent`` are views of logs shared
    with the states before; they read as tuples.
    """

    since: datetime | None
    _seen: _Seen = attrs.field(factory=_no_ids, converter=_seen_of, alias="seen")
    skipped: int = 0
    lookback: timedelta = timedelta(0)
    _recent: _Recent = attrs.field(factory=_no_entries, converter=_recent_of, alias="recent")
    floor: datetime | None = attrs.field(default=None)

    def __attrs_post_init__(self) -> None:
        if not self.lookback:
            if self._recent.end or self.floor is not None:
                object.__setattr__(self, "_recent", _Recent.of((), self.since))
                object.__setattr__(self, "floor", None)
            return
        if self._recent.before < 0:
            # Given from outside (a token, a caller): keep what is in the window, and count
            # what is below since (a view passed on from another state is already counted).
            floor = self.window_floor
            kept = [(i, at) for i, at in self._recent if floor is None or at >= floor]
            object.__setattr__(self, "_recent", _Recent.of(kept, self.since or _NEVER))

    @property
    def seen(self) -> tuple[str, ...]:
        """The latest ids yielded (or there at the start) at exactly ``since``, in order."""
        return tuple(self._seen)

    @property
    def recent(self) -> tuple[tuple[str, datetime], ...]:
        """The records of the look-back window dealt with: ``(id, created_at)`` pairs."""
        return tuple(self._recent)

    @property
    def window_floor(self) -> datetime | None:
        """Where the look-back window starts (None: no look-back, or nothing yet)."""
        if not self.lookback or self.since is None:
            return None
        return self.floor if self.floor is not None else _floor_ms(self.since - self.lookback)

    @property
    def audit_due(self) -> bool:
        """Whether the next poll must read the whole window: it has grown to twice the
        look-back since it was last read whole (which keeps what a full read costs, amortised,
        at about two records read per record the window held)."""
        floor = self.window_floor
        if floor is None or self.since is None:
            return False
        return _floor_ms(self.since - self.lookback) - floor >= self.lookback

    def _make(
        self, since: datetime | None, seen: _Seen, skipped: int, recent: _Recent
    ) -> WatchState:
        # The fast path of `after`: the fields are already what the converters make.
        state = object.__new__(WatchState)
        for name, value in (
            ("since", since),
            ("_seen", seen),
            ("skipped", skipped),
            ("lookback", self.lookback),
            ("_recent", recent),
            (
                "floor",
                self.floor if self.floor is not None or not self.lookback else self.window_floor,
            ),
        ):
            object.__setattr__(state, name, value)
        return state

    def after(self, record_id: str, at: datetime) -> WatchState | None:
        """The state once the record ``record_id`` created ``at`` is yielded; None if it must
        not be (seen, or too old)."""
        since, lookback, recent = self.since, self.lookback, self._recent
        if since is None or at > since:
            if lookback:
                if recent.recalls(record_id):
                    return None
                # Everything taken so far is now before `since`.
                recent = recent.with_entry(record_id, at, recent.end)
            return self._make(at, self._seen.with_id(record_id, alone=True), 0, recent)
        if at == since:
            if record_id in self._seen or (lookback and recent.recalls(record_id)):
                return None
            seen = self._seen.with_id(record_id, alone=False)
            skipped = self.skipped + (len(self._seen) + 1 - len(seen))
            if lookback:
                recent = recent.with_entry(record_id, at, recent.before)
            return self._make(since, seen, skipped, recent)
        # Older than the newest yielded: a late commit, if the look-back window covers it.
        floor = self.window_floor
        if floor is None or at < floor or recent.recalls(record_id):
            return None
        recent = recent.with_entry(record_id, at, recent.before + 1)
        return self._make(since, self._seen, self.skipped, recent)

    def after_full_read(self, observed: Iterable[str]) -> WatchState:
        """The state once a poll has read the whole window and met ``observed`` (every record
        it was handed, yielded or not): what it did not meet was deleted, and is forgotten;
        the floor moves up to ``since - lookback``. Costs O(window), once per full read."""
        if not self.lookback or self.since is None:
            return self
        met = set(observed)
        floor = _floor_ms(self.since - self.lookback)
        kept = [(i, at) for i, at in self._recent if at >= floor and i in met]
        return WatchState(
            self.since, self._seen, self.skipped, self.lookback, _Recent.of(kept, self.since), floor
        )

    def check(self) -> tuple[datetime, int, int] | None:
        """The window's check: its floor, and the offset and count of the records a poll asks
        for there to prove the server's window below ``since`` holds what ``recent`` does (see
        ``unchanged``); None without a look-back (or before anything was seen)."""
        floor = self.window_floor
        if floor is None:
            return None
        before = self._recent.before
        return floor, max(before - 1, 0), 2 if before else 1

    def unchanged(self, times: Sequence[datetime]) -> bool:
        """Whether the records at the check's offsets (their times, at most two, in the
        server's order) say the window holds, below ``since``, as many records as ``recent``
        has there. Then, since nothing the watch knows there was deleted (a deletion alone
        changes the count), it holds exactly those: nothing late landed. A deletion and a late
        record in the same interval cancel out; the next full read of the window finds it."""
        since = self.since
        assert since is not None
        if not self._recent.before:
            return not times or times[0] >= since
        return bool(times) and times[0] < since and (len(times) == 1 or times[1] >= since)

    def poll_from(self) -> tuple[datetime | None, Position]:
        """Where the next full poll starts: its ``created_after``, and its position within
        that (with a look-back, the window's floor; else just after what was taken at
        ``since``, verified by the last of them)."""
        floor = self.window_floor
        if floor is not None:
            return floor, Position(0)
        return self.since_from()

    def since_from(self) -> tuple[datetime | None, Position]:
        """Where a poll starts that reads on from ``since``: ``since``, and the position after
        what was taken at that instant, verified by the last of them."""
        since = self.since
        if since is None:
            return None, Position(0)
        seen = self.seen
        if not seen:
            return since, Position(0)
        if not self.skipped:
            # Every id of the instant is known: a record that lands anywhere in it is found.
            taken = len(seen)
            anchor = Anchor(seen[-1], taken - 1, since, frozenset(seen), taken)
            return since, Position(taken, anchor=anchor)
        # Some were forgotten: start at the first one remembered and verify it is where the
        # count says (nothing landed among the forgotten; a record remembered may stand before
        # it, one yielded later in the instant); what follows it and is not remembered is new.
        anchor = Anchor(seen[0], self.skipped, since, frozenset(), self.skipped + 1)
        return since, Position(self.skipped + 1, anchor=anchor, known=seen[1:])

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
        probe: Callable[[Query[Any], int, int], Awaitable[Sequence[R]]] | None = None,
    ) -> None:
        self._query = query
        self._time_of = operator.attrgetter(time_field)
        self._time_field = time_field
        self._token = token
        self._poll_interval = poll_interval
        self._start = start
        self._state = start if isinstance(start, WatchState) else None
        self._listing = listing
        self._probe = probe
        self._clock = clock
        self._poll: Paginator[R] | None = None
        # While a poll reads the whole look-back window: the ids it was handed (yielded or
        # not), which say, once it is through, what was deleted.
        self._observed: set[str] | None = None
        self._idle_polls = 0
        self._closed = False

    def __aiter__(self) -> Watcher[R]:
        return self

    async def __anext__(self) -> R:
        while not self._closed:
            state = self._state or await self._started()
            if self._poll is None:
                self._poll = await self._next_poll(state)
                continue
            observed = self._observed
            async for record in self._poll:
                if observed is not None:
                    observed.add(record.id)  # type: ignore[attr-defined]
                following = state.after(record.id, self._time_of(record))  # type: ignore[attr-defined]
                if following is None:
                    continue
                if observed is None and following.audit_due:
                    # This record would take the window's floor past ground not read whole
                    # since the floor was set: read the window whole first (the record comes
                    # again in that read), so that a late record hidden there is not dropped.
                    break
                self._state = following
                self._idle_polls = 0
                return record
            else:
                self._poll = None
                if observed is not None:
                    # Through the whole window: forget what was deleted, move the floor up.
                    self._state, self._observed = state.after_full_read(observed), None
                else:
                    self._idle_polls += 1
                await self._clock.sleep(self._poll_interval)
                continue
            poll, self._poll = self._poll, None
            await poll.aclose()
            self._poll = self._full_poll(state)
        raise StopAsyncIteration

    async def _next_poll(self, state: WatchState) -> Paginator[R]:
        """The next poll's listing. Without a look-back: from ``since``, just after what was
        taken at that instant. With one: one small request first checks that the window
        holds what the watch knows of it (``WatchState.check``); if it does, the poll reads on
        from ``since``; if not (a late record, a deletion), or when a full read is due, it
        reads the whole window again (and what it was handed says what was deleted)."""
        check = state.check()
        if check is None:
            return self._poll_at(*state.since_from())
        if state.audit_due or self._idle_polls >= AUDIT_POLLS:
            return self._full_poll(state)
        floor, cursor, count = check
        assert self._probe is not None, "a watch with a look-back needs a probe"
        records = await self._probe(self._bounded(floor), cursor, count)
        if not state.unchanged([self._time_of(record) for record in records]):
            return self._full_poll(state)
        return self._poll_at(*state.since_from())

    def _full_poll(self, state: WatchState) -> Paginator[R]:
        """A poll that reads the whole look-back window, noting what it is handed."""
        self._observed, self._idle_polls = set(), 0
        return self._poll_at(*state.poll_from())

    def _poll_at(self, after: datetime | None, position: Position) -> Paginator[R]:
        return self._listing(self._bounded(after), position)

    def _bounded(self, after: datetime | None) -> Query[Any]:
        """The watch's query from ``after`` on, oldest first."""
        return self._query.with_bounds(
            after=after, before=None, sort_by=self._time_field, sort_order="asc"
        )

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

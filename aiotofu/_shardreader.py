"""``ShardReader``: the read of one shard, which can stop at any record and hand back the rest.

A worker that falls behind (a shard denser than planned, a slow consumer, a slow machine)
should not hold up the whole plan: its read stops, after a ``budget`` of records or wherever
the consumer breaks off, and ``remainder`` is a Shard of what it has not handed out, which
another worker reads, or splits in two (``Shard.split()``) for two idle workers.

The remainder is cut where the read stands (``Paginator.position``): from the time of the last
record handed out, minus the records of that instant already handed out, named by their ids.
Its read starts at that position (the anchor, its tie group, its offset in the window that
starts at that instant), so it has every guarantee of the read it continues, under writes and
an order that reorders ties: the records before the stop and the remainder's read are the
shard's read, each record once.
"""

from __future__ import annotations

from typing import TypeVar

from ._pagestate import Anchor, Position
from ._paginate import PageSource, Paginator
from ._shards import TICK, Shard, remainder

__all__ = ["ShardReader", "start_of"]

T = TypeVar("T")


def start_of(shard: Shard) -> Position:
    """Where the read of ``shard`` starts: at its start, pinned at its last instant (every
    request sends ``created_before=end - 1 ms``, cut at ``end`` on the client); for a
    remainder, just after the ``taken`` records of its first instant, as the read it continues
    stood (its last record the anchor, the ids read the anchor's tie group)."""
    pin = shard.end - TICK
    if not shard.taken:
        return Position(0, pin=pin)
    ids = shard.taken_ids
    # Every id of the group read, or only the last (past MAX_TIES): then it is walked by
    # offsets, verified by that last record, as a resume token past its few ids does.
    ties = frozenset(ids) if len(ids) == shard.taken else frozenset()
    anchor = Anchor(ids[-1], shard.taken - 1, shard.start, ties, shard.taken, first=0)
    return Position(shard.taken, pin=pin, anchor=anchor)


def _rest(shard: Shard, position: Position) -> Shard:
    """What of ``shard`` is not read at ``position`` of its read."""
    anchor = position.anchor
    if anchor is None:
        return shard  # nothing handed out
    last = str(anchor.id)
    if anchor.complete:
        ids = (*sorted(str(tie) for tie in anchor.ties if tie != anchor.id), last)
    else:
        ids = (last,)
    return remainder(shard, anchor.key, ids, anchor.rank)


class ShardReader(Paginator[T]):
    """What ``client.<resource>.read(shard)`` returns: a Paginator (``async for``, ``pages()``,
    ``collect()``, ``resume_token``) over the records of ``shard``, oldest first, that stops
    after ``budget`` records if given, and says what it has not read: ``remainder``.

    ``shard`` is the shard it reads (a remainder itself, maybe).
    """

    def __init__(
        self,
        listing: PageSource[T],
        *,
        shard: Shard,
        page_size: int,
        budget: int | None,
        prefetch: int,
    ) -> None:
        # ``listing`` walks the shard's pages from start_of(shard).
        super().__init__(
            listing,
            page_size=page_size,
            max_items=budget,
            prefetch=prefetch,
            start=start_of(shard),
        )
        self.shard = shard

    @property
    def remainder(self) -> Shard | None:
        """The part of the shard this read has not handed out: a Shard (the same one before
        the first record) from the time of the last record handed out on, which leaves out the
        records of that instant handed out already. Read it, or ``split()`` it, anywhere:
        with the records handed out, it is the shard's read, each record once. None once the
        read has reached the shard's end (after a stop at the budget, a remainder, even if
        nothing is left in it). Iterate no further once it has been handed to someone else."""
        if self._exhausted():
            return None
        return self.remainder_at(self.position)

    def remainder_at(self, position: Position) -> Shard:
        """The remainder at ``position`` of this read (for wrappers that hand records out
        themselves, as ``token_at``)."""
        return _rest(self.shard, position)

    def _exhausted(self) -> bool:
        """Whether the read has reached the shard's end and handed out everything: the state
        machine is done for the end of the listing, not for the budget (``remaining`` 0)."""
        state = self._state
        if not state.done or state.remaining == 0:
            return False
        chunk = self._chunk
        return chunk is None or self._index >= len(chunk.records)

    def __repr__(self) -> str:
        return "<aiotofu.ShardReader" + super().__repr__().removeprefix("<aiotofu.Paginator")

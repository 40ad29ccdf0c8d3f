"""Where a listing stands, and how it proves that it lost and repeated nothing. Pure: no I/O.

TofuPilot's cursor is an offset into a result set that other writers change while a listing
runs: an insert before the position shifts every later record forward, a deletion shifts them
back, and pages fetched ahead may be answered after such a change. So continuity is verified,
not assumed. Every page after the first is requested one record early: its first record must be
the *anchor*, the last record already taken. When it is, the offsets have not moved and the rest
of the page follows on. When it is not, the state machine finds its place again:

1. the anchor is elsewhere in the same page: the records after it follow on;
2. else, where the order allows it, the listing restarts from the anchor's sort key (a
   ``created_at`` bound with the anchor's instant, ties already taken dropped by id), which
   needs no offset at all;
3. else it searches windows around the anchor's old offset, nearest first, for the anchor,
   and if it was deleted, for the latest record of its page still there;
4. and only if that fails raises ConsistencyError. It never skips or repeats silently.

The only records this cannot promise are those that did not exist for the whole listing: a
record created behind the position is not yielded, one deleted before its turn is not either.

``PageState`` decides everything: which request comes next (``next_fetches``), what a page
yields and where the listing stands after it (``accept``). The Paginator only performs I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any, Generic, Literal, TypeVar

import attrs

from ._models import Page
from .errors import ConsistencyError, PaginationError

__all__ = ["Anchor", "Chunk", "Fetch", "PageState", "Position"]

T = TypeVar("T")

API_MAX_LIMIT = 100  # the API's bound on `limit`
# A long run of empty pages that all say has_more is a server walking its cursor towards 2^53.
MAX_EMPTY_PAGES = 20
# Recovery by search: windows of API_MAX_LIMIT records around the anchor's old offset.
SEARCH_WINDOWS = 8


@attrs.frozen
class Anchor:
    """The last record taken: its ``id``, its ``offset`` in the listing's current window, its
    sort ``key`` (None where the listing cannot restart by key) and ``ties``, the ids taken
    that share that key (the anchor's own included)."""

    id: Hashable
    offset: int
    key: Any = None
    ties: frozenset[Hashable] = frozenset()


@attrs.frozen
class Position:
    """Everything needed to continue a listing: what resume tokens hold.

    ``cursor`` is the offset of the next record, ``pin`` the consistency bound every request
    carries (what it means, e.g. ``created_before``, is the listing's business), ``anchor`` the
    last record taken (None before the first).
    """

    cursor: int
    pin: Any = None
    anchor: Anchor | None = None


@attrs.frozen
class Fetch:
    """One page request the state machine asks for: ``limit`` records from ``cursor``.

    ``kind`` is ``"page"`` for the next page, ``"search"`` for a window searched for a lost
    anchor, ``"restart"`` for the first page after restarting from the anchor's sort key.
    """

    cursor: int
    limit: int
    pin: Any = None
    kind: Literal["page", "search", "restart"] = "page"


@attrs.frozen
class Chunk(Generic[T]):
    """The records one accepted page yields, and what is needed to say where the listing stands
    after any number of them were handed out (for resume tokens mid-page)."""

    records: Sequence[T]
    offsets: Sequence[int]
    # The raw page, the index of each record in it, and the state before the page was taken.
    page: Page[T]
    raw_indexes: Sequence[int]
    fetch: Fetch
    pin: Any
    before: Position
    ties_of: Callable[[Sequence[T], int, Anchor | None], Anchor] = attrs.field(repr=False)

    def position(self, handed_out: int) -> Position:
        """Where the listing stands once the first ``handed_out`` records were handed out."""
        if handed_out == 0:
            return self.before
        index = self.raw_indexes[handed_out - 1]
        anchor = self.ties_of(self.page.items, index, self.before.anchor)
        anchor = attrs.evolve(anchor, offset=self.fetch.cursor + index)
        return Position(anchor.offset + 1, self.pin, anchor)


@attrs.define
class PageState(Generic[T]):
    """The pagination state machine of one listing.

    ``id_of`` gives a record's unique id; ``key_of`` its sort key, where the listing can restart
    from one (None: it cannot, and lost positions are searched for). ``remaining`` counts what
    ``max_items`` still allows (None: no limit).
    """

    cursor: int
    page_size: int
    id_of: Callable[[T], Hashable] = attrs.field(repr=False)
    key_of: Callable[[T], Any] | None = attrs.field(default=None, repr=False)
    remaining: int | None = None
    pin: Any = None
    anchor: Anchor | None = None
    done: bool = False
    # False once the server's cursors stop being offsets (next_cursor != cursor + limit): then
    # nothing is predicted or verified, the server's cursor is followed and repeats are dropped.
    offsets: bool = True
    speculate: bool = True
    # Whether the next page can be checked against the anchor (it follows a full page).
    verify: bool = False
    restarting: bool = False
    search: tuple[int, ...] = ()
    searched: tuple[tuple[Fetch, Page[T]], ...] = attrs.field(default=(), repr=False)
    # The ids of the last page taken, in order: a fallback anchor when the anchor was deleted,
    # and a last guard against repeats.
    recent: tuple[Hashable, ...] = ()
    empty_run: int = 0

    def __attrs_post_init__(self) -> None:
        if self.remaining == 0:
            self.done = True
        if self.anchor is not None and self.anchor.offset == self.cursor - 1:
            self.verify = True
            self.recent = (self.anchor.id,)

    @property
    def position(self) -> Position:
        """Where the listing stands after the last page taken."""
        return Position(self.cursor, self.pin, self.anchor)

    # -- what to fetch -------------------------------------------------------------------

    def next_fetches(self, pages: int) -> list[Fetch]:
        """The next ``pages`` requests: the first is certain, the rest predicted from offsets
        (offered only while the server's cursors follow them, and within ``max_items``)."""
        if self.done:
            return []
        if self.search:
            return [Fetch(self.search[0], API_MAX_LIMIT, self.pin, "search")]
        if self.restarting:
            return [Fetch(0, self._new_per_page(0, self.remaining), self.pin, "restart")]
        count = pages if self.speculate and self.offsets else min(pages, 1)
        fetches = []
        cursor, remaining = self.cursor, self.remaining
        for k in range(count):
            if remaining is not None and remaining <= 0:
                break
            # A predicted page follows a full page whose last record it can check.
            overlap = int(self.offsets and (self.verify or k > 0))
            new = self._new_per_page(overlap, remaining)
            fetches.append(Fetch(cursor - overlap, new + overlap, self.pin))
            cursor += new
            if remaining is not None:
                remaining -= new
        return fetches

    def _new_per_page(self, overlap: int, remaining: int | None) -> int:
        new = min(self.page_size, API_MAX_LIMIT - overlap)
        return new if remaining is None else min(new, remaining)

    # -- what a page yields --------------------------------------------------------------

    def accept(self, fetch: Fetch, page: Page[T], *, pin: Any = None) -> Chunk[T]:
        """Take the answer to ``fetch`` (which must be ``next_fetches(1)[0]``): the records it
        yields, and the state moved past it. ``pin``, if given, is the consistency bound from
        now on (the listing derives it from the first page). Raises ConsistencyError if the
        place is lost and cannot be found again."""
        expected = self.next_fetches(1)
        if not expected or fetch != expected[0]:
            raise PaginationError(f"internal error: got an answer to {fetch}, expected {expected}")
        before = self.position
        if pin is not None:
            self.pin = pin
        self.restarting = False
        items = page.items
        if fetch.kind == "page" and fetch.cursor < self.cursor:
            # Overlapping the anchor: the fast path is one comparison.
            assert self.anchor is not None
            if items and self.id_of(items[0]) == self.anchor.id:
                start = 1
            elif not items and page.has_more:
                return self._empty(fetch, page, before)
            else:
                found = self._find(items, self.anchor.id)
                if found is None:
                    return self._lost(fetch, page, before)
                start = found + 1
        elif fetch.kind == "search":
            assert self.anchor is not None
            found = self._find(items, self.anchor.id)
            if found is None:
                self.searched += ((fetch, page),)
                self.search = self.search[1:]
                if self.search:
                    return self._nothing(fetch, page, before)
                return self._fall_back(before)
            self.search, self.searched = (), ()
            start = found + 1
        elif not items and page.has_more:
            return self._empty(fetch, page, before)
        else:
            start = 0
        return self._take(fetch, page, start, before)

    def _take(self, fetch: Fetch, page: Page[T], start: int, before: Position) -> Chunk[T]:
        """Yield the records of ``page`` from index ``start`` on that were not taken before."""
        items = page.items
        id_of = self.id_of
        ids = [id_of(item) for item in items]
        taken = set(self.recent)
        if self.anchor is not None:
            taken |= self.anchor.ties
        indexes: Sequence[int] = range(start, len(items))
        if len(set(ids)) != len(ids) or not taken.isdisjoint(ids[start:]):
            indexes = []
            for index in range(start, len(items)):
                if ids[index] not in taken:
                    taken.add(ids[index])
                    indexes.append(index)
        new = len(indexes)
        # A search window may hold more than a page: take a page, and keep the buffer bound.
        if fetch.kind == "search":
            indexes = indexes[: self.page_size]
        if self.remaining is not None:
            indexes = indexes[: self.remaining]
            self.remaining -= len(indexes)
        cut = len(indexes) < new
        # How far into the page the listing now stands: all of it, unless cut short above.
        through = indexes[-1] if cut else len(items) - 1
        self.empty_run = 0
        if items:
            self.anchor = self._anchor_at(items, through, self.anchor, fetch.cursor)
            self.recent = tuple(ids[: through + 1])
        cursor = fetch.cursor
        if isinstance(indexes, range):
            records: Sequence[T] = items[indexes.start : indexes.stop]
            offsets: Sequence[int] = range(cursor + indexes.start, cursor + indexes.stop)
        else:
            records = [items[i] for i in indexes]
            offsets = [cursor + i for i in indexes]
        chunk = Chunk(records, offsets, page, indexes, fetch, self.pin, before, self._ties_at)
        if self.remaining == 0 or (not page.has_more and not cut):
            self.done = True
        elif cut:
            self.cursor, self.verify = fetch.cursor + through + 1, self.offsets
        else:
            self._advance(fetch, page)
        return chunk

    def _advance(self, fetch: Fetch, page: Page[T]) -> None:
        """Move past a page that said has_more."""
        assert page.next_cursor is not None  # decode_page guarantees it when has_more
        full = len(page.items) == fetch.limit
        if page.next_cursor == fetch.cursor + fetch.limit:
            self.cursor = fetch.cursor + len(page.items) if full else page.next_cursor
            self.verify = full and self.offsets
        else:
            # Not the offset arithmetic that prediction and verification rest on: follow the
            # server's cursor from now on, dropping repeats by id.
            self.offsets = self.speculate = self.verify = False
            self.cursor = page.next_cursor

    def _empty(self, fetch: Fetch, page: Page[T], before: Position) -> Chunk[T]:
        """An empty page that says has_more: legal once in a while, an error when it goes on."""
        self.empty_run += 1
        if self.empty_run >= MAX_EMPTY_PAGES:
            raise PaginationError(
                f"the server answered {self.empty_run} empty pages in a row, each with "
                f"has_more true (the last at cursor {fetch.cursor}, next_cursor "
                f"{page.next_cursor}); following it would only walk the cursor towards 2^53"
            )
        self._advance(fetch, page)
        self.verify = False  # nothing to check the next page against
        return self._nothing(fetch, page, before)

    def _lost(self, fetch: Fetch, page: Page[T], before: Position) -> Chunk[T]:
        """The anchor is not where it was: restart from its key, or search for it."""
        anchor = self.anchor
        assert anchor is not None
        if self.key_of is not None and anchor.key is not None:
            self.restarting, self.pin, self.verify = True, anchor.key, False
            self.cursor = 0
        else:
            self.search = _search_windows(anchor.offset)
        return self._nothing(fetch, page, before)

    def _nothing(self, fetch: Fetch, page: Page[T], before: Position) -> Chunk[T]:
        return Chunk((), (), page, (), fetch, self.pin, before, self._ties_at)

    def _find(self, items: Sequence[T], wanted: Hashable) -> int | None:
        """The index of the record ``wanted`` in ``items``, or None."""
        id_of = self.id_of
        return next((i for i, item in enumerate(items) if id_of(item) == wanted), None)

    def _fall_back(self, before: Position) -> Chunk[T]:
        """No window holds the anchor: it was deleted (or moved out of reach). Continue after
        the latest record of its page that is still there, if any window holds one; records
        after it were not taken (it is the latest taken that exists)."""
        searched, self.searched, self.search = self.searched, (), ()
        for wanted in reversed(self.recent):
            for fetch, page in searched:
                found = self._find(page.items, wanted)
                if found is not None:
                    return self._take(fetch, page, found + 1, before)
        raise ConsistencyError(self._lost_message())

    def _lost_message(self) -> str:
        anchor = self.anchor
        assert anchor is not None
        return (
            f"the listing lost its place: the record {anchor.id} it last handed out (offset "
            f"{anchor.offset}) is no longer within {SEARCH_WINDOWS * API_MAX_LIMIT // 2} records "
            "of where it was, and this order cannot restart from a sort key; records were "
            "created or deleted faster than the listing could follow"
        )

    # -- the anchor ----------------------------------------------------------------------

    def _anchor_at(
        self, items: Sequence[T], index: int, previous: Anchor | None, cursor: int
    ) -> Anchor:
        anchor = self._ties_at(items, index, previous)
        return attrs.evolve(anchor, offset=cursor + index)

    def _ties_at(self, items: Sequence[T], index: int, previous: Anchor | None) -> Anchor:
        """The anchor at ``items[index]``, with the ids taken that share its sort key."""
        record = items[index]
        record_id = self.id_of(record)
        if self.key_of is None:
            return Anchor(record_id, -1)
        key = self.key_of(record)
        ties = {record_id}
        first = index
        while first > 0 and self.key_of(items[first - 1]) == key:
            first -= 1
            ties.add(self.id_of(items[first]))
        if first == 0 and previous is not None and previous.key == key:
            ties |= previous.ties
        return Anchor(record_id, -1, key, frozenset(ties))


def _search_windows(offset: int) -> tuple[int, ...]:
    """Cursors of windows around ``offset``, nearest first: the anchor moved back by deletions
    or forward by inserts since it was seen."""
    half = API_MAX_LIMIT // 2
    cursors: list[int] = []
    for ring in range(SEARCH_WINDOWS):
        reach = (ring // 2) * API_MAX_LIMIT
        # Even rings look back (deletions), odd rings forward (inserts), widening by a window.
        cursor = max(0, offset - half - reach) if ring % 2 == 0 else offset + half + reach
        if cursor not in cursors:
            cursors.append(cursor)
    return tuple(cursors)

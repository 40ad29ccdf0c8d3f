"""Where a listing stands, and how it proves that it lost and repeated nothing. Pure: no I/O.

TofuPilot's cursor is an offset into a result set that other writers change while a listing
runs: an insert before the position shifts every later record forward, a deletion shifts them
back, and pages fetched ahead may be answered after such a change. So continuity is verified,
not assumed. Every page after the first is requested one record early: its first record must be
the *anchor*, the last record already taken. When it is, the offsets have not moved and the rest
of the page follows on. When it is not, the state machine finds its place again:

1. the anchor is elsewhere in the same page: the records after it follow on;
2. else, where the order's key bounds a request (``created_at`` with ``created_before``,
   ``started_at`` with ``started_before``...), the listing restarts from the anchor's key, which
   needs no offset at all, dropping the ties already taken;
3. else it searches windows around the anchor's old offset, nearest first, for the anchor,
   and if it was deleted, for the latest record of its page still there;
4. and only if that fails raises ConsistencyError. It never skips or repeats silently.

Ties (records with equal sort keys) are a group whose members a server without a unique
tie-breaker may order differently on every request. The state machine therefore knows each
record's sort key (``key_of``) and the ids taken from the anchor's group (``Anchor.ties``, up to
``MAX_TIES``; beyond that, or after a resume past a few, only their count, ``Anchor.rank``).
Where the group's ids are known, a page is accepted by what it holds, not by where the anchor
sits: a page that shows where the group starts (a record of another key before it, or the
window's start) yields every member not taken yet. So every page asks from the record before
the anchor's group (most often the anchor is alone in it: two records of overlap, not one), and
one that starts inside the group all the same (the group moved back: deletions before it) is a
lost place. Counting the members taken could not tell: a member taken and deleted since still
counts, and an order that reorders ties may keep the anchor at its old offset while a member not
taken yet moves into a slot before the page. Only a group too large for one page to show whole
with a new record is accepted by counting: when the members already taken that the page holds
account for the slots before it (exactly, where the group ends in the page), which is what a
stable order gives and what an unstable order gives when nothing was missed or deleted.
Anything else is a lost place. A tie group whose ids are not all known is walked by offsets and
verified by its anchor, which is exact on a server with a stable tie order.
Recoveries that make no progress are bounded (``MAX_RECOVERIES``): a server that keeps moving
the listing's place ends in ConsistencyError, not in an endless walk.

An order whose key changes while it is listed (units by ``last_run_at``: a new run moves its
unit) is ``mutable``: a record that crossed the position shows as a shift of the overlap, and
for such an order any shift raises ConsistencyError instead of being repaired, because a moved
record cannot be told from an inserted or deleted one; and since two moves can cancel out, a
record met again (every id yielded is remembered) raises too.

The only records this cannot promise are those that did not exist for the whole listing: a
record created behind the position is not yielded, one deleted before its turn is not either.

``PageState`` decides everything: which request comes next (``next_fetches``), what a page
yields and where the listing stands after it (``accept``). The Paginator only performs I/O.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Callable, Hashable, Sequence
from typing import Any, Generic, Literal, TypeVar

import attrs

from ._models import Page
from .errors import ConsistencyError, PaginationError

__all__ = [
    "MAX_RECOVERIES",
    "MAX_TIES",
    "RECORD_ID",
    "Anchor",
    "Chunk",
    "Fetch",
    "PageState",
    "PinFrom",
    "Position",
    "Switch",
]

T = TypeVar("T")

# Where a listing's consistency pin comes from: a probe for the newest record before the first
# page, the first page itself, or nowhere (no pin, or one given).
PinFrom = Literal["probe", "page", None]

API_MAX_LIMIT = 100  # the API's bound on `limit`
# A long run of empty pages that all say has_more is a server walking its cursor towards 2^53.
MAX_EMPTY_PAGES = 20
# Recovery by search: windows of API_MAX_LIMIT records around the anchor's old offset.
SEARCH_WINDOWS = 8
# The ids of a tie group kept in memory (a resume token keeps fewer): past this many records with
# one sort key, only their count is kept.
MAX_TIES = 10_000
# Recoveries in a row that yield nothing new: past this, the server is moving the listing's place
# faster than it can follow (or orders its ties differently on every request).
MAX_RECOVERIES = 4
# Tie groups met deep enough to have been missed by the predicted pages' reach, before that
# reach is widened at a cost to every page (see PageState._learn_ties): one large group met
# early does not widen it. (A bulk import that spans pages counts once in each page.)
MIN_DEEP = 3
# Pages looked at to find where a nullable key's nulls begin: galloping then halving over any
# listing the API can hold takes about 2 x 53; past this, writes keep moving them.
MAX_EDGE_PROBES = 128

# The id of a record of any endpoint (``PageState.id_of`` of every listing): where it is this
# one, a page's ids are read by a comprehension, which is twice as fast as map() with it.
RECORD_ID: Callable[[Any], Hashable] = operator.attrgetter("id")


def _zeros_in(flags: bytes) -> list[int]:
    """The indexes of the zero bytes of ``flags``, each found by ``bytes.find`` (memchr)."""
    found: list[int] = []
    at = flags.find(0)
    while at >= 0:
        found.append(at)
        at = flags.find(0, at + 1)
    return found


def _rank_of(anchor: Anchor) -> int:
    return len(anchor.ties)


@attrs.frozen
class Anchor:
    """The last record taken: its ``id``, its ``offset`` in the listing's current window, its
    sort ``key`` (None where the order has none, or it is null), ``rank``, how many records
    taken share that key (the anchor's own included), ``ties``, their ids (empty once
    ``rank`` passes ``MAX_TIES``), and ``first``, the offset where the records with its key
    begin in the window (-1: not seen)."""

    id: Hashable
    offset: int
    key: Any = None
    ties: frozenset[Hashable] = frozenset()
    rank: int = attrs.field(default=attrs.Factory(_rank_of, takes_self=True))
    first: int = -1

    @property
    def complete(self) -> bool:
        """Whether ``ties`` names every record taken with the anchor's key."""
        return len(self.ties) == self.rank and self.rank > 0


@attrs.frozen
class Switch:
    """A window planned ahead (see ``PageState.span``): from the current window's offset ``at``
    on, pages are asked for in the window that starts at the sort key ``key``, whose offset 0
    is this window's ``delta`` (where the records with that key begin)."""

    at: int
    key: Any
    delta: int


@attrs.frozen
class Position:
    """Everything needed to continue a listing: what resume tokens hold.

    ``cursor`` is the offset of the next record, ``pin`` the consistency bound every request
    carries (what it means, e.g. ``created_before``, is the listing's business), ``start`` the
    bound on the sort key set by a restart (None: not restarted), ``anchor`` the last record
    taken (None before the first).
    """

    cursor: int
    pin: Any = None
    anchor: Anchor | None = None
    start: Any = None
    # Ids known to be taken just before the position besides the anchor's ties (a watch's
    # memory of its instant): records found before the anchor that are among them are no shift.
    known: tuple[Hashable, ...] = ()
    # Where the window that ``start`` bounds begins in the listing without it: where a key that
    # may be null finds its tail of nulls, which no bound holds (see PageState.nullable).
    base: int = 0


@attrs.frozen
class Fetch:
    """One page request the state machine asks for: ``limit`` records from ``cursor``.

    ``kind`` is ``"page"`` for the next page, ``"search"`` for a window searched for a lost
    anchor, ``"restart"`` for the first page after restarting from the anchor's sort key, and
    ``"probe"`` for the newest record by the listing's time, whose time is the pin (see
    ``PageState.pin_from``), ``"edge"`` for a page searched for where a key's nulls begin
    (``PageState.nullable``). ``pin`` and ``start`` are the position's bounds (see Position).
    """

    cursor: int
    limit: int
    pin: Any = None
    kind: Literal["page", "search", "restart", "probe", "edge"] = "page"
    start: Any = None


# Not frozen, though never changed once made: one is made per page, and a frozen class's
# __init__ sets each of its eleven fields through object.__setattr__ (four times as slow).
@attrs.define
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
    anchor_at: Callable[[Sequence[T], int, Anchor | None, Sequence[int], int], Anchor] = (
        attrs.field(repr=False)
    )
    start: Any = None
    # The index of the page the listing stands at once every record was handed out.
    through: int = -1
    base: int = 0

    def position(self, handed_out: int) -> Position:
        """Where the listing stands once the first ``handed_out`` records were handed out: just
        before the next record to hand out (past the records taken before, in between)."""
        if handed_out == 0:
            return self.before
        raw = self.raw_indexes
        index = raw[handed_out] - 1 if handed_out < len(raw) else self.through
        taken = raw[:handed_out]
        anchor = self.anchor_at(
            self.page.items, index, self.before.anchor, taken, self.fetch.cursor
        )
        return Position(anchor.offset + 1, self.pin, anchor, self.start, base=self.base)


@attrs.define
class PageState(Generic[T]):
    """The pagination state machine of one listing.

    ``id_of`` gives a record's unique id; ``key_of`` its sort key (None: the order is unknown).
    ``restart``: the key can bound a request, so a lost position restarts from it (else it is
    searched for). ``mutable``: the key may change while the listing runs. ``remaining``
    counts what ``max_items`` still allows (None: no limit). ``pin_from`` says where the pin
    comes from while it is not known: the newest ``time_of`` of a probe asked for first, or of
    the first page.
    """

    cursor: int
    page_size: int
    id_of: Callable[[T], Hashable] = attrs.field(repr=False)
    key_of: Callable[[T], Any] | None = attrs.field(default=None, repr=False)
    remaining: int | None = None
    pin: Any = None
    anchor: Anchor | None = None
    restart: bool = False
    mutable: bool = False
    start: Any = None
    pin_from: PinFrom = None
    time_of: Callable[[T], Any] | None = attrs.field(default=None, repr=False)
    # Re-anchoring: once the window's offsets reach ``span`` records, the next window starts at
    # the anchor's key (None: never; the order's key cannot bound a request). ``switch`` is the
    # window planned, ``horizon`` the offset just past the furthest page offered so far (where
    # the planned window can begin without wasting a page in flight).
    span: int | None = None
    switch: Switch | None = None
    horizon: int = 0
    # A key that may be null (phases by started_at): the nulls come last in both orders, and a
    # window bounded by the key leaves them out, so when it ends the listing goes on in the
    # listing without a bound, ``base`` records in (where the window begins there), for them.
    nullable: bool = False
    base: int = 0
    tail: bool = False
    # Whether the key descends: a window bounded at a key may open with records whose key sorts
    # before it (an upper bound sent a tick late holds the next millisecond), behind the position.
    descending: bool = False
    # Finding where the nulls begin once the windows end (``_enter_tail``): the next page to
    # look at (None: not looking), the last offset known to hold a key, the first known to hold
    # a null or to be past the end, and how far the next gallop reaches.
    edge: int | None = None
    edge_low: int = -1
    edge_high: int | None = None
    edge_step: int = API_MAX_LIMIT
    edge_probes: int = 0
    done: bool = False
    # False once the server's cursors stop being offsets (next_cursor != cursor + limit): then
    # nothing is predicted or verified, the server's cursor is followed and repeats are dropped.
    offsets: bool = True
    speculate: bool = True
    # How far back a page predicted after another reaches before its first new record (see
    # _predict): the record before the last one, or as far as the tie groups met so far make
    # worth it (see _learn_ties).
    lead: int = attrs.field(default=2, repr=False)
    # What _learn_ties weighs the lead with: the records whose keys it read, and by rank r,
    # how many of them had at least r - 1 records of their group before them, and in how
    # many groups (a group as one page shows it).
    _keys_seen: int = attrs.field(default=0, repr=False, eq=False)
    _deep: dict[int, int] = attrs.field(factory=dict, repr=False, eq=False)
    _deep_groups: dict[int, int] = attrs.field(factory=dict, repr=False, eq=False)
    # Whether the next page can be checked against the anchor (it follows a full page).
    verify: bool = False
    restarting: bool = False
    search: tuple[int, ...] = ()
    searched: tuple[tuple[Fetch, Page[T]], ...] = attrs.field(default=(), repr=False)
    # The ids of the last page taken, in order: a fallback anchor when the anchor was deleted,
    # and a last guard against repeats.
    recent: tuple[Hashable, ...] = ()
    empty_run: int = 0
    # Recoveries in a row that yielded nothing (see MAX_RECOVERIES).
    recoveries: int = 0
    # Where the key moves: every id yielded, so that one met again is caught, never repeated.
    yielded: set[Hashable] = attrs.field(factory=set, repr=False)
    # The requests predicted from the state as it is (the Paginator asks several times a page;
    # they change only when a page is accepted). None: not worked out yet.
    planned: list[Fetch] | None = attrs.field(default=None, repr=False, eq=False)
    # How many requests to predict at once, at least: the most any caller asks for between two
    # pages (the Paginator's prefetch + 1), so that a page's plan is worked out once, not once
    # per count asked for. Predicting as far as the caller will ask anyway changes nothing
    # (``horizon`` reaches the same offset before the next page is taken).
    lookahead: int = attrs.field(default=1, repr=False, eq=False)
    # ``recent`` as a set, with the tuple it was made of: made when first asked for (or from
    # the ids a page was checked with, where a set of them was made), not once per use.
    _recent_ids: tuple[tuple[Hashable, ...], frozenset[Hashable] | set[Hashable]] | None = (
        attrs.field(default=None, repr=False, eq=False)
    )

    def __attrs_post_init__(self) -> None:
        if self.remaining == 0:
            self.done = True
        if self.anchor is not None and self.anchor.offset == self.cursor - 1:
            self.verify = True
            self.recent = (*self.recent, self.anchor.id)
        if self.anchor is not None and not self.done:
            # A position resumed past the span (the window planned after it is no part of a
            # position) enters the next window before its first page, not pages later: the
            # offsets sent stay within the span's bound however the listing was resumed.
            self._reanchor()

    _asked: int = attrs.field(default=0, repr=False, eq=False)
    # The last page whose ids were read, and its ids (see _ids).
    _page_ids: tuple[Page[T], list[Hashable]] | None = attrs.field(
        default=None, repr=False, eq=False
    )
    # The last page whose keys were compared, its runs of equal keys and whether its keys are
    # in the listing's order (see _key_runs).
    _page_runs: tuple[Page[T], list[tuple[int, int]], bool] | None = attrs.field(
        default=None, repr=False, eq=False
    )
    # The page requests made lately, by their fields (see _page_fetch).
    _fetches: dict[tuple[int, int, Any, Any], Fetch] = attrs.field(
        factory=dict, repr=False, eq=False
    )
    # Whether ``recent`` holds the records just before ``cursor``, in order (a page's, not
    # the ids a resumed position knows).
    _positional: bool = attrs.field(default=False, repr=False, eq=False)

    def snapshot(self) -> PageState[T]:
        """A copy to go back to (what ``collect()`` restores when it fails)."""
        return attrs.evolve(
            self,
            yielded=set(self.yielded),
            deep=dict(self._deep),
            deep_groups=dict(self._deep_groups),
        )

    @property
    def position(self) -> Position:
        """Where the listing stands after the last page taken."""
        return Position(self.cursor, self.pin, self.anchor, self.start, base=self.base)

    # -- what to fetch -------------------------------------------------------------------

    def next_fetches(self, pages: int) -> list[Fetch]:
        """The next ``pages`` requests: the first is certain, the rest predicted from offsets
        (offered only while the server's cursors follow them, and within ``max_items``)."""
        planned = self.planned
        # The first k of more predictions are the k predictions: a longer plan serves them.
        if planned is None or (len(planned) < pages and len(planned) == self._asked):
            asked = max(pages, self.lookahead)
            planned = self.planned = self._predict(asked)
            self._asked = asked
        return planned[:pages] if len(planned) > pages else planned

    def _predict(self, pages: int) -> list[Fetch]:
        if self.done:
            return []
        if self.pin_from == "probe":
            return [Fetch(0, 1, kind="probe")]
        if self.edge is not None:
            return [Fetch(self.edge, API_MAX_LIMIT, self.pin, "edge", None)]
        if self.search:
            return [Fetch(self.search[0], API_MAX_LIMIT, self.pin, "search", self.start)]
        if self.restarting:
            # Far enough to pass the ties already taken, which the window starts with (after
            # what its bound admits before the key: read on past that when it fills a page).
            assert self.anchor is not None
            new = self._new_per_page(0, self.remaining)
            limit = min(API_MAX_LIMIT, self.anchor.rank + new)
            # Reading on, a page overlaps the last record read, which must still be behind.
            return [Fetch(max(0, self.cursor - 1), limit, self.pin, "restart", self.start)]
        count = pages if self.speculate and self.offsets else min(pages, 1)
        fetches: list[Fetch] = []
        cursor, remaining, switch = self.cursor, self.remaining, self.switch
        lead = 1
        for k in range(count):
            if remaining is not None and remaining <= 0:
                break
            # A predicted page follows a full page whose last record it can check. The next
            # page reaches back to where its anchor's tie group begins (see _reach); one
            # predicted after another, whose last record's group is not known yet, reaches
            # ``lead`` records back (the largest group met so far and the record before it;
            # only the last record where the order has no key or its key moves). The lead is
            # read after the next page's reach, which may widen it.
            if k:
                overlap = min(lead, cursor)
            else:
                overlap = self._reach(cursor) if self.offsets and self.verify else 0
                if self.key_of is not None and not self.mutable:
                    lead = self.lead
            new = min(self.page_size, API_MAX_LIMIT - overlap)
            if remaining is not None:
                new = min(new, remaining)
            if switch is not None and cursor >= switch.at:
                # In the window planned: the same records, at offsets from its start.
                at, start = max(0, cursor - switch.delta - overlap), switch.key
                overlap = cursor - switch.delta - at
            else:
                at, start = cursor - overlap, self.start
            fetches.append(self._page_fetch(at, new + overlap, start))
            cursor += new
            if remaining is not None:
                remaining -= new
        self.horizon = max(self.horizon, cursor)
        return fetches

    def _page_fetch(self, cursor: int, limit: int, start: Any) -> Fetch:
        """The page request from ``cursor``: the very object predicted before, if it was (so
        the Paginator finds it in flight by identity, not by comparing fields)."""
        key = (cursor, limit, self.pin, start)
        fetch = self._fetches.get(key)
        if fetch is None:
            if len(self._fetches) >= 32:  # the pages around the position are what recur
                self._fetches.clear()
            fetch = self._fetches[key] = Fetch(cursor, limit, self.pin, "page", start)
        return fetch

    def _reach(self, cursor: int) -> int:
        """How many records before ``cursor`` the next page asks for: back to the record before
        the anchor's tie group, so that the page shows where the group begins (see _begins),
        and at least ``lead`` (what the pages predicted after it ask for: see _predict). Only
        the anchor where the order has no key or its key moves (verified otherwise)."""
        if self.key_of is None or self.mutable:
            return 1
        lead = self.lead
        back = self._begins()
        if back is not None:
            needed = cursor - back
            if needed > lead:
                self._lead_for(needed)
            return max(needed, min(lead, cursor))
        if self.anchor is not None and not self.anchor.complete:
            # A group walked by offsets: what precedes the anchor must be known to be taken,
            # which ``recent`` says once a page was taken (not of a position resumed).
            return min(lead, cursor, len(self.recent)) if self._positional else 1
        return min(lead, cursor)

    def _lead_for(self, needed: int) -> None:
        """Predicted pages reach ``needed`` records back from now on, where that costs no new
        record per page (a page smaller than the API's maximum asks for the overlap besides):
        twice as far, within that room and half a page, since each change of plan costs the
        pages in flight and tie groups vary in size. Past the room, every record of reach
        costs every page a new record: ``_learn_ties`` weighs that against the pages asked
        for again."""
        half, room = self.page_size // 2, API_MAX_LIMIT - self.page_size
        self.lead = max(self.lead, min(2 * needed, half, room))

    def _learn_ties(self, page: Page[T]) -> None:
        """Widen ``lead`` for the tie groups ``page`` shows: as far as the largest (and the
        record before it) where that is free (see _lead_for), and past that while the
        records met that a predicted page reaching ``lead`` back would miss the start of
        their group for are frequent enough to cost more than one more record of reach.

        A predicted page ends on a record whatever its group; if the group began ``lead``
        records or more before it, the page after it is asked for again (a page's worth). One
        more record of reach costs every page one new record (1 / page_size of a page). So
        the lead stops where fewer than 1 in page_size records sit that deep in their group,
        counted over the listing so far, and only on evidence (records of MIN_DEEP groups at
        least): one or two large groups met by chance do not cost every later page."""
        if self.key_of is None or self.mutable or len(page.items) <= self.lead:
            return
        self._keys_seen += len(page.items)
        lead = self.lead  # at least 2
        runs, _ = self._key_runs(page)
        sizes = [end - first for first, end in runs if end - first >= lead]
        if not sizes:
            return
        # Paid for, the reach stays within a tenth of the API's maximum, as far as any one
        # bulk import (a group of thousands in one instant) can widen it.
        room = API_MAX_LIMIT - self.page_size
        limit = min(self.page_size // 2, max(room, API_MAX_LIMIT // 10))
        deep = self._deep  # deep[r]: the records met with at least r - 1 before them in a group
        groups = self._deep_groups  # groups[r]: the groups those records were met in
        for size in sizes:
            for rank in range(lead, min(size, limit) + 1):
                deep[rank] = deep.get(rank, 0) + size - rank + 1
                groups[rank] = groups.get(rank, 0) + 1
        largest = max(sizes)
        self._lead_for(largest + 1)
        lead = self.lead
        while lead < limit and groups.get(lead, 0) >= MIN_DEEP:
            if deep[lead] * self.page_size <= self._keys_seen:
                break
            lead += 1
        self.lead = lead

    def _key_runs(self, page: Page[T]) -> tuple[list[tuple[int, int]], bool]:
        """The runs of records of ``page`` that share a key, two or more, as ``(first, end)``
        indexes, and whether its keys are in the listing's order (False where that is not
        known: a null key, keys that do not compare): read once per page (the tie groups it
        teaches, the repeats it may hold).

        Equal keys are adjacent in key order, so a run shows as keys equal to the next one.
        Each key is compared with the next once, in one pass in C: most are strictly in order,
        and only the others are looked at again (a tie, or keys out of order). Keys are
        compared, not hashed: an aware datetime's hash goes through its UTC offset, its
        equality with one of the same zone does not."""
        kept = self._page_runs
        if kept is not None and kept[0] is page:
            return kept[1], kept[2]
        assert self.key_of is not None
        keys = list(map(self.key_of, page.items))
        following = itertools.islice(keys, 1, None)
        try:
            # A byte per pair, 1 where strictly in order: the others are found by memchr.
            strict = bytes(map(operator.gt if self.descending else operator.lt, keys, following))
        except (TypeError, ValueError):
            # A null key (nulls come last), keys that do not compare, or comparisons that do
            # not answer a bool (a bytes of them cannot be made): each question asked apart.
            same = map(operator.eq, keys, itertools.islice(keys, 1, None))
            equal = list(itertools.compress(itertools.count(), same))
            in_order = operator.ge if self.descending else operator.le
            try:
                ordered = all(map(in_order, keys, itertools.islice(keys, 1, None)))
            except TypeError:
                ordered = False
        else:
            equal = [at for at in _zeros_in(strict) if keys[at] == keys[at + 1]]
            ordered = len(equal) == strict.count(0)
        runs: list[tuple[int, int]] = []
        first = last = -2
        for at in equal:
            if at != last + 1:  # a new run: the one before ended with the record after ``last``
                if last >= 0:
                    runs.append((first, last + 2))
                first = at
            last = at
        if last >= 0:
            runs.append((first, last + 2))
        self._page_runs = (page, runs, ordered)
        return runs, ordered

    def _begins(self) -> int | None:
        """The offset a page must start at to show where the anchor's tie group begins (the
        record before it, or the window's start), or None where that page could not also hold
        a new record (a group larger than a page, or one whose ids are not all known: counted,
        then). Counting the members taken cannot tell where a group begins: a record deleted
        before the position (a member taken included) moves the group back, and on a server
        that orders ties differently on every request the anchor may still sit at its old
        offset, with a member not taken yet in a slot before the page."""
        anchor = self.anchor
        if anchor is None or not anchor.complete:
            return None
        if anchor.first >= 0:
            back = max(0, anchor.first - 1)
        else:
            back = max(0, anchor.offset - anchor.rank)
        return back if anchor.offset + 1 - back < API_MAX_LIMIT else None

    def _new_per_page(self, overlap: int, remaining: int | None) -> int:
        new = min(self.page_size, API_MAX_LIMIT - overlap)
        return new if remaining is None else min(new, remaining)

    # -- what a page yields --------------------------------------------------------------

    def accept(self, fetch: Fetch, page: Page[T]) -> Chunk[T]:
        """Take the answer to ``fetch`` (which must be ``next_fetches(1)[0]``): the records it
        yields, and the state moved past it. Raises ConsistencyError if the place is lost and
        cannot be found again."""
        planned = self.planned
        if not planned or planned[0] is not fetch:  # most often the very request predicted
            expected = self.next_fetches(1)
            if not expected or fetch != expected[0]:
                raise PaginationError(
                    f"internal error: got an answer to {fetch}, expected {expected}"
                )
        self.planned = None  # whatever this page does to the state, the plan is of the old one
        before = self.position
        items = page.items
        if self.pin_from is not None:
            # The newest time, once there is a record to read it from: the bound of every
            # request from now on. A probe is asked once; nothing to read means no pin.
            assert self.time_of is not None
            pin = max(map(self.time_of, items), default=None)
            if pin is not None or fetch.kind == "probe":
                self.pin, self.pin_from = pin, None
            if fetch.kind == "probe":
                return self._nothing(fetch, page, before)
        if fetch.kind == "restart":
            self.restarting = False
        aligned = False  # lined up on the anchor: the page continues where the last one ended
        if fetch.kind == "restart" and (items or not page.has_more):
            # The window starts at the anchor's key: its group comes first, whole from here,
            # and what is not in the group comes after it. Drop the ties taken by id.
            if fetch.cursor > 0 and self._behind(items[:1]) != 1:
                # Reading on, the page no longer starts behind the key: what was read before
                # moved (deletions). Read the window again from its start.
                return self._restart_again(fetch, page, before)
            found = self._realign(fetch, page)
            if found is None:
                # Nothing of the group here. What sorts before its key is behind the position
                # (the bound admits the next millisecond): read on past it; after it, the group
                # is gone and the listing goes on from there.
                found = self._behind(items)
                if found == len(items) and page.has_more:
                    self.restarting, self.cursor = True, fetch.cursor + len(items)
                    return self._nothing(fetch, page, before)
            start = found
        elif fetch.kind == "page" and fetch.cursor < self.cursor:
            # Overlapping the anchor: the fast path is one comparison.
            assert self.anchor is not None
            aligned = True
            if not items and page.has_more:
                return self._empty(fetch, page, before)
            found = self._realign(fetch, page)
            if found is None:
                begins = self._begins() if self.key_of is not None and not self.mutable else None
                if begins is not None and fetch.cursor > begins:
                    # Predicted before the anchor's group was seen: it did not reach back to
                    # where the group begins. Asked for again from there (the pages after it
                    # stay as predicted), which is no recovery.
                    return self._nothing(fetch, page, before)
                return self._lost(fetch, page, before)
            start = found
        elif fetch.kind == "edge":
            found = self._find_edge(fetch, page)
            if found is None:
                return self._nothing(fetch, page, before)
            start = found
        elif fetch.kind == "search":
            assert self.anchor is not None
            found = self._realign(fetch, page, searching=True)
            if found is None:
                self.searched += ((fetch, page),)
                self.search = self.search[1:]
                if self.search:
                    return self._nothing(fetch, page, before)
                return self._fall_back(before)
            self.search, self.searched = (), ()
            start = found
        elif not items and page.has_more:
            return self._empty(fetch, page, before)
        else:
            start = 0
        return self._take(fetch, page, start, before, aligned=aligned)

    def _realign(self, fetch: Fetch, page: Page[T], *, searching: bool = False) -> int | None:
        """The index from which ``page`` holds records not taken yet, or None if it does not
        show where the listing stands (the place is lost)."""
        anchor = self.anchor
        assert anchor is not None
        items, id_of, key_of = page.items, self.id_of, self.key_of
        index = self._find(page, anchor.id)
        if key_of is None or (anchor.key is None and not anchor.complete):
            # No key to reason about ties with: the anchor is where the page continues from.
            return None if index is None else index + 1
        key = anchor.key
        members: Sequence[int]
        if index is not None:
            # The usual case: the anchor is in the page (at 0, or at 1 behind the record a page
            # reaches back to): its group is the run of its key around it, as the order sorts
            # it (the same trust as the rest of the page's order), found without a key per
            # record of the page.
            first = index
            while first > 0 and key_of(items[first - 1]) == key:
                first -= 1
            end = index + 1
            while end < len(items) and key_of(items[end]) == key:
                end += 1
            members = range(first, end)
        else:
            members = [i for i, item in enumerate(items) if key_of(item) == key]
        if self.mutable:
            # Only the page that continues exactly where the last one ended, its anchor with the
            # key it had, and nothing yielded before met again after it (a move the count of
            # the offsets did not show: two that cancel out).
            if index == 0 and key_of(items[0]) == key and self._clean(items):
                return 1
            raise ConsistencyError(self._moved_message())
        if not anchor.complete:
            # A tie group too large to hold by id: walked by offsets, verified by its anchor.
            if index is None or not self._shifted_by_taken(items, index):
                return None
            return index + 1
        if not members or members[-1] - members[0] + 1 != len(members):
            return None
        first = members[0]
        if first > 0 or fetch.cursor == 0:
            # The page shows where the group starts: every member not taken is new, and what
            # comes before the group was behind the position.
            return first
        if searching:
            return None  # inside the group, far from the anchor's slot: nothing to count on
        if self.key_of is not None and not self.mutable and self._begins() is not None:
            # A page that starts inside a group that one page can show from where it begins:
            # asked for from further on (predicted before the group was seen: see accept), or
            # the group moved back. Counting the members taken would not see that one of them
            # was deleted, nor, where ties are reordered on every request, that one not taken
            # yet moved into a slot before the page (see _begins).
            return None
        # A group too large for a page: it starts inside the group, whose members taken fill
        # the slots before it only if the rest of them are here: where the group ends in the
        # page, exactly the rest; where it goes on, no more than the rest (others may follow),
        # checked again at its end.
        back = anchor.offset - fetch.cursor  # the page's records before the anchor's slot
        hidden = anchor.offset - anchor.first if anchor.first >= 0 else anchor.rank - 1
        hidden -= back
        rest = anchor.rank - hidden
        ties = anchor.ties
        taken = sum(1 for i in members if id_of(items[i]) in ties)
        ends = members[-1] < len(items) - 1 or not page.has_more
        if hidden < 0 or not (taken == rest or (not ends and 1 <= taken <= rest)):
            return None
        # The anchor where it was, after the records before it (taken): a stable order.
        in_place = index == back and taken == back + 1
        if in_place and all(id_of(items[i]) in ties for i in range(back)):
            return back + 1
        return 0

    def _behind(self, items: Sequence[T]) -> int:
        """How many of ``items``, from the first, sort before the anchor's key (in a listing
        ordered by it): records the position has passed."""
        assert self.anchor is not None
        assert self.key_of is not None
        key, key_of, descending = self.anchor.key, self.key_of, self.descending
        count = 0
        for item in items:
            value = key_of(item)
            if value is None or value == key or (value < key) == descending:
                break
            count += 1
        return count

    def _clean(self, items: Sequence[T]) -> bool:
        """Whether no record yielded shows up again after the anchor (at index 0)."""
        assert self.anchor is not None
        taken = self.yielded | self.anchor.ties | set(self.recent)
        return not any(self.id_of(item) in taken for item in items[1:])

    def _shifted_by_taken(self, items: Sequence[T], index: int) -> bool:
        """Whether the records before the anchor at ``index`` are all known to be taken: a
        shift of the offsets (or of the order of ties already taken), not one that put a
        record not taken yet before the anchor."""
        known = self._recent_set()
        return all(self.id_of(item) in known for item in items[:index])

    def _recent_set(self) -> frozenset[Hashable] | set[Hashable]:
        """``recent`` as a set (made once for each value of ``recent``; never changed after)."""
        cached, recent = self._recent_ids, self.recent
        if cached is not None and cached[0] is recent:
            return cached[1]
        ids = frozenset(recent)
        self._recent_ids = (recent, ids)
        return ids

    def _usual_page(self, page: Page[T], ids: list[Hashable], start: int) -> range | None:
        """A page lined up on its anchor, if it is the usual one: from ``start`` on, the
        anchor's group as taken (its ties, in any order), then records past the anchor's key,
        each once, in an order by a key that does not move. Those cannot have been taken: what
        was taken sorts at or before the anchor, and its ties share its key. Their indexes;
        None otherwise (see _not_taken).

        A record repeated in a page shares its key with itself, and a page in order puts equal
        keys side by side: there, only the runs of equal keys are looked at for repeats, not
        every id hashed (the keys are compared anyway, for the tie groups). A page out of order
        (a server's bug, or keys that do not compare) is checked id by id."""
        anchor, key_of, items = self.anchor, self.key_of, page.items
        if key_of is None or self.mutable or anchor is None or anchor.key is None:
            return None
        ties, end = anchor.ties, start
        while end < len(ids) and ids[end] in ties:
            end += 1
        if end == len(ids) or key_of(items[end]) == anchor.key:
            return None  # nothing new here, or a member of the group not taken
        runs, ordered = self._key_runs(page)
        if not ordered:
            runs = [(end, len(ids))]
        for first, last in runs:
            first = max(first, end)
            if last - first > 1 and len(set(ids[first:last])) < last - first:
                return None  # a record repeats in the page
        return range(end, len(ids))

    def _not_taken(
        self, ids: list[Hashable], start: int
    ) -> tuple[Sequence[int], set[Hashable] | None]:
        """The indexes from ``start`` on of the ids not taken before (by ``recent`` and the
        anchor's ties), each once; and the set of those ids if it is the next page's
        ``recent`` (all of them new), else None."""
        recent = self._recent_set()
        ties = frozenset() if self.anchor is None else self.anchor.ties
        rest = ids[start:]
        # One set per page: it checks the page, and (with what comes before ``start``) is the
        # next page's ``recent``. A repeat among the records before ``start`` is taken by none.
        checked = set(rest)
        if len(checked) == len(rest):
            dropped = (recent & checked) | (ties & checked)
            if not dropped:
                return range(start, len(ids)), checked
            # Most often the records taken before lead the rest (the page reaches back to its
            # anchor's group): the new ones are then the rest of the page.
            lead = 0
            while lead < len(rest) and rest[lead] in dropped:
                lead += 1
            if lead == len(dropped):
                return range(start + lead, len(ids)), checked
        # Some of the page is dropped: not the next page's recent.
        taken = set(recent) | ties
        indexes = []
        for index in range(start, len(ids)):
            if ids[index] not in taken:
                taken.add(ids[index])
                indexes.append(index)
        return indexes, None

    def _take(
        self, fetch: Fetch, page: Page[T], start: int, before: Position, *, aligned: bool = False
    ) -> Chunk[T]:
        """Yield the records of ``page`` from index ``start`` on that were not taken before
        (``aligned``: ``start`` is where the page continues from its anchor)."""
        items = page.items
        ids = self._ids(page)
        usual = self._usual_page(page, ids, start) if aligned else None
        indexes: Sequence[int]
        fresh: set[Hashable] | None
        indexes, fresh = (usual, None) if usual is not None else self._not_taken(ids, start)
        all_new, new = indexes, len(indexes)
        # A search window or a restart may hold more than a page: take a page, and keep the
        # buffer bound.
        if fetch.kind != "page":
            indexes = indexes[: self.page_size]
        if self.remaining is not None:
            indexes = indexes[: self.remaining]
            self.remaining -= len(indexes)
        cut = len(indexes) < new
        # How far into the page the listing now stands: all of it, unless cut short above; then
        # just before the first record not taken, past the ones taken before in between (so
        # that every record of the anchor's group before it is one taken).
        through = all_new[len(indexes)] - 1 if cut else len(items) - 1
        self.empty_run = 0
        if indexes:
            self.recoveries = 0
            if self.mutable:
                self.yielded.update(ids[i] for i in indexes)
        if items:
            self._stand_at(fetch, page, ids, start, indexes, fresh, through)
        chunk = self._chunk(fetch, page, indexes, before, through)
        self._moved_past(fetch, page, cut, through)
        return chunk

    def _stand_at(
        self,
        fetch: Fetch,
        page: Page[T],
        ids: list[Hashable],
        start: int,
        indexes: Sequence[int],
        fresh: set[Hashable] | None,
        through: int,
    ) -> None:
        """The page's records at ``indexes`` are taken and the listing stands at its index
        ``through``: the anchor there, the tie groups the page shows learnt, and the ids up to
        it the next page is checked against (``fresh``, the set of the page's ids from
        ``start`` on, made when it was checked, if it holds them all)."""
        items = page.items
        self.anchor = self._anchor_at(items, through, self.anchor, indexes, fetch.cursor, ids)
        if self.offsets and self.lead < self.page_size // 2:
            self._learn_ties(page)
        self.recent = recent_ids = tuple(ids[: through + 1])
        self._positional = True
        if fresh is not None and through == len(items) - 1:
            fresh.update(ids[:start])
            self._recent_ids = (recent_ids, fresh)

    def _chunk(
        self, fetch: Fetch, page: Page[T], indexes: Sequence[int], before: Position, through: int
    ) -> Chunk[T]:
        """The Chunk of the records of ``page`` at ``indexes``, the listing then standing at
        its index ``through``."""
        items, cursor = page.items, fetch.cursor
        if isinstance(indexes, range):
            records: Sequence[T] = items[indexes.start : indexes.stop]
            offsets: Sequence[int] = range(cursor + indexes.start, cursor + indexes.stop)
        else:
            records = [items[i] for i in indexes]
            offsets = [cursor + i for i in indexes]
        return Chunk(
            records,
            offsets,
            page,
            indexes,
            fetch,
            self.pin,
            before,
            self._anchor_at,
            self.start,
            through,
            self.base,
        )

    def _moved_past(self, fetch: Fetch, page: Page[T], cut: bool, through: int) -> None:
        """Where the listing goes once ``page`` was taken up to its index ``through`` (``cut``:
        short of its end, by ``max_items`` or a page's bound on what a window yields)."""
        if self.remaining == 0:
            self.done = True
        elif not page.has_more and not cut:
            if self.nullable and self.start is not None:
                self._enter_tail()
            else:
                self.done = True
        elif cut:
            self.cursor, self.verify = fetch.cursor + through + 1, self.offsets
        else:
            self._advance(fetch, page)
        if not self.done:
            self._reanchor()

    def _reanchor(self) -> None:
        """Once the pages offered reach ``span`` records into the window, plan the next one at
        the anchor's key, from where those pages end; enter it once the listing gets there.

        On a server that walks its offsets (SQL's OFFSET), a page costs what it skips: bounded
        offsets keep a deep listing's cost linear in its length. The first page of the new
        window overlaps the anchor like any other, so continuity stays verified across it.
        """
        anchor = self.anchor
        if self.nullable and anchor is not None and anchor.key is None:
            # Past the last key into the nulls (only a listing without a bound has them): the
            # tail, where no window holds what is left.
            self.tail, self.switch = True, None
            return
        if (
            self.switch is None
            and self.restart
            and not self.tail  # past the windows: a new one would lead back here
            and self.span is not None
            # Counting the pages in flight: the window planned begins where they end.
            and max(self.cursor, self.horizon) >= self.span
            and self.offsets
            and anchor is not None
            and anchor.key is not None
            # Where the anchor's key begins is known, and a new window there makes progress
            # (a tie group larger than the span is walked by offsets inside it; a window at the
            # key this one starts at is this one, whatever its bound admits before the key).
            and anchor.first > 0
            and anchor.key != self.start
        ):
            self.switch = Switch(max(self.cursor, self.horizon), anchor.key, anchor.first)
        switch = self.switch
        if switch is None or self.cursor < switch.at:
            return
        self.switch = None
        assert anchor is not None
        if anchor.offset < switch.delta:
            return  # the listing shifted since the plan: plan again from where it stands
        # Every page from here is asked for in the new window: this window's offsets less delta.
        self.start, self.base = switch.key, self.base + switch.delta
        self.cursor -= switch.delta
        self.horizon = max(0, self.horizon - switch.delta)
        first = anchor.first - switch.delta if anchor.first >= switch.delta else -1
        self.anchor = attrs.evolve(anchor, offset=anchor.offset - switch.delta, first=first)

    def _enter_tail(self) -> None:
        """The windows the key bounds have ended: the records whose key is null follow, in the
        listing without a bound, where every record with a key ends. Records written since the
        windows began (phases have no pin) have moved that place: it is looked for, from where
        the last window began there, by the keys of the pages around it."""
        anchor = self.anchor
        self.start, self.switch, self.horizon, self.tail = None, None, 0, True
        base, self.base = self.base, 0
        estimate = base if anchor is None else anchor.offset + base
        self.edge, self.edge_low, self.edge_high = max(0, estimate), -1, None
        self.edge_step, self.edge_probes, self.verify = API_MAX_LIMIT, 0, False

    def _find_edge(self, fetch: Fetch, page: Page[T]) -> int | None:
        """The index in ``page`` where the nulls begin, if it shows it; else where to look next
        (galloping away from what the page holds, then halving). Nothing before the nulls can
        be one of them, and none was taken before: the tail is exact from where they begin."""
        assert self.key_of is not None
        items, cursor, key_of = page.items, fetch.cursor, self.key_of
        first_null = next((i for i, item in enumerate(items) if key_of(item) is None), None)
        if first_null is not None and (first_null > 0 or cursor == 0):
            self.edge = None
            return first_null
        self.edge_probes += 1
        if self.edge_probes > MAX_EDGE_PROBES:
            raise ConsistencyError(
                f"the records without a sort key moved faster than the listing could find "
                f"where they begin ({self.edge_probes} pages looked at, the last at {cursor}): "
                "records were created or deleted faster than the listing could follow"
            )
        # What an earlier page said may no longer hold (writes between the pages): a bound
        # the new one contradicts is forgotten, and the search widens again from there.
        if items and first_null is None:
            if not page.has_more:
                self.edge, self.done = None, True  # no record without a key
                return None
            self.edge_low = cursor + len(items) - 1
            if self.edge_high is not None and self.edge_high <= self.edge_low:
                self.edge_high, self.edge_step = None, API_MAX_LIMIT
        else:
            self.edge_high = cursor  # a null first, or past the end: the nulls begin before
            if self.edge_low >= self.edge_high:
                self.edge_low, self.edge_step = -1, API_MAX_LIMIT
        low, high = self.edge_low, self.edge_high
        if high is None:
            self.edge = low + 1 + self.edge_step
        elif low < 0:
            self.edge = max(0, high - self.edge_step)
        else:
            # A page from the last key known shows where the nulls begin once they are close.
            self.edge = low if high - low <= API_MAX_LIMIT else (low + high) // 2
        self.edge_step *= 2
        return None

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
        self.recoveries += 1
        if self.recoveries > MAX_RECOVERIES:
            raise ConsistencyError(self._unsteady_message())
        self.verify = False
        self.switch, self.horizon = None, 0  # planned from offsets that no longer hold
        # A group too large to drop by id restarts once; lost again at the same key, it is
        # searched for.
        retried = self.start == anchor.key and not anchor.complete
        # In the tail of nulls, a restart from the key would only lead back here: search.
        if self.restart and anchor.key is not None and not retried and not self.tail:
            # The new window begins where the anchor's group does in this one.
            begins = anchor.first if anchor.first >= 0 else anchor.offset - anchor.rank + 1
            self.base += max(0, begins)
            self.start = anchor.key
            if anchor.complete:
                # From the key on, the anchor's group comes first: drop the ties taken by id.
                # Where it begins in the new window is seen on the way.
                self.restarting, self.cursor = True, 0
                self.anchor = attrs.evolve(anchor, first=-1)
            else:
                # Too many ties to drop by id: continue after the anchor's place in the group,
                # where a stable order keeps it, and verify it is there.
                self.anchor = attrs.evolve(anchor, offset=anchor.rank - 1, first=0)
                self.cursor, self.verify = anchor.rank, True
        else:
            self.search = _search_windows(anchor)
        return self._nothing(fetch, page, before)

    def _restart_again(self, fetch: Fetch, page: Page[T], before: Position) -> Chunk[T]:
        """A restart lost its footing while reading on: start it over, a recovery."""
        self.recoveries += 1
        if self.recoveries > MAX_RECOVERIES:
            raise ConsistencyError(self._unsteady_message())
        self.restarting, self.cursor = True, 0
        return self._nothing(fetch, page, before)

    def _nothing(self, fetch: Fetch, page: Page[T], before: Position) -> Chunk[T]:
        return Chunk(
            (), (), page, (), fetch, self.pin, before, self._anchor_at, self.start, -1, self.base
        )

    def _find(self, page: Page[T], wanted: Hashable) -> int | None:
        """The index of the record ``wanted`` in ``page``, or None."""
        try:
            return self._ids(page).index(wanted)
        except ValueError:
            return None

    def _ids(self, page: Page[T]) -> list[Hashable]:
        """The ids of ``page``'s records, in order: read once per page (most pages look for
        their anchor among them, then take them)."""
        kept = self._page_ids
        if kept is not None and kept[0] is page:
            return kept[1]
        id_of = self.id_of
        if id_of is RECORD_ID:
            ids = [item.id for item in page.items]  # type: ignore[attr-defined]
        else:
            ids = list(map(id_of, page.items))
        self._page_ids = (page, ids)
        return ids

    def _fall_back(self, before: Position) -> Chunk[T]:
        """No window holds the anchor: it was deleted (or moved out of reach). Continue after
        the latest record of its page that is still there, if any window holds one; records
        after it were not taken (it is the latest taken that exists). One that shares its
        sort key with a neighbour is passed over: what follows it depends on how ties are
        ordered."""
        searched, self.searched, self.search = self.searched, (), ()
        for wanted in reversed(self.recent):
            for fetch, page in searched:
                found = self._find(page, wanted)
                if found is not None and self._alone(page.items, found):
                    return self._take(fetch, page, found + 1, before)
        raise ConsistencyError(self._lost_message())

    def _alone(self, items: Sequence[T], index: int) -> bool:
        """Whether ``items[index]`` shares its sort key with neither neighbour (or the order
        has no key): then what follows it does not depend on how ties are ordered."""
        key_of = self.key_of
        if key_of is None:
            return True
        key = key_of(items[index])
        neighbours = (items[i] for i in (index - 1, index + 1) if 0 <= i < len(items))
        return all(key_of(item) != key for item in neighbours)

    def _lost_message(self) -> str:
        anchor = self.anchor
        assert anchor is not None
        why = (
            "records with its sort key were reordered or changed too much to tell what was taken"
            if self.restart
            else "this order cannot restart from a sort key"
        )
        return (
            f"the listing lost its place: the record {anchor.id} it last handed out (offset "
            f"{anchor.offset}) is no longer within {SEARCH_WINDOWS * API_MAX_LIMIT // 2} records "
            f"of where it was, and {why}; records were created or deleted faster than the "
            "listing could follow"
        )

    def _unsteady_message(self) -> str:
        anchor = self.anchor
        assert anchor is not None
        return (
            f"the listing lost its place {self.recoveries} times in a row without finding it "
            f"again (last record handed out: {anchor.id}, offset {anchor.offset}, "
            f"{anchor.rank} taken with its sort key): the server moves records faster than "
            "the listing can follow, or orders records with equal sort keys differently on "
            "every request; list by a time order (created_at) for an exact listing"
        )

    def _moved_message(self) -> str:
        anchor = self.anchor
        assert anchor is not None
        return (
            f"records moved across the listing's position (after {anchor.id}, offset "
            f"{anchor.offset}): this order's key changes while the listing runs (a new run "
            "moves its unit), so a record may have been passed over or be met again (a server "
            "that orders equal keys differently on every request looks the same); the "
            "listing stops rather than guess. List by created_at for an exact listing under "
            "writes, or start again"
        )

    # -- the anchor ----------------------------------------------------------------------

    def _anchor_at(
        self,
        items: Sequence[T],
        index: int,
        previous: Anchor | None,
        taken: Sequence[int],
        cursor: int,
        ids: Sequence[Hashable] | None = None,
    ) -> Anchor:
        """The anchor at ``items[index]`` of a page from ``cursor``: its key, and the records
        taken that share it (``taken``: the indexes of ``items`` taken from this page; ``ids``:
        the ids of ``items``, if read already)."""
        record = items[index]
        record_id = self.id_of(record) if ids is None else ids[index]
        offset = cursor + index
        if self.key_of is None:
            return Anchor(record_id, offset)
        key_of, id_of = self.key_of, self.id_of
        key = key_of(record)
        first = index
        while first > 0 and key_of(items[first - 1]) == key:
            first -= 1
        group: Sequence[Hashable]
        if ids is None:
            group = [id_of(items[i]) for i in range(first, index + 1)]
        else:
            group = ids[first : index + 1]
        # Where the group begins in the window: seen here (a record of another key before it,
        # or the window's start), else as it was seen before.
        begins = cursor + first if first > 0 or cursor == 0 else -1
        if previous is not None and previous.key == key:
            if begins < 0:
                begins = previous.first
            # The group was met before (in an earlier page, or earlier in a window searched):
            # what was taken of it then counts too.
            if previous.complete:
                ties = previous.ties.union(group)
                rank = len(ties)
            else:
                ties = frozenset()
                rank = previous.rank + sum(1 for i in taken if first <= i <= index)
        else:
            ties = frozenset(group)
            rank = len(ties)
        if rank > MAX_TIES:
            ties = frozenset()
        return Anchor(record_id, offset, key, ties, rank, begins)


def _search_windows(anchor: Anchor) -> tuple[int, ...]:
    """Cursors of windows around the anchor's ``offset``, nearest first: the anchor moved back
    by deletions or forward by inserts since it was seen. Where its tie group is known, the
    first window starts just before the group, so that it shows the group whole."""
    offset = anchor.offset
    half = API_MAX_LIMIT // 2
    cursors: list[int] = []
    if anchor.complete and anchor.rank > 1:
        cursors.append(max(0, offset - anchor.rank))
    for ring in range(SEARCH_WINDOWS):
        reach = (ring // 2) * API_MAX_LIMIT
        # Even rings look back (deletions), odd rings forward (inserts), widening by a window.
        cursor = max(0, offset - half - reach) if ring % 2 == 0 else offset + half + reach
        if cursor not in cursors:
            cursors.append(cursor)
    return tuple(cursors)

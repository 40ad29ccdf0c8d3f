"""The pagination state machine: verified continuity, recovery, and the exactly-once property.

The transitions are tested pure; the property drives the Paginator (prefetch, answers out of
order, failures retried by iterating again, resume) against a model of the server that inserts
(also in the past and in ties), deletes and fails between and during requests.
"""

from __future__ import annotations

import asyncio
import operator
import random
from collections.abc import Callable
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiotofu import ConsistencyError, Page, PaginationError
from aiotofu._pagestate import (
    MAX_EMPTY_PAGES,
    Anchor,
    Fetch,
    PageState,
    Position,
)
from aiotofu._paginate import Listing, Paginator


@attrs.frozen
class Rec:
    id: str
    key: int = 0


def recs(*ids: str) -> tuple[Rec, ...]:
    return tuple(Rec(i) for i in ids)


ID: Callable[[Rec], str] = operator.attrgetter("id")
KEY: Callable[[Rec], int] = operator.attrgetter("key")


def ids(chunk: Any) -> list[str]:
    return [r.id for r in chunk.records]


# -- the usual path ----------------------------------------------------------------------


def test_every_page_after_the_first_starts_at_the_last_record_taken() -> None:
    state: PageState[Rec] = PageState(cursor=0, page_size=3, id_of=ID)
    assert state.next_fetches(3) == [Fetch(0, 3), Fetch(2, 4), Fetch(5, 4)]
    chunk = state.accept(Fetch(0, 3), Page(recs("a", "b", "c"), 0, True, 3))
    assert (ids(chunk), list(chunk.offsets)) == (["a", "b", "c"], [0, 1, 2])
    assert state.next_fetches(1) == [Fetch(2, 4)]
    chunk = state.accept(Fetch(2, 4), Page(recs("c", "d", "e", "f"), 2, True, 6))
    assert (ids(chunk), list(chunk.offsets)) == (["d", "e", "f"], [3, 4, 5])
    chunk = state.accept(Fetch(5, 4), Page(recs("f", "g"), 5, False, None))
    assert (ids(chunk), state.done) == (["g"], True)


def test_a_page_of_the_api_maximum_brings_one_record_less_after_the_first() -> None:
    state: PageState[Rec] = PageState(cursor=0, page_size=100, id_of=ID)
    assert state.next_fetches(2) == [Fetch(0, 100), Fetch(99, 100)]


def test_max_items_counts_new_records_not_the_overlap() -> None:
    state: PageState[Rec] = PageState(cursor=10, page_size=4, id_of=ID, remaining=6)
    assert state.next_fetches(5) == [Fetch(10, 4), Fetch(13, 3)]
    state.accept(Fetch(10, 4), Page(recs("a", "b", "c", "d"), 10, True, 14))
    chunk = state.accept(Fetch(13, 3), Page(recs("d", "e", "f"), 13, True, 16))
    assert (ids(chunk), state.done, state.remaining) == (["e", "f"], True, 0)


def test_max_items_zero_is_done_at_once() -> None:
    assert PageState(cursor=0, page_size=4, id_of=ID, remaining=0).done


def test_the_stream_ends_on_has_more_false_not_on_a_short_page() -> None:
    state: PageState[Rec] = PageState(cursor=0, page_size=5, id_of=ID)
    state.accept(Fetch(0, 5), Page(recs("a"), 0, True, 5))
    assert not state.done
    # Nothing to verify after a short page: the next one starts at the server's cursor.
    assert state.next_fetches(1) == [Fetch(5, 5)]


def test_an_answer_to_another_request_is_refused() -> None:
    with pytest.raises(PaginationError, match="internal error"):
        PageState(cursor=0, page_size=2, id_of=ID).accept(
            Fetch(5, 2), Page(recs("a"), 5, False, None)
        )


def test_a_server_whose_cursors_are_not_offsets_is_followed_without_prediction() -> None:
    state: PageState[Rec] = PageState(cursor=0, page_size=10, id_of=ID)
    state.accept(Fetch(0, 10), Page(recs("a"), 0, True, 7))
    assert (state.speculate, state.next_fetches(4)) == (False, [Fetch(7, 10)])
    chunk = state.accept(Fetch(7, 10), Page(recs("a", "b"), 7, False, None))
    assert ids(chunk) == ["b"]  # a repeat is dropped by id


def test_duplicates_within_a_page_are_dropped() -> None:
    state: PageState[Rec] = PageState(cursor=0, page_size=3, id_of=ID)
    assert ids(state.accept(Fetch(0, 3), Page(recs("a", "a", "b"), 0, False, None))) == ["a", "b"]


def test_one_empty_page_is_followed_and_a_long_run_is_an_error() -> None:
    state: PageState[Rec] = PageState(cursor=0, page_size=2, id_of=ID)
    for index in range(MAX_EMPTY_PAGES - 1):
        [fetch] = state.next_fetches(1)
        assert ids(state.accept(fetch, Page((), fetch.cursor, True, fetch.cursor + 2))) == []
        assert state.cursor == 2 * (index + 1)
    [fetch] = state.next_fetches(1)
    with pytest.raises(PaginationError, match=f"{MAX_EMPTY_PAGES} empty pages in a row"):
        state.accept(fetch, Page((), fetch.cursor, True, fetch.cursor + 2))


# -- when the result set moved -----------------------------------------------------------


def taken_abc(**options: Any) -> PageState[Rec]:
    state: PageState[Rec] = PageState(cursor=0, page_size=3, id_of=ID, **options)
    state.accept(Fetch(0, 3), Page((Rec("a", 9), Rec("b", 8), Rec("c", 7)), 0, True, 3))
    return state


def test_inserts_before_the_anchor_are_skipped_over() -> None:
    state = taken_abc()
    page = Page((Rec("x", 8), Rec("b", 8), Rec("c", 7), Rec("d", 6)), 2, True, 6)
    chunk = state.accept(Fetch(2, 4), page)
    assert (ids(chunk), list(chunk.offsets)) == (["d"], [5])
    assert state.next_fetches(1) == [Fetch(5, 4)]


def test_a_deleted_anchor_is_replaced_by_the_latest_record_of_its_page_still_there() -> None:
    state = taken_abc()
    # "c" was deleted, and "x" inserted before "b": the anchor is nowhere to be found.
    page = Page((Rec("x", 8), Rec("b", 8), Rec("d", 6), Rec("e", 5)), 2, True, 6)
    assert ids(state.accept(Fetch(2, 4), page)) == []
    window = Page(recs("a", "x", "b", "d", "e"), 0, False, None)
    fetches = []
    while not state.done:
        [search] = state.next_fetches(1)
        fetches.append(search.cursor)
        chunk = state.accept(search, window if search.cursor == 0 else Page((), 0, False, None))
    # Every window was searched for "c" first; then the nearest one holding "b" was used.
    assert fetches == [0, 52, 152, 252, 352]
    assert ids(chunk) == ["d", "e"]


def test_a_lost_anchor_restarts_from_its_key_dropping_the_ties_taken() -> None:
    state = taken_abc(key_of=KEY)
    # Two records before the anchor were deleted: the page at its offset starts further on.
    assert ids(state.accept(Fetch(2, 4), Page((Rec("e", 5),), 2, False, None))) == []
    assert state.next_fetches(3) == [Fetch(0, 3, 7, "restart")]
    page = Page((Rec("c", 7), Rec("d", 6), Rec("e", 5)), 0, True, 3)
    chunk = state.accept(Fetch(0, 3, 7, "restart"), page)
    assert ids(chunk) == ["d", "e"]
    assert state.next_fetches(1) == [Fetch(2, 4, 7)]  # verified again, under the new pin


def test_a_restart_drops_every_tie_already_taken_whatever_their_order() -> None:
    state: PageState[Rec] = PageState(cursor=0, page_size=3, id_of=ID, key_of=KEY)
    state.accept(Fetch(0, 3), Page((Rec("a", 9), Rec("b", 7), Rec("c", 7)), 0, True, 3))
    assert state.anchor == Anchor("c", 2, 7, frozenset({"b", "c"}))
    state.accept(Fetch(2, 4), Page((), 2, False, None))  # lost
    # At the restarted key the server may order the ties differently: every one taken is
    # dropped, one not taken yet ("y") is not.
    page = Page((Rec("c", 7), Rec("y", 7), Rec("b", 7)), 0, True, 3)
    assert ids(state.accept(Fetch(0, 3, 7, "restart"), page)) == ["y"]
    assert state.anchor == Anchor("b", 2, 7, frozenset({"b", "c", "y"}))


def test_without_a_key_a_lost_anchor_is_searched_for_nearest_first() -> None:
    state = taken_abc()
    state.accept(Fetch(2, 4), Page((Rec("z"),), 2, False, None))
    [search] = state.next_fetches(3)
    assert search == Fetch(0, 100, None, "search")
    page = Page(recs("a", "b", "c", "d", "e", "f", "g"), 0, False, None)
    chunk = state.accept(search, page)
    assert ids(chunk) == ["d", "e", "f"]  # a page's worth, then verified from there
    assert state.next_fetches(1) == [Fetch(5, 4)]


def test_a_position_that_cannot_be_found_again_is_a_consistency_error() -> None:
    state = taken_abc()
    state.accept(Fetch(2, 4), Page((Rec("z"),), 2, False, None))
    with pytest.raises(ConsistencyError, match="lost its place"):  # noqa: PT012
        while True:
            [search] = state.next_fetches(1)
            state.accept(search, Page(recs("z"), search.cursor, False, None))


def test_a_resumed_position_verifies_its_first_page() -> None:
    anchor = Anchor("c", 2, 7, frozenset({"c"}))
    state: PageState[Rec] = PageState(cursor=3, page_size=3, id_of=ID, key_of=KEY, anchor=anchor)
    assert state.next_fetches(1) == [Fetch(2, 4)]
    chunk = state.accept(Fetch(2, 4), Page((Rec("b", 8), Rec("c", 7), Rec("d", 6)), 2, False, None))
    assert ids(chunk) == ["d"]  # "c" moved by one: it is not handed out again


def test_positions_within_a_page_name_the_last_record_handed_out() -> None:
    state: PageState[Rec] = PageState(cursor=0, page_size=3, id_of=ID, key_of=KEY)
    chunk = state.accept(Fetch(0, 3), Page((Rec("a", 9), Rec("b", 9), Rec("c", 7)), 0, True, 3))
    assert chunk.position(0) == Position(0)
    assert chunk.position(2) == Position(2, None, Anchor("b", 1, 9, frozenset({"a", "b"})))
    assert chunk.position(3) == state.position


# -- the property: any interleaving of writes, deletions, faults and answer orders -------


class ModelServer:
    """A list endpoint over records sorted newest first by (key, id); ``pin`` bounds the key
    from above. Between and during requests a script inserts (in the past, in ties, in the
    future), deletes, and fails requests; answers come back after random delays, so that
    prefetched pages are answered out of order."""

    def __init__(
        self, count: int, script: list[tuple[str, int]], seed: int, descending: bool
    ) -> None:
        self.descending = descending
        self.records = sorted(
            (Rec(f"r{i:03d}", i // 2) for i in range(count)), key=self._order, reverse=descending
        )
        self.initial = list(self.records)
        self.deleted: set[str] = set()
        self.script = list(script)
        self.rng = random.Random(seed)
        self.serial = 0

    @staticmethod
    def _order(record: Rec) -> tuple[int, str]:
        return (record.key, record.id)

    def _step(self) -> None:
        if not self.script:
            return
        op, value = self.script.pop(0)
        if op == "insert":
            newest = max((r.key for r in self.records), default=0)
            self.serial += 1
            record = Rec(f"n{self.serial:03d}", max(0, newest - value))
            self.records.append(record)
            self.records.sort(key=self._order, reverse=self.descending)
        elif op == "delete" and self.records:
            gone = self.records.pop(value % len(self.records))
            self.deleted.add(gone.id)
        elif op == "fail":
            raise RuntimeError("injected failure")

    async def fetch(self, fetch: Fetch) -> Page[Rec]:
        for _ in range(self.rng.randrange(4)):
            await asyncio.sleep(0)
        self._step()
        # The pin bounds the side writers move: newest first from above, oldest first (set only
        # by a restart) from below.
        if fetch.pin is None:
            rows = self.records
        elif self.descending:
            rows = [r for r in self.records if r.key <= fetch.pin]
        else:
            rows = [r for r in self.records if r.key >= fetch.pin]
        items = tuple(rows[fetch.cursor : fetch.cursor + fetch.limit])
        more = fetch.cursor + fetch.limit < len(rows)
        return Page(items, fetch.cursor, more, fetch.cursor + fetch.limit if more else None)


OPS = st.lists(
    st.tuples(st.sampled_from(["insert", "delete", "fail", "none"]), st.integers(0, 40)),
    max_size=40,
)


@settings(
    deadline=None, max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    count=st.integers(0, 60),
    page_size=st.integers(1, 12),
    prefetch=st.integers(0, 3),
    script=OPS,
    keyed=st.booleans(),
    descending=st.booleans(),
    cut=st.integers(0, 80),
    seed=st.integers(0, 2**16),
)
async def test_every_record_that_lives_through_the_listing_is_yielded_exactly_once(
    count: int,
    page_size: int,
    prefetch: int,
    script: list[tuple[str, int]],
    keyed: bool,
    descending: bool,
    cut: int,
    seed: int,
) -> None:
    server = ModelServer(count, script, seed, descending)

    def listing(start: Position | None) -> Paginator[Rec]:
        listing = Listing(
            server.fetch,
            ID,
            key_of=KEY if keyed else None,
            # Newest first: the newest key is the pin, as the batches listing does.
            pin_of_page=(lambda page: max((r.key for r in page.items), default=None))
            if start is None and descending
            else None,
        )
        return Paginator(
            listing, page_size=page_size, max_items=None, prefetch=prefetch, start=start
        )

    got: list[Rec] = []
    paginator = listing(None)
    resumed = False
    while True:
        try:
            async for record in paginator:
                got.append(record)
                if len(got) == cut and not resumed:
                    # Stop here and continue from the position, as a resume token would.
                    position = paginator.position
                    await paginator.aclose()
                    paginator, resumed = listing(position), True
                    break
            else:
                break
        except ConsistencyError:
            # Only an order with no key to restart from may give up, and only once the record
            # last handed out and the page it came in were deleted: then it raises, it never
            # guesses.
            assert not keyed
            assert server.deleted & {r.id for r in got}
            return
        except RuntimeError:
            continue  # a failed page: iterating again continues from the same position
    yielded = [r.id for r in got]
    assert len(yielded) == len(set(yielded)), "a record was yielded twice"
    survivors = [r.id for r in server.initial if r.id not in server.deleted]
    assert [i for i in yielded if i in set(survivors)] == survivors, "lost or out of order"

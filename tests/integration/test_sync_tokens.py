"""SyncPaginator's resume_token after any mix of next(), pages() and collect(), held to the async
Paginator's own tokens, end to end against the emulator.

Each script is played on an async Paginator and on a SyncPaginator of the same listing: after
every step both must have handed out the same records and give the same token, and resuming
from the last token must continue exactly after the last record handed out.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

import aiotofu
from aiotofu.testing import Emulator
from tests.helpers import sync_listed_cursors

Step = tuple[str, int]

# (name, steps): ("next", k) takes k records one by one, ("for", k) iterates with a for loop
# and breaks after k, ("pages", n) takes n pages, ("collect", 0) collects the rest.
SCRIPTS: list[tuple[str, list[Step]]] = [
    ("next-then-collect", [("next", 5), ("collect", 0)]),
    ("a-whole-page-then-collect", [("next", 30), ("collect", 0)]),
    ("across-pages-then-collect", [("next", 45), ("collect", 0)]),
    ("iteration-stopped-mid-page-then-collect", [("for", 40), ("collect", 0)]),
    ("pages-then-collect", [("pages", 1), ("collect", 0)]),
    ("pages-next-collect", [("pages", 2), ("next", 3), ("collect", 0)]),
    ("next-then-pages", [("next", 5), ("pages", 2)]),
    ("next-pages-next-pages", [("next", 5), ("pages", 1), ("next", 3), ("pages", 1)]),
    ("collect-twice", [("next", 5), ("collect", 0), ("collect", 0), ("next", 1)]),
    ("collect-only", [("collect", 0)]),
]


def _options(prefetch: int, max_items: int | None) -> dict[str, Any]:
    return {"page_size": 30, "prefetch": prefetch, "max_items": max_items}


async def _play_async(
    emu: Emulator, steps: Sequence[Step], options: dict[str, Any]
) -> list[tuple[list[str], str]]:
    """The async Paginator's records and token after each step."""
    seen: list[tuple[list[str], str]] = []
    async with emu.client() as client:
        paginator = client.batches.list(**options)
        for kind, count in steps:
            got: list[aiotofu.Batch] = []
            if kind in ("next", "for"):
                async for batch in paginator:
                    got.append(batch)
                    if len(got) == count:
                        break
            elif kind == "pages":
                pages = paginator.pages()
                async for page in pages:
                    got += page.items
                    count -= 1
                    if count == 0:
                        break
            else:
                got = await paginator.collect()
            seen.append(([b.id for b in got], paginator.resume_token))
        await paginator.aclose()
    return seen


def _play_sync(
    client: aiotofu.SyncClient, steps: Sequence[Step], options: dict[str, Any]
) -> list[tuple[list[str], str]]:
    """The SyncPaginator's records and token after each step."""
    seen: list[tuple[list[str], str]] = []
    with client.batches.list(**options) as iterator:
        for kind, count in steps:
            got: list[aiotofu.Batch] = []
            if kind == "next":
                for _ in range(count):
                    try:
                        got.append(next(iterator))
                    except StopIteration:
                        break
            elif kind == "for":
                for batch in iterator:
                    got.append(batch)
                    if len(got) == count:
                        break
            elif kind == "pages":
                for page in iterator.pages():
                    got += page.items
                    count -= 1
                    if count == 0:
                        break
            else:
                got = iterator.collect()
            seen.append(([b.id for b in got], iterator.resume_token))
    return seen


@pytest.mark.parametrize("prefetch", [0, 2])
@pytest.mark.parametrize("max_items", [None, 100])
@pytest.mark.parametrize(("name", "steps"), SCRIPTS, ids=[name for name, _ in SCRIPTS])
def test_the_sync_token_after_any_mix_of_next_pages_and_collect_is_the_async_one(
    threaded_emu: Emulator, name: str, steps: list[Step], prefetch: int, max_items: int | None
) -> None:
    """After every step the sync iterator has handed out what the async one did and gives the
    same token; resuming from the last token continues just after the last record handed out
    (with max_items, the listing goes on past it: nothing repeated, nothing skipped)."""
    options = _options(prefetch, max_items)
    expected = asyncio.run(_play_async(threaded_emu, steps, options))
    with aiotofu.SyncClient(threaded_emu.api_key, base_url=threaded_emu.base_url) as client:
        full = [b.id for b in client.batches.list(page_size=100)]
        seen = _play_sync(client, steps, options)
        for step, (got, want) in enumerate(zip(seen, expected, strict=True)):
            assert got[0] == want[0], f"{name}: records of step {step}"
            assert got[1] == want[1], f"{name}: token after step {step}"
        handed_out = [record for records, _ in seen for record in records]
        rest = [b.id for b in client.batches.resume(seen[-1][1])]
    assert handed_out + rest == full


@pytest.mark.parametrize("prefetch", [0, 2])
@pytest.mark.parametrize(("before", "failing_page"), [(0, 1), (5, 2)])
def test_a_collect_that_fails_on_a_later_page_counts_nothing_it_gathered(
    threaded_emu: Emulator, prefetch: int, before: int, failing_page: int
) -> None:
    """collect() gets a page, then the next one fails: the token still marks the last record
    taken before collect() (or the start), and collect() again returns everything after it,
    once. (Pages of 30 overlap the page before: where they start is read from a listing.)"""
    failing_cursor = sync_listed_cursors(threaded_emu, page_size=30)[failing_page]
    options = _options(prefetch, None)
    with aiotofu.SyncClient(
        threaded_emu.api_key, base_url=threaded_emu.base_url, retry=None
    ) as client:
        full = [b.id for b in client.batches.list(page_size=100)]
        # Injected first: with prefetch, that page may be asked for before collect() is.
        threaded_emu.inject(500, cursor=failing_cursor)
        with client.batches.list(**options) as iterator:
            first = [next(iterator).id for _ in range(before)]
            token = iterator.resume_token
            with pytest.raises(aiotofu.ServerError):
                iterator.collect()
            assert iterator.resume_token == token
            rest = [b.id for b in iterator.collect()]
        assert first + rest == full
        resumed = [b.id for b in client.batches.resume(token)]
    assert first + resumed == full

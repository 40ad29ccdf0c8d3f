"""Pages fetched ahead of the consumer wait as their answers, decoded when taken: reported once
each (``on_page``), with the seconds of their exchange and decoding, not of their wait; a body
that does not decode fails when the consumer reaches it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import aiotofu
from aiotofu import _sansio
from aiotofu.testing import MockTransport, Request, Response, json_response

KEY = "secret-key-123"
RECORD = {"id": "a", "number": "N1", "unit_count": 1}
TOTAL = 50


def answer(request: Request) -> Response:
    """Batches r00...r49, a second apart, oldest first."""
    query = dict(request.query)
    cursor, limit = int(query["cursor"]), int(query["limit"])
    ids = range(cursor, min(cursor + limit, TOTAL))
    data = [
        {**RECORD, "id": f"r{i:02}", "number": f"N{i}", "created_at": f"2024-01-15T10:30:{i:02}Z"}
        for i in ids
    ]
    more = cursor + limit < TOTAL
    return json_response(
        {"data": data, "meta": {"has_more": more, "next_cursor": cursor + limit if more else None}}
    )


def counting_decodes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The bodies decoded so far, by their size (a list that grows)."""
    decoded: list[int] = []
    decode_body = _sansio.decode_body

    def counted(body: bytes, cls: type[Any]) -> Any:
        decoded.append(len(body))
        return decode_body(body, cls)

    monkeypatch.setattr(_sansio, "decode_body", counted)
    return decoded


async def test_pages_fetched_ahead_are_decoded_when_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    """Their records are not made while they wait (bytes do not cost the garbage collector)."""
    decoded = counting_decodes(monkeypatch)
    transport = MockTransport(answer)
    async with aiotofu.Client(KEY, transport=transport) as client:
        listing = client.batches.list(page_size=10, prefetch=2, sort_order="asc")
        async with listing:
            first = await listing.__anext__()
            await asyncio.sleep(0.01)  # the pages fetched ahead have their answers
            assert first.id == "r00"
            assert len(transport.requests) == 3
            assert len(decoded) == 1, "a page waiting for the consumer was decoded"
            rest = [record.id async for record in listing]
    assert rest == [f"r{i:02}" for i in range(1, TOTAL)]
    assert len(decoded) == len(transport.requests)


async def test_each_page_answered_is_reported_once_without_its_wait() -> None:
    """Taken, or let go when the listing closes: every answer is a PageEvent, once. A page that
    waited for the consumer reports its exchange and its decoding, not its wait."""
    events: list[aiotofu.PageEvent] = []
    transport = MockTransport(answer)
    async with aiotofu.Client(KEY, transport=transport, on_page=events.append) as client:
        listing = client.batches.list(page_size=10, prefetch=2, sort_order="asc")
        async with listing:
            async for record in listing:
                await asyncio.sleep(0.02)  # a slow consumer: each page waits for it
                if record.id == "r15":
                    break
    requested = sorted(int(dict(r.query)["cursor"]) for r in transport.requests)
    assert sorted(e.cursor for e in events) == requested, "a page answered was not reported once"
    assert len(requested) > 2  # pages fetched ahead were let go unread, and reported
    assert all(e.records > 0 for e in events)
    assert max(e.seconds for e in events) < 0.02, [e.seconds for e in events]


async def test_a_page_fetched_ahead_that_does_not_decode_fails_when_reached() -> None:
    """Every record before it is yielded first; then DecodeError, and no task is left."""

    def broken_second_page(request: Request) -> Response:
        if int(dict(request.query)["cursor"]) > 5:
            return Response(200, {"Content-Type": "application/json"}, b'{"data": [')
        return answer(request)

    got: list[str] = []

    async def consume(listing: aiotofu.Paginator[aiotofu.Batch]) -> None:
        async for record in listing:
            got.append(record.id)
            await asyncio.sleep(0)  # the page after it is answered meanwhile

    async with aiotofu.Client(KEY, transport=MockTransport(broken_second_page)) as client:
        listing = client.batches.list(page_size=10, prefetch=2, sort_order="asc")
        with pytest.raises(aiotofu.DecodeError):
            await consume(listing)
    assert got == [f"r{i:02}" for i in range(10)]
    assert {t for t in asyncio.all_tasks() if t is not asyncio.current_task()} == set()

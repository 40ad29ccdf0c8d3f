"""What the ``aiotofu`` logger says, and what ``on_page`` receives: a NullHandler (nothing
printed unless the application configures logging), a DEBUG line per request (method, path
with its query, status, seconds, try; never the key), retries at WARNING, a PageEvent per
page."""

from __future__ import annotations

import logging

import pytest

import aiotofu
from aiotofu.testing import MockTransport, Request, Response, VirtualClock, json_response

KEY = "secret-key-123"
RECORD = {"id": "a", "number": "N1", "created_at": "2024-01-15T10:30:00Z", "unit_count": 1}


def page(records: int, has_more: bool, next_cursor: int | None, first: int = 0) -> Response:
    data = [{**RECORD, "id": f"r{i}", "number": f"N{i}"} for i in range(first, first + records)]
    return json_response({"data": data, "meta": {"has_more": has_more, "next_cursor": next_cursor}})


def scripted(*answers: Response) -> MockTransport:
    queue = list(answers)
    return MockTransport(lambda request: queue.pop(0))


def test_the_aiotofu_logger_has_a_null_handler() -> None:
    """So that its warnings do not print through logging's last resort when the application
    configured no logging (and the README's "basicConfig shows them" is true)."""
    handlers = logging.getLogger("aiotofu").handlers
    assert any(type(handler) is logging.NullHandler for handler in handlers)


async def test_each_request_is_logged_at_debug_without_the_key(
    clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    transport = scripted(Response(503, {}, b""), page(2, False, None))
    caplog.set_level(logging.DEBUG, logger="aiotofu")
    async with aiotofu.Client(KEY, transport=transport) as client:
        await client.batches.list(page_size=2, search_query="SN 1").collect()
    debug = [r for r in caplog.records if r.levelno == logging.DEBUG and r.name == "aiotofu"]
    lines = [r.getMessage() for r in debug]
    assert len(lines) == 2, lines
    first, second = lines
    assert first.startswith("GET /api/v2/batches?")
    assert "limit=2" in first
    assert "search_query=SN+1" in first
    assert ": 503 in " in first
    assert first.endswith("(try 1)")
    assert ": 200 in " in second
    assert second.endswith("(try 2)")
    # The same facts as data, for a handler that wants them.
    assert [(r.request.status, r.request.attempt) for r in debug] == [(503, 1), (200, 2)]  # type: ignore[attr-defined]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "retrying GET" in warnings[0].getMessage()
    assert KEY not in caplog.text
    assert all(KEY not in repr(r.__dict__) for r in caplog.records)


async def test_a_request_with_no_answer_is_logged_with_its_error(
    clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    def refuse(request: Request) -> Response:
        raise aiotofu.TransportError("connection refused")

    caplog.set_level(logging.DEBUG, logger="aiotofu")
    async with aiotofu.Client(KEY, transport=MockTransport(refuse), retry=None) as client:
        with pytest.raises(aiotofu.TransportError):
            await client.batches.list().collect()
    [line] = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert ": TransportError in " in line
    assert line.endswith("(try 1)")


async def test_on_page_gets_a_page_event_per_page(clock: VirtualClock) -> None:
    """Resource, cursor, records, seconds, attempts: a retried page counts its tries. (The
    second page is asked from cursor 0: it overlaps the last record and the one before, to
    verify continuity where the last record's tie group begins.)"""
    transport = scripted(page(2, True, 2), Response(502, {}, b""), page(2, False, None, first=1))
    events: list[aiotofu.PageEvent] = []
    async with aiotofu.Client(KEY, transport=transport, on_page=events.append) as client:
        records = await client.batches.list(page_size=2, prefetch=0, sort_order="asc").collect()
    assert len(records) == 3
    assert [(e.resource, e.cursor, e.records, e.attempts) for e in events] == [
        ("batches", 0, 2, 1),
        ("batches", 0, 2, 2),
    ]
    assert all(e.seconds >= 0 for e in events)


def test_on_page_must_be_callable() -> None:
    with pytest.raises(aiotofu.InvalidParameterError, match="on_page"):
        aiotofu.Client(KEY, on_page=42)  # type: ignore[arg-type]


def test_page_events_take_keyword_arguments_so_that_fields_can_be_added() -> None:
    event = aiotofu.PageEvent(resource="runs", cursor=0, records=3, seconds=0.1, attempts=1)
    assert event.records == 3
    with pytest.raises(TypeError):
        aiotofu.PageEvent("runs", 0, 3, 0.1, 1)  # type: ignore[misc]

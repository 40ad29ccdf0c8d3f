"""The requester: how every request of a client is sent, once, whatever the resource.

It owns the client-wide concurrency limit, the pause that a 429 imposes on every request of the
client, the retry loop (the decisions are RetryPolicy's, the waiting happens here, on the
client's clock) and hands each complete answer to a decoder that maps statuses to errors. Each
retry is reported as data, a :class:`RetryEvent`, to the client's ``on_retry`` hook and on the
``aiotofu`` logger's record (``record.retry``), never as text to be parsed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

import attrs

from ._clock import Clock
from ._retry import RetryPolicy
from ._sansio import Request, Response, build_request, explain_not_found
from .errors import APIError, NotFoundError, RateLimitError, TransportError

__all__ = ["Requester", "RetryEvent", "Transport"]

R = TypeVar("R")

logger = logging.getLogger("aiotofu")


class Transport(Protocol):
    """Sends one request and returns the complete response (body read, connection released).

    A failure to get one raises TransportError. ``aiotofu.testing.MockTransport`` is one that
    answers from a function; the default sends with aiohttp.
    """

    def send(self, request: Request) -> Coroutine[Any, Any, Response]:
        """Send ``request``; the whole response."""
        ...

    async def aclose(self) -> None:
        """Release what the transport holds."""
        ...


@attrs.frozen
class RetryEvent:
    """One retry: which request failed (``method``, ``path`` and the page ``cursor``, None for
    a request without one), which try it was (``attempt`` of ``attempts``), the ``error``, and
    the ``wait`` in seconds before the next try. ``kind`` is the status (``"503"``) or
    ``"transport"`` for a connection that failed or timed out."""

    method: str
    path: str
    cursor: int | None
    attempt: int
    attempts: int
    wait: float
    error: APIError | TransportError

    @property
    def kind(self) -> str:
        """``"429"``, ``"503"``...: the status that failed; ``"transport"`` for no answer."""
        return str(self.error.status) if isinstance(self.error, APIError) else "transport"


class Requester:
    """Builds, limits, sends, retries and decodes the requests of one client."""

    def __init__(
        self,
        transport: Transport,
        *,
        base_url: str,
        api_key: str,
        user_agent: str,
        retry: RetryPolicy | None,
        max_concurrency: int,
        clock: Clock,
        on_retry: Callable[[RetryEvent], None] | None = None,
    ) -> None:
        self.transport = transport
        self.base_url = base_url
        self._api_key = api_key  # never in a repr, an error or a log line
        self._user_agent = user_agent
        self._retry = retry
        self._limiter = asyncio.Semaphore(max_concurrency)
        self.clock = clock
        self._on_retry = on_retry
        self._paused_until = 0.0

    def __repr__(self) -> str:
        return f"<aiotofu requester for {self.base_url}>"

    def request(self, path: str, query: list[tuple[str, str]] | None = None) -> Request:
        """A GET request for ``path`` below the base URL, with the key and our User-Agent."""
        return build_request(
            self.base_url, path, api_key=self._api_key, query=query, user_agent=self._user_agent
        )

    async def send(self, request: Request, decode: Callable[[Response], R]) -> R:
        """Send ``request`` within the concurrency limit, retry per the policy, decode the answer.

        A 429 pauses every request of this client, not only this one: the others would only
        earn more 429s.
        """
        attempt = 0
        while True:
            attempt += 1
            async with self._limiter:
                # Inside the limiter: a request that was queued for a slot when a 429 came
                # back must wait out the pause too.
                if self._paused_until:
                    await self._wait_while_paused()
                try:
                    return decode(await self.transport.send(request))
                except NotFoundError as exc:  # on a list path: most likely a wrong base URL
                    error: APIError | TransportError = explain_not_found(
                        exc, request, self.base_url
                    )
                except (APIError, TransportError) as exc:
                    error = exc
            wait = self._retry.wait_before_retry(attempt, error) if self._retry else None
            if wait is None:
                raise error
            self._report(request, attempt, wait, error)
            if isinstance(error, RateLimitError):
                self._paused_until = max(self._paused_until, self.clock.monotonic() + wait)
            else:
                await self.clock.sleep(wait)

    def _report(
        self, request: Request, attempt: int, wait: float, error: APIError | TransportError
    ) -> None:
        cursor = next((value for key, value in request.query if key == "cursor"), None)
        event = RetryEvent(
            method=request.method,
            path=urlsplit(request.url).path,
            cursor=None if cursor is None else int(cursor),
            attempt=attempt,
            attempts=self._retry.attempts if self._retry else 1,
            wait=wait,
            error=error,
        )
        target = event.path if cursor is None else f"{event.path} (cursor {cursor})"
        logger.warning(
            "retrying %s %s in %.2f s (try %d of %d failed: %s)",
            event.method,
            target,
            wait,
            attempt,
            event.attempts,
            error,
            extra={"retry": event},
        )
        if self._on_retry is not None:
            self._on_retry(event)

    async def _wait_while_paused(self) -> None:
        while (delay := self._paused_until - self.clock.monotonic()) > 0:
            await self.clock.sleep(delay)
        self._paused_until = 0.0  # no pause: the hot path skips this call

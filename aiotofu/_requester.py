"""The requester: how every request of a client is sent, once, whatever the resource.

It owns the client-wide concurrency limit (a ``_concurrency.Controller``: the window, the rate
buckets and the pause that a 429 imposes on every request of the client; tries wait their turn
in its ``_Gate``, in order of arrival), the retry loop (the decisions are RetryPolicy's, the
waiting happens here, on the client's clock) and hands each complete answer to a decoder
that maps statuses to errors. Each retry is reported as data, a :class:`RetryEvent`, to the
client's ``on_retry`` hook and on the ``aiotofu`` logger's record (``record.retry``), never as
text to be parsed; each page answered as a :class:`PageEvent` to ``on_page``. Each try is
logged at DEBUG (``record.request``, a :class:`RequestLog`) and, with OpenTelemetry installed,
traced (``_telemetry``).

Once the client is closing, a request that fails is not retried nor reported: it failed because
the client closed its connections (aiohttp's "Connector is closed"), and it ends with
StateError, which a listing's prefetch, whose consumer has gone, drops silently.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar
from urllib.parse import urlencode, urlsplit

import attrs

from ._clock import Clock
from ._concurrency import Controller, Outcome, Ticket, classify
from ._events import PageEvent, resource_of
from ._models import Page
from ._retry import RetryPolicy
from ._sansio import (
    Request,
    Response,
    check_page,
    explain_not_found,
    request_headers,
    request_url,
)
from .errors import (
    APIError,
    NotFoundError,
    RateLimitError,
    RequestTimeoutError,
    StateError,
    TransportError,
)

if TYPE_CHECKING:
    from ._telemetry import Exchange, Telemetry

__all__ = ["Received", "RequestLog", "Requester", "RetryEvent", "Transport"]

R = TypeVar("R")
T = TypeVar("T")

logger = logging.getLogger("aiotofu")
# A library's logger: silent unless the application configures logging (without a handler,
# logging would print its warnings through its handler of last resort).
logger.addHandler(logging.NullHandler())


class Transport(Protocol):
    """Sends one request and returns the complete response (body read, connection released).

    A failure to get one raises TransportError. ``aiotofu.testing.MockTransport`` is one that
    answers from a function; the default sends with aiohttp. A transport may also have
    ``hooked() -> bool``: whether hooks of its HTTP client (an instrumentation's) may run in the
    context a request is sent in; one without it is taken to say they may.
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
    ``"transport"`` for a connection that failed or timed out. ``concurrency_limit`` and
    ``rate_limit`` are the limits in force once this failure was taken into account: the
    requests the client may have in flight, and the requests per second it may start (None:
    no rate limit)."""

    method: str
    path: str
    cursor: int | None
    attempt: int
    attempts: int
    wait: float
    error: APIError | TransportError
    concurrency_limit: int | None = None
    rate_limit: float | None = None

    @property
    def kind(self) -> str:
        """``"429"``, ``"503"``...: the status that failed; ``"transport"`` for no answer."""
        return str(self.error.status) if isinstance(self.error, APIError) else "transport"


@attrs.frozen(kw_only=True)
class RequestLog:
    """One try of a request, as logged at DEBUG (``record.request``): ``method``, ``target``
    (the path with its query: the key is never in it, it travels in a header), ``status``
    (None when no answer came), ``error`` (the exception's class name, or None), ``seconds``
    and ``attempt`` (1 for the first try)."""

    method: str
    target: str
    status: int | None
    error: str | None
    seconds: float
    attempt: int


class Received(Generic[T]):
    """A page's answer, received whole and checked (its status, its content type), its records
    not decoded yet: what a page fetched ahead of its consumer waits as (``Requester.receive``).
    A page waiting so is its bytes, not hundreds of objects that the garbage collector would
    walk again and again while they wait (and then promote, and walk with the whole heap).

    Calling it decodes the page, once, and reports it as a page decoded on arrival is (the
    client's ``PageEvent``, the metrics), its ``seconds`` those of the exchange and of the
    decoding, not of the wait; DecodeError then if the body does not fit.
    """

    __slots__ = ("_decode", "_page", "_report", "_response")

    def __init__(self, response: Response, decode: Callable[[Response], Page[T]]) -> None:
        self._response = response
        self._decode = decode
        self._report: Callable[[Page[T], float], None] | None = None
        self._page: Page[T] | None = None

    def report_with(self, report: Callable[[Page[T], float], None]) -> None:
        """Once decoded, the page goes to ``report`` with the time its decoding began."""
        self._report = report

    def __call__(self) -> Page[T]:
        page = self._page
        if page is None:
            decoding = time.perf_counter()
            page = self._page = self._decode(self._response)
            report = self._report
            if report is not None:
                report(page, decoding)
        return page

    def __repr__(self) -> str:
        state = "decoded" if self._page is not None else f"{len(self._response.body)} bytes"
        return f"<aiotofu received page, {state}>"


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
        adaptive: bool = True,
        rate_limit: float | None = None,
        on_page: Callable[[PageEvent], None] | None = None,
        telemetry: Telemetry | None = None,
    ) -> None:
        self.transport = transport
        self.base_url = base_url
        # What every request carries, made once (as ``_sansio.build_request`` makes them): the
        # headers (the key among them: never in a repr, an error or a log line) and the URL of
        # each path asked for.
        self._headers = request_headers(api_key, user_agent)
        self._urls: dict[str, str] = {}
        self._retry = retry
        self.control = Controller(max_concurrency, adaptive=adaptive, rate_limit=rate_limit)
        self._gate = _Gate(self.control, clock)
        self.clock = clock
        self._on_retry = on_retry
        self._on_page = on_page
        self._telemetry = telemetry
        # Whether the transport's HTTP client may call hooks that read the context a try is
        # sent in (see Telemetry.start); one that does not say may.
        self._hooked: Callable[[], bool] | None = getattr(transport, "hooked", None)
        self._base_path = urlsplit(base_url).path
        self._host = urlsplit(base_url).hostname or ""
        self._closing = False
        if telemetry is not None:
            telemetry.concurrency_limit(self.control.window, self._host)

    def close(self) -> None:
        """The client is closing: requests that fail from now on are neither retried nor
        reported (their connections are being closed under them)."""
        self._closing = True

    def __repr__(self) -> str:
        return f"<aiotofu requester for {self.base_url}>"

    def request(self, path: str, query: list[tuple[str, str]] | None = None) -> Request:
        """A GET request for ``path`` below the base URL, with the key and our User-Agent: what
        ``_sansio.build_request`` makes, from the URL and headers kept for this client."""
        url = self._urls.get(path)
        if url is None:
            url = self._urls[path] = request_url(self.base_url, path)
        # Each request its own copy of the headers (a test's handler may change its own).
        headers = self._headers.copy()
        return Request(method="GET", url=url, query=tuple(query or ()), headers=headers)

    def receive(
        self, request: Request, decode: Callable[[Response], Page[T]]
    ) -> Coroutine[Any, Any, Received[T]]:
        """``send`` for a page asked for ahead of its consumer: sent, retried and its status
        checked now, ``decode`` applied when the Received is called (see Received). Send's own
        coroutine, not one that awaits it: one frame less on every step of the request."""
        return self.send(request, functools.partial(_received, decode=decode))

    async def send(self, request: Request, decode: Callable[[Response], R]) -> R:
        """Send ``request`` within the concurrency limit, retry per the policy, decode the answer.

        A 429 pauses every request of this client, not only this one: the others would only
        earn more 429s.
        """
        attempt = 0
        began = 0.0
        gate = self._gate
        while True:
            attempt += 1
            # The controller admits a try once the window has room, the rate buckets a token
            # and any 429's pause is over; each outcome adapts them. Most tries are admitted at
            # once, with nothing to await.
            ticket = gate.admit_now()
            if ticket is None:
                ticket = await gate.admit()
            # What the try says of the server's load: an answer is "ok" unless its error says
            # otherwise; an exception that escapes (a DecodeError, a cancellation, a hook that
            # raises, the client closing) says nothing of it: "failed".
            outcome: Outcome = "ok"
            try:
                sent = time.perf_counter()
                if attempt == 1:
                    began = sent
                exchange = self._start(request, attempt)
                status: int | None = None
                try:
                    response = await self.transport.send(
                        request if exchange is None else exchange.request
                    )
                    status = response.status
                    result = decode(response)
                except NotFoundError as exc:  # on a list path: most likely a wrong base URL
                    error: APIError | TransportError = explain_not_found(
                        exc, request, self.base_url
                    )
                except (APIError, TransportError) as exc:
                    error = exc
                    status = exc.status if isinstance(exc, APIError) else None
                    outcome = classify(status, isinstance(exc, RequestTimeoutError))
                except BaseException as exc:  # cancelled, a body that does not decode...
                    self._finish(request, attempt, sent, status, exc, exchange)
                    raise
                else:
                    self._finish(request, attempt, sent, status, None, exchange)
                    if isinstance(result, Page):
                        self._page(request, result, began, attempt)
                    elif isinstance(result, Received) and (
                        self._on_page is not None
                        or (self._telemetry is not None and self._telemetry.metering())
                    ):
                        # Reported once decoded, as if decoded now: the wait is not counted.
                        # Whether it is, is decided now (a meter provider set while the page
                        # waits counts from the next request on).
                        result.report_with(
                            functools.partial(
                                self._page_decoded, request, began, attempt, time.perf_counter()
                            )
                        )
                    return result
                if self._closing:
                    # Cut off by the client closing its connections, not failed: traced and
                    # logged as cancelled, never retried nor reported as a retry.
                    self._finish(request, attempt, sent, None, asyncio.CancelledError(), exchange)
                    raise StateError(
                        "this client was closed while the request was in flight"
                    ) from error
                self._finish(request, attempt, sent, status, error, exchange)
            except BaseException:
                outcome = "failed"
                raise
            finally:
                gate.release(ticket, outcome)
            wait = self._retry.wait_before_retry(attempt, error) if self._retry else None
            if wait is None:
                raise error
            if isinstance(error, RateLimitError):
                now = self.clock.monotonic()
                self.control.pause(now, now + wait)
            self._report(request, attempt, wait, error)
            if not isinstance(error, RateLimitError):
                await self.clock.sleep(wait)

    def _start(self, request: Request, attempt: int) -> Exchange | None:
        telemetry = self._telemetry
        if telemetry is None:
            return None
        hooked = self._hooked
        return telemetry.start(request, attempt, self._base_path, hooked=hooked is None or hooked())

    def _finish(
        self,
        request: Request,
        attempt: int,
        sent: float,
        status: int | None,
        error: BaseException | None,
        exchange: Exchange | None,
    ) -> None:
        """One try is over: trace it, and log it at DEBUG."""
        telemetry, logged = self._telemetry, logger.isEnabledFor(logging.DEBUG)
        if telemetry is None and not logged:
            return  # the usual case: nothing to measure
        seconds = time.perf_counter() - sent
        if telemetry is not None:
            assert exchange is not None  # started by the same telemetry
            telemetry.finish(exchange, request, self._base_path, seconds, status, error)
        if not logged:
            return
        query = urlencode(request.query)
        path = urlsplit(request.url).path
        entry = RequestLog(
            method=request.method,
            target=f"{path}?{query}" if query else path,
            status=status,
            error=None if error is None or status is not None else type(error).__name__,
            seconds=seconds,
            attempt=attempt,
        )
        logger.debug(
            "%s %s: %s in %.3f s (try %d)",
            entry.method,
            entry.target,
            entry.status if entry.status is not None else entry.error,
            entry.seconds,
            entry.attempt,
            extra={"request": entry},
        )

    def _page(self, request: Request, page: Page[Any], began: float, attempt: int) -> None:
        telemetry, on_page = self._telemetry, self._on_page
        metering = telemetry is not None and telemetry.metering()
        if on_page is None and not metering:
            return  # the usual case: nothing to report
        resource = resource_of(request.url)  # the URL's path holds /v2/: not parsed
        if metering:
            assert telemetry is not None
            telemetry.page(resource, len(page.items))
            telemetry.concurrency_limit(self.control.window, self._host)
        if on_page is not None:
            on_page(
                PageEvent(
                    resource=resource,
                    cursor=page.cursor,
                    records=len(page.items),
                    seconds=time.perf_counter() - began,
                    attempts=attempt,
                    concurrency_limit=self.control.window,
                    rate_limit=self.control.rate,
                )
            )

    def _page_decoded(
        self,
        request: Request,
        began: float,
        attempt: int,
        arrived: float,
        page: Page[Any],
        decoding: float,
    ) -> None:
        """Report a page received at ``arrived`` and decoded from ``decoding`` on."""
        self._page(request, page, began + (decoding - arrived), attempt)

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
            concurrency_limit=self.control.window,
            rate_limit=self.control.rate,
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
        if self._telemetry is not None:
            self._telemetry.retry(event.path, event.kind)
            self._telemetry.concurrency_limit(self.control.window, self._host)
        if self._on_retry is not None:
            self._on_retry(event)


def _received(response: Response, decode: Callable[[Response], Page[T]]) -> Received[T]:
    """The answer to a page request, checked (the error its status says is raised now, where
    it is retried) and left to ``decode`` later."""
    check_page(response)
    return Received(response, decode)


class _Gate:
    """Where the tries of one client wait their turn: in order of arrival, each for as long as
    the controller says (a release when the window is full, else a token or the pause).

    Only the try at the head of the queue asks the controller; the others wait to become the
    head, so that a listing started later cannot overtake one that waits for a token.
    """

    def __init__(self, control: Controller, clock: Clock) -> None:
        self.control = control
        self.clock = clock
        self._queue: deque[asyncio.Future[None]] = deque()
        self._room: asyncio.Future[None] | None = None  # the head, waiting for a release

    def admit_now(self) -> Ticket | None:
        """Admit this try at once if no one waits and the controller allows it (the hot path:
        nothing to await), else None: then ``await admit()``."""
        if self._queue:
            return None
        decision = self.control.admit(self.clock.monotonic())
        return decision if isinstance(decision, Ticket) else None

    async def admit(self) -> Ticket:
        """Wait until the controller admits this try (in order of arrival)."""
        loop = asyncio.get_running_loop()
        turn: asyncio.Future[None] = loop.create_future()
        self._queue.append(turn)
        try:
            if self._queue[0] is not turn:
                await turn  # set when the try before this one leaves the head
            while True:
                decision = self.control.admit(self.clock.monotonic())
                if isinstance(decision, Ticket):
                    return decision
                if decision == math.inf:
                    self._room = room = loop.create_future()
                    await room
                else:
                    await self.clock.sleep(decision)
        finally:
            head = self._queue[0] is turn
            self._queue.remove(turn)
            if head:
                self._room = None
                if self._queue and not self._queue[0].done():
                    self._queue[0].set_result(None)  # the next one may be admitted too

    def release(self, ticket: Ticket, outcome: Outcome) -> None:
        """The try of ``ticket`` is over: tell the controller, wake a head waiting for room."""
        self.control.release(ticket, outcome, self.clock.monotonic())
        room = self._room
        if room is not None and not room.done():
            room.set_result(None)

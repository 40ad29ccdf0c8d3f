"""Client: configuration, lifecycle, the client-wide concurrency limit, and the retry loop."""

from __future__ import annotations

import asyncio
import logging
import os
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from ._clock import get_clock
from ._resources import Batches
from ._retry import RetryPolicy, is_seconds
from ._sansio import Request, Response, build_request
from ._transport import AiohttpTransport, is_loopback, is_session, user_agent
from .errors import (
    APIError,
    InvalidParameterError,
    RateLimitError,
    TofuPilotError,
    TransportError,
)

if TYPE_CHECKING:
    import aiohttp

__all__ = ["DEFAULT_BASE_URL", "Client"]

R = TypeVar("R")

DEFAULT_BASE_URL = "https://www.tofupilot.app/api"
API_KEY_ENV = "TOFUPILOT_API_KEY"
BASE_URL_ENV = "TOFUPILOT_URL"

logger = logging.getLogger("aiotofu")


class Client:
    """An asyncio client for TofuPilot's REST API v2.

    ::

        async with aiotofu.Client() as client:
            async for batch in client.batches.list(part_numbers=["PCB-V1.2"]):
                ...

    ``api_key`` defaults to the environment variable ``TOFUPILOT_API_KEY`` and ``base_url`` to
    ``TOFUPILOT_URL``, else TofuPilot's cloud. ``max_concurrency`` bounds the requests in flight
    across every iterator of this client. ``retry`` is the RetryPolicy (None: no retries),
    ``timeout`` the limit in seconds for each HTTP request. An aiohttp ``session`` passed in is
    used as it is and never closed by aiotofu. ``trust_env`` (default True) honours the
    ``HTTP_PROXY``, ``HTTPS_PROXY`` and ``NO_PROXY`` environment variables for the session the
    client creates; loopback addresses are never proxied.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        max_concurrency: int = 4,
        retry: RetryPolicy | None = RetryPolicy(),  # noqa: B008 - immutable
        timeout: float = 30.0,
        session: aiohttp.ClientSession | None = None,
        trust_env: bool = True,
    ) -> None:
        if api_key is None:
            api_key = os.environ.get(API_KEY_ENV) or None
            if api_key is None:
                raise TofuPilotError(
                    f"no API key: pass api_key=... or set the environment variable {API_KEY_ENV}"
                )
        if not isinstance(api_key, str) or not api_key.strip():
            raise InvalidParameterError("api_key", "expected a non-empty string")
        if any(c in api_key for c in "\r\n"):
            raise InvalidParameterError("api_key", "must not contain line breaks")
        self._api_key = api_key
        self._base_url = _check_base_url(
            base_url if base_url is not None else os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
        )
        if type(max_concurrency) is not int or max_concurrency < 1:
            raise InvalidParameterError(
                "max_concurrency", f"expected an integer >= 1, got {max_concurrency!r}"
            )
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise InvalidParameterError(
                "retry", f"expected an aiotofu.RetryPolicy or None, got {type(retry).__name__}"
            )
        if not is_seconds(timeout) or not timeout > 0:
            raise InvalidParameterError(
                "timeout", f"expected a finite number of seconds > 0, got {timeout!r}"
            )
        if session is not None and not is_session(session):
            raise InvalidParameterError(
                "session", f"expected an aiohttp.ClientSession, got {type(session).__name__}"
            )
        self._max_concurrency = max_concurrency
        self._retry = retry
        self._timeout = float(timeout)
        if type(trust_env) is not bool:
            raise InvalidParameterError("trust_env", f"expected True or False, got {trust_env!r}")
        # A proxy cannot reach this machine's loopback: never send a local emulator's traffic
        # (and its key) to one.
        host = urlsplit(self._base_url).hostname or ""
        self._transport = AiohttpTransport(
            session, self._timeout, trust_env=trust_env and not is_loopback(host)
        )
        self._limiter = asyncio.Semaphore(max_concurrency)
        self._clock = get_clock()
        self._paused_until = 0.0
        self._user_agent = user_agent()
        self.batches = Batches(self)
        """Batches: ``list()``, ``resume()``, ``watch()``."""

    @property
    def base_url(self) -> str:
        """The API's base URL, e.g. ``https://www.tofupilot.app/api``."""
        return self._base_url

    def __repr__(self) -> str:
        return (
            f"<aiotofu.Client base_url={self._base_url!r} "
            f"max_concurrency={self._max_concurrency} timeout={self._timeout:g}>"
        )

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP session this client created (a session passed in stays open)."""
        await self._transport.aclose()

    # -- the request loop ---------------------------------------------------------------

    def _request(self, path: str, query: list[tuple[str, str]] | None = None) -> Request:
        return build_request(
            self._base_url, path, api_key=self._api_key, query=query, user_agent=self._user_agent
        )

    async def _send(self, request: Request, decode: Callable[[Response], R]) -> R:
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
                    return decode(await self._transport.send(request))
                except (APIError, TransportError) as exc:
                    error: APIError | TransportError = exc
            wait = self._retry.wait_before_retry(attempt, error) if self._retry else None
            if wait is None:
                raise error
            logger.warning(
                "retrying %s %s in %.2f s (try %d of %d failed: %s)",
                request.method,
                _describe_target(request),
                wait,
                attempt,
                self._retry.attempts if self._retry else 1,
                error,
            )
            if isinstance(error, RateLimitError):
                self._paused_until = max(self._paused_until, self._clock.monotonic() + wait)
            else:
                await self._clock.sleep(wait)

    async def _wait_while_paused(self) -> None:
        while (delay := self._paused_until - self._clock.monotonic()) > 0:
            await self._clock.sleep(delay)
        self._paused_until = 0.0  # no pause: the hot path skips this call


def _describe_target(request: Request) -> str:
    """Path and cursor of a request, for log lines: never headers, never the whole query."""
    cursor = next((v for k, v in request.query if k == "cursor"), None)
    path = urlsplit(request.url).path
    return f"{path} (cursor {cursor})" if cursor is not None else path


def _check_base_url(url: Any) -> str:
    if not isinstance(url, str):
        raise InvalidParameterError("base_url", f"expected a string, got {type(url).__name__}")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidParameterError(
            "base_url", f"expected an http(s) URL such as {DEFAULT_BASE_URL}, got {url!r}"
        )
    if parts.query or parts.fragment or parts.username or parts.password:
        raise InvalidParameterError("base_url", "must not carry a query, a fragment or credentials")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        warnings.warn(
            f"base_url {parts.scheme}://{parts.hostname} is not HTTPS: "
            "the API key would travel in clear text",
            stacklevel=3,
        )
    return url.rstrip("/")

"""The aiohttp edge: send a Request, return a complete Response, translate aiohttp's exceptions.

This is the only module of the client that imports aiohttp. The body is read in full inside
``async with`` so that the connection is back in the pool before anyone looks at the status.
"""

from __future__ import annotations

import asyncio
from importlib.metadata import PackageNotFoundError, version

import aiohttp

from ._sansio import Request, Response
from .errors import TofuPilotError, TransportError

__all__ = ["AiohttpTransport", "is_session", "user_agent"]


def user_agent() -> str:
    """``aiotofu/<version> aiohttp/<version>``."""
    try:
        own = version("aiotofu")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        own = "0"
    return f"aiotofu/{own} aiohttp/{aiohttp.__version__}"


def is_session(value: object) -> bool:
    """Whether ``value`` is an aiohttp ClientSession (the type a caller may lend the client)."""
    return isinstance(value, aiohttp.ClientSession)


class AiohttpTransport:
    """Sends requests on an aiohttp session: the caller's, or one it creates and later closes."""

    def __init__(self, session: aiohttp.ClientSession | None, timeout: float) -> None:
        self._session = session
        self._owns_session = session is None
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._timeout_seconds = timeout
        self._closed = False

    def _get_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise TofuPilotError("this client is closed")
        if self._session is None:
            # Created on first use, inside the running loop, never at import or construction time.
            self._session = aiohttp.ClientSession()
        return self._session

    async def send(self, request: Request) -> Response:
        """Send ``request`` and read its whole body; connection failures become TransportError."""
        session = self._get_session()
        try:
            async with session.request(
                request.method,
                request.url,
                params=request.query,
                headers=request.headers,
                timeout=self._timeout,
            ) as response:
                body = await response.read()
                return Response(status=response.status, headers=response.headers, body=body)
        except asyncio.TimeoutError as exc:
            raise TransportError(
                f"{request.method} {request.url}: no complete answer within "
                f"{self._timeout_seconds:g} s"
            ) from exc
        except aiohttp.ClientError as exc:
            raise TransportError(
                f"{request.method} {request.url}: {type(exc).__name__}: {exc}"
            ) from exc

    async def aclose(self) -> None:
        """Close the session if this transport created it; a caller's session is left open."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None and self._owns_session:
            await session.close()

"""The aiohttp edge: send a Request, return a complete Response, translate aiohttp's exceptions.

This is the only module of the client that imports aiohttp. The body is read in full inside
``async with`` so that the connection is back in the pool before anyone looks at the status.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import ipaddress
import netrc
import os
import ssl
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import aiohttp.helpers
from yarl import URL  # aiohttp's own URL type (a dependency of aiohttp), for its proxy lookup

from . import _tls
from ._sansio import Request, Response
from .errors import (
    DecodeError,
    InvalidParameterError,
    RequestTimeoutError,
    StateError,
    TLSError,
    TransportError,
)

__all__ = ["MAX_BODY_BYTES", "AiohttpTransport", "is_loopback", "is_session", "user_agent"]


@functools.cache
def user_agent() -> str:
    """``aiotofu/<version> aiohttp/<version>``: read once (the package metadata is a file read,
    which a cluster would otherwise pay in every task that makes a Client)."""
    try:
        own = version("aiotofu")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        own = "0"
    return f"aiotofu/{own} aiohttp/{aiohttp.__version__}"


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (where plain HTTP exposes nothing)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def is_session(value: object) -> bool:
    """Whether ``value`` is an aiohttp ClientSession (the type a caller may lend the client)."""
    return isinstance(value, aiohttp.ClientSession)


# A page of 100 batches is about 25 KB. A body past this is not a page: it is refused before
# it can exhaust memory.
MAX_BODY_BYTES = 32 * 1024 * 1024


def _in_one_piece(response: aiohttp.ClientResponse) -> bool:
    """Whether the body can be read in one piece: its length is known, within MAX_BODY_BYTES,
    and not compressed (Content-Length counts the compressed bytes: 64 KiB of gzip can inflate
    to 64 MiB). Else ``_read_counted`` reads it."""
    length = response.content_length
    if length is None or length > MAX_BODY_BYTES:
        return False
    encoding = response.headers.get("Content-Encoding")
    return encoding is None or encoding.strip().lower() in ("", "identity")


async def _read_counted(response: aiohttp.ClientResponse) -> bytes:
    """The whole body, or DecodeError once it passes MAX_BODY_BYTES, counted as aiohttp hands
    it over, decompressed."""
    chunks = []
    size = 0
    async for chunk in response.content.iter_chunked(256 * 1024):
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise DecodeError(
                f"the response body is larger than {MAX_BODY_BYTES // (1024 * 1024)} MiB: "
                "not a page of this API"
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _has_netrc_login(host: str) -> bool:
    """Whether ``$NETRC`` (else ``~/.netrc``) has a login for ``host``, or a ``default`` one.

    What aiohttp would send for ``host`` when it trusts the environment; an unreadable or
    malformed file gives none, there as here.
    """
    path = os.environ.get("NETRC") or str(Path.home() / ".netrc")
    try:
        return netrc.netrc(path).authenticators(host) is not None
    except (OSError, RuntimeError, netrc.NetrcParseError):  # RuntimeError: no home directory
        return False


def _env_proxy(url: str) -> URL | None:
    """The proxy the environment names for ``url`` (HTTP(S)_PROXY, NO_PROXY), exactly as
    aiohttp's ``trust_env`` picks it, with its login (from the proxy URL or netrc) kept in the
    proxy URL: aiohttp deprecates ``proxy_auth`` but sends a URL's login to the proxy."""
    try:
        proxy, auth = aiohttp.helpers.get_env_proxy_for_url(URL(url))
    except LookupError:
        return None
    if auth is not None:
        proxy = proxy.with_user(auth.login).with_password(auth.password)
    return proxy


def _ssl_cause(exc: BaseException) -> BaseException:
    """The ssl module's exception behind an aiohttp one (``certificate_error``, or the
    ``__cause__`` / ``__context__`` chain), else ``exc`` itself."""
    certificate_error = getattr(exc, "certificate_error", None)
    if isinstance(certificate_error, BaseException):
        return certificate_error
    seen: BaseException | None = exc
    for _ in range(8):  # a chain is short; a cycle must not loop
        if seen is None:
            break
        if isinstance(seen, ssl.SSLError) and not isinstance(seen, aiohttp.ClientError):
            return seen
        seen = seen.__cause__ or seen.__context__
    os_error = getattr(exc, "os_error", None)
    return os_error if isinstance(os_error, BaseException) else exc


# A TLS connection cut short (end of file, a reset during the handshake): the network's doing,
# perhaps an overloaded load balancer's, not a certificate's; retried as any lost connection.
_CUT_SHORT = (ssl.SSLEOFError, ssl.SSLZeroReturnError, ssl.SSLSyscallError)


def _is_tls_failure(exc: aiohttp.ClientError, cause: BaseException) -> bool:
    """Whether ``exc`` says TLS refused the connection (a certificate, a server's alert, a
    server that does not speak TLS there): raised at once as TLSError, never retried."""
    if isinstance(exc, aiohttp.ServerFingerprintMismatch):
        return True
    if isinstance(cause, ssl.CertificateError):  # SSLCertVerificationError among them
        return True
    if not isinstance(cause, ssl.SSLError) or isinstance(cause, _CUT_SHORT):
        return False
    if isinstance(exc, aiohttp.ClientSSLError):  # during the handshake
        return True
    # After it: a TLS 1.3 server refuses a client certificate with an alert on the first read.
    return "ALERT" in str(getattr(cause, "reason", "") or "").upper()


_UNKNOWN: Any = object()  # an origin whose proxy is not looked up yet


def _origin(url: str) -> str:
    """``scheme://netloc`` of ``url`` (sliced, not parsed: it is asked for every request)."""
    start = url.find("//") + 2
    end = url.find("/", start)
    return url if end < 0 else url[:end]


def _host(url: str) -> str:
    parts = urlsplit(url)
    return parts.netloc.rpartition("@")[2]


class AiohttpTransport:
    """Sends requests on an aiohttp session: the caller's, or one it creates and later closes.

    ``trust_env`` takes the proxy of a session it creates from the environment. That session
    itself never trusts the environment: aiohttp would then read ``~/.netrc`` for every request
    and refuse a netrc login beside the explicit Authorization header (aiohttp 3.9 sent the
    netrc login in place of the key). The API key always wins, as in httpx, and the proxy is
    looked up here, once per origin, with aiohttp's own rules.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession | None,
        timeout: float,
        *,
        trust_env: bool = True,
        tls: ssl.SSLContext | bool | None = None,
        client_cert: bool = False,
    ) -> None:
        self._session = session
        # None: aiohttp's default (the lent session's connector decides); a context or False,
        # from verify= and cert= (``_tls.ssl_context``), is given with every request.
        self._ssl: ssl.SSLContext | bool = True if tls is None else tls
        self._client_cert = client_cert
        self._owns_session = session is None
        self._trust_env = trust_env
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._timeout_seconds = timeout
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop of the session we made
        self._closed = False
        # Per origin: the proxy of the session we make, None for a lent one (checked for a
        # netrc login once).
        self._proxies: dict[str, URL | None] = {}

    def hooked(self) -> bool:
        """Whether aiohttp may call hooks on a request sent now: those of its session's trace
        configs, where OpenTelemetry's aiohttp instrumentation puts its own when the session
        is made, or its client middlewares (aiohttp 3.12 on), which run in the request's
        context too. True until the session is made. Without either, nothing of aiohttp's
        sees the context a request is sent in (see ``_telemetry.Telemetry.start``)."""
        session = self._session
        return (
            session is None
            or bool(session.trace_configs)
            or bool(getattr(session, "_middlewares", None))  # private: no public name
        )

    def _get_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise StateError("this client is closed")
        loop = asyncio.get_running_loop()
        if self._session is None:
            # Created on first use, inside the running loop, never at import or construction time.
            # Never trust_env: see the class docstring; _proxy() honours the environment.
            self._session = aiohttp.ClientSession(trust_env=False)
            self._loop = loop
        elif self._session.closed:
            raise StateError(
                "the aiohttp session lent to this client is closed: keep it open while the "
                "client is in use"
            )
        elif self._loop is not None and self._loop is not loop:
            # aiohttp would fail deep inside with "attached to a different loop", or hang.
            raise StateError(
                "this client was first used in another event loop: create one client per loop "
                "(for example inside the function that asyncio.run() runs)"
            )
        return self._session

    async def send(self, request: Request) -> Response:
        """Send ``request`` and read its whole body; connection failures become TransportError."""
        session = self._get_session()
        origin = _origin(request.url)
        proxy = self._proxies.get(origin, _UNKNOWN)
        if proxy is _UNKNOWN:  # once per origin: the lookups may read files, in a thread
            proxy = await self._proxy(session, origin)
        try:
            async with session.request(
                request.method,
                request.url,
                params=request.query,
                headers=request.headers,
                proxy=proxy,
                timeout=self._timeout,
                ssl=self._ssl,
                # A lent session may raise on error statuses; the status is ours to decipher.
                raise_for_status=False,
            ) as response:
                if _in_one_piece(response):  # the usual case: aiohttp reads it in one piece
                    body = await response.read()
                else:
                    body = await _read_counted(response)
                return Response(status=response.status, headers=response.headers, body=body)
        except (asyncio.TimeoutError, TimeoutError) as exc:  # distinct classes before 3.11
            raise RequestTimeoutError(
                f"{request.method} {request.url}: no complete answer within "
                f"{self._timeout_seconds:g} s"
            ) from exc
        except aiohttp.ClientError as exc:
            cause = _ssl_cause(exc)
            if _is_tls_failure(exc, cause):
                raise TLSError(_tls.explain(cause, _host(request.url))) from exc
            hint = ""
            if (
                request.url.startswith("https:")
                and not self._client_cert
                and (
                    isinstance(exc, aiohttp.ServerDisconnectedError)
                    or getattr(exc, "errno", None) == errno.ECONNRESET
                )
            ):
                # TLS 1.3 checks a client certificate after the handshake: a server that
                # requires one may only reset the connection of a client that sent none.
                hint = (
                    " (if this server requires a client certificate, mutual TLS, pass "
                    "cert='client.pem'; the command line's --client-cert)"
                )
            raise TransportError(
                f"{request.method} {request.url}: {type(exc).__name__}: {exc}{hint}"
            ) from exc

    async def _proxy(self, session: aiohttp.ClientSession, origin: str) -> URL | None:
        """The proxy for ``origin`` (``scheme://host:port``), kept: from the environment for a
        session we made (when trusted), the lent session's own otherwise (None: aiohttp applies
        the session's settings)."""
        proxy: URL | None = None
        if not self._owns_session:
            if session.trust_env:
                await self._refuse_netrc_login(urlsplit(origin).hostname or "")
        elif self._trust_env:
            # A thread, as aiohttp does: the lookup may read a netrc file for the proxy's login.
            proxy = await asyncio.to_thread(_env_proxy, origin + "/")
        self._proxies[origin] = proxy
        return proxy

    @staticmethod
    async def _refuse_netrc_login(host: str) -> None:
        """A lent session that trusts the environment cannot send the key to a host netrc has a
        login for: aiohttp refuses (or, before 3.10, sends the login instead). Say so clearly."""
        if await asyncio.to_thread(_has_netrc_login, host):
            raise InvalidParameterError(
                "session",
                f"the aiohttp session lent to this client trusts the environment "
                f"(trust_env=True) and netrc ($NETRC or ~/.netrc) has a login for {host}, "
                "which aiohttp would send instead of the API key: lend a session made with "
                "trust_env=False (proxies can be given to it explicitly), or let aiotofu make "
                "its own, which takes proxies from the environment and ignores netrc",
            )

    async def aclose(self) -> None:
        """Close the session if this transport created it; a caller's session is left open."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None and self._owns_session:
            await session.close()

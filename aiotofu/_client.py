"""Client: configuration and lifecycle; its requests go through one Requester (``_requester``)."""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from . import _telemetry
from ._clock import get_clock
from ._events import PageEvent
from ._requester import Requester, RetryEvent, Transport
from ._resources import (
    Batches,
    Deployments,
    Logs,
    Measurements,
    Parts,
    Phases,
    Procedures,
    Runs,
    Stations,
    Units,
    Users,
)
from ._retry import RetryPolicy, is_seconds
from ._tls import CertOption, VerifyOption, ssl_context
from ._transport import AiohttpTransport, is_loopback, is_session, user_agent
from .errors import InvalidParameterError, TofuPilotError

if TYPE_CHECKING:
    import aiohttp

__all__ = ["DEFAULT_BASE_URL", "Client"]

DEFAULT_BASE_URL = "https://www.tofupilot.app/api"
API_KEY_ENV = "TOFUPILOT_API_KEY"
BASE_URL_ENV = "TOFUPILOT_URL"


class Client:
    """An asyncio client for TofuPilot's REST API v2.

    ::

        async with aiotofu.Client() as client:
            async for batch in client.batches.list(part_numbers=["PCB-V1.2"]):
                ...

    ``api_key`` defaults to the environment variable ``TOFUPILOT_API_KEY`` and ``base_url`` to
    ``TOFUPILOT_URL``, else TofuPilot's cloud; an origin (``https://tofupilot.corp``, as
    TofuPilot's own clients take it) means the ``/api`` below it, a URL with a path is kept.
    ``max_concurrency`` bounds the requests in flight across every iterator of this client;
    with ``adaptive`` (the default) they adapt between 1 and it: they start there, shrink on
    429s, 503s and timeouts and grow back while the server keeps up, and after a 429 a rate
    measured from the successes paces them (botocore's adaptive mode). ``rate_limit`` caps
    the client at that many requests per second (a key shared by several processes).
    ``retry`` is the RetryPolicy (None: no retries), ``timeout`` the limit in seconds for each
    HTTP request. An aiohttp ``session`` passed in is used as it is and never closed by
    aiotofu. ``trust_env`` (default True) honours the ``HTTP_PROXY``, ``HTTPS_PROXY`` and
    ``NO_PROXY`` environment variables for the session the client creates; loopback addresses
    are never proxied, and ``~/.netrc`` never replaces the key. ``transport`` replaces the HTTP
    layer (``aiotofu.testing.MockTransport`` answers from a function, without a socket), and
    ``on_retry`` is called with a :class:`aiotofu.RetryEvent` before each retry.

    ``verify`` checks the server's certificate: True (the system's CAs, and ``SSL_CERT_FILE``
    / ``SSL_CERT_DIR`` when ``trust_env``), the path of a CA bundle (a self-hosted server
    behind a private CA), an ``ssl.SSLContext``, or False (no check at all: a last resort).
    ``cert`` is a client certificate for mutual TLS: a PEM file holding the certificate and its
    key, or a (certificate, key) pair. A certificate failure raises :class:`aiotofu.TLSError`
    at once, never retried. With a lent ``session``, these apply to every request it sends
    for this client (the default leaves the session's own settings).

    ``on_page`` is called with an :class:`aiotofu.PageEvent` for each page answered. With
    OpenTelemetry's API installed (the ``otel`` extra), each request is a span and the client
    records metrics (see the README, "Running in production"), on ``tracer_provider`` and
    ``meter_provider`` if given, else on the application's global providers; nothing is
    configured, and nothing is done until the application installs an SDK.
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
        transport: Transport | None = None,
        on_retry: Callable[[RetryEvent], None] | None = None,
        adaptive: bool = True,
        rate_limit: float | None = None,
        verify: VerifyOption = True,
        cert: CertOption = None,
        on_page: Callable[[PageEvent], None] | None = None,
        tracer_provider: object | None = None,
        meter_provider: object | None = None,
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
        if type(adaptive) is not bool:
            raise InvalidParameterError("adaptive", f"expected True or False, got {adaptive!r}")
        # 1 / rate_limit is the spacing of requests: it must be finite too (1e-310 is > 0).
        if rate_limit is not None and (
            not is_seconds(rate_limit) or not rate_limit > 0 or not math.isfinite(1.0 / rate_limit)
        ):
            raise InvalidParameterError(
                "rate_limit",
                f"expected a finite number of requests per second > 0 or None, got {rate_limit!r}",
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
        if transport is not None and session is not None:
            raise InvalidParameterError("transport", "give a transport or a session, not both")
        if on_retry is not None and not callable(on_retry):
            raise InvalidParameterError("on_retry", f"expected a callable, got {on_retry!r}")
        if on_page is not None and not callable(on_page):
            raise InvalidParameterError("on_page", f"expected a callable, got {on_page!r}")
        # Built now: a missing or malformed file is an error here, before anything is sent.
        tls = ssl_context(verify, cert, trust_env=trust_env)
        self._verify = verify is not False
        if transport is None:
            # A proxy cannot reach this machine's loopback: never send a local emulator's
            # traffic (and its key) to one.
            host = urlsplit(self._base_url).hostname or ""
            transport = AiohttpTransport(
                session,
                self._timeout,
                trust_env=trust_env and not is_loopback(host),
                tls=tls,
                client_cert=cert is not None,
            )
        self._transport = transport
        self._requester = Requester(
            transport,
            base_url=self._base_url,
            api_key=api_key,
            user_agent=user_agent(),
            retry=retry,
            max_concurrency=max_concurrency,
            clock=get_clock(),
            on_retry=on_retry,
            adaptive=adaptive,
            rate_limit=None if rate_limit is None else float(rate_limit),
            on_page=on_page,
            telemetry=_telemetry.create(tracer_provider, meter_provider),
        )
        self.batches = Batches(self._requester)
        """Batches: ``list()``, ``resume()``, ``watch()``."""
        self.units = Units(self._requester)
        """Units: ``list()``, ``resume()``, ``watch()``."""
        self.runs = Runs(self._requester)
        """Test runs: ``list()``, ``resume()``, ``watch()``."""
        self.parts = Parts(self._requester)
        """Parts: ``list()``, ``resume()``."""
        self.procedures = Procedures(self._requester)
        """Procedures: ``list()``, ``resume()``."""
        self.stations = Stations(self._requester)
        """Stations: ``list()``, ``resume()``."""
        self.deployments = Deployments(self._requester)
        """Deployments: ``list()``, ``resume()``."""
        self.logs = Logs(self._requester)
        """Log lines of runs: ``list()``, ``resume()``, ``watch()``."""
        self.phases = Phases(self._requester)
        """Phases of one procedure's runs: ``list(procedure_id=...)``, ``resume()``."""
        self.measurements = Measurements(self._requester)
        """Measurements of one procedure's runs: ``list(procedure_id=...)``, ``resume()``."""
        self.users = Users(self._requester)
        """Users: ``await client.users.list()``."""

    @property
    def base_url(self) -> str:
        """The API's base URL, e.g. ``https://www.tofupilot.app/api``."""
        return self._base_url

    def __repr__(self) -> str:
        return (
            f"<aiotofu.Client base_url={self._base_url!r} "
            f"max_concurrency={self._max_concurrency} timeout={self._timeout:g}"
            + ("" if self._verify else " verify=False")
            + ">"
        )

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP session this client created (a session passed in stays open)."""
        # First: the requests that fail as the connections close are not retried.
        self._requester.close()
        await self._transport.aclose()


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
    if not parts.path.strip("/"):
        # An origin, as TofuPilot's own clients take TOFUPILOT_URL (they append the API's
        # path): the API is below /api there. Kept as given, it would 404 on every request.
        return f"{parts.scheme}://{parts.netloc}/api"
    return url.rstrip("/")

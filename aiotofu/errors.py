"""The exceptions aiotofu raises. Every one of them derives from :class:`TofuPilotError`.

::

    TofuPilotError
    ├── InvalidParameterError (also ValueError)   bad argument, found before any request
    ├── APIError(status, code, message, issues)    the server answered with an error status
    │   ├── BadRequestError         400
    │   ├── AuthenticationError     401
    │   ├── PermissionDeniedError   403
    │   ├── NotFoundError           404
    │   ├── ConflictError           409
    │   ├── RateLimitError          429 (retry_after)
    │   └── ServerError             5xx
    ├── StateError (also RuntimeError)              misuse: a closed client, a second consumer
    ├── TransportError                              connection failures and timeouts
    │   ├── RequestTimeoutError (also TimeoutError)  no complete answer within the timeout
    │   └── TLSError                                 a certificate or TLS handshake failed
    └── DecodeError                                 a body that is not the documented shape
        └── PaginationError                         meta that would loop forever
            └── ConsistencyError                    a listing that cannot prove its place

Third-party exceptions (aiohttp's, cattrs') are translated where they arise and chained with
``raise ... from exc``. No message built here ever contains the API key.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "APIError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "ConsistencyError",
    "DecodeError",
    "InvalidParameterError",
    "NotFoundError",
    "PaginationError",
    "PermissionDeniedError",
    "RateLimitError",
    "RequestTimeoutError",
    "ServerError",
    "StateError",
    "TLSError",
    "TofuPilotError",
    "TransportError",
]


# Where servers and the platforms in front of them put their id of a request.
REQUEST_ID_HEADERS = ("X-Request-Id", "x-request-id", "Request-Id", "X-Vercel-Id", "x-vercel-id")


class TofuPilotError(Exception):
    """The root of every exception aiotofu raises."""


class InvalidParameterError(TofuPilotError, ValueError):
    """An argument is of the wrong type or out of range; raised before anything is sent.

    ``parameter`` is the name of the offending argument, as the caller spelled it.
    """

    def __init__(self, parameter: str, message: str) -> None:
        self.parameter = parameter
        self._message = message
        super().__init__(f"{parameter}: {message}")

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickle rebuilds an exception from ``self.args`` (here the one formatted line) unless
        # told otherwise: a Dask worker in another process hands its errors back pickled.
        return (type(self), (self.parameter, self._message), self.__dict__)


class APIError(TofuPilotError):
    """The API answered with an error status.

    Attributes mirror TofuPilot's error body ``{"message", "code", "issues"}``; when the body is not
    JSON (a proxy's HTML page, an empty body) ``code`` is derived from the status and ``message``
    says what came back. ``retry_after`` is the answer's ``Retry-After`` in seconds (``None``
    when it sent none), whatever the status: RFC 9110 gives it to 503 as well as 429.
    ``headers`` are the answer's headers, and ``request_id`` the server's id for the request
    (``X-Request-Id`` or the hosting platform's equivalent), for a support ticket. ``hint``
    (None unless aiotofu has one) is advice added to the description, such as the URL a 404
    asked and the form a base URL takes.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        issues: Sequence[Any] = (),
        *,
        retry_after: float | None = None,
        headers: Mapping[str, str] | None = None,
        hint: str | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.issues: tuple[Any, ...] = tuple(issues)
        self.retry_after = retry_after
        self.headers: Mapping[str, str] = headers if headers is not None else {}
        self.hint = hint
        self.request_id: str | None = next(
            (self.headers[name] for name in REQUEST_ID_HEADERS if name in self.headers), None
        )
        super().__init__(self._describe())

    def __reduce__(self) -> tuple[Any, ...]:
        # As InvalidParameterError's: rebuilt from its fields, not from the one-line ``args``.
        # The headers go as a plain dict (aiohttp's multidict proxies do not pickle).
        state = {**self.__dict__, "headers": dict(self.headers)}
        args = (self.status, self.code, self.message, self.issues)
        return (_rebuild_api_error, (type(self), args, self.retry_after, self.hint), state)

    def _describe(self) -> str:
        text = f"{self.status} {self.code}: {self.message}"
        details = [_describe_issue(issue) for issue in self.issues[:5]]
        if details:
            text += " (" + "; ".join(details) + ")"
            if len(self.issues) > 5:
                text += f" and {len(self.issues) - 5} more issues"
        if self.retry_after is not None:
            text += f" (retry after {self.retry_after:g} s)"
        if self.hint:
            text += f"; {self.hint}"
        return text


def _rebuild_api_error(
    cls: type[APIError], args: tuple[Any, ...], retry_after: float | None, hint: str | None
) -> APIError:
    """An APIError being unpickled (its headers and the rest come back as its state)."""
    return cls(*args, retry_after=retry_after, hint=hint)


def _describe_issue(issue: Any) -> str:
    """One line for one entry of an error body's ``issues`` (zod-style ``{path, message}``)."""
    if isinstance(issue, dict):
        path = issue.get("path")
        message = issue.get("message", "")
        if isinstance(path, list) and path:
            return f"{'.'.join(str(p) for p in path)}: {message}"
        return str(message)
    return str(issue)


class BadRequestError(APIError):
    """400: the server rejected the request's parameters."""


class AuthenticationError(APIError):
    """401: the API key is missing, wrong or revoked."""


class PermissionDeniedError(APIError):
    """403: the API key may not read this resource."""


class NotFoundError(APIError):
    """404: no such resource. On a list path it usually means a wrong base URL: the message
    names the URL asked (never its query) and suggests the base URL's form (``.../api``)."""


class ConflictError(APIError):
    """409: the request conflicts with the current state (a duplicate batch number, say)."""


class RateLimitError(APIError):
    """429: too many requests.

    ``retry_after`` is the server's ``Retry-After`` in seconds (``None`` when it sent none). It is
    raised when retries are disabled or exhausted, or when the server asks for a longer wait than
    :attr:`aiotofu.RetryPolicy.max_retry_after`.
    """


class ServerError(APIError):
    """5xx: the server or a proxy in front of it failed."""


class TransportError(TofuPilotError):
    """The request did not get a complete answer: refused, reset or dropped connection, timeout."""


class RequestTimeoutError(TransportError, TimeoutError):
    """No complete answer arrived within the client's ``timeout`` (also a builtin
    TimeoutError, so ``except TimeoutError`` catches it)."""


class TLSError(TransportError):
    """The TLS connection could not be established: the server's certificate was not trusted
    (an unknown certificate authority, a name that does not match the URL's host, an expired
    certificate) or the handshake failed (the server asked for a client certificate, spoke
    plain HTTP...). Raised at once, never retried: trying again cannot change a certificate.
    The message says what failed and which option fixes it (``verify=``, ``cert=``,
    ``SSL_CERT_FILE``, or the CLI's ``--ca-file``, ``--client-cert``)."""


class DecodeError(TofuPilotError):
    """A successful answer whose body is not the documented shape; the message names the path."""


class PaginationError(DecodeError):
    """Pagination metadata that would loop forever (``has_more`` without an advancing cursor)."""


class ConsistencyError(PaginationError):
    """A listing could not establish where it stands after the result set moved under it.

    Raised instead of skipping or repeating a record: the record last handed out is neither where
    it was nor within reach of a search, and the order cannot be restarted from its sort key.
    Iterating again retries from the same position; ``resume_token`` still marks it.
    """


class StateError(TofuPilotError, RuntimeError):
    """An object was used in a way its state does not allow: a closed client, or a second task
    iterating a paginator that already has a consumer."""

"""The pure core of the protocol: build a request, decipher a response. No I/O, no event loop.

Kept apart from aiohttp in the manner of gidgethub's ``sansio`` module, so that every status,
header and body shape can be tested with plain values.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import attrs

from . import errors
from ._models import Page
from ._wire import decode_array, decode_body

__all__ = [
    "Request",
    "Response",
    "build_request",
    "check_page",
    "decode_page",
    "decode_records",
    "error_from_response",
    "explain_not_found",
    "page_of",
    "parse_retry_after",
    "request_headers",
    "request_url",
]

T = TypeVar("T")

_STATUS_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    408: "TIMEOUT",
    409: "CONFLICT",
    429: "TOO_MANY_REQUESTS",
    500: "INTERNAL_SERVER_ERROR",
    502: "BAD_GATEWAY",
    503: "SERVICE_UNAVAILABLE",
    504: "GATEWAY_TIMEOUT",
}
_ERROR_CLASSES: dict[int, type[errors.APIError]] = {
    400: errors.BadRequestError,
    401: errors.AuthenticationError,
    403: errors.PermissionDeniedError,
    404: errors.NotFoundError,
    409: errors.ConflictError,
    429: errors.RateLimitError,
}
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


@attrs.frozen
class Request:
    """One HTTP request, fully described: ``method`` (``"GET"``), ``url`` (the base URL and
    the endpoint's path, without the query), ``path`` (the URL's path, e.g.
    ``/api/v2/batches``), ``query`` (the query string as ``(key, value)`` pairs in the order
    sent, an array as repeated keys) and ``headers`` (``Authorization`` carries the key, so
    they stay out of repr)."""

    method: str
    url: str
    query: tuple[tuple[str, str], ...] = ()
    headers: Mapping[str, str] = attrs.field(factory=dict, repr=False)

    @property
    def path(self) -> str:
        """The URL's path (``/api/v2/runs`` with the default base URL): what a handler
        dispatches on, e.g. ``request.path.endswith("/v2/runs")``."""
        return urlsplit(self.url).path


@attrs.frozen
class Response:
    """A complete HTTP response: the body has been read in full and the connection released."""

    status: int
    headers: Mapping[str, str]
    body: bytes


def build_request(
    base_url: str,
    path: str,
    *,
    api_key: str,
    query: list[tuple[str, str]] | None = None,
    user_agent: str,
) -> Request:
    """A GET request for ``path`` (which starts with ``/v2/``) below ``base_url``."""
    return Request(
        method="GET",
        url=request_url(base_url, path),
        query=tuple(query or ()),
        headers=request_headers(api_key, user_agent),
    )


def request_url(base_url: str, path: str) -> str:
    """The URL of ``path`` (which starts with ``/v2/``) below ``base_url``, without a query."""
    return base_url.rstrip("/") + path


def request_headers(api_key: str, user_agent: str) -> dict[str, str]:
    """The headers of every request: the key, JSON, our User-Agent."""
    return {
        "Authorization": f"Bearer {api_key}",
        "Accept": "application/json",
        "User-Agent": user_agent,
    }


def decode_page(response: Response, cls: type[T], *, cursor: int) -> Page[T]:
    """Turn the answer to a list request at ``cursor`` into a Page, or raise the matching error.

    The body goes from bytes to frozen records in one msgspec call (see ``_wire``).
    """
    check_page(response)
    return page_of(response, cls, cursor=cursor)


def check_page(response: Response) -> None:
    """Raise the matching error unless ``response`` is a success with a JSON body: what
    ``decode_page`` checks before it decodes the body."""
    if not 200 <= response.status < 300:
        raise error_from_response(response)
    _check_json(response)


def page_of(response: Response, cls: type[T], *, cursor: int) -> Page[T]:
    """The Page in the body of ``response``, already checked (``check_page``); DecodeError if
    it does not fit, PaginationError if its cursor would never end."""
    body = decode_body(response.body, cls)
    has_more, next_cursor = body.meta.has_more, body.meta.next_cursor
    if has_more and (next_cursor is None or next_cursor <= cursor):
        raise errors.PaginationError(
            f"the server says has_more at cursor {cursor} but its next_cursor is "
            f"{next_cursor!r}; following it would never end"
        )
    return Page(items=body.data, cursor=cursor, has_more=has_more, next_cursor=next_cursor)


def decode_records(response: Response, cls: type[T]) -> list[T]:
    """Turn an answer that is a bare array of records into a list, or raise the matching error."""
    if not 200 <= response.status < 300:
        raise error_from_response(response)
    _check_json(response)
    return decode_array(response.body, cls)


def error_from_response(response: Response, now: datetime | None = None) -> errors.APIError:
    """The APIError subclass for an error status, with the body's message, code and issues.

    A body that is not TofuPilot's JSON error shape (a proxy's HTML page, an empty body) still gives
    the right class and a message that says what came back.
    """
    status = response.status
    code = _STATUS_CODES.get(status, f"HTTP_{status}")
    message = _describe_body(response)
    issues: list[Any] = []
    try:
        body = json.loads(response.body)
    except ValueError:
        body = None
    if isinstance(body, dict):
        if isinstance(body.get("code"), str) and body["code"]:
            code = body["code"]
        if isinstance(body.get("message"), str) and body["message"]:
            message = body["message"]
        if isinstance(body.get("issues"), list):
            issues = body["issues"]
    cls = _ERROR_CLASSES.get(status) or (errors.ServerError if status >= 500 else errors.APIError)
    retry_after = parse_retry_after(response.headers.get("Retry-After"), now)
    return cls(status, code, message, issues, retry_after=retry_after, headers=response.headers)


def explain_not_found(
    error: errors.NotFoundError, request: Request, base_url: str
) -> errors.NotFoundError:
    """The same 404, its message naming the URL ``request`` asked and the form of a base URL.

    A wrong base URL (an origin without its ``/api``, the ``/api/v1`` of TofuPilot's v1 client)
    earns a 404 on every path, which says nothing by itself. The URL is named without its
    query (the key is never in a URL: it travels in a header).
    """
    return errors.NotFoundError(
        error.status,
        error.code,
        error.message,
        error.issues,
        retry_after=error.retry_after,
        headers=error.headers,
        hint=f"asked {request.method} {request.url}: {_base_url_advice(base_url)}",
    )


def _base_url_advice(base_url: str) -> str:
    """What the base URL should look like, from what it is: the API's root, ``.../api``."""
    parts = urlsplit(base_url)
    segments = parts.path.rstrip("/").split("/")
    if segments[-1] == "api":
        return (
            f"the base URL {base_url} has the usual form (.../api): check that this host "
            "serves TofuPilot's API v2"
        )
    root = f"{parts.scheme}://{parts.netloc}"
    if "api" in segments:  # .../api/v1: the version is aiotofu's to add
        path = "/".join(segments[: segments.index("api") + 1])
        suggestion = f"{root}{path}"
    else:
        suggestion = f"{base_url.rstrip('/')}/api"
    return (
        "is the base URL right? It is the API's root, which ends with /api: "
        f"try {suggestion} as base_url or TOFUPILOT_URL"
    )


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delay-seconds or HTTP-date), or None.

    A date in the past means "now" (0.0); anything unparseable is ignored (None), as RFC 9110 asks.
    """
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return seconds if seconds >= 0 and seconds != float("inf") else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; email.utils marks "-0000" as naive
        when = when.replace(tzinfo=timezone.utc)
    now = now or datetime.now(timezone.utc)
    return max(0.0, (when - now).total_seconds())


def _check_json(response: Response) -> None:
    content_type = response.headers.get("Content-Type", "")
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise errors.DecodeError(f"expected a JSON body, got {_describe_body(response)}")


def _describe_body(response: Response) -> str:
    """A short, readable account of a body that is not what was expected."""
    content_type = response.headers.get("Content-Type") or "no content type"
    body = response.body
    if not body:
        return f"an empty body ({content_type})"
    title = _TITLE.search(body[:4096])
    if title:
        text = title.group(1).decode("utf-8", "replace").strip()
        return f"an HTML page titled {text[:80]!r}"
    snippet = body[:80].decode("utf-8", "replace")
    return f"{len(body)} bytes of {content_type}: {snippet!r}"

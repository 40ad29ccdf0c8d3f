"""What a client reports of its work as data: a :class:`PageEvent` per page answered.

Retries are reported as a ``RetryEvent`` (``_requester``); pages as a ``PageEvent``, to the
client's ``on_page`` hook. Both are what a daemon's metrics are made from (``_telemetry``
makes OpenTelemetry's from them), so they carry numbers, never text to be parsed.

The events are frozen attrs classes with keyword-only fields: a field added later (as the
limits in force were) comes with a default, and code that builds or reads the events keeps
working.
"""

from __future__ import annotations

import attrs

__all__ = ["PageEvent", "resource_of"]


@attrs.frozen(kw_only=True)
class PageEvent:
    """One page answered: the ``resource`` listed (``"runs"``), the page's ``cursor`` (the
    offset asked for), how many ``records`` it held, the ``seconds`` from its first try to its
    decoded answer (retry waits included) and how many tries (``attempts``) it took.
    ``concurrency_limit`` and ``rate_limit`` are the client's limits in force when it was
    answered, as on a ``RetryEvent``: the requests it may have in flight (its adaptive window)
    and the requests per second it may start (None: no rate limit).

    Every page request is reported, those that a listing makes to find its place (the newest
    record, a probe of one record) and the polls of a watch (often ``records == 0``) too.
    """

    resource: str
    cursor: int
    records: int
    seconds: float
    attempts: int
    concurrency_limit: int | None = None
    rate_limit: float | None = None


def resource_of(path: str) -> str:
    """The resource a request's path (or URL) names: ``/api/v2/runs`` -> ``"runs"``."""
    _, found, rest = path.partition("/v2/")
    return rest.split("/", 1)[0] if found else path.strip("/")

"""OpenTelemetry: a span per HTTP request and the client's metrics, when the API is installed.

Installed with the ``otel`` extra (``opentelemetry-api`` alone); imported when a Client is
made, never by ``import aiotofu``, and without it :func:`create` returns None and nothing is
done. Nothing is configured here: spans and metrics go to the providers given to the Client
(``tracer_provider=``, ``meter_provider=``), else to the application's global ones, which do
nothing until the application installs the SDK and an exporter.

- A CLIENT span per try of an HTTP request, as the HTTP semantic conventions name it
  (``GET /v2/runs``: the method and the path below the base URL, a low-cardinality name), with
  ``http.request.method``, ``server.address``, ``server.port``, ``url.full`` (the query never
  holds the key: it travels in a header), ``url.template``, ``http.response.status_code``,
  ``error.type`` and, on a retry, ``http.request.resend_count``.
- Metrics: ``http.client.request.duration`` (seconds, per try), ``aiotofu.records`` and
  ``aiotofu.pages`` (from each :class:`PageEvent`), ``aiotofu.retries`` (from each
  ``RetryEvent``, by ``error.type``: the status or ``transport``) and
  ``aiotofu.concurrency.limit`` (the requests allowed in flight, a gauge).

With ``opentelemetry-instrumentation-aiohttp-client`` also on, each try would get a second
CLIENT span (and a second duration) from aiohttp's own hooks. Ours replaces it: while a request
is sent, the context carries OpenTelemetry's "suppress HTTP instrumentation" key, which that
instrumentation (like those of requests, httpx and urllib3) honours; the trace context is
injected into the request's headers here instead, so the server still joins the trace.

While the tracer records nothing (the API with no SDK behind its global provider, or a no-op
provider given), no span is made: the context in force still goes to the server (an incoming
trace, baggage) and still suppresses aiohttp's instrumentation where that could see the try (a
session with trace configs, which is where it hooks in, or with middlewares), and the duration
is measured.
"""

from __future__ import annotations

import functools
import threading
import weakref
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode, urlsplit

import attrs

from ._events import resource_of
from ._sansio import Request

__all__ = ["Exchange", "Telemetry", "create"]

SCOPE = "aiotofu"
# Where opentelemetry.trace keeps the global tracer provider (None until one is set), and
# where opentelemetry.metrics._internal keeps the meter provider.
_PROVIDER_GLOBAL = "_TRACER_PROVIDER"
_METER_PROVIDER_GLOBAL = "_METER_PROVIDER"
_UNKNOWN: Any = object()  # another release of the API, which keeps it elsewhere


def create(tracer_provider: Any = None, meter_provider: Any = None) -> Telemetry | None:
    """A Telemetry on these providers (None: the global ones), or None without OpenTelemetry."""
    try:
        from opentelemetry import context, metrics, propagate, trace
    except ImportError:
        return None
    from . import __version__

    tracer = trace.get_tracer(SCOPE, __version__, tracer_provider=tracer_provider)
    instruments = _instruments_of(metrics, meter_provider)
    # The API alone, with no SDK behind its global provider (yet), makes spans that record
    # nothing: not worth making one per request (the context is still passed on: see start).
    # Watched per request: an SDK installed later is used from its next request on.
    idle: Callable[[], bool] | None = None
    if tracer_provider is None:
        proxy = trace.get_tracer_provider()
        if isinstance(proxy, trace.ProxyTracerProvider):
            module = vars(trace)
            if _PROVIDER_GLOBAL in module:
                # What get_tracer_provider() reads, read directly: the call also looks up an
                # environment variable (a KeyError raised and caught), per request. The provider
                # a variable names was loaded by the call above, or never will be.
                idle = _Unset(module, _PROVIDER_GLOBAL)
            else:  # another release of the API: its public call
                idle = functools.partial(_still, trace.get_tracer_provider, proxy)
    elif isinstance(tracer_provider, trace.NoOpTracerProvider):
        idle = functools.partial(bool, True)
    return Telemetry(
        tracer,
        instruments,
        context=context,
        propagate=propagate,
        trace=trace,
        idle=idle,
        context_only=_context_only,
        unmetered=_unmetered(metrics, meter_provider),
    )


@attrs.frozen(eq=False)
class _Instruments:
    """The client's metric instruments, from one meter (see _instruments_of)."""

    duration: Any
    records: Any
    pages: Any
    retries: Any
    limit: Any


# Instruments made once per meter provider, shared by every client given it (None: the global
# one). The API's global proxy keeps every meter asked of it, and each meter every instrument
# made from it, until an SDK is set: a meter per client would pile up in a process that makes
# clients by the hundred (a daemon's jobs, a worker's tasks).
_INSTRUMENTS: weakref.WeakKeyDictionary[Any, _Instruments] = weakref.WeakKeyDictionary()
_GLOBAL_INSTRUMENTS: list[_Instruments] = []  # at most one
_INSTRUMENTS_LOCK = threading.Lock()  # clients may be made in several threads (SyncClient)


def _instruments_of(metrics: Any, meter_provider: Any) -> _Instruments:
    """The instruments of ``meter_provider`` (None: the global one), made on first use."""
    from . import __version__

    with _INSTRUMENTS_LOCK:
        if meter_provider is None:
            if not _GLOBAL_INSTRUMENTS:
                _GLOBAL_INSTRUMENTS.append(_instruments(metrics.get_meter(SCOPE, __version__)))
            return _GLOBAL_INSTRUMENTS[0]
        meter = functools.partial(
            metrics.get_meter, SCOPE, __version__, meter_provider=meter_provider
        )
        try:
            made = _INSTRUMENTS.get(meter_provider)
        except TypeError:  # a provider that cannot be weakly referenced: its own each time
            return _instruments(meter())
        if made is None:
            made = _INSTRUMENTS[meter_provider] = _instruments(meter())
        return made


def _instruments(meter: Any) -> _Instruments:
    """The client's instruments, made from ``meter``."""
    return _Instruments(
        duration=meter.create_histogram(
            "http.client.request.duration",
            unit="s",
            description="Duration of HTTP client requests.",
        ),
        records=meter.create_counter(
            "aiotofu.records", unit="{record}", description="Records received in pages."
        ),
        pages=meter.create_counter("aiotofu.pages", unit="{page}", description="Pages received."),
        retries=meter.create_counter(
            "aiotofu.retries", unit="{retry}", description="Requests retried, by error type."
        ),
        limit=meter.create_gauge(
            "aiotofu.concurrency.limit",
            unit="{request}",
            description="Requests the client allows in flight at once.",
        ),
    )


def _unmetered(metrics: Any, meter_provider: Any) -> Callable[[], bool] | None:
    """What says whether the metrics go nowhere now (None: they may always go somewhere): the
    API alone, with no SDK behind its global provider yet (its instruments drop what they are
    given until one is set), or a no-op provider given."""
    if meter_provider is None:
        try:  # where the API keeps its global provider: private, so perhaps gone some day
            from opentelemetry.metrics import _internal
        except ImportError:
            return None
        module = vars(_internal)
        if module.get(_METER_PROVIDER_GLOBAL, _UNKNOWN) is None:
            # Read directly, as the tracer provider's: get_meter() above loaded a provider an
            # environment variable names; one set later is used from its next request on.
            return _Unset(module, _METER_PROVIDER_GLOBAL)
        return None
    if isinstance(meter_provider, metrics.NoOpMeterProvider):
        return functools.partial(bool, True)
    return None


def _context_only(textmap: object) -> bool:
    """Whether ``textmap`` writes headers that depend on the context alone: the API's default
    propagators (W3C trace context and baggage, alone or composed), not one of the
    application's own, which may write what it likes on each request."""
    from opentelemetry.baggage.propagation import W3CBaggagePropagator
    from opentelemetry.propagators.composite import CompositePropagator
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    known = (TraceContextTextMapPropagator, W3CBaggagePropagator)
    if type(textmap) is CompositePropagator:
        # Its parts are private in opentelemetry-api: absent from some release, not known.
        parts = getattr(textmap, "_propagators", None)
        return isinstance(parts, list | tuple) and all(type(part) in known for part in parts)
    return type(textmap) in known


@attrs.frozen(eq=False)
class _Unset:
    """Says whether ``module``'s global ``name`` is still None (no provider set). Asked on
    every try, so the Telemetry reads the global itself rather than call this (see _tracing and
    metering); a call does the same, as any other watch of ``idle`` or ``unmetered`` would."""

    module: dict[str, Any]
    name: str

    def __call__(self) -> bool:
        return self.module.get(self.name) is None


def _global_of(watch: Callable[[], bool] | None) -> tuple[dict[str, Any], str] | None:
    """The module and global name an _Unset watches, to be read directly; None for another
    watch (or none)."""
    return (watch.module, watch.name) if isinstance(watch, _Unset) else None


def _still(current: Callable[[], object], provider: object) -> bool:
    """Whether ``current()`` is still ``provider``."""
    return current() is provider


@attrs.define  # one per try, never changed: not frozen, whose __init__ is slower
class Exchange:
    """One try in flight: the request as sent (with the trace context's headers), its span
    (None while no tracer records), and the context token to detach (None: none attached)."""

    request: Request
    span: Any
    token: object | None


@attrs.frozen
class _Target:
    """What the spans and durations of one URL path share, computed once."""

    name: str
    span_attributes: dict[str, Any]
    metric_attributes: dict[str, Any]
    resource: str


class Telemetry:
    """Spans and metrics for one client (see the module docstring)."""

    def __init__(
        self,
        tracer: Any,
        instruments: _Instruments,
        *,
        context: Any,
        propagate: Any,
        trace: Any,
        idle: Callable[[], bool] | None = None,
        context_only: Callable[[object], bool] | None = None,
        unmetered: Callable[[], bool] | None = None,
    ):
        self._tracer = tracer
        # Whether the metrics go nowhere now (see _unmetered): then no attributes are made.
        self._unmetered = unmetered
        # Whether the tracer records nothing now (the API's proxy with no SDK behind it yet, or
        # a no-op provider given): see create().
        self._idle = idle
        # Where either is a provider global still unset (the usual case: the API without an
        # SDK), that global, read on each try without a call (see _tracing, metering).
        self._idle_global = _global_of(idle)
        self._unmetered_global = _global_of(unmetered)
        self._context = context
        self._propagate = propagate
        # While no span is made: the context a try was last sent in, and its headers, for the
        # context in force and the global propagator they were made from (see _passed_on).
        self._context_only = context_only
        self._passed: tuple[object, object, Any, dict[str, str]] | None = None
        self._verdict: tuple[object, bool] | None = None  # a propagator, and _context_only's
        self._trace = trace
        self._client_kind = trace.SpanKind.CLIENT
        self._error_status = trace.Status(trace.StatusCode.ERROR)
        # Private in opentelemetry-api (no public name yet), and what every HTTP client
        # instrumentation reads: absent from some release, the spans may double, no more.
        self._suppress = getattr(context, "_SUPPRESS_HTTP_INSTRUMENTATION_KEY", None)
        self._duration = instruments.duration
        self._records = instruments.records
        self._pages = instruments.pages
        self._retries = instruments.retries
        self._limit = instruments.limit
        self._targets: dict[tuple[str, str], _Target] = {}
        self._resource_attributes: dict[str, dict[str, str]] = {}
        self._limit_set: tuple[int, str] | None = None

    def _target(self, request: Request, base_path: str) -> _Target:
        key = (request.method, request.url)
        target = self._targets.get(key)
        if target is None:
            parts = urlsplit(request.url)
            template = parts.path[len(base_path) :] if parts.path.startswith(base_path) else ""
            template = template or parts.path
            port = parts.port or (443 if parts.scheme == "https" else 80)
            common = {
                "http.request.method": request.method,
                "server.address": parts.hostname or "",
                "server.port": port,
                "url.template": template,
            }
            target = _Target(
                name=f"{request.method} {template}",
                span_attributes={**common, "url.scheme": parts.scheme},
                metric_attributes=common,
                resource=resource_of(parts.path),
            )
            self._targets[key] = target
        return target

    def _tracing(self) -> bool:
        """Whether a span made now could record (see create())."""
        watched = self._idle_global
        if watched is not None:
            return watched[0].get(watched[1]) is not None
        return self._idle is None or not self._idle()

    def start(
        self, request: Request, attempt: int, base_path: str, *, hooked: bool = True
    ) -> Exchange:
        """Open the span of try ``attempt`` of ``request``; send ``Exchange.request``. While
        no tracer records (see create()), no span is made: the context in force is passed on
        as it is (an application's incoming trace and baggage), and aiohttp's instrumentation
        is suppressed all the same, where it could see the try (``hooked``: the HTTP client
        may call hooks on it; else no context is attached, as none would be read)."""
        span = None
        if self._tracing():
            target = self._target(request, base_path)
            attributes = target.span_attributes
            if attempt > 1:
                attributes = {**attributes, "http.request.resend_count": attempt - 1}
            span = self._tracer.start_span(
                target.name, kind=self._client_kind, attributes=attributes
            )
            if span.is_recording():
                # The full URL is the one attribute made per request (its query string): only
                # for a span that keeps it, not for the API's no-op spans, where it was most of
                # the cost of a request's telemetry.
                query = urlencode(request.query)
                span.set_attribute("url.full", f"{request.url}?{query}" if query else request.url)
            ctx = self._sent_in(self._trace.set_span_in_context(span))
            carrier: dict[str, str] = {}
            self._propagate.inject(carrier, context=ctx)
        else:
            ctx, carrier = self._passed_on()
        if carrier:
            request = attrs.evolve(request, headers={**request.headers, **carrier})
        if span is None and not hooked:
            return Exchange(request, None, None)
        return Exchange(request, span, self._context.attach(ctx))

    def _sent_in(self, ctx: Any) -> Any:
        """``ctx`` with aiohttp's instrumentation suppressed."""
        return ctx if self._suppress is None else self._context.set_value(self._suppress, True, ctx)

    def _passed_on(self) -> tuple[Any, dict[str, str]]:
        """While no span is made: the context a try is sent in (the one in force) and the
        headers it puts on the request. Made again only when the context in force or the
        global propagator changes, where the propagator's headers depend on the context alone
        (a context is immutable: the same object, the same headers)."""
        current = self._context.get_current()
        textmap = self._propagate.get_global_textmap()
        passed = self._passed
        if passed is not None and passed[0] is current and passed[1] is textmap:
            return passed[2], passed[3]
        ctx = self._sent_in(current)
        carrier: dict[str, str] = {}
        textmap.inject(carrier, context=ctx)
        verdict = self._verdict
        if verdict is None or verdict[0] is not textmap:
            judge = self._context_only
            verdict = self._verdict = (textmap, judge is not None and judge(textmap))
        self._passed = (current, textmap, ctx, carrier) if verdict[1] else None
        return ctx, carrier

    def finish(
        self,
        exchange: Exchange,
        request: Request,
        base_path: str,
        seconds: float,
        status: int | None,
        error: BaseException | None,
    ) -> None:
        """A try of ``request`` is over after ``seconds``: give back its context, close its
        span (if one was made) and record its duration."""
        error_type = None
        if status is not None and status >= 400:
            error_type = str(status)
        elif error is not None:
            error_type = type(error).__qualname__
        if exchange.token is not None:
            self._context.detach(exchange.token)
        span = exchange.span
        if span is not None:
            if status is not None:
                span.set_attribute("http.response.status_code", status)
            if error_type is not None:
                span.set_attribute("error.type", error_type)
                span.set_status(self._error_status)
            span.end()
        if self.metering():
            attributes = dict(self._target(request, base_path).metric_attributes)
            if status is not None:
                attributes["http.response.status_code"] = status
            if error_type is not None:
                attributes["error.type"] = error_type
            self._duration.record(seconds, attributes)

    def metering(self) -> bool:
        """Whether a measurement made now could go somewhere (see _unmetered)."""
        watched = self._unmetered_global
        if watched is not None:
            return watched[0].get(watched[1]) is not None
        return self._unmetered is None or not self._unmetered()

    def page(self, resource: str, records: int) -> None:
        """Count a page of ``resource`` and its records (what a PageEvent says)."""
        if not self.metering():
            return
        attributes = self._resource_attributes.get(resource)
        if attributes is None:
            attributes = self._resource_attributes[resource] = {"aiotofu.resource": resource}
        self._pages.add(1, attributes)
        self._records.add(records, attributes)

    def retry(self, path: str, kind: str) -> None:
        """Count a retry of a request for ``path``, by what failed (a RetryEvent's ``kind``)."""
        if not self.metering():
            return
        self._retries.add(1, {"aiotofu.resource": resource_of(path), "error.type": kind})

    def concurrency_limit(self, limit: int, server: str) -> None:
        """Record the requests allowed in flight (called with every page and retry: only a
        change is recorded)."""
        if self._limit_set == (limit, server) or not self.metering():
            return
        self._limit_set = (limit, server)
        self._limit.set(limit, {"server.address": server})

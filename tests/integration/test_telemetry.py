"""OpenTelemetry with the SDK's in-memory exporter and metric reader: a CLIENT span per try
(HTTP semantic conventions, resend count on retries), the metrics, trace context propagated,
and no double span beside opentelemetry-instrumentation-aiohttp-client."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

import aiotofu
from aiotofu.testing import Emulator, VirtualClock


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracer_provider(exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider
    provider.shutdown()


@pytest.fixture
def reader() -> InMemoryMetricReader:
    return InMemoryMetricReader()


@pytest.fixture
def meter_provider(reader: InMemoryMetricReader) -> Iterator[MeterProvider]:
    provider = MeterProvider(metric_readers=[reader])
    yield provider
    provider.shutdown()


def metrics(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    """Each metric's data points, by name."""
    found: dict[str, list[Any]] = {}
    data = reader.get_metrics_data()
    assert data is not None
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                found.setdefault(metric.name, []).extend(metric.data.data_points)
    return found


async def test_a_span_per_try_following_the_http_conventions(
    clock: VirtualClock,
    tracer_provider: TracerProvider,
    meter_provider: MeterProvider,
    exporter: InMemorySpanExporter,
    reader: InMemoryMetricReader,
) -> None:
    async with Emulator(batches=25) as emu:
        emu.inject(503, cursor=0)
        events: list[aiotofu.PageEvent] = []
        async with emu.client(
            tracer_provider=tracer_provider, meter_provider=meter_provider, on_page=events.append
        ) as c:
            assert len(await c.batches.list(page_size=10, prefetch=0).collect()) == 25
    spans = exporter.get_finished_spans()
    assert {span.name for span in spans} == {"GET /v2/batches"}
    assert all(span.kind is SpanKind.CLIENT for span in spans)
    first, retried = spans[0], spans[1]
    assert first.attributes is not None
    assert retried.attributes is not None
    assert first.attributes["http.request.method"] == "GET"
    assert first.attributes["server.address"] == "127.0.0.1"
    assert first.attributes["http.response.status_code"] == 503
    assert first.attributes["error.type"] == "503"
    assert "http.request.resend_count" not in first.attributes
    assert retried.attributes["http.response.status_code"] == 200
    assert retried.attributes["http.request.resend_count"] == 1
    assert "error.type" not in retried.attributes
    url = str(retried.attributes["url.full"])
    assert url.startswith(emu.base_url + "/v2/batches?")
    assert emu.api_key not in url
    assert all(emu.api_key not in str(span.attributes) for span in spans)

    found = metrics(reader)
    durations = found["http.client.request.duration"]
    assert sum(point.count for point in durations) == len(spans)
    assert {p.attributes.get("http.response.status_code") for p in durations} == {200, 503}
    [records] = found["aiotofu.records"]
    # Made from the page events: the records received, each page's overlap with the last
    # (continuity is verified) included.
    assert records.value == sum(event.records for event in events) >= 25
    assert records.attributes == {"aiotofu.resource": "batches"}
    [pages] = found["aiotofu.pages"]
    assert pages.value == len(events) == len(spans) - 1  # the 503 was not a page
    [retries] = found["aiotofu.retries"]
    assert retries.value == 1
    assert retries.attributes == {"aiotofu.resource": "batches", "error.type": "503"}
    [limit] = found["aiotofu.concurrency.limit"]
    # The 503 narrowed the adaptive window from max_concurrency (4) by a tenth, to 3; the gauge
    # follows the window.
    assert limit.value == 3


async def test_a_transport_failure_is_an_error_span(
    clock: VirtualClock, tracer_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    async with aiotofu.Client(
        "key", base_url="http://127.0.0.1:9/api", retry=None, tracer_provider=tracer_provider
    ) as client:
        with pytest.raises(aiotofu.TransportError):
            await client.batches.list().collect()
    [span] = exporter.get_finished_spans()
    assert span.attributes is not None
    assert span.attributes["error.type"] == "TransportError"
    assert not span.status.is_ok


async def test_the_trace_context_reaches_the_server(
    tracer_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """A traceparent header carries the request's span: the server can join the trace."""
    seen: list[str | None] = []

    def handler(request: aiotofu.testing.Request) -> aiotofu.testing.Response:
        seen.append(request.headers.get("traceparent"))
        return aiotofu.testing.json_response(
            {"data": [], "meta": {"has_more": False, "next_cursor": None}}
        )

    transport = aiotofu.testing.MockTransport(handler)
    async with aiotofu.Client(
        "key", transport=transport, tracer_provider=tracer_provider
    ) as client:
        await client.batches.list().collect()
    [span] = exporter.get_finished_spans()
    [traceparent] = seen
    assert traceparent is not None
    assert format(span.context.span_id, "016x") in traceparent


async def test_no_double_span_beside_the_aiohttp_instrumentation(
    tracer_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """With opentelemetry-instrumentation-aiohttp-client on, each try has one CLIENT span:
    ours. It suppresses HTTP instrumentation while it sends (OpenTelemetry's context key)."""
    from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor

    instrumentor = AioHttpClientInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider)
    try:
        async with Emulator(batches=5) as emu:
            async with emu.client(tracer_provider=tracer_provider) as client:
                assert len(await client.batches.list().collect()) == 5
            # The instrumentation is on: a plain aiohttp request gets its span.
            import aiohttp

            async with aiohttp.ClientSession() as session, session.get(emu.base_url) as answer:
                await answer.read()
    finally:
        instrumentor.uninstrument()
    spans = exporter.get_finished_spans()
    ours = [s for s in spans if s.instrumentation_scope.name == "aiotofu"]
    theirs = [s for s in spans if s.instrumentation_scope.name != "aiotofu"]
    assert [s.name for s in ours] == ["GET /v2/batches"]
    assert len(theirs) == 1  # the plain request's, none for aiotofu's


async def test_without_an_sdk_no_span_is_made_until_one_is_installed(
    monkeypatch: pytest.MonkeyPatch, tracer_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """The API alone (its global proxy provider, no SDK behind it): no span, no trace context,
    nothing to propagate. An SDK installed globally later traces the same client's next
    request on."""
    from opentelemetry import trace

    seen: list[str | None] = []

    def handler(request: aiotofu.testing.Request) -> aiotofu.testing.Response:
        seen.append(request.headers.get("traceparent"))
        return aiotofu.testing.json_response(
            {"data": [], "meta": {"has_more": False, "next_cursor": None}}
        )

    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    started: list[str] = []
    real_start = trace.ProxyTracer.start_span

    def spy(self: trace.ProxyTracer, name: str, *args: Any, **kwargs: Any) -> trace.Span:
        started.append(name)
        return real_start(self, name, *args, **kwargs)

    monkeypatch.setattr(trace.ProxyTracer, "start_span", spy)
    transport = aiotofu.testing.MockTransport(handler)
    async with aiotofu.Client("key", transport=transport) as client:
        await client.batches.list().collect()
        assert (started, seen) == ([], [None])
        # What trace.set_tracer_provider() does, undone after the test (it can be done once).
        monkeypatch.setattr(trace, "_TRACER_PROVIDER", tracer_provider)
        await client.batches.list().collect()
    assert started == ["GET /v2/batches"]
    [span] = exporter.get_finished_spans()
    assert seen[1] is not None
    assert format(span.context.span_id, "016x") in seen[1]


async def test_a_no_op_tracer_provider_given_makes_no_span(monkeypatch: pytest.MonkeyPatch) -> None:
    from opentelemetry import trace

    started: list[str] = []
    monkeypatch.setattr(
        trace.NoOpTracer, "start_span", lambda self, name, *a, **k: started.append(name)
    )
    transport = aiotofu.testing.MockTransport(
        lambda request: aiotofu.testing.json_response(
            {"data": [], "meta": {"has_more": False, "next_cursor": None}}
        )
    )
    async with aiotofu.Client(
        "key", transport=transport, tracer_provider=trace.NoOpTracerProvider()
    ) as client:
        assert await client.batches.list().collect() == []
    assert started == []


async def test_an_api_without_its_private_global_is_watched_through_its_public_call(
    monkeypatch: pytest.MonkeyPatch, tracer_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """Where the API keeps its global provider elsewhere (another release), whether an SDK is
    installed is asked of ``trace.get_tracer_provider()``, per request."""
    from opentelemetry import trace

    from aiotofu import _telemetry

    monkeypatch.setattr(_telemetry, "_PROVIDER_GLOBAL", "_not_in_this_release")
    installed: list[Any] = [trace.ProxyTracerProvider()]  # what the public call answers
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: installed[0])
    transport = aiotofu.testing.MockTransport(
        lambda request: aiotofu.testing.json_response(
            {"data": [], "meta": {"has_more": False, "next_cursor": None}}
        )
    )
    async with aiotofu.Client("key", transport=transport) as client:
        await client.batches.list().collect()
        assert exporter.get_finished_spans() == ()
        # An SDK installed: the public call now answers it, and the tracer the client holds
        # (the API's proxy tracer) follows the global provider as the API would have it.
        installed[0] = tracer_provider
        monkeypatch.setattr(
            trace.ProxyTracer,
            "_tracer",
            property(lambda self: tracer_provider.get_tracer(self._instrumenting_module_name)),
        )
        await client.batches.list().collect()
    assert [span.name for span in exporter.get_finished_spans()] == ["GET /v2/batches"]


async def test_without_an_sdk_the_trace_context_in_force_still_reaches_the_server() -> None:
    """With the API alone, an application that extracted an incoming request's context (and
    baggage) still passes it on: the no-op tracer's span is that context's."""
    from opentelemetry import baggage, context, propagate

    seen: list[dict[str, str]] = []

    def handler(request: aiotofu.testing.Request) -> aiotofu.testing.Response:
        seen.append({k: v for k, v in request.headers.items() if k in ("traceparent", "baggage")})
        return aiotofu.testing.json_response(
            {"data": [], "meta": {"has_more": False, "next_cursor": None}}
        )

    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    incoming = baggage.set_baggage(
        "tenant", "acme", propagate.extract({"traceparent": traceparent})
    )
    token = context.attach(incoming)
    try:
        async with aiotofu.Client("key", transport=aiotofu.testing.MockTransport(handler)) as c:
            await c.batches.list().collect()
    finally:
        context.detach(token)
    assert seen == [{"traceparent": traceparent, "baggage": "tenant=acme"}]


async def test_a_client_that_traces_nothing_still_keeps_aiohttps_instrumentation_quiet(
    tracer_provider: TracerProvider, exporter: InMemorySpanExporter
) -> None:
    """Spans recorded by nobody, ours included: the aiohttp instrumentation (given a provider
    of its own) is suppressed while aiotofu sends, as when aiotofu traces."""
    from opentelemetry import trace
    from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor

    instrumentor = AioHttpClientInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider)
    try:
        async with (
            Emulator(batches=5) as emu,
            emu.client(tracer_provider=trace.NoOpTracerProvider()) as client,
        ):
            assert len(await client.batches.list().collect()) == 5
            # Again, on the session made by then (whose trace configs are the instrumentation's).
            assert len(await client.batches.list().collect()) == 5
    finally:
        instrumentor.uninstrument()
    assert exporter.get_finished_spans() == ()


def _headers_seen(seen: list[dict[str, str]], *names: str) -> aiotofu.testing.MockTransport:
    """A transport that answers an empty last page and keeps the headers ``names`` of each
    request in ``seen``."""

    def handler(request: aiotofu.testing.Request) -> aiotofu.testing.Response:
        seen.append({k: v for k, v in request.headers.items() if k in names})
        return aiotofu.testing.json_response(
            {"data": [], "meta": {"has_more": False, "next_cursor": None}}
        )

    return aiotofu.testing.MockTransport(handler)


class _Unhooked(aiotofu.testing.MockTransport):
    """A transport whose HTTP client calls no hooks on a request (aiohttp without trace
    configs): nothing of it can read the context a request is sent in."""

    def hooked(self) -> bool:
        return False


@pytest.mark.parametrize("hooked", [True, False])
async def test_without_an_sdk_instrumentation_is_suppressed_where_a_hook_could_see_it(
    hooked: bool,
) -> None:
    """With the API alone, a try is sent in a context that suppresses HTTP instrumentation
    where the transport's client may call hooks (a transport that does not say, as a
    MockTransport, may); where it calls none, no context is attached. Either way the request
    carries the trace context in force."""
    from opentelemetry import context, propagate

    suppress = context._SUPPRESS_HTTP_INSTRUMENTATION_KEY
    seen: list[tuple[object, str | None]] = []

    def handler(request: aiotofu.testing.Request) -> aiotofu.testing.Response:
        seen.append((context.get_value(suppress), request.headers.get("traceparent")))
        return aiotofu.testing.json_response(
            {"data": [], "meta": {"has_more": False, "next_cursor": None}}
        )

    transport = (aiotofu.testing.MockTransport if hooked else _Unhooked)(handler)
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    token = context.attach(propagate.extract({"traceparent": traceparent}))
    try:
        async with aiotofu.Client("key", transport=transport) as client:
            await client.batches.list().collect()
            await client.batches.list().collect()
        after = context.get_current()
    finally:
        context.detach(token)
    assert seen == [(True if hooked else None, traceparent)] * 2
    assert context.get_value(suppress, after) is None  # what was attached was detached


async def test_without_an_sdk_each_request_carries_the_context_in_force_at_its_time() -> None:
    """The headers made for one context are reused while it is in force (the default
    propagators write what the context says, nothing else): a context attached between two
    requests of the same client reaches the server, and so does the one before it again."""
    from opentelemetry import baggage, context

    seen: list[dict[str, str]] = []
    async with aiotofu.Client("key", transport=_headers_seen(seen, "baggage")) as client:
        await client.batches.list().collect()
        token = context.attach(baggage.set_baggage("tenant", "acme"))
        try:
            await client.batches.list().collect()
            await client.batches.list().collect()
        finally:
            context.detach(token)
        await client.batches.list().collect()
    assert seen == [{}, {"baggage": "tenant=acme"}, {"baggage": "tenant=acme"}, {}]


async def test_without_an_sdk_an_applications_own_propagator_is_asked_on_every_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A propagator of the application's own may write what it likes per request (a request
    id, say): it is asked every time, in the same context, not its first answer kept. One set
    globally while the client runs is used from the next request on."""
    from opentelemetry import propagate
    from opentelemetry.propagators.textmap import TextMapPropagator

    class RequestIds(TextMapPropagator):
        def __init__(self) -> None:
            self.made = 0

        def inject(self, carrier: Any, context: Any = None, setter: Any = None) -> None:
            self.made += 1
            carrier["x-request-id"] = str(self.made)

        def extract(self, carrier: Any, context: Any = None, getter: Any = None) -> Any:
            return context

        @property
        def fields(self) -> set[str]:
            return {"x-request-id"}

    seen: list[dict[str, str]] = []
    async with aiotofu.Client("key", transport=_headers_seen(seen, "x-request-id")) as client:
        await client.batches.list().collect()
        monkeypatch.setattr(propagate, "_HTTP_TEXT_FORMAT", RequestIds())  # set_global_textmap
        for _ in range(3):
            await client.batches.list().collect()
    assert seen == [{}, {"x-request-id": "1"}, {"x-request-id": "2"}, {"x-request-id": "3"}]


def test_only_the_default_propagators_count_as_writing_the_context_alone() -> None:
    from opentelemetry import propagate
    from opentelemetry.baggage.propagation import W3CBaggagePropagator
    from opentelemetry.propagators.composite import CompositePropagator
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    from aiotofu._telemetry import _context_only

    class Own(TraceContextTextMapPropagator):  # a subclass may write more
        pass

    assert _context_only(propagate.get_global_textmap())  # the API's default
    assert _context_only(TraceContextTextMapPropagator())
    assert _context_only(CompositePropagator([W3CBaggagePropagator()]))
    assert not _context_only(Own())
    assert not _context_only(CompositePropagator([TraceContextTextMapPropagator(), Own()]))


async def test_without_a_metrics_sdk_nothing_is_measured_until_one_is_installed(
    monkeypatch: pytest.MonkeyPatch, meter_provider: MeterProvider
) -> None:
    """The metrics API alone drops every measurement: none is made (no attributes per request)
    until an SDK's provider is set globally, from the same client's next request on."""
    from opentelemetry.metrics import _internal
    from opentelemetry.metrics._internal import instrument

    recorded: list[str] = []
    for proxy, method in (
        (instrument._ProxyHistogram, "record"),
        (instrument._ProxyCounter, "add"),
        (instrument._ProxyGauge, "set"),
    ):
        monkeypatch.setattr(
            proxy, method, lambda self, *args, **kwargs: recorded.append(self._name)
        )
    assert _internal._METER_PROVIDER is None
    transport = _headers_seen([])
    async with aiotofu.Client("key", transport=transport) as client:
        await client.batches.list().collect()
        assert recorded == []
        # What metrics.set_meter_provider() does, undone after the test (it can be done once).
        monkeypatch.setattr(_internal, "_METER_PROVIDER", meter_provider)
        await client.batches.list().collect()
    assert sorted(recorded) == [
        "aiotofu.concurrency.limit",
        "aiotofu.pages",
        "aiotofu.records",
        "http.client.request.duration",
    ]


async def test_without_the_api_internals_the_client_measures_everything(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Whether the metrics go nowhere is read from the API's private module: a release that
    moves it costs the shortcut, never the client (made, and measuring, as before it)."""
    from opentelemetry import metrics as metrics_api
    from opentelemetry.metrics._internal import instrument

    recorded: list[str] = []
    monkeypatch.setattr(
        instrument._ProxyCounter, "add", lambda self, *a, **k: recorded.append(self._name)
    )
    monkeypatch.delattr(metrics_api, "_internal")
    monkeypatch.setitem(sys.modules, "opentelemetry.metrics._internal", None)  # ImportError
    async with aiotofu.Client("key", transport=_headers_seen([])) as client:
        await client.batches.list().collect()
    assert "aiotofu.pages" in recorded


@pytest.mark.slow
def test_a_meter_provider_set_after_the_client_is_made_gets_its_measurements() -> None:
    """The public way, in a fresh interpreter (a global provider can be set once): the SDK's
    provider set with ``metrics.set_meter_provider()`` after the client is made receives the
    measurements of its next listing, none of the one before; a client made after it too."""
    script = """
import asyncio, json
from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
import aiotofu
from aiotofu.testing import MockTransport, json_response

def answer(request):
    return json_response({"data": [], "meta": {"has_more": False, "next_cursor": None}})

def pages(reader):
    data = reader.get_metrics_data()
    if data is None:
        return 0
    return sum(
        point.value
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        if metric.name == "aiotofu.pages"
        for point in metric.data.data_points
    )

async def main():
    reader = InMemoryMetricReader()
    async with aiotofu.Client("key", transport=MockTransport(answer)) as client:
        await client.batches.list().collect()
        metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
        before = pages(reader)
        await client.batches.list().collect()
        after = pages(reader)
    async with aiotofu.Client("key", transport=MockTransport(answer)) as client:
        await client.batches.list().collect()
    print(json.dumps([before, after, pages(reader)]))

asyncio.run(main())
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    before, after, later = json.loads(done.stdout.splitlines()[-1])
    assert (before, after, later) == (0, 1, 2)


@pytest.mark.slow
def test_clients_made_one_after_another_leave_no_meters_behind() -> None:
    """With the API alone (a fresh interpreter: no provider set), its global proxy keeps every
    meter asked of it and every instrument made from one, until an SDK is set: clients made by
    the hundred (a daemon's jobs, a worker's tasks) share one meter and its instruments."""
    script = """
import asyncio, gc, json
import aiotofu
from aiotofu.testing import MockTransport, json_response

def answer(request):
    return json_response({"data": [], "meta": {"has_more": False, "next_cursor": None}})

async def main():
    for _ in range(20):
        async with aiotofu.Client("key", transport=MockTransport(answer)) as client:
            await client.batches.list().collect()
    gc.collect()
    # The API's proxies, by name (private classes, which move between its releases).
    proxies = [
        kind.__name__
        for kind in map(type, gc.get_objects())
        if str(vars(kind).get("__module__", "")).startswith("opentelemetry.metrics")
        and kind.__name__.startswith("_Proxy")
        and kind.__name__ != "_ProxyMeterProvider"
    ]
    meters = proxies.count("_ProxyMeter")
    print(json.dumps([meters, len(proxies) - meters]))

asyncio.run(main())
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    meters, instruments = json.loads(done.stdout.splitlines()[-1])
    assert meters == 1
    assert instruments == 5  # a histogram, three counters and a gauge


async def test_clients_on_one_meter_provider_count_into_the_same_instruments(
    meter_provider: MeterProvider, reader: InMemoryMetricReader
) -> None:
    """Two clients given the same provider count into its instruments (those made for it,
    not the global provider's, shared from the first client on): their pages add up."""
    for _ in range(2):
        async with aiotofu.Client(
            "key", transport=_headers_seen([]), meter_provider=meter_provider
        ) as client:
            await client.batches.list().collect()
    [pages] = metrics(reader)["aiotofu.pages"]
    assert pages.value == 2


async def test_a_no_op_meter_provider_given_measures_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from opentelemetry import metrics

    recorded: list[str] = []
    monkeypatch.setattr(
        metrics.NoOpHistogram, "record", lambda self, *a, **k: recorded.append(self.name)
    )
    monkeypatch.setattr(metrics.NoOpCounter, "add", lambda self, *a, **k: recorded.append("n"))
    async with aiotofu.Client(
        "key", transport=_headers_seen([]), meter_provider=metrics.NoOpMeterProvider()
    ) as client:
        await client.batches.list().collect()
    assert recorded == []

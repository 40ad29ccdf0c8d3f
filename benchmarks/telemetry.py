"""What OpenTelemetry costs a CPU-bound listing: the client's CPU per record with OpenTelemetry
absent, with its API installed and no SDK (what ``aiotofu[otel]`` alone gives: every call a
no-op), and with the SDK's providers but nothing exported.

The listing is the CPU-bound scenario's (no latency, pages of 100, prefetch 2) on an emulator in
its own process; the variants take turns, round after round (every other round in the reverse
order), and medians are reported, with half the spread of the "absent" runs as the noise the
others are read against. ``per_request`` measures the telemetry calls of one request alone,
which the end-to-end runs cannot resolve on a shared machine.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiotofu
from benchmarks.emulator import Server, emulator

Variant = Callable[[str, str], Awaitable[int]]


def _variant(mode: str) -> Variant:
    async def run(base_url: str, key: str) -> int:
        options: dict[str, Any] = {}
        if mode == "sdk":
            from opentelemetry.sdk.metrics import MeterProvider
            from opentelemetry.sdk.trace import TracerProvider

            options = {"tracer_provider": TracerProvider(), "meter_provider": MeterProvider()}
        async with aiotofu.Client(key, base_url=base_url, **options) as client:
            if mode == "absent":
                client._requester._telemetry = None  # as without the package installed
            count = 0
            async for _ in client.batches.list(page_size=100, prefetch=2):
                count += 1
            return count

    return run


VARIANTS = {
    "no OpenTelemetry": _variant("absent"),
    "opentelemetry-api, no SDK": _variant("api"),
    "SDK providers, nothing exported": _variant("sdk"),
}


def _cpu_us_per_record(variant: Variant, server: Server) -> float:
    cpu = time.process_time()
    count = asyncio.run(variant(server.base_url, server.api_key))
    return (time.process_time() - cpu) / count * 1e6


def per_request(sdk: bool, count: int = 20_000) -> float:
    """CPU µs that telemetry adds to one request (span, context, propagation, duration,
    page counters), measured alone: far below the end-to-end runs' noise."""
    from aiotofu import _telemetry
    from aiotofu._sansio import build_request

    providers: tuple[Any, Any] = (None, None)
    if sdk:
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.trace import TracerProvider

        providers = (TracerProvider(), MeterProvider())
    telemetry = _telemetry.create(*providers)
    assert telemetry is not None
    request = build_request(
        "https://tofupilot.corp/api",
        "/v2/runs",
        api_key="key",
        query=[("limit", "100"), ("cursor", "500")],
        user_agent="bench",
    )
    cpu = time.process_time()
    for _ in range(count):
        started = time.perf_counter()
        exchange = telemetry.start(request, 1, "/api")
        seconds = time.perf_counter() - started
        telemetry.finish(exchange, request, "/api", seconds, 200, None)
        telemetry.page("runs", 100)
    return (time.process_time() - cpu) / count * 1e6


def telemetry(quick: bool) -> dict[str, Any]:
    """Client CPU µs per record for each variant (medians), and the absent runs' spread."""
    records, rounds = (5_000, 3) if quick else (20_000, 9)
    samples: dict[str, list[float]] = {name: [] for name in VARIANTS}
    with emulator(records) as server:
        for variant in VARIANTS.values():  # warm-up: imports, the emulator's page cache
            _cpu_us_per_record(variant, server)
        for round_ in range(rounds):
            # Every other round in the reverse order: no variant always runs first or last.
            order = list(VARIANTS.items())
            for name, variant in order if round_ % 2 == 0 else order[::-1]:
                samples[name].append(_cpu_us_per_record(variant, server))
    medians = {name: statistics.median(values) for name, values in samples.items()}
    base = samples["no OpenTelemetry"]
    noise = (max(base) - min(base)) / 2
    api = medians["opentelemetry-api, no SDK"] - medians["no OpenTelemetry"]
    return {
        "records": records,
        "rounds": rounds,
        "cpu_us_per_record": medians,
        "samples": samples,
        "noise_us_per_record": noise,
        "api_overhead_us_per_record": api,
        "per_request_us": {
            "opentelemetry-api, no SDK": per_request(sdk=False),
            "SDK providers, nothing exported": per_request(sdk=True),
        },
        # A cost within the noise (a negative difference is the noise too, not a cost).
        "targets": {"API without SDK within the noise": api <= noise},
    }


def report(results: dict[str, Any]) -> list[str]:
    """The scenario's lines for the printed report."""
    lines = [f"\nOpenTelemetry overhead ({results['records']:,} records, pages of 100):"]
    for name, value in results["cpu_us_per_record"].items():
        lines.append(f"  {name:<34} {value:6.2f} µs CPU/record")
    lines.append(
        f"  API without SDK: {results['api_overhead_us_per_record']:+.2f} µs/record; noise "
        f"(half the spread of the runs without): ±{results['noise_us_per_record']:.2f}"
    )
    for name, value in results["per_request_us"].items():
        lines.append(
            f"  measured alone, {name}: {value:.1f} µs a request "
            f"({value / 100:.2f} µs a record in pages of 100)"
        )
    return lines

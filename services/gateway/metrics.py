"""HTTP metrics (per route template, method and status) and the middleware that records them.

The middleware also stamps every response with its request id and the caller's rate-limit
headers, which authentication leaves in the ASGI scope. The request id is the client's
`X-Request-ID` (refused with 400 `gateway.request.id_invalid` unless 1-64 printable ASCII
characters), else a fresh one; it is the correlation id of every bus request made for it.
"""

from __future__ import annotations

import itertools
import os
import re
import time
from bisect import bisect_left
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.gateway.bus import CORRELATION
from services.gateway.errors import ApiError, gateway_error
from services.runtime.observability import LATENCY_BUCKETS

REQUEST_ID = re.compile(r"^[\x21-\x7e]{1,64}$")
RATELIMIT_SCOPE_KEY = "baikal.ratelimit"
REQUEST_ID_SCOPE_KEY = "baikal.request_id"
ANONYMOUS_RATELIMIT = (1000, 1000)  # the reference answers unauthenticated requests so


class RequestStats(Collector):
    """bai_http_requests_total, bai_http_request_seconds and bai_http_requests_in_flight.

    Plain numbers per (route, method, status), turned into metric families only when scraped:
    no lock and no label lookup per request. Recorded and read on the event loop's thread.
    """

    def __init__(self, buckets: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        self.bounds = tuple(sorted(buckets))
        self.in_flight = 0
        # key → [seconds summed, count per bucket (not cumulative) ..., count above the last]
        self.series: dict[tuple[str, str, int], list[float]] = {}

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        series = self.series.get(key)
        if series is None:
            series = self.series[key] = [0.0] * (len(self.bounds) + 2)
        series[0] += seconds
        series[1 + bisect_left(self.bounds, seconds)] += 1  # le: the first bound >= seconds

    def collect(self) -> Iterator[Metric]:
        labels = ["route", "method", "status"]
        requests = CounterMetricFamily(
            "bai_http_requests", "HTTP requests by route template, method and status",
            labels=labels)
        latency = HistogramMetricFamily(
            "bai_http_request_seconds", "HTTP request latency by route template and status",
            labels=labels)
        bounds = [*map(floatToGoString, self.bounds), "+Inf"]
        for (route, method, status), series in list(self.series.items()):
            values = [route, method, str(status)]
            cumulative, buckets = 0.0, []
            for bound, count in zip(bounds, series[1:], strict=True):
                cumulative += count
                buckets.append((bound, cumulative))
            requests.add_metric(values, cumulative)
            latency.add_metric(values, buckets, series[0])
        yield requests
        yield latency
        yield GaugeMetricFamily("bai_http_requests_in_flight", "HTTP requests being served",
                                value=self.in_flight)


class HttpMetrics:
    def __init__(self, service: str = "gateway") -> None:
        self.registry = CollectorRegistry()
        self.http = RequestStats()
        self.registry.register(self.http)
        self.auth_failures = Counter(
            "bai_gateway_auth_failures_total", "Refused authentications by reason", ["reason"],
            registry=self.registry).labels
        self.rate_limited = Counter(
            "bai_gateway_rate_limited_total", "Requests refused by the rate limit",
            registry=self.registry)
        self.info = Gauge("bai_service_info", "Service identity", ["service"],
                          registry=self.registry)
        self.info.labels(service=service).set(1)


class ObservedMiddleware:
    """Pure ASGI (no per-request task or body buffering): counts, times, stamps headers."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics, window_seconds: int = 900,
                 positions: Callable[[], bytes] | None = None) -> None:
        self.app = app
        self.stats = metrics.http
        self.window = str(window_seconds).encode()
        # X-Baikal-Positions: the highest positions written that this gateway has seen.
        self.positions = positions or (lambda: b"")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _request_id(scope)
        refusal = None
        if request_id is None:
            request_id = new_request_id()
            refusal = gateway_error("request.id_invalid", "X-Request-ID must be 1 to 64 "
                                    "printable ASCII characters without spaces")
        scope[REQUEST_ID_SCOPE_KEY] = request_id
        token = CORRELATION.set(request_id)
        status = 500

        async def stamped(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                limit, remaining = scope.get(RATELIMIT_SCOPE_KEY, ANONYMOUS_RATELIMIT)
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                    (b"x-ratelimit-limit", str(limit).encode()),
                    (b"x-ratelimit-remaining", str(remaining).encode()),
                    (b"x-ratelimit-window", self.window),
                ]
                positions = self.positions()
                if positions:
                    message["headers"].append((b"x-baikal-positions", positions))
            await send(message)

        stats = self.stats
        stats.in_flight += 1
        try:
            if refusal is not None:
                await _respond(stamped, refusal)
            else:
                await self.app(scope, receive, stamped)
        finally:
            CORRELATION.reset(token)
            stats.in_flight -= 1
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            stats.observe(route, scope["method"], status, time.perf_counter() - started)


def _request_id(scope: Scope) -> str | None:
    """The client's request id; a fresh one when it sent none; None when it is invalid."""
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            text = bytes(value).decode("latin-1")
            return text if REQUEST_ID.match(text) else None
    return new_request_id()


# A fresh request id: this process's random prefix and a counter (unique across gateways and
# restarts, like a UUID, for a fraction of os.urandom's cost; an id names, it guards nothing).
_ID_PREFIX = os.urandom(8).hex()
_ID_COUNTER = itertools.count(1)


def new_request_id() -> str:
    return f"{_ID_PREFIX}{next(_ID_COUNTER):016x}"


async def _respond(send: Send, error: ApiError) -> None:
    await send({"type": "http.response.start", "status": error.status,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": error.body()})

"""HTTP metrics (per route template, method and status) and the middleware that records them.

The middleware also stamps every response with its request id and the caller's rate-limit
headers, which authentication leaves in the ASGI scope.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.runtime.observability import LATENCY_BUCKETS

REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
RATELIMIT_SCOPE_KEY = "baikal.ratelimit"
REQUEST_ID_SCOPE_KEY = "baikal.request_id"
ANONYMOUS_RATELIMIT = (1000, 1000)  # the reference answers unauthenticated requests so


class HttpMetrics:
    def __init__(self, service: str = "gateway") -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "bai_http_requests_total", "HTTP requests by route template, method and status",
            ["route", "method", "status"], registry=self.registry).labels
        self.latency = Histogram(
            "bai_http_request_seconds", "HTTP request latency by route template and status",
            ["route", "method", "status"], buckets=LATENCY_BUCKETS,
            registry=self.registry).labels
        self.in_flight = Gauge("bai_http_requests_in_flight", "HTTP requests being served",
                               registry=self.registry)
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

    def __init__(self, app: ASGIApp, metrics: HttpMetrics, window_seconds: int = 900) -> None:
        self.app = app
        self.metrics = metrics
        self.window = str(window_seconds).encode()
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}  # labels() is slow

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _request_id(scope)
        scope[REQUEST_ID_SCOPE_KEY] = request_id
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
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, stamped)
        finally:
            self.metrics.in_flight.dec()
            route = scope.get("route")
            key = (getattr(route, "path", None) or "unmatched", scope["method"], status)
            series = self._series.get(key)
            if series is None:
                labels = {"route": key[0], "method": key[1], "status": str(status)}
                series = self._series[key] = (self.metrics.requests(**labels),
                                              self.metrics.latency(**labels))
            series[0].inc()
            series[1].observe(time.perf_counter() - started)


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            text = bytes(value).decode("latin-1")
            if REQUEST_ID.match(text):
                return text
    return uuid.uuid4().hex

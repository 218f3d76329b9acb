"""Prometheus metrics and the /health + /metrics HTTP endpoint of a service process."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


class Metrics:
    """One registry per service host, so several hosts can live in one test process."""

    def __init__(self, service: str) -> None:
        self.registry = CollectorRegistry()
        labels = {"service": service}
        # Looked up on every message: the labelled children are kept (`_children`).
        self.requests = _children(Counter(
            "bai_requests_total", "Commands and queries handled", ["subject", "outcome"],
            registry=self.registry,
        ))
        self.latency = _children(Histogram(
            "bai_request_seconds", "Command and query latency", ["subject"],
            buckets=LATENCY_BUCKETS, registry=self.registry,
        ))
        self.errors = Counter(
            "bai_errors_total", "Unexpected errors by component", ["component"],
            registry=self.registry,
        ).labels
        self.relay_published = Counter(
            "bai_relay_published_total", "Events published by the outbox relay",
            registry=self.registry,
        )
        self.relay_lag = Gauge(
            "bai_relay_lag_notifications", "Stored events not yet published",
            registry=self.registry,
        )
        self.consumer_lag = Gauge(
            "bai_consumer_lag_messages", "Events pending for a durable consumer", ["durable"],
            registry=self.registry,
        ).labels
        self.consumed = Counter(
            "bai_consumed_total", "Events consumed", ["durable", "outcome"], registry=self.registry
        ).labels
        self.dead_letters = Counter(
            "bai_dead_letters_total", "Events given up after max deliveries", ["durable"],
            registry=self.registry,
        ).labels
        # 0 while a replica follows its stream; the stream sequence it stopped at once it met
        # an event it cannot apply (it stays there; /health says not-ready).
        self.replica_stuck = Gauge(
            "bai_replica_stuck_sequence", "Stream sequence a replica stopped at (0: none)",
            ["replica", "producer"], registry=self.registry,
        ).labels
        self.info = Gauge("bai_service_info", "Service identity", list(labels),
                          registry=self.registry)
        self.info.labels(**labels).set(1)


M = TypeVar("M", Counter, Histogram)


def _children(metric: M) -> Callable[..., M]:
    """`metric.labels`, remembering each child: prometheus_client's own lookup takes a lock
    and builds its key on every call (~1 µs; a cached child is a dict hit). The label values
    are bounded (served subjects, or "unroutable", times outcomes), so is the dict."""
    found: dict[tuple[str, ...], M] = {}

    def labels(*values: str) -> M:
        child = found.get(values)
        if child is None:
            child = found[values] = metric.labels(*values)
        return child

    return labels


class HealthServer:
    """Serves /health (JSON of named checks) and /metrics on one port."""

    def __init__(self, metrics: Metrics, host: str, port: int) -> None:
        self.metrics = metrics
        self.host = host
        self.port = port
        self.checks: dict[str, Callable[[], dict[str, Any]]] = {}
        self._runner: web.AppRunner | None = None

    def add_check(self, name: str, check: Callable[[], dict[str, Any]]) -> None:
        self.checks[name] = check

    def status(self) -> dict[str, Any]:
        results = {name: check() for name, check in self.checks.items()}
        healthy = all(result.get("ok", False) for result in results.values())
        return {"status": "ok" if healthy else "degraded", "checks": results}

    async def _health(self, request: web.Request) -> web.Response:
        body = self.status()
        return web.json_response(body, status=200 if body["status"] == "ok" else 503)

    async def _metrics(self, request: web.Request) -> web.Response:
        payload = generate_latest(self.metrics.registry)
        return web.Response(body=payload, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def start(self) -> int:
        app = web.Application()
        app.router.add_get("/health", self._health)
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

"""ServiceHost: wires bus, dispatcher, relay, consumers and health for one service process."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import nats.errors
from nats.aio.client import Client

from contracts.envelope import Actor
from services.runtime.bus import connect
from services.runtime.client import UNTRACKED, BusClient, signed_by
from services.runtime.consumer import EventHandler, TrackedConsumer
from services.runtime.dispatch import Dispatcher
from services.runtime.observability import HealthServer, Metrics
from services.runtime.permissions import PermissionGuard
from services.runtime.relay import OutboxRelay, Translate
from services.runtime.replica import StreamReplica
from services.runtime.settings import ServiceSettings, allowed_cpus
from services.runtime.store import ServiceApplication

log = logging.getLogger(__name__)


@runtime_checkable
class Publisher(Protocol):
    """A component that sends commands and queries itself (the scheduler's worker, its mount
    admission, its usage recalculation): the host hands it the service's `BusClient` before
    starting it."""

    def use_bus(self, bus: BusClient) -> None: ...


@dataclass(frozen=True)
class Subscription:
    """A tracked consumer of another service's events."""

    producer: str
    name: str
    handle: EventHandler


class ServiceHost:
    def __init__(
        self,
        settings: ServiceSettings,
        app: ServiceApplication,
        register: Callable[[Dispatcher], None],
        translate: Translate,
        subscriptions: list[Subscription] | None = None,
        version: str = "0.1.0",
        relay_subject_filter: str | None = None,
        guard: PermissionGuard | None = None,
    ) -> None:
        self.settings = settings
        self.app = app
        self.version = version
        self.metrics = Metrics(settings.service)
        self.guard = guard
        self.dispatcher = Dispatcher(settings.service, self.metrics, settings.max_in_flight,
                                     settings.command_workers, guard,
                                     settings.dispatch_stuck_seconds)
        register(self.dispatcher)
        self.dispatcher.verifier = settings.verifier()
        self.dispatcher.causal_wait = settings.causal_wait_seconds
        self.dispatcher.inline_queries = settings.inline_queries
        self.dispatcher.freeze_at_start = settings.gc_freeze
        if guard is not None:
            guard.assignment_wait = settings.causal_wait_seconds
        self.translate = translate
        # A reply's position names the last event of the command that the relay publishes.
        app.publishes = _publishes(translate)
        # Where several producers share one stream (every agent writes BAI_EVT_AGENT), the
        # relay finds its position among its own subjects only.
        self.relay_subject_filter = relay_subject_filter
        self.subscriptions = subscriptions or []
        self.health = HealthServer(self.metrics, settings.http_host, settings.http_port)
        self.nc: Client | None = None
        # The service's own publisher client, made on connecting: its system actor, its key,
        # no positions (a component's requests are not one caller's chain).
        self.bus: BusClient | None = None
        self.relay: OutboxRelay | None = None
        self.consumers: list[TrackedConsumer] = []
        # Extra parts started after connecting (e.g. an ActorDirectory): start(js), stop();
        # a StreamReplica is given the connection first (use_connection), a Publisher the bus.
        self.components: list[Any] = []
        if guard is not None and guard.replica is not None:
            self.components.append(guard.replica)
        self.started_at = time.time()

    def follow(self, *views: Any) -> None:
        """Read models of this service: with several writers (`single_writer` off), they
        also catch up with the others' writes every `follow_seconds`."""
        if not self.settings.single_writer:
            from services.runtime.views import ViewFollower

            for view in views:
                view.others_write = True
            self.components.append(ViewFollower(list(views), self.settings.follow_seconds))

    async def start(self) -> None:
        s = self.settings
        self.nc = await connect(
            s.nats_url,
            user=s.nats_user,
            password=s.nats_password.get_secret_value() if s.nats_password else None,
            name=f"{s.service}-{s.instance}",
            connect_timeout=s.nats_connect_timeout,
        )
        js = self.nc.jetstream(timeout=s.request_timeout)
        self.bus = BusClient(self.nc, Actor(system=s.service), s.request_timeout,
                             proofs=signed_by(s.signer()), positions=UNTRACKED)
        self.relay = OutboxRelay(self.app, js, s.service, self.translate, self.metrics,
                                 s.relay_batch, s.relay_poll_seconds,
                                 subject_filter=self.relay_subject_filter)
        await self.relay.start()
        self.dispatcher.backpressure = self.relay.room
        for component in self.components:
            if isinstance(component, StreamReplica) and component.decides_permissions:
                self.dispatcher.causal.setdefault(component.producer, []).append(component)
                self.dispatcher.inactive = getattr(component, "inactive",
                                                   self.dispatcher.inactive)
            if isinstance(component, StreamReplica):
                self._watch(component)
                component.use_connection(self.nc)  # its reads go over the host's connection
            if isinstance(component, Publisher):
                component.use_bus(self.bus)
            await component.start(js)
        for sub in self.subscriptions:
            consumer = TrackedConsumer(self.app, self.nc, js, sub.producer, sub.name,
                                       sub.handle, self.metrics)
            await consumer.start()
            self.consumers.append(consumer)
        await self.dispatcher.start(self.nc)
        self.health.add_check("nats", self._nats_check)
        self.health.add_check("relay", self._relay_check)
        self.health.add_check("service", self._service_check)
        self.health.add_check("dispatch", self.dispatcher.health)
        self.health.add_check("replicas", self._replica_check)
        port = await self.health.start()
        self._write_run_file(port)
        log.info("%s ready (health on %s:%s, CPUs %s)", s.service, s.http_host, port,
                 allowed_cpus() or "any")

    def _nats_check(self) -> dict[str, Any]:
        connected = bool(self.nc and self.nc.is_connected)
        version = self.nc.connected_server_version if self.nc and connected else None
        return {"ok": connected, "server_version": str(version) if version else None}

    def _relay_check(self) -> dict[str, Any]:
        relay = self.relay
        return {"ok": bool(relay and relay.healthy), "position": relay.position if relay else 0}

    def _replicas(self) -> list[StreamReplica]:
        return [c for c in self.components if isinstance(c, StreamReplica)]

    def _watch(self, replica: StreamReplica) -> None:
        def stuck_at() -> float:
            return float(replica.stuck["seq"]) if replica.stuck else 0.0

        self.metrics.replica_stuck(type(replica).__name__, replica.producer).set_function(
            stuck_at)

    def _replica_check(self) -> dict[str, Any]:
        """Not ready while a replica is stuck on an event it cannot apply."""
        found = {f"{type(r).__name__}:{r.producer}": r.health() for r in self._replicas()}
        return {"ok": all(h["ok"] for h in found.values()), "replicas": found}

    def _service_check(self) -> dict[str, Any]:
        return {
            "ok": True,
            "service": self.settings.service,
            "version": self.version,
            "store": "postgresql" if self.settings.store.startswith("postgres") else "sqlite",
            "uptime_seconds": round(time.time() - self.started_at, 1),
            "pid": os.getpid(),
        }

    def _write_run_file(self, port: int) -> None:
        run_dir = self.settings.data_dir / "run"
        run_dir.mkdir(parents=True, exist_ok=True)
        info = {"service": self.settings.service, "pid": os.getpid(), "http_port": port,
                "http_host": self.settings.http_host, "started_at": self.started_at}
        path = run_dir / f"{self.settings.service}-{self.settings.instance}.json"
        path.write_text(json.dumps(info))

    async def stop(self) -> None:
        await self.dispatcher.stop()
        for consumer in self.consumers:
            await consumer.stop()
        for component in self.components:
            await component.stop()
        if self.relay is not None:
            await self.relay.stop()
        try:
            if self.nc is not None and not self.nc.is_closed:
                await asyncio.wait_for(self.nc.drain(), timeout=10)
        except (TimeoutError, nats.errors.Error) as exc:
            log.warning("could not drain the NATS connection (%s); closing it", exc)
            if self.nc is not None:
                await self.nc.close()
        finally:
            await self.health.stop()
            self.app.close()

    async def run_until_signalled(self) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await self.start()
        await stop.wait()
        log.info("%s stopping", self.settings.service)
        await self.stop()


def _publishes(translate: Translate) -> Callable[[Any], bool]:
    """Whether the relay publishes an event, by its class (every translator decides by class):
    translated once per class, not on every save (a translation is ~20 µs of a command)."""
    known: dict[type, bool] = {}

    def publishes(domain_event: Any) -> bool:
        kind = type(domain_event)
        found = known.get(kind)
        if found is None:
            found = known[kind] = translate(domain_event) is not None
        return found

    return publishes


def process_edge(settings: ServiceSettings) -> None:
    """What every service process does first: logging, then its CPUs, before any thread
    starts (so every thread inherits them)."""
    configure_logging(settings.log_level)
    settings.apply_cpu_affinity()


def run_service(main: Coroutine[Any, Any, Any], settings: ServiceSettings) -> None:
    """Run a service process's main coroutine to the end on its event loop: uvloop where
    installed and `settings.uvloop` (BAIKAL_UVLOOP, on by default: the loop and nats-py's
    reads are a large share of each message's CPU), else asyncio's own."""
    if settings.uvloop:
        try:
            import uvloop
        except ImportError:
            pass
        else:
            uvloop.run(main)
            return
    asyncio.run(main)


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )

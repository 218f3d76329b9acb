"""Tracked consumers: another service's events applied with their position in one transaction."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from uuid import UUID

from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import IntegrityError, Tracking
from nats.aio.client import Client
from nats.js.client import JetStreamContext
from pydantic import ValidationError

from contracts import subjects
from contracts.envelope import Actor, Event
from services.runtime.context import for_event, using
from services.runtime.observability import Metrics
from services.runtime.reader import (
    StoredMsg,
    StreamReader,
    follow,
    require_stream,
    stop_following,
)
from services.runtime.store import ServiceApplication, stable_id

log = logging.getLogger(__name__)

# handle(event, tracking) runs in a worker thread and must commit its effects through
# app.save_tracked(tracking, ...) — even when there is nothing to change — so the position
# moves in the same transaction as the effect. It runs inside the event's context
# (`context.for_event`): what it writes carries the event's correlation id, caused by it.
EventHandler = Callable[[Event, Tracking], None]


class DeadLetter(Aggregate):
    """An event a consumer gave up on after max deliveries, kept for an operator."""

    @event("Recorded")
    def __init__(self, durable: str, stream: str, sequence: int, event_type: str, error: str):
        self.durable = durable
        self.stream = stream
        self.sequence = sequence
        self.event_type = event_type
        self.error = error

    @staticmethod
    def create_id(durable: str, stream: str, sequence: int, event_type: str, error: str) -> UUID:
        return stable_id("dead-letter", durable, str(sequence))


class TrackedConsumer:
    """Reads another service's stream strictly in order from the position in our own store.

    The position is the tracking record committed with each effect: the consumer asks the
    stream for the messages after it (direct gets, services/runtime/reader.py; no JetStream
    consumer, so nothing to provision and nothing to create), so an event is never skipped
    and never applied twice (its tracking record would conflict). A failing event is retried
    with backoff, then dead-lettered.
    """

    def __init__(
        self,
        app: ServiceApplication,
        nc: Client,
        js: JetStreamContext,
        producer: str,
        name: str,
        handle: EventHandler,
        metrics: Metrics,
        max_attempts: int = 5,
        batch: int = 256,
        actor: Actor | None = None,
    ) -> None:
        self.app = app
        # Who a reaction acts as: the consuming service itself, never the event's actor.
        self.actor = actor or Actor(system=app.name)
        self.js = js
        self.stream = subjects.stream(producer)
        self.producer = producer
        self.name = name
        self.handle = handle
        self.metrics = metrics
        self.max_attempts = max_attempts
        self.reader = StreamReader(nc, self.stream, subjects.events_of(producer),
                                   batch=batch)
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.processed = 0

    async def start(self) -> None:
        """Raises `StreamNotProvisioned` when the producer's stream was never provisioned."""
        await require_stream(self.js, self.stream)
        await self.reader.start()
        self._task = asyncio.create_task(self._run(), name=f"consumer-{self.name}")

    async def stop(self) -> None:
        await stop_following(self.reader, self._stopping, self._task)

    async def _run(self) -> None:
        async def position() -> int:  # the tracking record committed with the last effect
            return await asyncio.to_thread(self.app.position, self.stream)

        async def handle(msg: StoredMsg) -> bool:
            await self._process(msg)
            return True

        await follow(self.reader, position, handle, self._stopping)

    async def _process(self, msg: StoredMsg) -> None:
        sequence = msg.seq
        self.metrics.consumer_lag(self.name).set(msg.pending)
        if sequence <= await asyncio.to_thread(self.app.position, self.stream):
            self.metrics.consumed(self.name, "duplicate").inc()
            return
        tracking = Tracking(application_name=self.stream, notification_id=sequence)
        try:
            envelope = Event.model_validate_json(msg.data)
        except (ValidationError, ValueError) as exc:
            await self._dead_letter(tracking, "unreadable", exc)
            return
        for attempt in range(1, self.max_attempts + 1):
            try:
                await asyncio.to_thread(self._react, msg.subject, envelope, tracking)
            except IntegrityError:
                position = await asyncio.to_thread(self.app.position, self.stream)
                if position >= sequence:
                    self.metrics.consumed(self.name, "duplicate").inc()  # another won
                    return
                # A write conflict on an aggregate (a command saved it meanwhile): the
                # effect did not commit, so decide again from fresh state.
                self.metrics.consumed(self.name, "conflict").inc()
                if attempt == self.max_attempts:
                    await self._dead_letter(tracking, envelope.type,
                                            RuntimeError("write conflicts on every attempt"))
                    return
                continue
            except Exception as exc:
                if attempt == self.max_attempts:
                    await self._dead_letter(tracking, envelope.type, exc)
                    return
                log.exception("consumer %s failed on %s seq %s (attempt %s)", self.name,
                              self.stream, sequence, attempt)
                self.metrics.consumed(self.name, "retry").inc()
                await asyncio.sleep(min(0.2 * 2**attempt, 5.0))
            else:
                self.processed += 1
                self.metrics.consumed(self.name, "applied").inc()
                return

    def _react(self, subject: str, envelope: Event, tracking: Tracking) -> None:
        with using(for_event(subject, envelope.id, envelope.correlation_id, self.actor)):
            self.handle(envelope, tracking)

    async def _dead_letter(self, tracking: Tracking, kind: str, exc: Exception) -> None:
        log.error("consumer %s dead-letters %s seq %s (%s): %s", self.name, self.stream,
                  tracking.notification_id, kind, exc)
        letter = DeadLetter(
            durable=self.name, stream=self.stream, sequence=tracking.notification_id,
            event_type=kind, error=f"{type(exc).__name__}: {exc}"[:500],
        )
        await asyncio.to_thread(self.app.save_tracked, tracking, letter)
        self.metrics.dead_letters(self.name).inc()

"""Durable JetStream consumers whose effects and position commit in one transaction."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from uuid import UUID

from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import IntegrityError, Tracking
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy
from nats.js.client import JetStreamContext
from pydantic import ValidationError

from contracts import subjects
from contracts.envelope import Event
from services.runtime.observability import Metrics
from services.runtime.store import ServiceApplication, stable_id

log = logging.getLogger(__name__)

# handle(event, tracking) runs in a worker thread and must commit its effects through
# app.save_tracked(tracking, ...) — even when there is nothing to change — so the position
# moves in the same transaction as the effect.
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

    The position is the tracking record committed with each effect, not a JetStream ack:
    after a crash it resumes at position + 1 on an ordered consumer, so an event is never
    skipped (redelivery cannot reorder) and never applied twice (its tracking record would
    conflict). A failing event is retried with backoff, then dead-lettered.
    """

    def __init__(
        self,
        app: ServiceApplication,
        js: JetStreamContext,
        producer: str,
        name: str,
        handle: EventHandler,
        metrics: Metrics,
        max_attempts: int = 5,
        queue_size: int = 256,
    ) -> None:
        self.app = app
        self.js = js
        self.stream = subjects.stream(producer)
        self.producer = producer
        self.name = name
        self.handle = handle
        self.metrics = metrics
        self.max_attempts = max_attempts
        self._queue: asyncio.Queue[Msg] = asyncio.Queue(maxsize=queue_size)
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._sub: JetStreamContext.PushSubscription | None = None
        self.processed = 0

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"consumer-{self.name}")

    async def _subscribe(self) -> bool:
        from services.runtime.relay import wait_for_stream

        if not await wait_for_stream(self.js, self.producer, self._stopping):
            return False
        position = await asyncio.to_thread(self.app.position, self.stream)
        self._sub = await self.js.subscribe(
            subjects.events_of(self.producer), stream=self.stream, ordered_consumer=True,
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE, cb=self._queue.put,
            config=ConsumerConfig(opt_start_seq=position + 1),
            # Short heartbeats: after a NATS restart the ordered consumer notices the gap
            # and resumes within seconds instead of ~20 s.
            idle_heartbeat=1.0,
        )
        return True

    async def stop(self) -> None:
        self._stopping.set()
        if self._sub is not None:
            await self._sub.unsubscribe()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        if not await self._subscribe():
            return
        while not self._stopping.is_set():
            msg = await self._queue.get()
            await self._process(msg)

    async def _process(self, msg: Msg) -> None:
        meta = msg.metadata
        sequence = meta.sequence.stream
        self.metrics.consumer_lag(self.name).set(meta.num_pending)
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
                await asyncio.to_thread(self.handle, envelope, tracking)
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

    async def _dead_letter(self, tracking: Tracking, kind: str, exc: Exception) -> None:
        log.error("consumer %s dead-letters %s seq %s (%s): %s", self.name, self.stream,
                  tracking.notification_id, kind, exc)
        letter = DeadLetter(
            durable=self.name, stream=self.stream, sequence=tracking.notification_id,
            event_type=kind, error=f"{type(exc).__name__}: {exc}"[:500],
        )
        await asyncio.to_thread(self.app.save_tracked, tracking, letter)
        self.metrics.dead_letters(self.name).inc()

"""Durable JetStream consumers whose effects and position commit in one transaction."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from uuid import UUID

from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import IntegrityError, Tracking
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
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


class DurableConsumer:
    def __init__(
        self,
        app: ServiceApplication,
        js: JetStreamContext,
        producer: str,
        durable: str,
        handle: EventHandler,
        metrics: Metrics,
        max_deliver: int = 5,
        batch: int = 50,
        fetch_timeout: float = 1.0,
    ) -> None:
        self.app = app
        self.js = js
        self.stream = subjects.stream(producer)
        self.producer = producer
        self.durable = durable
        self.handle = handle
        self.metrics = metrics
        self.max_deliver = max_deliver
        self.batch = batch
        self.fetch_timeout = fetch_timeout
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.processed = 0

    async def start(self) -> None:
        from services.runtime.relay import ensure_stream

        await ensure_stream(self.js, self.producer)
        config = ConsumerConfig(
            durable_name=self.durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            max_deliver=self.max_deliver + 1,
            ack_wait=30,
            max_ack_pending=1000,
        )
        self._sub = await self.js.pull_subscribe(
            subjects.events_of(self.producer), durable=self.durable, stream=self.stream,
            config=config,
        )
        self._task = asyncio.create_task(self._run(), name=f"consumer-{self.durable}")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            await asyncio.wait_for(self._task, timeout=15)

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                messages = await self._sub.fetch(self.batch, timeout=self.fetch_timeout)
            except NatsTimeoutError:
                continue
            except (ConnectionError, OSError) as exc:
                log.warning("consumer %s fetch failed (%s)", self.durable, exc)
                await asyncio.sleep(1)
                continue
            for index, msg in enumerate(messages):
                if not await self._process(msg):
                    # Keep order: put back this one and the rest of the batch.
                    for rest in messages[index:]:
                        await rest.nak(delay=min(2.0 * rest.metadata.num_delivered, 10.0))
                    break

    async def _process(self, msg: object) -> bool:
        meta = msg.metadata  # type: ignore[attr-defined]
        sequence = meta.sequence.stream
        self.metrics.consumer_lag(self.durable).set(meta.num_pending)
        position = await asyncio.to_thread(self.app.position, self.stream)
        if sequence <= position:
            await msg.ack()  # type: ignore[attr-defined]
            self.metrics.consumed(self.durable, "duplicate").inc()
            return True
        tracking = Tracking(application_name=self.stream, notification_id=sequence)
        try:
            envelope = Event.model_validate_json(msg.data)  # type: ignore[attr-defined]
            await asyncio.to_thread(self.handle, envelope, tracking)
        except IntegrityError:
            # Another instance committed this position first: the effect exists once.
            await msg.ack()  # type: ignore[attr-defined]
            self.metrics.consumed(self.durable, "duplicate").inc()
            return True
        except (ValidationError, ValueError) as exc:
            await self._dead_letter(msg, tracking, "unreadable", exc)
            return True
        except Exception as exc:
            if meta.num_delivered >= self.max_deliver:
                await self._dead_letter(msg, tracking, "failed", exc)
                return True
            log.exception("consumer %s failed on seq %s (try %s)", self.durable, sequence,
                          meta.num_delivered)
            self.metrics.consumed(self.durable, "retry").inc()
            return False
        await msg.ack()  # type: ignore[attr-defined]
        self.processed += 1
        self.metrics.consumed(self.durable, "applied").inc()
        return True

    async def _dead_letter(self, msg: object, tracking: Tracking, kind: str, exc: Exception) -> None:
        log.error("consumer %s dead-letters seq %s (%s): %s", self.durable,
                  tracking.notification_id, kind, exc)
        letter = DeadLetter(
            durable=self.durable, stream=self.stream, sequence=tracking.notification_id,
            event_type=kind, error=f"{type(exc).__name__}: {exc}"[:500],
        )
        await asyncio.to_thread(self.app.save_tracked, tracking, letter)
        self.metrics.dead_letters(self.durable).inc()
        await msg.term()  # type: ignore[attr-defined]

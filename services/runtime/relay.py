"""Outbox relay: the service's notification log → its JetStream stream, with Nats-Msg-Id.

Each notification maps to its envelope on its own: the actor, correlation and causation
ids are stored on the event itself (services/runtime/traced.py), so the relay keeps no
state about commands and may resume anywhere. The published position lives in the stream
itself (the `Bai-Notification-Id` header of the stream's last message), so a crash between
publishing and anything else re-publishes at most the events after that message, and
JetStream's duplicate window drops repeats.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import nats.errors
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.client import JetStreamContext
from nats.js.errors import NotFoundError

from contracts import subjects
from contracts.envelope import Event
from services.runtime.observability import Metrics
from services.runtime.reader import require_stream
from services.runtime.replica import POSITION_HEADER
from services.runtime.store import CommandRecord, ServiceApplication
from services.runtime.traced import event_id, trace_of

log = logging.getLogger(__name__)

FRESH_MAX = 100_000
Translate = Callable[[Any], tuple[str, Event] | None]


class OutboxRelay:
    def __init__(
        self,
        app: ServiceApplication,
        js: JetStreamContext,
        service: str,
        translate: Translate,
        metrics: Metrics,
        batch: int = 200,
        poll_seconds: float = 1.0,
        publish_timeout: float = 5.0,
        subject_filter: str | None = None,
        backlog_limit: int = 512,
    ) -> None:
        self.app = app
        self.js = js
        self.service = service
        self.translate = translate
        self.metrics = metrics
        self.batch = batch
        self.poll_seconds = poll_seconds
        self.publish_timeout = publish_timeout
        # Several producers may share a stream (every agent writes BAI_EVT_AGENT): each finds
        # its own position from the last message on its own subjects.
        self.subject_filter = subject_filter or subjects.events_of(service)
        self.position = 0
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._fresh: dict[int, Any] = {}  # notification id -> domain event, just saved here
        # Backpressure: while this many saved events wait to be published, new commands wait
        # (`room`), so the events of accepted commands follow them within a bounded delay.
        self.backlog_limit = backlog_limit
        self._room = asyncio.Event()
        self._room.set()
        self.healthy = False

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        # The operator provisions the stream (its subjects, duplicate window); a relay that
        # finds none refuses to start rather than create one.
        await require_stream(self.js, subjects.stream(self.service))
        self.position = await self.published_position()
        self.app.on_saved(self.wake)
        self._task = asyncio.create_task(self._run(), name=f"{self.service}-relay")

    def wake(self, recordings: list[Any] | None = None) -> None:
        """Thread-safe: called by the application after every save, with what it saved,
        so the relay can publish those events without reading them back."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._remember, recordings or [])

    def _remember(self, recordings: list[Any]) -> None:
        if len(self._fresh) < FRESH_MAX:
            for recording in recordings:
                self._fresh[recording.notification.id] = recording.domain_event
        if len(self._fresh) >= self.backlog_limit:
            self._room.clear()
        self._wake.set()

    async def room(self, timeout: float = 1.0) -> None:
        """Wait (bounded) while the backlog of unpublished events is full."""
        if self._room.is_set():
            return
        try:
            async with asyncio.timeout(timeout):
                await self._room.wait()
        except TimeoutError:
            pass  # the relay is stuck (JetStream unavailable): accept, it catches up later

    async def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._task is not None:
            await asyncio.wait_for(self._task, timeout=15)

    async def published_position(self) -> int:
        try:
            # A direct get whose subject names the filter: an agent may read only its own.
            last = await self.js.get_msg(subjects.stream(self.service),
                                         subject=self.subject_filter, direct=True)
        except NotFoundError:
            return 0
        return int((last.headers or {}).get(POSITION_HEADER, "0"))

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.drain()
                self.healthy = True
            except (nats.errors.Error, ConnectionError, OSError) as exc:
                self.healthy = False
                log.warning("relay %s cannot publish yet (%r); retrying", self.service, exc)
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)
            except TimeoutError:
                pass
            self._wake.clear()
        await self.drain()

    async def drain(self) -> int:
        """Publish everything stored after the position; bounded by the log's length.

        Events this process just saved come from memory while they follow the position
        without a gap; anything else (another writer, a restart) is read from the log.
        """
        published = 0
        while True:
            batch: list[tuple[int, Any]] = []
            while self.position + 1 + len(batch) in self._fresh and len(batch) < self.batch:
                key = self.position + 1 + len(batch)
                batch.append((key, self._fresh.pop(key)))
            if not batch:
                notifications = await asyncio.to_thread(
                    self.app.process_recorder.select_notifications, self.position + 1,
                    self.batch)
                batch = [(n.id, self.app.mapper.to_domain_event(n)) for n in notifications]
                if not batch:
                    self._fresh = {k: v for k, v in self._fresh.items() if k > self.position}
                    self.metrics.relay_lag.set(len(self._fresh))
                    if len(self._fresh) < self.backlog_limit:
                        self._room.set()
                    return published
            await self._publish_batch(batch)
            published += len(batch)
            if len(self._fresh) < self.backlog_limit // 2:
                self._room.set()

    async def _publish_batch(self, batch: list[tuple[int, Any]]) -> None:
        """Publish in order without waiting for each ack, then await the acks together under
        one timeout; the position moves only over the unbroken run of acknowledged events."""
        acks: list[tuple[int, asyncio.Future[Any] | None]] = []
        for notification_id, event in batch:
            acks.append((notification_id, await self._publish(notification_id, event)))
        pending = [ack for _, ack in acks if ack is not None]
        try:
            await asyncio.wait_for(asyncio.gather(*pending, return_exceptions=True),
                                   timeout=self.publish_timeout)
        except TimeoutError:
            for ack in pending:
                ack.cancel()
        for notification_id, ack in acks:
            if ack is not None:
                failed = NatsTimeoutError() if ack.cancelled() else ack.exception()
                if failed is not None:
                    raise failed  # resume from the log after the last acknowledged event
                self.metrics.relay_published.inc()
            self.position = notification_id

    async def _publish(self, notification_id: int, domain_event: Any
                       ) -> asyncio.Future[Any] | None:
        """Send one event; the future resolves to its ack (None: nothing to publish)."""
        if isinstance(domain_event, CommandRecord.Recorded):
            return None  # the command's reply, kept for repeats: not a fact to publish
        translated = self.translate(domain_event)
        if translated is None:
            return None
        subject, envelope = translated
        return await self.js.publish_async(
            subject,
            envelope.model_dump_json().encode(),
            wait_stall=self.publish_timeout,
            headers={"Nats-Msg-Id": envelope.id, POSITION_HEADER: str(notification_id)},
        )


def contract_event(contract: Any, domain_event: Any, type_name: str, data: dict[str, Any]
                   ) -> tuple[str, Event]:
    """The subject and envelope of a contract event: `data` validated against the contract
    module's model for `type_name` (its `EVENT_TYPES`, `event_subject`, `SERVICE`), so nothing
    leaves a service that its contract does not describe."""
    model = contract.EVENT_TYPES[type_name][2]
    data = model.model_validate(data).model_dump(mode="json")
    return (contract.event_subject(type_name),
            envelope_for(contract.SERVICE, domain_event, type_name, data))


def envelope_for(service: str, domain_event: Any, type_name: str, data: dict[str, Any]) -> Event:
    """A contract event for a stored domain event: the id depends only on its position, the
    actor, correlation and causation are the event's own (None for events stored before
    events carried them)."""
    aggregate_id = str(domain_event.originator_id)
    version = int(domain_event.originator_version)
    return Event(
        id=event_id(service, aggregate_id, version),
        type=type_name,
        source=service,
        aggregate_id=aggregate_id,
        sequence=version,
        occurred_at=domain_event.timestamp,
        data=data,
        **trace_of(domain_event),
    )

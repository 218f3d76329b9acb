"""In-memory replicas of another service's stream, rebuilt from the start at each start.

For small, hot lookups (actors, policies) that every command needs without a round trip.
Subclasses fold plain event dicts in `apply`; nothing here knows what the events mean.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from abc import ABC, abstractmethod
from typing import Any

from nats.aio.msg import Msg
from nats.js.api import DeliverPolicy
from nats.js.client import JetStreamContext

from contracts import subjects

log = logging.getLogger(__name__)


class StreamReplica(ABC):
    def __init__(self, producer: str) -> None:
        self.producer = producer
        self.position = 0
        self.lock = threading.RLock()
        self._sub: Any = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def start(self, js: JetStreamContext) -> None:
        self._stopping = asyncio.Event()
        self._task = asyncio.create_task(self._subscribe(js), name=f"replica-{self.producer}")

    async def _subscribe(self, js: JetStreamContext) -> None:
        from services.runtime.relay import wait_for_stream

        if await wait_for_stream(js, self.producer, self._stopping):
            self._sub = await js.subscribe(
                subjects.events_of(self.producer), stream=subjects.stream(self.producer),
                ordered_consumer=True, deliver_policy=DeliverPolicy.ALL, cb=self._on_message,
                idle_heartbeat=1.0)

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
        if self._sub is not None:
            await self._sub.unsubscribe()

    async def _on_message(self, msg: Msg) -> None:
        try:
            with self.lock:
                self.apply(json.loads(msg.data))
        except (ValueError, KeyError, TypeError) as exc:
            log.error("replica of %s cannot read seq %s: %s", self.producer,
                      msg.metadata.sequence.stream, exc)
        self.position = msg.metadata.sequence.stream

    @abstractmethod
    def apply(self, envelope: dict[str, Any]) -> None:
        """Fold one event (the JSON envelope as a dict)."""

    async def wait_until(self, position: int, timeout: float = 5.0) -> bool:
        """Wait until the replica has read up to `position` (bounded)."""
        for _ in range(max(1, int(timeout / 0.05))):
            if self.position >= position:
                return True
            await asyncio.sleep(0.05)
        return False

"""In-memory replicas of another service's stream, rebuilt from the start at each start.

For small, hot lookups (actors, policies) that every command needs without a round trip.
Subclasses fold plain event dicts in `apply`; nothing here knows what the events mean.

`applied` is the producer's notification id of the last event folded (the relay's
`Bai-Notification-Id` header): a request that must see a write of that producer waits in
`reached` until the replica has applied it (causal consistency; see the runtime README).

A replica that cannot fold an event stops there: it never advances past it (a replica that
skipped a grant or a deactivation would decide wrongly from then on), reports itself stuck
in `health()` (the host's /health turns not-ready) and logs the sequence and error once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from abc import ABC, abstractmethod
from typing import Any

from nats.aio.client import Client
from nats.js.client import JetStreamContext

from contracts import subjects
from services.runtime.reader import (
    Follower,
    StopFollowing,
    StoredMsg,
    require_stream,
)

POSITION_HEADER = "Bai-Notification-Id"  # set by the producer's outbox relay
# What an event of an unexpected shape raises while it is folded (missing keys, wrong types).
UNREADABLE = (ValueError, KeyError, TypeError, AttributeError, IndexError)

log = logging.getLogger(__name__)


class StreamReplica(ABC):
    # Replicas that permission decisions read (actors, grants): requests naming positions of
    # their producer wait for them before deciding.
    decides_permissions = False

    def __init__(self, producer: str) -> None:
        self.producer = producer
        self.position = 0
        self.applied = 0  # the producer's notification id of the last event folded
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self.lock = threading.RLock()
        self._follower: Follower | None = None
        self.connection: Client | None = None  # the host's (`use_connection`), before start
        # Set when an event could not be folded: {"seq", "error"}; the replica stops there.
        self.stuck: dict[str, Any] | None = None

    def use_connection(self, nc: Client) -> None:
        """The NATS connection the stream is read over (the host's, which `js` is on)."""
        self.connection = nc

    async def start(self, js: JetStreamContext) -> None:
        """Raises `StreamNotProvisioned` when the producer's stream does not exist."""
        if self.connection is None:
            raise RuntimeError(f"{type(self).__name__} has no connection: call "
                               "use_connection(nc) before start(js)")
        stream = subjects.stream(self.producer)
        await require_stream(js, stream)
        self._follower = Follower(self.connection, stream, subjects.events_of(self.producer),
                                  self._on_message, position=self.position)
        await self._follower.start()

    async def stop(self) -> None:
        if self._follower is not None:
            await self._follower.stop()
            self._follower = None

    async def _on_message(self, msg: StoredMsg) -> None:
        if self.stuck is not None:
            raise StopFollowing(self.stuck["seq"])
        try:
            with self.lock:
                self.apply(json.loads(msg.data))
        except UNREADABLE as exc:
            self.stuck = {"seq": msg.seq, "subject": msg.subject,
                          "error": f"{type(exc).__name__}: {exc}"}
            log.error("replica %s of %s stopped at stream sequence %s (%s), which it cannot "
                      "apply: %s; it stays not-ready until a version that reads it starts",
                      type(self).__name__, self.producer, msg.seq, msg.subject,
                      self.stuck["error"])
            raise StopFollowing(msg.seq) from exc
        self.position = msg.seq
        notification = msg.headers.get(POSITION_HEADER)
        if notification is not None and notification.isdigit():
            self.applied = max(self.applied, int(notification))
            if self._waiters:
                self._wake()

    def health(self) -> dict[str, Any]:
        """Not ok once stuck on an event it cannot apply (`stuck` says which)."""
        return {"ok": self.stuck is None, "producer": self.producer,
                "position": self.position, "stuck": self.stuck}

    def _wake(self) -> None:
        still = []
        for position, future in self._waiters:
            if position <= self.applied:
                if not future.done():
                    future.set_result(None)
            else:
                still.append((position, future))
        self._waiters = still

    async def reached(self, position: int, timeout: float) -> bool:
        """True once `applied` ≥ `position`; False after `timeout` seconds."""
        if self.applied >= position:
            return True
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((position, future))
        if self._follower is not None:  # a write this replica has not read exists: read now
            self._follower.reader.poke()
        try:
            await asyncio.wait_for(future, timeout)
            return True
        except TimeoutError:
            self._waiters = [w for w in self._waiters if w[1] is not future]
            return self.applied >= position

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

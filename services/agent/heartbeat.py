"""Heartbeats: capacity, GPUs and running containers on `bai.hb.agent.<id>` every interval."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import nats.errors
from nats.aio.client import Client

from contracts import subjects
from services.agent.supervisor import Supervisor

log = logging.getLogger(__name__)


class HeartbeatPublisher:
    """A ServiceHost component: the first beat goes out as soon as the agent is ready."""

    def __init__(self, supervisor: Supervisor, connection: Callable[[], Client | None],
                 interval: float) -> None:
        self.supervisor = supervisor
        self.connection = connection
        self.interval = interval
        self.subject = subjects.heartbeat(supervisor.settings.agent_id)
        self.sent = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self, js: Any = None) -> None:
        self._task = asyncio.create_task(self._run(), name="agent-heartbeat")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def beat(self) -> None:
        await self.supervisor.refresh_gpus()
        self.supervisor.update_metrics()
        nc = self.connection()
        if nc is None or not nc.is_connected:
            log.warning("heartbeat skipped: not connected to NATS")
            return
        body = self.supervisor.heartbeat().model_dump_json().encode()
        await nc.publish(self.subject, body)
        self.sent += 1

    async def _run(self) -> None:
        while True:
            try:
                await self.beat()
            except (nats.errors.Error, OSError) as exc:
                log.warning("heartbeat not sent: %s", exc)
            await asyncio.sleep(self.interval)

"""Bus client for callers (CLI, gateway, tests, benchmarks): commands and queries."""

from __future__ import annotations

import uuid
from typing import Any

from nats.aio.client import Client

from contracts.envelope import Actor, Command, Query, Reply


class BusError(Exception):
    """An `Error{code}` reply, raised by `BusClient.*_or_raise`."""

    def __init__(self, code: str, message: str, details: dict[str, Any]) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.details = details


class BusClient:
    def __init__(self, nc: Client, actor: Actor, timeout: float = 5.0) -> None:
        self.nc = nc
        self.actor = actor
        self.timeout = timeout

    async def command(
        self, subject: str, data: dict[str, Any], command_id: str | None = None,
        correlation_id: str | None = None,
    ) -> Reply:
        envelope = Command(id=command_id or str(uuid.uuid4()), actor=self.actor,
                           correlation_id=correlation_id, data=data)
        msg = await self.nc.request(subject, envelope.model_dump_json().encode(),
                                    timeout=self.timeout)
        return Reply.model_validate_json(msg.data)

    async def query(self, subject: str, data: dict[str, Any] | None = None) -> Reply:
        envelope = Query(actor=self.actor, data=data or {})
        msg = await self.nc.request(subject, envelope.model_dump_json().encode(),
                                    timeout=self.timeout)
        return Reply.model_validate_json(msg.data)

    async def command_or_raise(
        self, subject: str, data: dict[str, Any], **kw: Any
    ) -> dict[str, Any]:
        return unwrap(await self.command(subject, data, **kw))

    async def query_or_raise(
        self, subject: str, data: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return unwrap(await self.query(subject, data))


def unwrap(reply: Reply) -> dict[str, Any]:
    if reply.ok:
        return reply.data or {}
    assert reply.error is not None
    raise BusError(reply.error.code, reply.error.message, reply.error.details)

"""Bus client for callers (CLI, tests, benchmarks, components): commands and queries.

Every message carries a proof of its actor: a token (from `baikal login` or identity), or
one signed with `signer` (a component's own key; BAIKAL_SIGNING_KEY when none is given).
Every request also carries the highest positions this client has seen in replies (`after`),
so a later request never sees a state before an earlier write of the same client.
"""

from __future__ import annotations

import uuid
from typing import Any

from nats.aio.client import Client

from contracts.envelope import Actor, Command, Query, Reply
from services.runtime.proofs import ProofSigner
from services.runtime.traced import request_trace


class BusError(Exception):
    """An `Error{code}` reply, raised by `BusClient.*_or_raise`."""

    def __init__(self, code: str, message: str, details: dict[str, Any]) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.details = details


class BusClient:
    def __init__(self, nc: Client, actor: Actor, timeout: float = 5.0, *,
                 proof: str | None = None, signer: ProofSigner | None = None,
                 positions: dict[str, int] | None = None) -> None:
        self.nc = nc
        self.actor = actor
        self.timeout = timeout
        self.proof = proof
        self.signer = signer if signer is not None or proof else ProofSigner.from_env()
        self.positions: dict[str, int] = dict(positions or {})

    def current_proof(self) -> str | None:
        if self.proof is not None:
            return self.proof
        return self.signer.proof_for(self.actor) if self.signer is not None else None

    async def command(
        self, subject: str, data: dict[str, Any], command_id: str | None = None,
        correlation_id: str | None = None, causation_id: str | None = None,
    ) -> Reply:
        """Sent inside a message's handling, it joins that chain: the handled message's
        correlation id, caused by it (unless given)."""
        trace = request_trace()
        envelope = Command(id=command_id or str(uuid.uuid4()), actor=self.actor,
                           correlation_id=correlation_id or trace["correlation_id"],
                           causation_id=causation_id or trace["causation_id"],
                           data=data, proof=self.current_proof(), after=self.positions)
        return self._seen(await self.nc.request(subject, envelope.model_dump_json().encode(),
                                                timeout=self.timeout))

    async def query(self, subject: str, data: dict[str, Any] | None = None) -> Reply:
        envelope = Query(actor=self.actor, data=data or {}, proof=self.current_proof(),
                         after=self.positions, **request_trace())
        return self._seen(await self.nc.request(subject, envelope.model_dump_json().encode(),
                                                timeout=self.timeout))

    def _seen(self, msg: Any) -> Reply:
        reply = Reply.model_validate_json(msg.data)
        merge_positions(self.positions, reply.positions)
        return reply

    async def command_or_raise(
        self, subject: str, data: dict[str, Any], **kw: Any
    ) -> dict[str, Any]:
        return unwrap(await self.command(subject, data, **kw))

    async def query_or_raise(
        self, subject: str, data: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return unwrap(await self.query(subject, data))


def merge_positions(into: dict[str, int], seen: dict[str, int] | None) -> bool:
    """Keep the highest position per producer; True when something moved."""
    moved = False
    for producer, position in (seen or {}).items():
        if position > into.get(producer, 0):
            into[producer] = position
            moved = True
    return moved


def unwrap(reply: Reply) -> dict[str, Any]:
    if reply.ok:
        return reply.data or {}
    assert reply.error is not None
    raise BusError(reply.error.code, reply.error.message, reply.error.details)


"""Commands and queries from HTTP requests to the bus; replies become data or ApiError.

The bus edge is the runtime's one publisher client (`services/runtime/client.py`: envelopes,
proofs, positions, the error mapping). The gateway's part: the actor of each call (the
caller's, or its own), the proof source (the caller's token from identity, or the gateway's
own system proof), the positions book (`proofs.Positions`: merged with the client's
`X-Baikal-After`, returned as `X-Baikal-Positions`), the request's correlation id, and the one
place where a `BusError` becomes an `ApiError` (`api_error`).
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from nats.aio.client import Client

from contracts.envelope import Actor
from services.gateway.errors import ApiError, gateway_error
from services.gateway.proofs import Positions, TokenCache
from services.runtime.client import ACCEPTED_PREFIX, BusClient, BusError
from services.runtime.envelopes import query_envelope
from services.runtime.proofs import ProofSigner

__all__ = ["ACCEPTED_PREFIX", "CORRELATION", "Bus", "api_error", "query_envelope"]

# The HTTP request being served (its X-Request-ID, set by the metrics middleware): the
# correlation id of every command and query sent for it, the gateway's own lookups included.
CORRELATION: ContextVar[str | None] = ContextVar("baikal_gateway_correlation", default=None)


def api_error(exc: BusError) -> ApiError:
    """A service's `Error{code}` keeps its code (and status from the table); what the client
    found itself is the gateway's: `gateway.service.unavailable` 503, `gateway.service.timeout`
    504, `gateway.internal` 502 (an unreadable reply)."""
    if exc.answered:
        return ApiError(exc.code, exc.message, **exc.details)
    return gateway_error(exc.code, exc.message, **exc.details)


class Bus:
    """Request/reply with a timeout; "nobody answers" is 503, "too slow" 504."""

    def __init__(self, nc: Client, timeout: float, signer: ProofSigner | None = None,
                 splice: bool = True) -> None:
        self.signer = signer  # the gateway's own key, for its system proofs
        self.tokens: TokenCache | None = None  # callers' tokens (filled by authentication)
        self.positions = Positions()
        # splice: accepted `data` passed through (BAIKAL_GATEWAY_REPLY_SPLICE)
        self.client = BusClient(nc, timeout=timeout, proofs=self.proof_for,
                                positions=self.positions, splice=splice)

    @property
    def nc(self) -> Client:
        return self.client.nc

    @property
    def timeout(self) -> float:
        return self.client.timeout

    def proof_for(self, actor: Actor) -> str | None:
        if actor.system is not None:
            return self.signer.system_proof(actor.system) if self.signer else None
        return self.tokens.cached(actor.access_key) if self.tokens else None

    async def command(self, subject: str, data: dict[str, Any], actor: Actor,
                      command_id: str | None = None,
                      correlation_id: str | None = None) -> dict[str, Any]:
        try:
            return await self.client.command_or_raise(
                subject, data, actor=actor, command_id=command_id,
                correlation_id=correlation_id or CORRELATION.get())
        except BusError as exc:
            raise api_error(exc) from None

    async def query(self, subject: str, data: dict[str, Any], actor: Actor,
                    correlation_id: str | None = None) -> dict[str, Any]:
        try:
            return await self.client.query_or_raise(
                subject, data, actor=actor, correlation_id=correlation_id or CORRELATION.get())
        except BusError as exc:
            raise api_error(exc) from None

    async def query_json(self, subject: str, data: dict[str, Any], actor: Actor,
                         correlation_id: str | None = None) -> bytes:
        """The reply's `data` as JSON bytes, passed through undecoded when accepted."""
        try:
            return await self.client.query_json(subject, data, actor,
                                                correlation_id or CORRELATION.get())
        except BusError as exc:
            raise api_error(exc) from None

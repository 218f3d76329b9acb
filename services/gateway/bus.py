"""Commands and queries from HTTP requests to the bus; replies become data or ApiError.

Each message carries its actor's proof (the caller's token from identity, or the gateway's
own system proof) and the highest positions seen (`after`, see `proofs.Positions`).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from nats.aio.client import Client
from nats.errors import ConnectionClosedError, NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from pydantic import TypeAdapter

from contracts.envelope import Actor, Command
from contracts.subjects import service_of
from services.gateway.errors import ApiError, gateway_error
from services.gateway.proofs import Positions, TokenCache
from services.runtime.proofs import ProofSigner

# How every service encodes `Accepted` (pydantic's compact JSON, `status` first): its `data`
# object can be handed to the HTTP client as it came, without decoding and encoding it again.
ACCEPTED_PREFIX = b'{"status":"accepted","data":{'

# The HTTP request being served (its X-Request-ID, set by the metrics middleware): the
# correlation id of every command and query sent for it, the gateway's own lookups included.
CORRELATION: ContextVar[str | None] = ContextVar("baikal_gateway_correlation", default=None)


class Bus:
    """Request/reply with a timeout; "nobody answers" is 503, "too slow" 504."""

    def __init__(self, nc: Client, timeout: float, signer: ProofSigner | None = None,
                 splice: bool = True) -> None:
        self.nc = nc
        self.timeout = timeout
        self.splice = splice  # accepted `data` passed through (BAIKAL_GATEWAY_REPLY_SPLICE)
        self.signer = signer  # the gateway's own key, for its system proofs
        self.tokens: TokenCache | None = None  # callers' tokens (filled by authentication)
        self.positions = Positions()

    def proof_for(self, actor: Actor) -> str | None:
        if actor.system is not None:
            return self.signer.system_proof(actor.system) if self.signer else None
        return self.tokens.cached(actor.access_key) if self.tokens else None

    async def command(self, subject: str, data: dict[str, Any], actor: Actor,
                      command_id: str | None = None,
                      correlation_id: str | None = None) -> dict[str, Any]:
        envelope = Command(id=command_id or str(uuid.uuid4()), actor=actor,
                           correlation_id=correlation_id or CORRELATION.get(), data=data,
                           proof=self.proof_for(actor), after=self.positions.after())
        return await self.request(subject, envelope.model_dump_json().encode())

    async def query(self, subject: str, data: dict[str, Any], actor: Actor,
                    correlation_id: str | None = None) -> dict[str, Any]:
        return self.reply_data(subject, await self.raw_request(
            subject, self._query(data, actor, correlation_id)))

    async def query_json(self, subject: str, data: dict[str, Any], actor: Actor,
                         correlation_id: str | None = None) -> bytes:
        """The reply's `data` as JSON bytes, passed through undecoded when accepted."""
        raw = await self.raw_request(subject, self._query(data, actor, correlation_id))
        if self.splice and raw.startswith(ACCEPTED_PREFIX) and raw.endswith(b"}"):
            return raw[len(ACCEPTED_PREFIX) - 1:-1]
        return json.dumps(self.reply_data(subject, raw)).encode()

    def _query(self, data: dict[str, Any], actor: Actor, correlation_id: str | None) -> bytes:
        return query_envelope(data, actor, correlation_id, self.proof_for(actor),
                              self.positions.after())

    async def request(self, subject: str, payload: bytes) -> dict[str, Any]:
        return self.reply_data(subject, await self.raw_request(subject, payload))

    def reply_data(self, subject: str, raw: bytes) -> dict[str, Any]:
        """An `Accepted` reply's data; an `Error` reply (or an unreadable one) as ApiError.
        A command's reply also moves the positions seen."""
        try:
            reply = json.loads(raw)
        except ValueError:
            raise gateway_error("internal", f"{service_of(subject)} sent an unreadable reply",
                                service=service_of(subject)) from None
        if reply.get("status") == "accepted":
            if "positions" in reply:
                self.positions.merge(reply["positions"])
            return reply.get("data") or {}
        error = reply.get("error") or {}
        raise ApiError(str(error.get("code", "internal")), str(error.get("message", "")),
                       **(error.get("details") or {}))

    async def raw_request(self, subject: str, payload: bytes) -> bytes:
        service = service_of(subject)
        try:
            msg = await self.nc.request(subject, payload, timeout=self.timeout)
        except NoRespondersError:
            raise gateway_error("service.unavailable", f"no {service} service is answering",
                                service=service) from None
        except NatsTimeout:
            raise gateway_error("service.timeout",
                                f"{service} did not answer within {self.timeout:g}s",
                                service=service) from None
        except ConnectionClosedError:
            raise gateway_error("service.unavailable", "the gateway has no bus connection",
                                service=service) from None
        return bytes(msg.data)


def query_envelope(data: dict[str, Any], actor: Actor, correlation_id: str | None,
                   proof: str | None = None, after: dict[str, int] | None = None) -> bytes:
    # The `Query` envelope written directly: the hot read path skips building a model whose
    # fields are all known good here (the service validates what it receives). The parts that
    # repeat from one request to the next (the caller's actor, its token) are encoded once.
    return b'{"actor":%b,"correlation_id":%b,"data":%b,"proof":%b,"after":%b}' % (
        _actor_json(actor), _dumps(correlation_id or CORRELATION.get()), _dumps(data),
        _proof_json(proof),
        _dumps(after or {}))


# pydantic's serializer: json.dumps builds an encoder per call for a dict (~1 µs).
_dumps = TypeAdapter(Any).dump_json
_ENCODED_MAX = 100_000


def _remembered(found: dict[Any, bytes], key: Any, encode: Callable[[], str]) -> bytes:
    value = found.get(key)
    if value is None:
        if len(found) >= _ENCODED_MAX:
            found.clear()
        value = found[key] = encode().encode()
    return value


_ACTORS: dict[Actor, bytes] = {}
_PROOFS: dict[str | None, bytes] = {}


def _actor_json(actor: Actor) -> bytes:
    return _remembered(_ACTORS, actor, lambda: actor.model_dump_json(exclude_none=True))


def _proof_json(proof: str | None) -> bytes:
    return _remembered(_PROOFS, proof, lambda: json.dumps(proof))

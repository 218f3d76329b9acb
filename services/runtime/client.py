"""The one bus client of every publisher: the gateway, the scheduler's components (to agents
and storage), the CLI, tests and benchmarks.

- **Envelopes** (`envelopes.py`): a `Command` or a `Query` for the actor (the client's own, or
  one per call, as the gateway sends in each caller's name).
- **Proofs**: every message carries a proof of its actor, from the client's proof source: a
  token (`proof=`: `baikal login`, identity), its own key (`signer=`: a component's;
  BAIKAL_SIGNING_KEY when none is given), or a function of the actor (`proofs=`: the gateway's
  own key for its system actor, the caller's cached token for a user).
- **Positions**: every request carries the highest positions in the client's book (`after`),
  and every reply's `positions` are merged into it, so a later request never sees a state
  before an earlier write of the same client. A book is `SeenPositions` (the default) or
  anything with `after()` and `merge()` (the gateway's `proofs.Positions`); `UNTRACKED` sends
  none and keeps none (a component's requests are not one user's chain). `after=` on a call
  sends those positions instead (the scheduler asks storage at the positions its caller saw).
- **Correlation**: the chain a request joins. Given neither `correlation_id` nor
  `causation_id`, inside a message's handling its chain and its id as cause
  (`traced.request_trace`); outside, none (a chain starts).
- **Probes**: `probe` asks whether a subject is served at all, with no envelope (the
  gateway's information page), failing as any request does.
- **Errors**: one exception, `BusError(code, message, details)`. An `Error{code}` reply is one
  (`answered`); so is what this client finds when no usable reply comes (`answered` False):
  `service.unavailable` (nobody subscribes to the subject, or no open connection),
  `service.timeout` (no reply within the timeout), `internal` (an unreadable reply).
  `command`/`query` return the typed `Reply` (an `Error` reply returned, not raised);
  `*_or_raise` return the accepted data; `*_as` validate it as the spec's reply model;
  `query_json` returns it as JSON bytes (spliced from the reply, see `ACCEPTED_PREFIX`).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from nats.aio.client import Client
from nats.errors import (
    ConnectionClosedError,
    ConnectionDrainingError,
    NoRespondersError,
    OutboundBufferLimitError,
)
from nats.errors import TimeoutError as NatsTimeout
from pydantic import BaseModel, ValidationError

from contracts.envelope import Actor, Reply
from contracts.subjects import service_of
from services.runtime.envelopes import command_envelope, query_envelope
from services.runtime.proofs import ProofSigner
from services.runtime.traced import request_trace

UNAVAILABLE = "service.unavailable"
TIMEOUT = "service.timeout"
UNREADABLE = "internal"
NO_ANSWER = (UNAVAILABLE, TIMEOUT)

# How every service encodes `Accepted` (pydantic's compact JSON, `status` first, and a query's
# reply has no `positions`): its `data` object can be handed on as it came, without decoding
# and encoding it again (`splice`; the gateway's BAIKAL_GATEWAY_REPLY_SPLICE switches it off).
ACCEPTED_PREFIX = b'{"status":"accepted","data":{'

PROBE = b"{}"  # `probe`'s payload: no envelope, refused by whoever answers

M = TypeVar("M", bound=BaseModel)
ProofSource = Callable[[Actor], "str | None"]


class BusError(Exception):
    """An `Error{code}` reply (`answered`), or no usable reply (`answered` False:
    `service.unavailable`, `service.timeout`, `internal`); `details` name the service."""

    def __init__(self, code: str, message: str, details: dict[str, Any] | None = None, *,
                 answered: bool = True) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.details = details or {}
        self.answered = answered

    @property
    def no_answer(self) -> bool:
        """Nobody answered or not in time: asking again later may be answered."""
        return not self.answered and self.code in NO_ANSWER


def unanswered(exc: Exception, subject: str, timeout: float) -> BusError:
    """The one mapping of nats-py's request failures to stable codes."""
    service = service_of(subject)
    if isinstance(exc, NoRespondersError):
        return BusError(UNAVAILABLE, f"no {service} service is answering",
                        {"service": service}, answered=False)
    if isinstance(exc, NatsTimeout):
        return BusError(TIMEOUT, f"{service} did not answer within {timeout:g}s",
                        {"service": service}, answered=False)
    return BusError(UNAVAILABLE, f"no bus connection to reach {service} "
                    f"({type(exc).__name__})", {"service": service}, answered=False)


# What `unanswered` maps; anything else nats-py raises (a bad subject, say) is a bug, raised.
REQUEST_FAILURES = (NoRespondersError, NatsTimeout, ConnectionClosedError,
                    ConnectionDrainingError, OutboundBufferLimitError)


class PositionBook(Protocol):
    def after(self) -> dict[str, int]: ...

    def merge(self, positions: Any) -> Any: ...


class SeenPositions:
    """The highest position per producer seen in this client's replies."""

    def __init__(self, seen: dict[str, int] | None = None) -> None:
        self.seen = seen if seen is not None else {}

    def after(self) -> dict[str, int]:
        return self.seen

    def merge(self, positions: Any) -> bool:
        return merge_positions(self.seen, positions)


class _Untracked:
    """No positions sent, none kept."""

    def after(self) -> dict[str, int]:
        return {}

    def merge(self, positions: Any) -> None:
        return None


UNTRACKED: PositionBook = _Untracked()


def signed_by(signer: ProofSigner | None) -> ProofSource:
    """Proofs made with this key only (none without one; never BAIKAL_SIGNING_KEY instead)."""
    def proof(actor: Actor) -> str | None:
        return signer.proof_for(actor) if signer is not None else None
    return proof


class BusClient:
    def __init__(self, nc: Client, actor: Actor | None = None, timeout: float = 5.0, *,
                 proof: str | None = None, signer: ProofSigner | None = None,
                 proofs: ProofSource | None = None,
                 positions: dict[str, int] | PositionBook | None = None,
                 splice: bool = True) -> None:
        self.nc = nc
        self.actor = actor if actor is not None else Actor()
        self.timeout = timeout
        self.proof = proof
        self.signer = signer if signer is not None or proof or proofs \
            else ProofSigner.from_env()
        self.proofs: ProofSource = proofs or self._own_proof
        self.book: PositionBook = (SeenPositions(dict(positions or {}))
                                   if positions is None or isinstance(positions, dict)
                                   else positions)
        self.splice = splice

    @property
    def positions(self) -> dict[str, int]:
        """The positions this client sends as `after` (a book's own dict, for SeenPositions)."""
        return self.book.after()

    @positions.setter
    def positions(self, seen: dict[str, int]) -> None:  # a position token handed on
        self.book = SeenPositions(seen)

    def _own_proof(self, actor: Actor) -> str | None:
        if self.proof is not None:
            return self.proof
        return self.signer.proof_for(actor) if self.signer is not None else None

    def current_proof(self) -> str | None:
        return self.proofs(self.actor)

    # ---- sending ---------------------------------------------------------------------------

    async def send(self, subject: str, payload: bytes, timeout: float | None = None) -> bytes:
        """One request: the reply's bytes; none (or no connection) raises `BusError`
        (`answered` False, `unanswered`'s codes)."""
        wait = timeout or self.timeout
        try:
            msg = await self.nc.request(subject, payload, timeout=wait)
        except REQUEST_FAILURES as exc:
            raise unanswered(exc, subject, wait) from None
        return bytes(msg.data)

    async def probe(self, subject: str, timeout: float | None = None) -> None:
        """Whether any instance serves `subject`: a request with no envelope (`PROBE`), so
        no proof, positions or actor; any reply (a refusal: it is no valid message) is an
        answer. None raises `BusError` as `send` does (`service.unavailable`,
        `service.timeout`)."""
        await self.send(subject, PROBE, timeout)

    def command_payload(self, data: dict[str, Any], actor: Actor | None = None,
                        command_id: str | None = None, correlation_id: str | None = None,
                        causation_id: str | None = None,
                        after: dict[str, int] | None = None) -> bytes:
        actor = actor if actor is not None else self.actor
        if correlation_id is None and causation_id is None:
            trace = request_trace()
            correlation_id, causation_id = trace["correlation_id"], trace["causation_id"]
        return command_envelope(command_id or str(uuid.uuid4()), actor, data,
                                self.proofs(actor), self.book.after() if after is None else after,
                                correlation_id, causation_id)

    def query_payload(self, data: dict[str, Any] | None, actor: Actor | None = None,
                      correlation_id: str | None = None, causation_id: str | None = None,
                      after: dict[str, int] | None = None) -> bytes:
        actor = actor if actor is not None else self.actor
        if correlation_id is None and causation_id is None:
            trace = request_trace()
            correlation_id, causation_id = trace["correlation_id"], trace["causation_id"]
        return query_envelope(data or {}, actor, correlation_id, self.proofs(actor),
                              self.book.after() if after is None else after, causation_id)

    # ---- typed replies ---------------------------------------------------------------------

    async def command(self, subject: str, data: dict[str, Any], command_id: str | None = None,
                      correlation_id: str | None = None, causation_id: str | None = None, *,
                      actor: Actor | None = None, after: dict[str, int] | None = None,
                      timeout: float | None = None) -> Reply:
        """Sent inside a message's handling, it joins that chain: the handled message's
        correlation id, caused by it (unless given)."""
        payload = self.command_payload(data, actor, command_id, correlation_id, causation_id,
                                       after)
        return self.reply_of(subject, await self.send(subject, payload, timeout))

    async def query(self, subject: str, data: dict[str, Any] | None = None, *,
                    actor: Actor | None = None, correlation_id: str | None = None,
                    causation_id: str | None = None, after: dict[str, int] | None = None,
                    timeout: float | None = None) -> Reply:
        payload = self.query_payload(data, actor, correlation_id, causation_id, after)
        return self.reply_of(subject, await self.send(subject, payload, timeout))

    def reply_of(self, subject: str, raw: bytes) -> Reply:
        """The typed reply; its positions merged into the book."""
        try:
            reply = Reply.model_validate_json(raw)
        except ValidationError:
            raise unreadable(subject) from None
        if reply.positions:
            self.book.merge(reply.positions)
        return reply

    # ---- accepted data (an Error reply raised) ---------------------------------------------

    async def command_or_raise(self, subject: str, data: dict[str, Any],
                               command_id: str | None = None,
                               correlation_id: str | None = None,
                               causation_id: str | None = None, *, actor: Actor | None = None,
                               after: dict[str, int] | None = None,
                               timeout: float | None = None) -> dict[str, Any]:
        payload = self.command_payload(data, actor, command_id, correlation_id, causation_id,
                                       after)
        return self.data_of(subject, await self.send(subject, payload, timeout))

    async def query_or_raise(self, subject: str, data: dict[str, Any] | None = None, *,
                             actor: Actor | None = None, correlation_id: str | None = None,
                             causation_id: str | None = None,
                             after: dict[str, int] | None = None,
                             timeout: float | None = None) -> dict[str, Any]:
        payload = self.query_payload(data, actor, correlation_id, causation_id, after)
        return self.data_of(subject, await self.send(subject, payload, timeout))

    async def command_as(self, model: type[M], subject: str, data: dict[str, Any],
                         **kw: Any) -> M:
        """The accepted data validated as `model` (the spec's reply model)."""
        return validated(model, subject, await self.command_or_raise(subject, data, **kw))

    async def query_as(self, model: type[M], subject: str, data: dict[str, Any] | None = None,
                       **kw: Any) -> M:
        return validated(model, subject, await self.query_or_raise(subject, data, **kw))

    async def query_json(self, subject: str, data: dict[str, Any], actor: Actor | None = None,
                         correlation_id: str | None = None) -> bytes:
        """The accepted data as JSON bytes, passed through undecoded when `splice`."""
        raw = await self.send(subject, self.query_payload(data, actor, correlation_id))
        if self.splice and raw.startswith(ACCEPTED_PREFIX) and raw.endswith(b"}"):
            return raw[len(ACCEPTED_PREFIX) - 1:-1]
        return json.dumps(self.data_of(subject, raw)).encode()

    def data_of(self, subject: str, raw: bytes) -> dict[str, Any]:
        """An `Accepted` reply's data (its positions merged into the book), read without the
        model (the gateway's path); an `Error` reply raised as `BusError`."""
        try:
            reply = json.loads(raw)
        except ValueError:
            raise unreadable(subject) from None
        if not isinstance(reply, dict):
            raise unreadable(subject)
        if reply.get("status") == "accepted":
            if "positions" in reply:
                self.book.merge(reply["positions"])
            return reply.get("data") or {}
        error = reply.get("error") or {}
        raise BusError(str(error.get("code", UNREADABLE)), str(error.get("message", "")),
                       error.get("details") or {})


def unreadable(subject: str) -> BusError:
    service = service_of(subject)
    return BusError(UNREADABLE, f"{service} sent an unreadable reply", {"service": service},
                    answered=False)


def validated(model: type[M], subject: str, data: dict[str, Any]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError:
        service = service_of(subject)
        raise BusError(UNREADABLE, f"{service}'s reply is not a {model.__name__}",
                       {"service": service}, answered=False) from None


def merge_positions(into: dict[str, int], seen: Any) -> bool:
    """Keep the highest position per producer; True when something moved."""
    moved = False
    if not isinstance(seen, dict):
        return moved
    for producer, position in seen.items():
        if isinstance(position, int) and position > into.get(producer, 0):
            into[producer] = position
            moved = True
    return moved


def unwrap(reply: Reply) -> dict[str, Any]:
    if reply.ok:
        return reply.data or {}
    assert reply.error is not None
    raise BusError(reply.error.code, reply.error.message, reply.error.details)

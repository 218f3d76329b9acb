"""Message envelopes on the bus: commands, queries, events and replies."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ID_MAX = 128
PROOF_MAX = 2048
POSITIONS_MAX = 16  # one entry per producing service at most


def _positions_field() -> Any:
    """`{"<service>": <notification id>}`: what a reply wrote, or what a request must see."""
    return Field(default_factory=dict, max_length=POSITIONS_MAX)


class Actor(BaseModel):
    """Who asked. Believed only with the envelope's `proof` (a token signed by identity, or a
    component's system proof); the receiving dispatcher replaces it with the proven actor."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    access_key: str | None = Field(default=None, max_length=20)
    user_id: str | None = Field(default=None, max_length=64)
    system: str | None = Field(default=None, max_length=64)


class Command(BaseModel):
    """A request to change state; `id` is the idempotency key."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=ID_MAX)
    actor: Actor
    correlation_id: str | None = Field(default=None, max_length=ID_MAX)
    # The command or event that caused this one (None: it starts a chain, e.g. an HTTP call).
    causation_id: str | None = Field(default=None, max_length=ID_MAX)
    data: dict[str, Any] = Field(default_factory=dict)
    proof: str | None = Field(default=None, max_length=PROOF_MAX)
    # Causal token: the receiving service first waits until its replicas have applied these.
    after: dict[str, int] = _positions_field()


class Query(BaseModel):
    """A request to read a view; never changes state."""

    model_config = ConfigDict(extra="forbid")

    actor: Actor
    correlation_id: str | None = Field(default=None, max_length=ID_MAX)
    causation_id: str | None = Field(default=None, max_length=ID_MAX)
    data: dict[str, Any] = Field(default_factory=dict)
    proof: str | None = Field(default=None, max_length=PROOF_MAX)
    after: dict[str, int] = _positions_field()


class Event(BaseModel):
    """A fact published on JetStream; `id` is deterministic and sent as Nats-Msg-Id."""

    model_config = ConfigDict(extra="forbid")

    id: str
    type: str
    version: int = 1
    source: str
    aggregate_id: str
    sequence: int
    occurred_at: datetime
    correlation_id: str | None = None
    causation_id: str | None = None
    actor: Actor | None = None
    data: dict[str, Any]


class ErrorBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class Accepted(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["accepted"] = "accepted"
    data: dict[str, Any] = Field(default_factory=dict)
    # What the command wrote (its service's notification id); absent on queries. Serialized
    # after `data`, so a reader may pass `data` through (the gateway's direct reads).
    positions: dict[str, int] | None = None


class Error(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["error"] = "error"
    error: ErrorBody


class Reply(BaseModel):
    """Parses either reply kind: `Reply.model_validate_json(raw).root`."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["accepted", "error"]
    data: dict[str, Any] | None = None
    error: ErrorBody | None = None
    positions: dict[str, int] | None = None

    @property
    def ok(self) -> bool:
        return self.status == "accepted"


def error_reply(code: str, message: str, **details: Any) -> Error:
    return Error(error=ErrorBody(code=code, message=message, details=details))

"""Message envelopes on the bus: commands, queries, events and replies."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ID_MAX = 128


class Actor(BaseModel):
    """Who asked. Trusted only from NATS principals allowed to publish commands."""

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
    data: dict[str, Any] = Field(default_factory=dict)


class Query(BaseModel):
    """A request to read a view; never changes state."""

    model_config = ConfigDict(extra="forbid")

    actor: Actor
    correlation_id: str | None = Field(default=None, max_length=ID_MAX)
    data: dict[str, Any] = Field(default_factory=dict)


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

    @property
    def ok(self) -> bool:
        return self.status == "accepted"


def error_reply(code: str, message: str, **details: Any) -> Error:
    return Error(error=ErrorBody(code=code, message=message, details=details))

"""Golden sample names and generated sample messages and replies, from the specs
(contracts/specs.py).

`make_golden.py` writes the missing samples with these; the contract tests read them back.
"""

from __future__ import annotations

import types
import typing
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from pydantic import BaseModel

from contracts import agent, identity, quota, rbac, scheduler, storage
from contracts.envelope import Accepted, Actor, Command, Event, Query
from contracts.specs import Kind, MessageSpec

MODULES = (identity, quota, rbac, scheduler, storage, agent)
ALL_SPECS: dict[str, MessageSpec] = {s: spec for m in MODULES for s, spec in m.SPECS.items()}

USER = Actor(access_key="AKIAB4CD6EF7GH2IJ3KL")
SYSTEM = Actor(system="scheduler")
USER_PROOF = ("eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCIsImtpZCI6ImlkZW50aXR5In0.eyJzdWIiOiJ1MSIsImF"
              "rIjoiQUtJQUI0Q0Q2RUY3R0gySUozS0wifQ.c2lnbmF0dXJl")
SYSTEM_PROOF = ("eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCIsImtpZCI6InNjaGVkdWxlciJ9.eyJzeXMiOiJzY2hlZH"
                "VsZXIifQ.c2lnbmF0dXJl")
WHEN = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
# Fields whose values follow a pattern, by name.
BY_NAME: dict[str, Any] = {"access_key": "AKIAB4CD6EF7GH2IJ3KL", "agent_id": "n1",
                           "email": "alice@example.com", "password": "Wonder-land-42",
                           "password_confirm": "Wonder-land-42"}


def golden_name(spec: MessageSpec) -> str:
    """The sample's file name: `<subject>.json` for commands and queries, `agent.<verb>.v1.json`
    for directed ones, `<service>.<EventType>.v1.json` for events."""
    if spec.kind is Kind.EVENT:
        return f"{spec.service}.{spec.event_type}.v1.json"
    if spec.directed:
        return "agent." + spec.subject.split("{agent_id}.", 1)[1] + ".json"
    return f"{spec.subject}.json"


def reply_golden_name(spec: MessageSpec) -> str:
    """The reply sample's file name: the request's, with `.reply` before `.json`."""
    assert spec.is_request, spec.subject
    return golden_name(spec).removesuffix(".json") + ".reply.json"


def _value(name: str, annotation: Any) -> Any:
    if name in BY_NAME:
        return BY_NAME[name]
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _value(name, typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _value(name, options[0])
    if origin is typing.Literal:
        return typing.get_args(annotation)[0]
    if origin is list:
        return [_value(name, typing.get_args(annotation)[0])]
    if origin is dict:
        return {}
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            return sample_data(annotation)
        if issubclass(annotation, Enum):
            return next(iter(annotation)).value
        if issubclass(annotation, bool):
            return False
        if issubclass(annotation, int):
            return 1
        if issubclass(annotation, float):
            return 1.5
        if issubclass(annotation, datetime):
            return WHEN.isoformat().replace("+00:00", "Z")
    if annotation is typing.Any or annotation is object:
        return "sample"
    return f"sample-{name}".replace("_", "-")


def sample_data(model: type[BaseModel]) -> dict[str, Any]:
    """A valid instance of `model` as JSON: every field set (defaults where one exists)."""
    raw: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        if not field.is_required():
            default = field.get_default(call_default_factory=True)
            if default not in (None, "", [], {}):
                raw[name] = default
                continue
        raw[name] = _value(name, field.annotation)
    return model.model_validate(raw).model_dump(mode="json")


def sample_message(spec: MessageSpec) -> dict[str, Any]:
    """The whole envelope of a sample message of `spec`."""
    data = sample_data(spec.payload)
    system = spec.needs is not None and spec.needs.system_only
    actor, proof = (SYSTEM, SYSTEM_PROOF) if system else (USER, USER_PROOF)
    if spec.kind is Kind.EVENT:
        assert spec.event_type is not None
        return Event(id="9e4d7a10-3b2c-5f18-a6e9-000000000001", type=spec.event_type,
                     source=spec.service, aggregate_id="3f2a6c1e-8d4b-5a7e-9c21-6b0f4e8d2a13",
                     sequence=1, occurred_at=WHEN, correlation_id="corr-7f3a",
                     causation_id="cmd-1b9e", actor=actor, data=data).model_dump(mode="json")
    if spec.public:
        actor, proof = Actor(), None  # type: ignore[assignment]
    if spec.is_command:
        return Command(id="cmd-1b9e", actor=actor, correlation_id="corr-7f3a", data=data,
                       proof=proof).model_dump(mode="json")
    return Query(actor=actor, correlation_id="corr-7f3a", data=data,
                 proof=proof).model_dump(mode="json")


def sample_reply(spec: MessageSpec) -> dict[str, Any]:
    """The whole `Accepted` reply of a request of `spec` (a command's names its position)."""
    assert spec.reply is not None, f"{spec.subject} declares no reply model"
    positions = {spec.service: 1} if spec.is_command else None
    return Accepted(data=sample_data(spec.reply), positions=positions).model_dump(
        mode="json", exclude_none=True)

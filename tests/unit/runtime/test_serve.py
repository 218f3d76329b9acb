"""A service's handler table is served from its specs: each handler gets the service's
dependencies, the one context the dispatcher built and the validated payload; a table that
does not match the specs stops the service before it listens (a fake message, no NATS)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from pydantic import BaseModel

from contracts import specs
from contracts.envelope import Actor
from contracts.permissions import system_only
from contracts.rbac import EntityType, Operation
from services.runtime.context import MessageContext, current
from services.runtime.dispatch import Dispatcher
from services.runtime.observability import Metrics
from services.runtime.serve import UnservedSpecs, serve

LOGIN = "bai.qry.svc.auth.bus-login.v1"
LOOKUP = "bai.qry.svc.things.get.v1"


class Ask(BaseModel):
    name: str


SPECS = specs.index([
    specs.query(LOGIN, Ask, None, "A public query.", public=True),
    specs.query(LOOKUP, Ask, system_only(EntityType.USER, Operation.READ), "Needs a proof."),
])


@dataclass
class Deps:
    seen: list[tuple[MessageContext, Ask, bool]] = field(default_factory=list)


def login(deps: Deps, ctx: MessageContext, q: Ask) -> dict[str, Any]:
    deps.seen.append((ctx, q, current() is ctx))
    return {"hello": q.name}


def lookup(deps: Deps, ctx: MessageContext, q: Ask) -> dict[str, Any]:
    return {}


@dataclass
class FakeMsg:
    subject: str
    data: bytes
    reply: str = "_INBOX_test.1"
    answers: list[bytes] = field(default_factory=list)

    async def respond(self, data: bytes) -> None:
        self.answers.append(data)


async def test_a_handler_gets_its_deps_the_dispatchers_context_and_the_typed_payload():
    deps = Deps()
    d = Dispatcher("svc", Metrics("svc"))
    with pytest.raises(RuntimeError, match="guard"):  # a need without a guard: refused too
        serve(d, SPECS, {LOGIN: login, LOOKUP: lookup}, deps)
    d = Dispatcher("svc", Metrics("svc"))
    only_public = {s: spec for s, spec in SPECS.items() if spec.public}
    serve(d, only_public, {LOGIN: login}, deps)
    msg = FakeMsg(LOGIN, json.dumps({"actor": {}, "correlation_id": "r-123",
                                     "data": {"name": "ada"}}).encode())
    await asyncio.wait_for(d._on_message(msg), timeout=2)  # type: ignore[arg-type]
    await asyncio.wait_for(asyncio.gather(*d._tasks), timeout=5)
    assert json.loads(msg.answers[0])["data"] == {"hello": "ada"}
    [(ctx, payload, is_current)] = deps.seen
    assert (ctx.subject, ctx.message_id, ctx.correlation_id) == (LOGIN, "r-123", "r-123")
    assert ctx.actor == Actor() and payload == Ask(name="ada")
    assert is_current  # the same context the handler's callees read through current()


def test_a_spec_without_a_handler_stops_the_service_before_it_listens():
    d = Dispatcher("svc", Metrics("svc"))
    with pytest.raises(UnservedSpecs, match="specs without a handler: \\['bai.qry.svc.things"):
        serve(d, SPECS, {LOGIN: login}, Deps())
    assert d.routes == {}


def test_a_handler_without_a_spec_stops_the_service_before_it_listens():
    d = Dispatcher("svc", Metrics("svc"))
    stray = "bai.qry.svc.things.list.v1"
    with pytest.raises(UnservedSpecs, match="handlers without a request spec: \\['bai.qry"):
        serve(d, SPECS, {LOGIN: login, LOOKUP: lookup, stray: lookup}, Deps())
    assert d.routes == {}


def test_a_directed_spec_is_served_only_for_a_named_agent():
    from contracts import agent

    d = Dispatcher("agent", Metrics("agent"))
    handlers = {s: lookup for s, spec in agent.SPECS.items() if spec.is_request}
    with pytest.raises(UnservedSpecs, match="agent_id"):
        serve(d, agent.SPECS, handlers, Deps())

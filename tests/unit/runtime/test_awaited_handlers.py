"""`async def` handlers (the agent's): the dispatcher awaits them on the event loop, in the
message's own context, after the declared need was checked (a fake message, no NATS)."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

from contracts.catalogue import EntityType, Operation
from contracts.envelope import Actor
from contracts.permissions import system_only
from services.runtime.context import MessageContext, current
from services.runtime.dispatch import Dispatcher
from services.runtime.observability import Metrics
from services.runtime.proofs import ProofVerifier
from tests.unit.runtime.test_dispatcher_slots import FakeMsg, deliver
from tests.unit.runtime.test_inline_queries import SERVED, Empty
from tests.unit.runtime.test_permission_guard import make_guard


async def ask(d: Dispatcher, *envelopes: bytes) -> list[dict[str, Any]]:
    msgs = [FakeMsg(SERVED, envelope) for envelope in envelopes]
    for msg in msgs:
        await deliver(d, msg)
    await asyncio.wait_for(asyncio.gather(*d._tasks), timeout=5)
    return [json.loads(msg.answers[0]) for msg in msgs]


def envelope(correlation_id: str) -> bytes:
    return json.dumps({"actor": {"system": "t"}, "correlation_id": correlation_id,
                       "data": {}}).encode()


async def test_an_async_handler_is_awaited_on_the_loop_in_its_own_message_s_context() -> None:
    loop_thread, seen = threading.get_ident(), []
    release = asyncio.Event()

    async def handler(ctx: MessageContext, payload: Empty) -> dict[str, Any]:
        await release.wait()  # both messages are in flight at once, each in its own context
        seen.append((threading.get_ident() == loop_thread, current() is ctx))
        return {"correlation": ctx.correlation_id}

    d = Dispatcher("svc", Metrics("svc"))
    d.query(SERVED, Empty, handler, public=True)
    assert d.routes[SERVED].awaited
    asyncio.get_running_loop().call_later(0.05, release.set)
    replies = await ask(d, envelope("r-1"), envelope("r-2"))
    assert [r["data"] for r in replies] == [{"correlation": "r-1"}, {"correlation": "r-2"}]
    assert seen == [(True, True), (True, True)]


async def test_an_async_handler_s_need_is_checked_before_it_runs() -> None:
    ran: list[str] = []

    async def handler(ctx: MessageContext, payload: Empty) -> dict[str, Any]:
        ran.append(ctx.message_id)
        return {}

    guard = make_guard()
    d = Dispatcher("svc", Metrics("svc"), guard=guard)
    d.query(SERVED, Empty, handler,
            system_only(EntityType.SESSION, Operation.READ, "scheduler"))

    class Trusting(ProofVerifier):  # what is under test is the guard, not the proof
        def __init__(self) -> None:
            pass

        def verify(self, proof: str | None) -> Actor:
            return Actor(access_key=proof)

    d.verifier = Trusting()
    plain = json.dumps({"actor": {"access_key": "AKIAUSER"}, "proof": "AKIAUSER",
                        "data": {}}).encode()
    (reply,) = await ask(d, plain)
    assert reply["status"] == "error" and reply["error"]["code"] == "svc.auth.forbidden"
    assert ran == []

"""In-memory queries on the event loop (`serve.in_memory`, BAIKAL_INLINE_QUERIES): the same
reply either way; whatever would block on the loop runs in a worker thread instead (a fake
message, no NATS)."""

from __future__ import annotations

import asyncio
import gc
import json
import threading
from typing import Any

import pytest
from pydantic import BaseModel

from contracts import identity
from services.runtime.context import MessageContext, MustBlock, may_block, on_loop
from services.runtime.dispatch import Dispatcher
from services.runtime.observability import Metrics
from services.runtime.settings import ServiceSettings
from tests.unit.runtime.test_dispatcher_slots import FakeMsg, deliver
from tests.unit.runtime.test_permission_guard import ADA, as_, make_guard

SERVED = "bai.qry.svc.thing.get.v1"
ENVELOPE = json.dumps({"actor": {"system": "t"}, "data": {}}).encode()


class Empty(BaseModel):
    pass


def dispatcher(handler: Any, inline: bool, inline_queries: bool) -> Dispatcher:
    d = Dispatcher("svc", Metrics("svc"))
    d.inline_queries = inline_queries
    # Public (no proof): what is under test is where the handler runs, not the trust.
    d.query(SERVED, Empty, handler, public=True, inline=inline)
    return d


async def ask(d: Dispatcher) -> dict[str, Any]:
    msg = FakeMsg(SERVED, ENVELOPE)
    await deliver(d, msg)
    await asyncio.wait_for(asyncio.gather(*d._tasks), timeout=5)
    return json.loads(msg.answers[0])


@pytest.mark.parametrize(("inline", "inline_queries", "on_the_loop"), [
    (True, True, True), (True, False, False), (False, True, False), (False, False, False)])
async def test_an_in_memory_query_runs_on_the_loop_only_when_marked_and_switched_on(
        inline: bool, inline_queries: bool, on_the_loop: bool) -> None:
    ran_in: list[int] = []

    def handler(ctx: MessageContext, payload: Empty) -> dict[str, Any]:
        ran_in.append(threading.get_ident())
        return {"answer": 42, "subject": ctx.subject, "may_block": may_block()}

    reply = await ask(dispatcher(handler, inline, inline_queries))
    assert reply == {"status": "accepted", "data": {
        "answer": 42, "subject": SERVED, "may_block": not on_the_loop}}
    assert (ran_in == [threading.get_ident()]) is on_the_loop


async def test_what_would_block_on_the_loop_runs_again_in_a_worker_thread() -> None:
    ran_in: list[tuple[int, bool]] = []

    def handler(ctx: MessageContext, payload: Empty) -> dict[str, Any]:
        ran_in.append((threading.get_ident(), may_block()))
        if not may_block():
            raise MustBlock
        return {"answer": 42}

    reply = await ask(dispatcher(handler, inline=True, inline_queries=True))
    assert reply == {"status": "accepted", "data": {"answer": 42}}
    loop_thread = threading.get_ident()
    assert [(ident == loop_thread, blocks) for ident, blocks in ran_in] == [
        (True, False), (False, True)]


def test_the_guard_never_waits_for_a_first_role_on_the_loop() -> None:
    guard = make_guard()
    guard.assignment_wait = 5.0
    needs = identity.COMMAND_NEEDS[identity.Subjects.USER_UPDATE]
    newcomer = "u-new"
    guard.learn_user(newcomer, "new@x.test", "default", "user")
    guard.learn_keypair("AKIANEWNEWNEWNEWNEWN", newcomer)
    with on_loop(), pytest.raises(MustBlock):  # no role yet: a thread would wait for one
        guard._await_first_role(newcomer)
    with on_loop():  # a user who has a role is decided at once, on the loop too
        assert guard._await_first_role("u-bob") is False
        assert guard.require(as_(ADA), needs, identity.UpdateUser(
            email="bob@x.test", full_name="x")) is not None
    # Off the loop it waits as before, until rbac's first assignment arrives:
    threading.Timer(0.05, guard.replica.apply, [  # type: ignore[union-attr]
        {"type": "RoleAssigned", "data": {"role_id": "r-u-bob", "user_id": newcomer}}]).start()
    assert guard._await_first_role(newcomer) is True


def test_the_switches_are_settings_and_on_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    assert (ServiceSettings().inline_queries, ServiceSettings().gc_freeze) == (True, True)
    monkeypatch.setenv("BAIKAL_INLINE_QUERIES", "false")
    monkeypatch.setenv("BAIKAL_GC_FREEZE", "false")
    assert (ServiceSettings().inline_queries, ServiceSettings().gc_freeze) == (False, False)


class FakeConnection:
    async def subscribe(self, subject: str, queue: str, cb: Any) -> str:
        return subject

    async def flush(self, timeout: float) -> None:
        return None


@pytest.mark.parametrize("freeze", [True, False])
async def test_a_started_dispatcher_freezes_what_start_up_loaded_only_when_switched_on(
        freeze: bool) -> None:
    d = dispatcher(lambda ctx, payload: {}, inline=True, inline_queries=True)
    d.freeze_at_start = freeze
    gc.unfreeze()
    try:
        await d.start(FakeConnection())  # type: ignore[arg-type]
        assert (gc.get_freeze_count() > 0) is freeze
    finally:
        gc.unfreeze()  # the other tests' objects stay collectable


def test_the_marked_handlers_are_the_in_memory_reads() -> None:
    from contracts import rbac
    from services.identity.handlers import HANDLERS as IDENTITY
    from services.rbac.handlers import HANDLERS as RBAC

    marked = {s for table in (IDENTITY, RBAC) for s, h in table.items()
              if getattr(h, "in_memory", False)}
    assert marked == {identity.Subjects.USER_GET, rbac.Subjects.CHECK, rbac.Subjects.CHECK_BATCH}

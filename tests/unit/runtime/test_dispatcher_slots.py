"""The dispatcher answers every message on a served subject, gives its slot back whatever
the message is, and reports not-ready when its slots stay held (a fake message, no NATS)."""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from services.runtime.dispatch import Dispatcher
from services.runtime.observability import Metrics

SERVED = "bai.qry.svc.thing.get.v1"


class Empty(BaseModel):
    pass


@dataclass
class FakeMsg:
    subject: str
    data: bytes
    reply: str = "_INBOX_test.1"
    answers: list[bytes] = field(default_factory=list)

    async def respond(self, data: bytes) -> None:
        self.answers.append(data)


def dispatcher(max_in_flight: int = 4, stuck_seconds: float = 30.0,
               handler: Any = None) -> Dispatcher:
    d = Dispatcher("svc", Metrics("svc"), max_in_flight=max_in_flight,
                   stuck_seconds=stuck_seconds)
    # Public (no proof, no permission): what is under test is the slots, not the trust.
    d.query(SERVED, Empty, handler or (lambda ctx, payload: {"answer": 42}), public=True)
    return d


async def deliver(d: Dispatcher, msg: FakeMsg) -> None:
    await asyncio.wait_for(d._on_message(msg), timeout=2)  # type: ignore[arg-type]


def code_of(answer: bytes) -> str:
    return json.loads(answer)["error"]["code"]


async def test_a_message_on_a_subject_without_route_is_answered_and_gives_its_slot_back():
    d = dispatcher(max_in_flight=4)
    strays = [FakeMsg("bai.cmd.svc.user.update.v1", b"{}") for _ in range(70)]
    for msg in strays:
        await deliver(d, msg)
    await asyncio.wait_for(asyncio.gather(*d._tasks), timeout=5)
    assert {code_of(msg.answers[0]) for msg in strays} == {"svc.request.unroutable"}
    valid = FakeMsg(SERVED, json.dumps({"actor": {"system": "t"}, "data": {}}).encode())
    await deliver(d, valid)
    await asyncio.wait_for(asyncio.gather(*d._tasks), timeout=5)
    assert json.loads(valid.answers[0])["data"] == {"answer": 42}
    assert d.health()["in_flight"] == 0


async def test_garbage_on_a_served_subject_is_refused_with_a_stable_code_and_frees_the_slot():
    d = dispatcher(max_in_flight=2)
    bad = [FakeMsg(SERVED, payload) for _ in range(14) for payload in
           (b"\xff\xfe", b"not json", b"[]", b'{"actor": 1}', b"")]
    for msg in bad:
        await deliver(d, msg)
    await asyncio.wait_for(asyncio.gather(*d._tasks), timeout=5)
    assert {code_of(msg.answers[0]) for msg in bad} <= {"svc.request.malformed",
                                                         "svc.request.invalid"}
    assert all(len(msg.answers) == 1 for msg in bad)
    assert d.health() == {**d.health(), "ok": True, "in_flight": 0}


async def test_a_message_without_reply_subject_is_dropped_and_frees_its_slot():
    d = dispatcher(max_in_flight=1)
    for _ in range(5):
        await deliver(d, FakeMsg("bai.evt.other.x.y.v1", b"{}", reply=""))
    await asyncio.wait_for(asyncio.gather(*d._tasks), timeout=5)
    assert d.health()["in_flight"] == 0


async def test_health_says_not_ready_when_every_slot_is_held_beyond_the_bound():
    release = threading.Event()

    def blocking(ctx: Any, payload: Any) -> dict[str, Any]:
        release.wait(5)
        return {}

    d = dispatcher(max_in_flight=2, stuck_seconds=0.2, handler=blocking)
    body = json.dumps({"actor": {"system": "t"}, "data": {}}).encode()
    for _ in range(2):
        await deliver(d, FakeMsg(SERVED, body))
    assert d.health()["ok"] is True  # saturated, but not for long yet
    await asyncio.sleep(0.4)
    stuck = d.health()
    assert stuck["ok"] is False and stuck["in_flight"] == 2
    release.set()
    await asyncio.wait_for(asyncio.gather(*d._tasks), timeout=5)
    assert d.health()["ok"] is True
    await d.stop()

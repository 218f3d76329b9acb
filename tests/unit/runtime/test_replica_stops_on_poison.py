"""A replica that cannot apply an event stops there: it neither advances past it nor folds
what follows, and says so in its health (the host's /health turns not-ready)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from services.runtime.reader import Follower, StopFollowing, StoredMsg
from services.runtime.replica import POSITION_HEADER, StreamReplica


class Names(StreamReplica):
    def __init__(self) -> None:
        super().__init__("identity")
        self.names: list[str] = []

    def apply(self, envelope: dict[str, Any]) -> None:
        self.names.append(envelope["data"]["name"])


def stored(seq: int, data: Any) -> StoredMsg:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return StoredMsg(seq, "bai.evt.identity.user.created.v1", raw, 0,
                     {POSITION_HEADER: str(seq)})


@pytest.mark.parametrize("poison", [{"type": "UserCreated", "data": {}},  # a missing key
                                    {"type": "UserCreated", "data": None},  # a wrong type
                                    b"{not json"])
async def test_a_replica_stops_before_an_event_it_cannot_apply(poison: Any) -> None:
    replica = Names()
    await replica._on_message(stored(1, {"data": {"name": "a"}}))
    with pytest.raises(StopFollowing):
        await replica._on_message(stored(2, poison))
    assert (replica.position, replica.applied) == (1, 1)
    health = replica.health()
    assert health["ok"] is False
    assert health["stuck"]["seq"] == 2
    with pytest.raises(StopFollowing):  # nothing after it is folded either
        await replica._on_message(stored(3, {"data": {"name": "c"}}))
    assert replica.names == ["a"]
    assert not await replica.reached(2, timeout=0.01)


async def test_a_healthy_replica_says_ok_with_its_position() -> None:
    replica = Names()
    await replica._on_message(stored(1, {"data": {"name": "a"}}))
    assert replica.health() == {"ok": True, "producer": "identity", "position": 1,
                                "stuck": None}


class Batches:
    """A stream reader that hands out one fixed batch."""

    def __init__(self, msgs: list[StoredMsg]) -> None:
        self.msgs = msgs
        self.stream = "BAI_EVT_IDENTITY"

    async def fetch(self, after: int) -> list[StoredMsg]:
        return [m for m in self.msgs if m.seq > after]

    async def wait(self) -> None:
        raise AssertionError("the follower should have stopped")


async def test_a_follower_stops_at_the_message_its_apply_refuses() -> None:
    replica = Names()
    follower = Follower.__new__(Follower)
    follower.reader = Batches([stored(1, {"data": {"name": "a"}}),
                               stored(2, {"data": {}}),
                               stored(3, {"data": {"name": "c"}})])  # type: ignore[assignment]
    follower.apply = replica._on_message
    follower.position = 0
    follower._stopping = asyncio.Event()
    await asyncio.wait_for(follower._run(), timeout=1)
    assert follower.position == 1
    assert replica.names == ["a"]

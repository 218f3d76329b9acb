"""A StreamReplica reads its stream over the connection the host hands it (`use_connection`),
never one dug out of nats-py's JetStream context: started without one it says so at once."""

from __future__ import annotations

from typing import Any

import pytest

from services.runtime.replica import StreamReplica


class Names(StreamReplica):
    def __init__(self) -> None:
        super().__init__("identity")

    def apply(self, envelope: dict[str, Any]) -> None:
        return None


async def test_a_replica_started_without_a_connection_refuses_before_reading() -> None:
    class NoJetStream:
        async def stream_info(self, stream: str) -> None:
            raise AssertionError("the stream was asked for without a connection to read it")

    with pytest.raises(RuntimeError, match="use_connection"):
        await Names().start(NoJetStream())  # type: ignore[arg-type]


def test_the_connection_handed_to_a_replica_is_the_one_it_keeps() -> None:
    replica, connection = Names(), object()
    replica.use_connection(connection)  # type: ignore[arg-type]
    assert replica.connection is connection

"""The stream follower's wake-ups (runtime/reader.py, no NATS): a wake-up that arrives before
the stream has stored its message is followed up within the settle pauses, not at the poll;
a poll with nothing new does not spin; a request waiting on a position pokes the reader."""

from __future__ import annotations

import asyncio
import time

from services.runtime.reader import SETTLE_SECONDS, StoredMsg, StreamReader, follow

POLL = 5.0  # far longer than any wait these tests allow


class LateStream(StreamReader):
    """A stream whose messages become readable `lag` seconds after their wake-up."""

    def __init__(self, lag: float) -> None:
        super().__init__(None, "S", "s.>", poll_seconds=POLL)  # type: ignore[arg-type]
        self.lag = lag
        self.stored: list[tuple[float, StoredMsg]] = []
        self.fetches = 0

    def publish(self, seq: int) -> None:
        self.stored.append((time.monotonic() + self.lag, StoredMsg(seq, "s.x", b"{}", 0)))
        self._wake.set()  # the core wake-up, before the stream has the message

    async def fetch(self, after: int) -> list[StoredMsg]:
        self.fetches += 1
        self._wake.clear()
        now = time.monotonic()
        return [m for at, m in self.stored if at <= now and m.seq > after]


async def stopped(task: asyncio.Task[None]) -> None:
    """As `stop_following` ends a follower waiting for its poll: cancelled, awaited."""
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def run(reader: LateStream) -> tuple[list[int], float]:
    seen: list[int] = []
    got = asyncio.Event()

    async def position() -> int:
        return seen[-1] if seen else 0

    async def handle(msg: StoredMsg) -> bool:
        seen.append(msg.seq)
        got.set()
        return True

    task = asyncio.create_task(follow(reader, position, handle, asyncio.Event()))
    await asyncio.sleep(0.01)  # the follower is waiting, caught up
    started = time.monotonic()
    reader.publish(1)
    try:
        await asyncio.wait_for(got.wait(), timeout=2)
        return seen, time.monotonic() - started
    finally:
        await stopped(task)


async def test_a_wake_up_before_the_message_is_stored_is_followed_up_within_the_settle() -> None:
    reader = LateStream(lag=0.015)
    seen, took = await run(reader)
    assert seen == [1]
    assert took < sum(SETTLE_SECONDS) + 0.2  # not the 5 s poll
    assert 2 < reader.fetches <= 2 + len(SETTLE_SECONDS)


async def test_a_poll_that_finds_nothing_waits_again_without_retrying() -> None:
    reader = LateStream(lag=0)
    reader.poll_seconds = 0.05
    stopping = asyncio.Event()

    async def position() -> int:
        return 0

    async def handle(msg: StoredMsg) -> bool:
        return True

    task = asyncio.create_task(follow(reader, position, handle, stopping))
    await asyncio.sleep(0.5)  # about 10 polls, no wake-up
    stopping.set()
    await asyncio.wait_for(task, timeout=1)
    assert 5 <= reader.fetches <= 12


async def test_poking_the_reader_reads_at_once_instead_of_at_the_poll() -> None:
    reader = LateStream(lag=0)
    seen: list[int] = []

    async def position() -> int:
        return seen[-1] if seen else 0

    async def handle(msg: StoredMsg) -> bool:
        seen.append(msg.seq)
        got.set()
        return True

    got = asyncio.Event()
    task = asyncio.create_task(follow(reader, position, handle, asyncio.Event()))
    await asyncio.sleep(0.01)
    reader.stored.append((0.0, StoredMsg(1, "s.x", b"{}", 0)))  # stored, its wake-up lost
    started = time.monotonic()
    reader.poke()
    try:
        await asyncio.wait_for(got.wait(), timeout=1)
        assert seen == [1] and time.monotonic() - started < 0.5
    finally:
        await stopped(task)


async def test_a_request_waiting_for_an_unread_position_pokes_the_replica_s_reader() -> None:
    from types import SimpleNamespace
    from typing import Any

    from services.runtime.replica import StreamReplica

    class Folded(StreamReplica):
        def apply(self, envelope: dict[str, Any]) -> None:
            pass

    replica, reader = Folded("identity"), LateStream(lag=0)
    replica._follower = SimpleNamespace(reader=reader)  # type: ignore[assignment]
    assert await replica.reached(0, timeout=0.01) and not reader._wake.is_set()
    assert not await replica.reached(5, timeout=0.01)  # nothing applies it here
    assert reader._wake.is_set()

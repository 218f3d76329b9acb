"""Reading a stream by sequence, without creating a consumer: batched JetStream direct gets.

A component may not create consumers (one with a deliver subject could push a stream into
someone's command subject), so every reader keeps its own position (a tracking record, a
replica's counter) and asks for the next batch after it. A core subscription on the stream's
subjects wakes it when something is published; it also polls, so a missed wake-up costs at
most `poll_seconds`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import nats.errors
from nats.aio.client import Client
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.client import JetStreamContext
from nats.js.errors import NotFoundError

from contracts import subjects
from services.runtime.errors import CodedError

log = logging.getLogger(__name__)

END_STATUSES = {"204", "404", "408"}  # end of batch, nothing there, request timed out


class StreamNotProvisioned(CodedError):
    code = "bus.stream.not_provisioned"


@dataclass(frozen=True)
class StoredMsg:
    seq: int
    subject: str
    data: bytes
    pending: int  # messages after this one that match the filter
    # The headers it was published with (e.g. the relay's notification id), and Nats-* ones.
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.data)


async def require_stream(js: JetStreamContext, stream: str) -> None:
    """Streams are created by the operator at provisioning, never by a component."""
    try:
        await js.stream_info(stream)
    except NotFoundError:
        raise StreamNotProvisioned(
            f"stream {stream} does not exist: the operator creates streams at provisioning "
            "(`baikal up` does it; with compose run `baikal provision`)", stream=stream
        ) from None
    except NatsTimeoutError:
        # A denied request gets no answer: the likeliest cause is a missing READS entry.
        raise StreamNotProvisioned(
            f"no answer about stream {stream}: JetStream is down, or this bus user may not "
            "read it (contracts/principals.py, READS)", code="bus.stream.unreadable",
            stream=stream) from None


class StreamReader:
    def __init__(self, nc: Client, stream: str, subject_filter: str, batch: int = 256,
                 timeout: float = 5.0, poll_seconds: float = 1.0) -> None:
        self.nc = nc
        self.stream = stream
        self.subject_filter = subject_filter
        self.batch = batch
        self.timeout = timeout
        self.poll_seconds = poll_seconds
        self._wake = asyncio.Event()
        self._sub: Any = None

    async def start(self) -> StreamReader:
        async def wake(_msg: Any) -> None:
            self._wake.set()

        self._sub = await self.nc.subscribe(self.subject_filter, cb=wake)
        return self

    async def stop(self) -> None:
        if self._sub is not None:
            try:
                await self._sub.unsubscribe()
            except nats.errors.Error:
                pass  # the connection is closing anyway
            self._sub = None

    async def wait(self) -> bool:
        """Until something may have been published (True), or `poll_seconds` passed (False)."""
        try:
            await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)
            woken = True
        except TimeoutError:
            woken = False
        self._wake.clear()
        return woken

    def poke(self) -> None:
        """Read again now, as if woken: someone knows of a message not read yet (a request
        that names a position this replica has not applied)."""
        self._wake.set()

    async def fetch(self, after: int) -> list[StoredMsg]:
        """Up to `batch` messages after sequence `after`, in order (empty: none yet)."""
        self._wake.clear()  # what is published from now on wakes the next wait()
        inbox = self.nc.new_inbox()
        got: list[StoredMsg] = []
        done = asyncio.Event()

        async def on_reply(msg: Any) -> None:
            headers = msg.headers or {}
            if headers.get("Status") in END_STATUSES:
                done.set()
                return
            got.append(StoredMsg(int(headers["Nats-Sequence"]), headers["Nats-Subject"],
                                 msg.data, int(headers.get("Nats-Num-Pending", 0)),
                                 dict(headers)))
            if len(got) >= self.batch:
                done.set()

        sub = await self.nc.subscribe(inbox, cb=on_reply)
        try:
            request = {"seq": after + 1, "batch": self.batch, "next_by_subj": self.subject_filter}
            await self.nc.publish(subjects.js_api("DIRECT", "GET", self.stream),
                                  json.dumps(request).encode(), reply=inbox)
            await asyncio.wait_for(done.wait(), timeout=self.timeout)
        finally:
            await sub.unsubscribe()
        return got


Apply = Callable[[StoredMsg], Awaitable[None]]


class StopFollowing(Exception):
    """Raised by an `apply` that must not go past this message: the follower stops there."""


class Follower:
    """Calls `apply` for every message of a stream after `position`, in order, until
    stopped: what an ordered consumer did, without a consumer."""

    def __init__(self, nc: Client, stream: str, subject_filter: str, apply: Apply,
                 position: int = 0, poll_seconds: float = 1.0) -> None:
        self.reader = StreamReader(nc, stream, subject_filter, poll_seconds=poll_seconds)
        self.apply = apply
        self.position = position
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def start(self) -> Follower:
        await self.reader.start()
        self._task = asyncio.create_task(self._run(), name=f"follow-{self.reader.stream}")
        return self

    async def stop(self) -> None:
        await stop_following(self.reader, self._stopping, self._task)

    async def _run(self) -> None:
        async def position() -> int:
            return self.position

        async def handle(msg: StoredMsg) -> bool:
            try:
                await self.apply(msg)
            except StopFollowing:
                return False  # the position stays before the message (the caller said why)
            self.position = msg.seq
            return True

        await follow(self.reader, position, handle, self._stopping)


async def follow(reader: StreamReader, position: Callable[[], Awaitable[int]],
                 handle: Callable[[StoredMsg], Awaitable[bool]], stopping: asyncio.Event
                 ) -> None:
    """The loop of every reader of a stream (`Follower`, `consumer.TrackedConsumer`), which
    differ only in where their position lives: fetch the messages after `position()`, hand
    each to `handle` in order (False: stop there), back off while the stream cannot be read,
    wait for a wake-up once caught up. Runs until `stopping` is set or `handle` stops it."""
    delay = 0.1
    settle: Iterator[float] = iter(())
    while not stopping.is_set():
        after = await position()
        try:
            batch = await reader.fetch(after)
        except (TimeoutError, nats.errors.Error, ConnectionError) as exc:
            log.warning("reading %s after %s failed (%r); retrying", reader.stream, after, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)
            continue
        delay = 0.1
        for msg in batch:
            if not await handle(msg):
                return
        if batch and batch[-1].pending > 0:
            continue  # more than one batch behind
        pause = None if batch else next(settle, None)
        if pause is not None:  # woken, yet nothing there: the stream may still be storing it
            await asyncio.sleep(pause)
            continue
        settle = iter(SETTLE_SECONDS) if await reader.wait() else iter(())


# A wake-up can arrive before the stream has stored the message that caused it: the server
# delivers a publish to core subscribers and to the stream's writer concurrently. A fetch after
# a wake-up that finds nothing is tried again after each of these pauses (88 ms in all) before
# the reader waits for the next wake-up; without them it slept until the poll (1 s), the
# convergence tail that bench.rbac measured at ~1,005 ms.
SETTLE_SECONDS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05)


async def stop_following(reader: StreamReader, stopping: asyncio.Event,
                         task: asyncio.Task[None] | None) -> None:
    """How a reader of a stream (`Follower`, `consumer.TrackedConsumer`) stops: its `follow`
    loop told (`stopping`), its task cancelled and awaited until it has ended, then the
    reader's wake-up subscription ended."""
    stopping.set()
    if task is not None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    await reader.stop()

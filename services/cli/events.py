"""`baikal events tail`: prints events read by sequence from every stream (no consumer)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable

from nats.js.client import JetStreamContext
from nats.js.errors import NotFoundError

from contracts.principals import STREAMS
from services.cli.output import make_console
from services.cli.stack import StackLayout
from services.runtime.bus import connect
from services.runtime.reader import Follower, StoredMsg

console = make_console()


async def tail_events(layout: StackLayout, subject: str, from_start: bool, limit: int,
                      idle_exit: float) -> None:
    config = json.loads(layout.config.read_text())
    secrets_ = layout.load_secrets()
    nc = await connect(f"nats://127.0.0.1:{config['nats_port']}", user="admin",
                       password=secrets_["nats"]["admin"], name="baikal-events-tail")
    js = nc.jetstream(timeout=5)
    queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=10_000)
    followers = []
    # The operator may not create consumers: each stream is read by sequence with direct
    # gets (services/runtime/reader.py), from its start or from its last message.
    for stream in await existing_streams(js):
        start = 0 if from_start else (await js.stream_info(stream)).state.last_seq
        followers.append(await Follower(nc, stream, subject, enqueue(queue),
                                        position=start).start())
    printed = 0
    last = time.monotonic()
    try:
        while limit == 0 or printed < limit:
            try:
                data = await asyncio.wait_for(queue.get(), timeout=0.5)
            except TimeoutError:
                if idle_exit and time.monotonic() - last > idle_exit:
                    break
                continue
            last = time.monotonic()
            print_event(json.loads(data))
            printed += 1
    finally:
        for follower in followers:
            await follower.stop()
        await nc.close()


def enqueue(queue: asyncio.Queue[bytes]) -> Callable[[StoredMsg], Awaitable[None]]:
    async def on_message(msg: StoredMsg) -> None:
        await queue.put(msg.data)

    return on_message


async def existing_streams(js: JetStreamContext) -> list[str]:
    names = []
    for spec in STREAMS:  # the declared ones: the operator may look at no other
        try:
            await js.stream_info(spec.name)
        except NotFoundError:  # not provisioned (yet)
            continue
        names.append(spec.name)
    return names


def print_event(event: dict[str, object]) -> None:
    data = json.dumps(event.get("data"), separators=(",", ":"))
    console.print(f"[dim]{event.get('occurred_at')}[/dim] [bold]{event.get('source')}"
                  f"[/bold] {event.get('type')} [cyan]{event.get('aggregate_id')}[/cyan] {data}",
                  highlight=False, soft_wrap=True)

"""Replay cache for signed requests: a signature is accepted once within the skew window.

Every gateway keeps the signatures it accepted in a bounded table, and publishes each one (a
digest) into the NATS KV bucket `BAIKAL_REPLAY` (TTL twice the clock skew, created at
provisioning). Every gateway also listens on the bucket's subjects and adds what the others
accepted to its own table, so a request replayed to another instance is refused too.

- No round trip per request: digests are published in batches every `BATCH_SECONDS` (10 ms),
  one KV entry per batch, never awaited (measured: awaiting a KV `create` per request cost
  ~100 µs of gateway CPU, one publish and one echo per request ~30 µs, a third of a read). The
  price is a race: a replay that reaches another instance within the few milliseconds before
  the original's batch does can pass there once. Replays of a captured request (a second or
  more later) are always refused.
- The gateway's connection does not hear its own publishes (`no_echo`): only the others'
  batches arrive. (A connection shared with a test may echo: such a batch is recognised by its
  key and skipped.)
- Bounded memory: when the table is full the oldest entries go and the horizon moves up to
  their date; a request dated at or before the horizon is refused, since the table can no
  longer say whether it was seen. A gateway starts with its horizon at its start time (it has
  not heard what others accepted before), so a client whose clock runs behind is refused for
  that long after a restart.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import time
from collections import OrderedDict
from datetime import datetime
from typing import Any

from nats.aio.client import Client
from nats.js.errors import BucketNotFoundError, NotFoundError

from contracts.subjects import REPLAY_BUCKET, kv_keys
from services.gateway.errors import gateway_error

log = logging.getLogger(__name__)


BATCH_SECONDS = 0.01
BATCH_MAX = 512


class ReplayCache:
    def __init__(self, max_entries: int = 200_000) -> None:
        self.max_entries = max_entries
        self._seen: OrderedDict[str, float] = OrderedDict()  # digest -> request date
        self.horizon = time.time()  # requests dated at or before this are refused
        self.nc: Client | None = None
        self.prefix = ""
        self._sub: Any = None
        self._batch: list[str] = []
        self._flushing: asyncio.TimerHandle | None = None
        self._mine: set[str] = set()  # batch keys this instance published (no echo)
        self._publishing: set[asyncio.Future[None]] = set()

    async def attach(self, nc: Client, bucket: str = REPLAY_BUCKET,
                     timeout: float = 5.0) -> bool:
        """Share the table through the KV bucket, if it was provisioned."""
        try:
            await nc.jetstream(timeout=timeout).key_value(bucket)
        except (BucketNotFoundError, NotFoundError):
            log.warning("KV bucket %s is missing: the replay cache is this gateway's only "
                        "(provision it with `baikal up`)", bucket)
            return False
        self._sub = await nc.subscribe(kv_keys(bucket), cb=self._heard)
        await nc.flush(timeout=timeout)
        self.nc, self.prefix = nc, kv_keys(bucket)[:-1]
        self.horizon = time.time()  # from now on this instance hears every other one
        return True

    async def _heard(self, msg: Any) -> None:
        key = msg.subject[len(self.prefix):]
        if key in self._mine:
            self._mine.discard(key)
            return
        now = time.time()
        for digest in msg.data.decode("ascii", "replace").split(","):
            if digest and digest not in self._seen:
                self._remember(digest, now)

    def _remember(self, digest: str, when: float) -> None:
        self._seen[digest] = when
        while len(self._seen) > self.max_entries:
            _, oldest = self._seen.popitem(last=False)
            self.horizon = max(self.horizon, oldest)

    def check(self, signature: str, date: datetime) -> None:
        """Refuse (401 `auth.replayed`) a signature already used; remember it otherwise.
        Synchronous, on every signed request: the batch is published by a task."""
        digest = hashlib.sha256(signature.encode("latin-1")).hexdigest()[:48]
        when = date.timestamp()
        if when <= self.horizon or digest in self._seen:
            raise gateway_error("auth.replayed", "this signed request was already received "
                                "(or is older than what this gateway can tell); sign each "
                                "request anew")
        self._remember(digest, when)
        if self.nc is not None:
            self._batch.append(digest)
            if len(self._batch) >= BATCH_MAX:
                self._flush_later()
            elif self._flushing is None:
                self._flushing = asyncio.get_running_loop().call_later(
                    BATCH_SECONDS, self._flush_later)

    def _flush_later(self) -> None:
        """Hand the batch to a task that publishes it (when the timer fires, or when full)."""
        if self._flushing is not None:
            self._flushing.cancel()
        self._flushing = None
        batch, self._batch = self._batch, []
        if batch:
            task = asyncio.ensure_future(self._publish(batch))
            self._publishing.add(task)  # referenced until done
            task.add_done_callback(self._publishing.discard)

    async def _publish(self, batch: list[str]) -> None:
        if self.nc is not None and not self.nc.is_closed:
            key = secrets.token_hex(12)
            if len(self._mine) > 10_000:
                self._mine.clear()
            self._mine.add(key)
            await self.nc.publish(self.prefix + key, ",".join(batch).encode())

"""Replay cache for signed requests: a signature is accepted once within the skew window.

Two layers: a bounded in-process table (every gateway), then, where the bucket exists, a NATS
KV bucket with a TTL of twice the clock skew (`BAIKAL_REPLAY`, created at provisioning) that
every gateway instance writes with `create` (which fails when the key exists), so a request
replayed to another instance is refused too. When the local table is full its oldest entries
are dropped and the horizon moves up: a request dated before the horizon is refused as well,
since the table can no longer tell whether it was seen (memory stays bounded, no replay passes).
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from datetime import datetime

from nats.js.errors import BucketNotFoundError, KeyWrongLastSequenceError, NotFoundError
from nats.js.kv import KeyValue

from contracts.subjects import REPLAY_BUCKET
from services.gateway.errors import gateway_error

log = logging.getLogger(__name__)
BUCKET = REPLAY_BUCKET


class ReplayCache:
    def __init__(self, max_entries: int = 200_000) -> None:
        self.max_entries = max_entries
        self._seen: OrderedDict[str, float] = OrderedDict()  # signature -> request date
        self.horizon = 0.0  # requests dated at or before this are refused (table overflowed)
        self.kv: KeyValue | None = None

    async def attach(self, js: object, bucket: str = BUCKET) -> bool:
        """Share the cache through the KV bucket, if it was provisioned."""
        try:
            self.kv = await js.key_value(bucket)  # type: ignore[attr-defined]
        except (BucketNotFoundError, NotFoundError):
            log.warning("KV bucket %s is missing: the replay cache is this gateway's only "
                        "(provision it with `baikal up`)", bucket)
            return False
        return True

    async def check(self, signature: str, date: datetime) -> None:
        """Refuse (401 `auth.replayed`) a signature already used; remember it otherwise."""
        when = date.timestamp()
        if when <= self.horizon or signature in self._seen:
            raise _replayed()
        self._seen[signature] = when
        while len(self._seen) > self.max_entries:
            _, oldest = self._seen.popitem(last=False)
            self.horizon = max(self.horizon, oldest)
        if self.kv is not None:
            key = hashlib.sha256(signature.encode("latin-1")).hexdigest()[:48]
            try:
                await self.kv.create(key, b"")
            except KeyWrongLastSequenceError:
                raise _replayed() from None


def _replayed() -> Exception:
    return gateway_error("auth.replayed", "this signed request was already received; sign "
                         "each request anew")

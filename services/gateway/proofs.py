"""The gateway's side of proofs and causal positions.

- `TokenCache`: after a request's signature (or login token) checks out, the caller's user
  token from identity (`auth.token`, which only the gateway's system proof may ask), kept per
  access key until shortly before it expires; concurrent misses share one query.
- `Positions`: the highest position of every producer seen in any command reply, passed as
  `after` on every later bus request (and merged with a client's `X-Baikal-After`), and
  returned as `X-Baikal-Positions` on every response.
"""

from __future__ import annotations

import asyncio
import contextvars
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from services.gateway.errors import ApiError, gateway_error

REFRESH_BEFORE_SECONDS = 30.0
MAX_PRODUCERS = 16
_ITEM = re.compile(r"^([a-z][a-z0-9_-]{0,31})[=:](\d{1,18})$")
# What the client said it has seen (its X-Baikal-After), for this request only.
CLIENT_AFTER: contextvars.ContextVar[dict[str, int] | None] = contextvars.ContextVar(
    "client_after", default=None)


def parse_positions(text: str) -> dict[str, int]:
    """`identity=12,rbac=7` → {"identity": 12, "rbac": 7}; unreadable items are ignored."""
    found: dict[str, int] = {}
    for item in text.split(",")[:MAX_PRODUCERS]:
        match = _ITEM.match(item.strip())
        if match:
            found[match[1]] = max(found.get(match[1], 0), int(match[2]))
    return found


def format_positions(positions: dict[str, int]) -> str:
    return ",".join(f"{name}={value}" for name, value in sorted(positions.items()))


class Positions:
    def __init__(self) -> None:
        self.seen: dict[str, int] = {}
        self.header = b""

    def merge(self, positions: Any) -> None:
        if not isinstance(positions, dict):
            return
        moved = False
        for name, value in positions.items():
            if isinstance(value, int) and value > self.seen.get(name, 0) \
                    and (name in self.seen or len(self.seen) < MAX_PRODUCERS):
                self.seen[name] = value
                moved = True
        if moved:
            self.header = format_positions(self.seen).encode()

    def after(self) -> dict[str, int]:
        client = CLIENT_AFTER.get()
        if not client:
            return self.seen
        merged = dict(self.seen)
        for name, value in client.items():
            if value > merged.get(name, 0) and len(merged) < MAX_PRODUCERS:
                merged[name] = value
        return merged


Ask = Callable[[str], Awaitable[dict[str, Any]]]


class TokenCache:
    def __init__(self, ask: Ask, refresh_before: float = REFRESH_BEFORE_SECONDS) -> None:
        self.ask = ask
        self.refresh_before = refresh_before
        self._tokens: dict[str, tuple[float, str]] = {}  # access key -> (refresh at, token)
        self._pending: dict[str, asyncio.Future[str]] = {}

    def cached(self, access_key: str | None) -> str | None:
        found = self._tokens.get(access_key or "")
        return found[1] if found is not None else None

    def fresh(self, access_key: str) -> bool:
        """Whether a token for this key is cached and not yet due for refresh."""
        found = self._tokens.get(access_key)
        return found is not None and found[0] > time.time()

    async def ensure(self, access_key: str) -> str:
        found = self._tokens.get(access_key)
        if found is not None and found[0] > time.time():
            return found[1]
        pending = self._pending.get(access_key)
        if pending is not None:
            return await pending
        pending = self._pending[access_key] = asyncio.get_running_loop().create_future()
        try:
            reply = await self.ask(access_key)
            token, expires = str(reply["token"]), float(reply["expires_at"])
        except asyncio.CancelledError:
            pending.cancel()
            raise
        except (ApiError, KeyError, TypeError, ValueError) as exc:  # to the waiters too
            failed = exc if isinstance(exc, ApiError) else gateway_error(
                "internal", "identity's token reply is unreadable")
            pending.set_exception(failed)
            pending.exception()  # retrieved: the waiters, if any, raise it too
            raise failed from None
        finally:
            self._pending.pop(access_key, None)
        if len(self._tokens) >= 100_000:
            self._tokens.clear()
        self._tokens[access_key] = (expires - self.refresh_before, token)
        pending.set_result(token)
        return token

    def forget(self, access_key: str) -> None:
        self._tokens.pop(access_key, None)

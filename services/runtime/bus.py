"""NATS connection with credentials, timeouts and bounded reconnects."""

from __future__ import annotations

import logging
from typing import Any

import nats
from nats.aio.client import Client

from contracts import subjects

log = logging.getLogger(__name__)


def inbox_prefix(user: str) -> str:
    return subjects.inbox(user)


async def connect(
    url: str,
    *,
    user: str | None = None,
    password: str | None = None,
    name: str = "baikal",
    connect_timeout: float = 5.0,
    max_reconnect_attempts: int = 120,
    no_echo: bool = False,
) -> Client:
    """Connect or raise; reconnects are bounded (about two minutes of retries). `no_echo`: the
    server does not deliver this connection's own publishes back to its subscriptions."""

    async def on_error(exc: Exception) -> None:
        log.warning("nats error (%s): %s", name, exc)

    holder: dict[str, Client] = {}

    async def on_disconnected() -> None:
        nc = holder.get("nc")
        if nc is not None and (nc.is_closed or nc.is_draining):
            log.debug("nats connection closed (%s)", name)  # asked for: not news
        else:
            log.warning("nats disconnected (%s)", name)

    async def on_reconnected() -> None:
        log.info("nats reconnected (%s)", name)

    options: dict[str, Any] = {
        "servers": [url],
        "name": name,
        "connect_timeout": connect_timeout,
        "allow_reconnect": True,
        "max_reconnect_attempts": max_reconnect_attempts,
        "reconnect_time_wait": 1.0,
        "error_cb": on_error,
        "disconnected_cb": on_disconnected,
        "reconnected_cb": on_reconnected,
        "no_echo": no_echo,
    }
    if user is not None:
        options["user"] = user
        options["password"] = password or ""
        # Replies come to an inbox only this user may subscribe to, so no other bus user
        # can read them (they may carry secrets).
        options["inbox_prefix"] = inbox_prefix(user)
    holder["nc"] = await nats.connect(**options)
    return holder["nc"]

"""Actor directory: resolves a command's actor (access key) to a user, role and status.

Built in memory from the identity stream by an ordered consumer from the start, for services
other than identity, so each service authorizes commands itself without a round trip. It reads
events by type name and plain fields, and knows nothing else of their producer.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from dataclasses import dataclass
from typing import Any

from nats.aio.msg import Msg
from nats.js.api import DeliverPolicy
from nats.js.client import JetStreamContext

from contracts import subjects
from contracts.envelope import Actor
from services.runtime.errors import Forbidden, Unauthenticated

log = logging.getLogger(__name__)


@dataclass
class Principal:
    user_id: str
    email: str
    role: str
    domain: str
    active: bool


class ActorDirectory:
    def __init__(self, producer: str = "identity") -> None:
        self.producer = producer
        self.users: dict[str, Principal] = {}
        self.keypairs: dict[str, tuple[str, bool]] = {}  # access key -> (user id, active)
        self.position = 0
        self._lock = threading.Lock()

    async def start(self, js: JetStreamContext) -> None:
        self._stopping = asyncio.Event()
        self._sub: Any = None
        self._task = asyncio.create_task(self._subscribe(js), name="actor-directory")

    async def _subscribe(self, js: JetStreamContext) -> None:
        from services.runtime.relay import wait_for_stream

        if await wait_for_stream(js, self.producer, self._stopping):
            self._sub = await js.subscribe(
                subjects.events_of(self.producer), stream=subjects.stream(self.producer),
                ordered_consumer=True, deliver_policy=DeliverPolicy.ALL, cb=self._on_message)

    async def stop(self) -> None:
        self._stopping.set()
        await asyncio.gather(self._task, return_exceptions=True)
        if self._sub is not None:
            await self._sub.unsubscribe()

    async def _on_message(self, msg: Msg) -> None:
        try:
            self.apply(json.loads(msg.data))
        except (ValueError, KeyError, TypeError) as exc:
            log.error("actor directory cannot read seq %s: %s", msg.metadata.sequence.stream,
                      exc)
        self.position = msg.metadata.sequence.stream

    def apply(self, envelope: dict[str, Any]) -> None:
        kind, data = envelope["type"], envelope["data"]
        with self._lock:
            if kind == "UserCreated":
                self.users[data["user_id"]] = Principal(
                    data["user_id"], data["email"], data["role"], data["domain"],
                    data["status"] == "active")
            elif kind == "UserUpdated" and data["user_id"] in self.users:
                changes = data["changes"]
                user = self.users[data["user_id"]]
                user.role = changes.get("role", user.role)
                user.domain = changes.get("domain", user.domain)
            elif kind in ("UserDeactivated", "UserActivated") and data["user_id"] in self.users:
                self.users[data["user_id"]].active = kind == "UserActivated"
            elif kind == "KeypairIssued":
                self.keypairs[data["access_key"]] = (data["user_id"], data["is_active"])
            elif kind in ("KeypairActivated", "KeypairDeactivated"):
                self.keypairs[data["access_key"]] = (data["user_id"],
                                                     kind == "KeypairActivated")

    def resolve(self, actor: Actor) -> Principal:
        with self._lock:
            found = self.keypairs.get(actor.access_key or "")
            user = self.users.get(found[0]) if found else None
            if found is None or user is None or not found[1] or not user.active:
                raise Unauthenticated("the actor's access key is unknown or inactive")
            return user

    def require_role(self, actor: Actor, *roles: str) -> Principal:
        principal = self.resolve(actor)
        if principal.role not in roles:
            raise Forbidden(f"this needs the role {' or '.join(roles)}", required=list(roles))
        return principal

    async def wait_until(self, position: int, timeout: float = 5.0) -> bool:
        """For tests and startup: wait until the directory has read up to `position`."""
        for _ in range(int(timeout / 0.05)):
            if self.position >= position:
                return True
            await asyncio.sleep(0.05)
        return False

"""Actor directory: resolves a command's actor (access key) to a user, role and status.

A replica of the identity stream, so each service authorizes commands itself without a
round trip. It reads events by type name and plain fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from contracts.envelope import Actor
from services.runtime.errors import Forbidden, Unauthenticated
from services.runtime.replica import StreamReplica


@dataclass
class Principal:
    user_id: str
    email: str
    role: str
    domain: str
    active: bool


@dataclass
class KeypairInfo:
    user_id: str
    active: bool
    resource_policy: str


class ActorDirectory(StreamReplica):
    def __init__(self, producer: str = "identity") -> None:
        super().__init__(producer)
        self.users: dict[str, Principal] = {}
        self.keypairs: dict[str, KeypairInfo] = {}

    def apply(self, envelope: dict[str, Any]) -> None:
        kind, data = envelope["type"], envelope["data"]
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
            self.keypairs[data["access_key"]] = KeypairInfo(
                data["user_id"], data["is_active"], data["resource_policy"])
        elif kind in ("KeypairActivated", "KeypairDeactivated"):
            if data["access_key"] in self.keypairs:
                self.keypairs[data["access_key"]].active = kind == "KeypairActivated"
        elif kind == "KeypairPolicyAssigned" and data["access_key"] in self.keypairs:
            self.keypairs[data["access_key"]].resource_policy = data["resource_policy"]

    def keypair(self, access_key: str) -> KeypairInfo | None:
        with self.lock:
            return self.keypairs.get(access_key)

    def resolve(self, actor: Actor) -> Principal:
        with self.lock:
            found = self.keypairs.get(actor.access_key or "")
            user = self.users.get(found.user_id) if found else None
            if found is None or user is None or not found.active or not user.active:
                raise Unauthenticated("the actor's access key is unknown or inactive")
            return user

    def require_role(self, actor: Actor, *roles: str) -> Principal:
        principal = self.resolve(actor)
        if principal.role not in roles:
            raise Forbidden(f"this needs the role {' or '.join(roles)}", required=list(roles))
        return principal

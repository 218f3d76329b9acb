"""Actor directory: resolves a command's actor (access key) to a user, role and status.

A replica of the identity stream, so each service authorizes commands itself without a
round trip. It reads events by type name and plain fields (the runtime imports no service's
contract; the fields are contracts/identity.py's: UserCreated, UserRoleChanged, the retired
UserUpdated of older streams, ...; tests/contracts/test_replicas_read_contract_fields.py holds
it to them with every golden sample), and teaches the service's
permission guard the scope hierarchy (domains, projects, memberships, keypair owners).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from contracts.envelope import Actor
from services.runtime.errors import Forbidden, Unauthenticated
from services.runtime.permissions import PermissionGuard
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
    decides_permissions = True

    def __init__(self, producer: str = "identity") -> None:
        super().__init__(producer)
        self.users: dict[str, Principal] = {}
        self.keypairs: dict[str, KeypairInfo] = {}
        self.guard: PermissionGuard | None = None

    def guarding(self, guard: PermissionGuard) -> PermissionGuard:
        """Feed `guard` the hierarchy from now on (attach before the replica starts)."""
        self.guard = guard
        return guard

    def apply(self, envelope: dict[str, Any]) -> None:
        self._apply_actor(envelope)
        if self.guard is not None:
            _teach(self.guard, envelope["type"], envelope["data"])

    def _apply_actor(self, envelope: dict[str, Any]) -> None:
        kind, data = envelope["type"], envelope["data"]
        if kind == "UserCreated":
            self.users[data["user_id"]] = Principal(
                data["user_id"], data["email"], data["role"], data["domain"],
                data["status"] == "active")
        elif kind == "UserRoleChanged" and data["user_id"] in self.users:
            self.users[data["user_id"]].role = data["role"]
        elif kind == "UserUpdated" and data["user_id"] in self.users:  # retired (older streams)
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
            if actor.user_id is not None and actor.user_id != found.user_id:
                raise Unauthenticated("the actor's access key belongs to another user")
            return user

    def inactive(self, actor: Actor) -> bool:
        """A known keypair that is deactivated, or whose user is (the dispatcher's check)."""
        with self.lock:
            found = self.keypairs.get(actor.access_key or "")
            user = self.users.get(found.user_id) if found else None
            return found is not None and (not found.active or (user is not None
                                                                and not user.active))

    def require_role(self, actor: Actor, *roles: str) -> Principal:
        principal = self.resolve(actor)
        if principal.role not in roles:
            raise Forbidden(f"this needs the role {' or '.join(roles)}", required=list(roles))
        return principal


def _teach(guard: PermissionGuard, kind: str, data: dict[str, Any]) -> None:
    if kind == "DomainCreated":
        guard.learn_domain(data["domain_id"], data["name"])
    elif kind == "ProjectCreated":
        guard.learn_project(data["project_id"], data["domain"])
    elif kind == "UserCreated":
        guard.learn_user(data["user_id"], data["email"], data["domain"], data["role"])
    elif kind == "UserRoleChanged":
        guard.learn_role(data["user_id"], data["role"])
    elif kind == "UserUpdated" and "role" in data["changes"]:  # retired (older streams)
        guard.learn_role(data["user_id"], data["changes"]["role"])
    elif kind in ("MemberAdded", "MemberRemoved"):
        guard.learn_membership(data["user_id"], data["project_id"], kind == "MemberAdded")
    elif kind == "KeypairIssued":
        guard.learn_keypair(data["access_key"], data["user_id"])

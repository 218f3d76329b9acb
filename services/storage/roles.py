"""Custom roles that let users create group folders in a project (the seed's "allow a user to
create storage folders in a specific project"): a replica of rbac's stream keeping only
active custom roles' `vfolder:create` grants at project and domain scopes (a domain's grant
covers every project in it) and who holds them.

The projects' system member roles grant `vfolder:create` too (a member's own folders there),
so only custom roles count: the reference lets only admins create group folders otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from services.runtime.replica import StreamReplica

SCOPES = ("project", "domain")


@dataclass
class _Role:
    custom: bool
    active: bool
    # permission id -> (scope type, scope id): a project, or a domain covering its projects
    scopes: dict[str, tuple[str, str]] = field(default_factory=dict)
    users: set[str] = field(default_factory=set)


class GroupFolderGrants(StreamReplica):
    # Requests naming rbac positions wait for it: a grant or revocation is seen at once.
    decides_permissions = True

    def __init__(self) -> None:
        super().__init__("rbac")
        self.roles: dict[str, _Role] = {}

    def apply(self, envelope: dict[str, Any]) -> None:
        kind, data = envelope["type"], envelope["data"]
        rid = data.get("role_id", "")
        if kind == "RoleCreated":
            self.roles[rid] = _Role(custom=data["source"] == "custom",
                                    active=data["status"] == "active")
            return
        role = self.roles.get(rid)
        if role is None:
            return
        if kind in ("RoleActivated", "RoleDeactivated"):
            role.active = kind == "RoleActivated"
        elif kind == "RolePurged":
            self.roles.pop(rid, None)
        elif kind == "PermissionAdded" and (data["entity_type"], data["operation"]) == (
                "vfolder", "create") and data["scope_type"] in SCOPES:
            role.scopes[data["permission_id"]] = (data["scope_type"], data["scope_id"])
        elif kind == "PermissionRemoved":
            role.scopes.pop(data["permission_id"], None)
        elif kind in ("RoleAssigned", "RoleUnassigned"):
            (role.users.add if kind == "RoleAssigned" else role.users.discard)(data["user_id"])

    def may_create(self, user_id: str, project_id: str, domain_id: str | None) -> bool:
        """A custom role of the user grants `vfolder:create` at the project or its domain."""
        wanted = {("project", project_id)} | ({("domain", domain_id)} if domain_id else set())
        with self.lock:
            return any(r.custom and r.active and user_id in r.users
                       and not wanted.isdisjoint(r.scopes.values())
                       for r in self.roles.values())

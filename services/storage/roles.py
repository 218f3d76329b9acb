"""Custom roles that let users create group folders in a project (the seed's "allow a user to
create storage folders in a specific project"): a replica of rbac's stream keeping only
active custom roles' `vfolder:create` grants at project scopes and who holds them.

The projects' system member roles grant `vfolder:create` too (a member's own folders there),
so only custom roles count: the reference lets only admins create group folders otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from services.runtime.replica import StreamReplica


@dataclass
class _Role:
    custom: bool
    active: bool
    projects: dict[str, str] = field(default_factory=dict)  # permission id -> project id
    users: set[str] = field(default_factory=set)


class GroupFolderGrants(StreamReplica):
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
        elif kind == "PermissionAdded" and (data["entity_type"], data["operation"],
                                            data["scope_type"]) == ("vfolder", "create",
                                                                    "project"):
            role.projects[data["permission_id"]] = data["scope_id"]
        elif kind == "PermissionRemoved":
            role.projects.pop(data["permission_id"], None)
        elif kind in ("RoleAssigned", "RoleUnassigned"):
            (role.users.add if kind == "RoleAssigned" else role.users.discard)(data["user_id"])

    def may_create(self, user_id: str, project_id: str) -> bool:
        with self.lock:
            return any(r.custom and r.active and user_id in r.users
                       and project_id in r.projects.values() for r in self.roles.values())

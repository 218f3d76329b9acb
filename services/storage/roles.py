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

from contracts import rbac
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
        self.fold(rbac.typed_event_of(envelope["type"], envelope["data"]))

    def fold(self, e: rbac.RbacEvent | None) -> None:
        if isinstance(e, rbac.RoleCreated):
            self.roles[e.role_id] = _Role(custom=e.source == rbac.RoleSource.CUSTOM,
                                          active=e.status == rbac.RoleStatus.ACTIVE)
            return
        role = None if e is None else self.roles.get(e.role_id)
        if role is None:
            return
        match e:
            case rbac.RoleActivated() | rbac.RoleDeactivated():
                role.active = isinstance(e, rbac.RoleActivated)
            case rbac.RolePurged():
                self.roles.pop(e.role_id, None)
            case rbac.PermissionAdded() if (e.entity_type, e.operation) == (
                    "vfolder", "create") and e.scope_type in SCOPES:
                role.scopes[e.permission_id] = (e.scope_type, e.scope_id)
            case rbac.PermissionRemoved():
                role.scopes.pop(e.permission_id, None)
            case rbac.RoleAssigned():
                role.users.add(e.user_id)
            case rbac.RoleUnassigned():
                role.users.discard(e.user_id)

    def may_create(self, user_id: str, project_id: str, domain_id: str | None) -> bool:
        """A custom role of the user grants `vfolder:create` at the project or its domain."""
        wanted = {("project", project_id)} | ({("domain", domain_id)} if domain_id else set())
        with self.lock:
            return any(r.custom and r.active and user_id in r.users
                       and not wanted.isdisjoint(r.scopes.values())
                       for r in self.roles.values())

"""RBAC aggregates: Role (with its scopes, permissions and assignments), the role-name index,
and the directory of domains, projects and users learnt from identity's events."""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from contracts import rbac as c
from services.rbac.domain.errors import refuse
from services.runtime.ids import stable_id
from services.runtime.traced import Aggregate

NAME_MAX = c.ROLE_NAME_MAX
DESCRIPTION_MAX = 4096
# Names the system roles take; a custom role may not take one.
SYSTEM_NAME = re.compile(r"^(user-[0-9a-f]{8}|project-[0-9a-f]{8}-(admin|member)|domain-.+-admin)$",
                         re.IGNORECASE)


def role_id(key: str) -> UUID:
    return stable_id("role", key)


def role_name_id(name: str) -> UUID:
    return stable_id("role-name", name.casefold())


def permission_id(role: str, scope_type: str, scope_id: str, entity: str, op: str) -> str:
    return str(stable_id("permission", role, scope_type, scope_id, entity, op))


def known_scope_id(scope_type: str, scope_id: str) -> UUID:
    return stable_id("known-scope", scope_type, scope_id)


def known_name_id(kind: str, key: str) -> UUID:
    return stable_id("known-name", kind, key.casefold())


def check_name(name: str, source: str) -> str:
    name = name.strip()
    if not name or len(name) > NAME_MAX or any(ch < " " for ch in name):
        raise refuse("role.name_invalid", f"a role name is 1-{NAME_MAX} printable characters",
                     field="name", max=NAME_MAX)
    if source == c.RoleSource.CUSTOM and SYSTEM_NAME.match(name):
        raise refuse("role.name_reserved", "this name is reserved for a system role",
                     field="name")
    return name


def check_description(text: str) -> str:
    if len(text) > DESCRIPTION_MAX:
        raise refuse("role.description_too_long", f"at most {DESCRIPTION_MAX} characters",
                     field="description", max=DESCRIPTION_MAX)
    return text


class Role(Aggregate):
    """A role. Scopes are fixed at creation; a purged role stays as a tombstone so its id
    never comes back."""

    @event("Created")
    def __init__(self, key: str, name: str, description: str, source: str,
                 scopes: list[dict[str, str]]) -> None:
        self.key = key
        self.name = name
        self.description = description
        self.source = source
        self.scopes = [dict(s) for s in scopes]
        self.status = c.RoleStatus.ACTIVE.value
        self.purged = False
        self.permissions: dict[str, dict[str, str]] = {}
        self.assignments: dict[str, str] = {}  # user id -> granted by

    @staticmethod
    def create_id(key: str, name: str, description: str, source: str,
                  scopes: list[dict[str, str]]) -> UUID:
        return role_id(key)

    # ---- decisions (raise a refusal, or trigger events) -------------------------------------

    def edit(self, name: str | None, description: str | None) -> dict[str, str]:
        if self.source != c.RoleSource.CUSTOM:
            raise refuse("role.system_immutable", "a system role's name and description "
                         "cannot be edited", field="name" if name is not None else "description")
        changes: dict[str, str] = {}
        if name is not None and check_name(name, self.source) != self.name:
            changes["name"] = name.strip()
        if description is not None and check_description(description) != self.description:
            changes["description"] = description
        if changes:
            self.changed(changes)
        return changes

    def set_active(self, active: bool) -> bool:
        wanted = c.RoleStatus.ACTIVE if active else c.RoleStatus.INACTIVE
        if self.status == wanted:
            return False
        if active:
            self.activated()
        else:
            self.deactivated()
        return True

    def check_purgeable(self) -> None:
        if self.status != c.RoleStatus.INACTIVE:
            raise refuse("role.active", "only an inactive role can be purged; deactivate it first")
        if self.assignments or self.permissions:
            raise refuse("role.not_empty",
                         f"remove its {len(self.assignments)} assignment(s) and "
                         f"{len(self.permissions)} permission(s) before purging",
                         assignments=len(self.assignments), permissions=len(self.permissions))

    def grant(self, scope_type: str, scope_id: str, entity: str, operations: list[str]
              ) -> list[str]:
        scope = {"scope_type": scope_type, "scope_id": scope_id}
        if self.scopes and scope not in self.scopes:
            raise refuse("permission.scope_not_in_role", "the permission's scope must be one "
                         "of the role's scopes", field="scope_id", scopes=self.scopes)
        if not c.entity_valid_at(scope_type, entity):
            raise refuse("permission.entity_invalid", f"'{entity}' is not a permission type "
                         f"at {scope_type} scope", field="entity_type",
                         valid=[str(e) for e in c.SCOPE_ENTITIES[c.ScopeType(scope_type)]])
        bad = [op for op in operations if not c.is_valid(scope_type, entity, op)]
        if bad:
            raise refuse("permission.operation_invalid", f"not valid for {entity} at "
                         f"{scope_type} scope: {', '.join(bad)}", field="operations",
                         refused=bad, valid=c.operations_for(scope_type, entity))
        ids = [permission_id(str(self.id), scope_type, scope_id, entity, op)
               for op in operations]
        held = [pid for pid in ids if pid in self.permissions]
        if held:
            raise refuse("permission.exists", "the role already has this permission",
                         field="operations", permission_ids=held)
        for pid, op in dict(zip(ids, operations, strict=True)).items():
            self.permission_added(pid, scope_type, scope_id, entity, op)
        return list(dict.fromkeys(ids))

    def revoke(self, pid: str) -> None:
        if pid not in self.permissions:
            raise refuse("permission.not_found", "the role has no such permission",
                         field="permission_id")
        self.permission_removed(pid)

    # ---- events ----------------------------------------------------------------------------

    @event("Changed")
    def changed(self, changes: dict[str, str]) -> None:
        self.name = changes.get("name", self.name)
        self.description = changes.get("description", self.description)

    @event("Deactivated")
    def deactivated(self) -> None:
        self.status = c.RoleStatus.INACTIVE.value

    @event("Activated")
    def activated(self) -> None:
        self.status = c.RoleStatus.ACTIVE.value

    @event("Purged")
    def purge(self) -> None:
        self.purged = True

    @event("PermissionAdded")
    def permission_added(self, permission_id: str, scope_type: str, scope_id: str,
                         entity_type: str, operation: str) -> None:
        self.permissions[permission_id] = {
            "scope_type": scope_type, "scope_id": scope_id, "entity_type": entity_type,
            "operation": operation}

    @event("PermissionRemoved")
    def permission_removed(self, permission_id: str) -> None:
        self.permissions.pop(permission_id, None)

    @event("Assigned")
    def assign(self, user_id: str, granted_by: str) -> None:
        self.assignments[user_id] = granted_by

    @event("Unassigned")
    def unassign(self, user_id: str) -> None:
        self.assignments.pop(user_id, None)


class RoleName(Aggregate):
    """Uniqueness of role names (case-insensitive): a second claim conflicts at commit."""

    @event("Claimed")
    def __init__(self, name: str, role_id: str) -> None:
        self.name = name
        self.role_id: str | None = role_id

    @staticmethod
    def create_id(name: str, role_id: str) -> UUID:
        return role_name_id(name)

    @event("Released")
    def release(self) -> None:
        self.role_id = None

    @event("Reclaimed")
    def reclaim(self, role_id: str) -> None:
        self.role_id = role_id


class KnownScope(Aggregate):
    """A domain, project or user as identity announced it: enough for scope targets,
    inheritance (a project's domain, a user's domain and projects) and user search."""

    @event("Learnt")
    def __init__(self, scope_type: str, scope_id: str, name: str, domain_id: str,
                 attrs: dict[str, Any]) -> None:
        self.scope_type = scope_type
        self.scope_id = scope_id
        self.name = name
        self.domain_id = domain_id
        self.attrs = dict(attrs)
        self.projects: list[str] = []

    @staticmethod
    def create_id(scope_type: str, scope_id: str, name: str, domain_id: str,
                  attrs: dict[str, Any]) -> UUID:
        return known_scope_id(scope_type, scope_id)

    @event("Changed")
    def change(self, attrs: dict[str, Any]) -> None:
        self.attrs.update(attrs)

    @event("Joined")
    def join(self, project_id: str) -> None:
        if project_id not in self.projects:
            self.projects.append(project_id)

    @event("Left")
    def leave(self, project_id: str) -> None:
        if project_id in self.projects:
            self.projects.remove(project_id)


class KnownName(Aggregate):
    """Index: an email → user id, a domain name → domain id."""

    @event("Indexed")
    def __init__(self, kind: str, key: str, scope_id: str) -> None:
        self.kind = kind
        self.key = key
        self.scope_id = scope_id

    @staticmethod
    def create_id(kind: str, key: str, scope_id: str) -> UUID:
        return known_name_id(kind, key)

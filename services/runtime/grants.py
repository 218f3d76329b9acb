"""Permission evaluation: an in-memory index of active roles' grants per user, with scope
inheritance (domain ⊃ project ⊃ user-owned entities). Pure and unlocked: rbac feeds it from its
own events (`GrantView`), every other service from its replicas of rbac's and identity's
streams (`services.runtime.permissions`); the owner serializes access.

A check is a few dict lookups: the user's grants for (entity type, operation) are a counter of
scopes, and the target scope's ancestors (itself, its domain, and for a user scope the
projects the user belongs to) are cached. A grant at a project covers its members' own
entities; a grant at a domain covers its projects and users.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from contracts.permissions import DELEGATE_ALL, DELEGATE_PREFIX

Scope = tuple[str, str]  # (scope type, scope id)
Grant = tuple[str, str, str, str]  # (scope type, scope id, entity type, operation)


@dataclass
class RoleGrants:
    active: bool = True
    permissions: dict[str, Grant] = field(default_factory=dict)
    users: set[str] = field(default_factory=set)


class GrantIndex:
    def __init__(self) -> None:
        self.roles: dict[str, RoleGrants] = {}
        # user id -> (entity type, operation) -> Counter of scopes granting it
        self.by_user: dict[str, dict[tuple[str, str], Counter[Scope]]] = {}
        self.project_domain: dict[str, str] = {}
        self.user_domain: dict[str, str] = {}
        self.user_projects: dict[str, set[str]] = {}
        self.superadmins: set[str] = set()
        self._ancestors: dict[Scope, frozenset[Scope]] = {}

    # ---- hierarchy ---------------------------------------------------------------------------

    def set_project(self, project_id: str, domain_id: str) -> None:
        self.project_domain[project_id] = domain_id
        self._ancestors.clear()

    def set_user(self, user_id: str, domain_id: str, superadmin: bool) -> None:
        self.user_domain[user_id] = domain_id
        (self.superadmins.add if superadmin else self.superadmins.discard)(user_id)
        self._ancestors.clear()

    def set_membership(self, user_id: str, project_id: str, member: bool) -> None:
        projects = self.user_projects.setdefault(user_id, set())
        (projects.add if member else projects.discard)(project_id)
        self._ancestors.clear()

    def ancestors(self, scope: Scope) -> frozenset[Scope]:
        found = self._ancestors.get(scope)
        if found is None:
            found = self._ancestors[scope] = frozenset(self._walk(scope))
        return found

    def _walk(self, scope: Scope) -> list[Scope]:
        kind, sid = scope
        walked = [scope]
        if kind == "project" and sid in self.project_domain:
            walked.append(("domain", self.project_domain[sid]))
        elif kind == "user":
            if sid in self.user_domain:
                walked.append(("domain", self.user_domain[sid]))
            for project in self.user_projects.get(sid, ()):
                walked.append(("project", project))
                if project in self.project_domain:
                    walked.append(("domain", self.project_domain[project]))
        return walked

    # ---- roles -------------------------------------------------------------------------------

    def add_role(self, role_id: str, active: bool = True) -> None:
        self.roles.setdefault(role_id, RoleGrants(active=active))

    def drop_role(self, role_id: str) -> None:
        role = self.roles.pop(role_id, None)
        if role is not None and role.active:
            for user in role.users:
                self._count(user, role.permissions.values(), -1)

    def add_permission(self, role_id: str, permission_id: str, grant: Grant) -> None:
        role = self.roles.setdefault(role_id, RoleGrants())
        if permission_id in role.permissions:
            return
        role.permissions[permission_id] = grant
        if role.active:
            for user in role.users:
                self._count(user, [grant], 1)

    def remove_permission(self, role_id: str, permission_id: str) -> None:
        role = self.roles.get(role_id)
        grant = role.permissions.pop(permission_id, None) if role else None
        if role is not None and grant is not None and role.active:
            for user in role.users:
                self._count(user, [grant], -1)

    def set_active(self, role_id: str, active: bool) -> None:
        role = self.roles.setdefault(role_id, RoleGrants())
        if role.active == active:
            return
        role.active = active
        for user in role.users:
            self._count(user, role.permissions.values(), 1 if active else -1)

    def assign(self, role_id: str, user_id: str, assigned: bool) -> None:
        role = self.roles.setdefault(role_id, RoleGrants())
        if (user_id in role.users) == assigned:
            return
        (role.users.add if assigned else role.users.discard)(user_id)
        if role.active:
            self._count(user_id, role.permissions.values(), 1 if assigned else -1)

    def _count(self, user_id: str, grants: object, delta: int) -> None:
        table = self.by_user.setdefault(user_id, {})
        for scope_type, scope_id, entity, op in grants:  # type: ignore[attr-defined]
            key = (entity, op)
            counter = table.setdefault(key, Counter())
            counter[(scope_type, scope_id)] += delta
            if counter[(scope_type, scope_id)] <= 0:
                del counter[(scope_type, scope_id)]
                if not counter:
                    del table[key]

    # ---- checks ------------------------------------------------------------------------------

    def check(self, user_id: str, operation: str, entity_type: str, scope_type: str,
              scope_id: str) -> bool:
        if user_id in self.superadmins:
            return True
        table = self.by_user.get(user_id)
        if not table:
            return False
        scope = (scope_type, scope_id)
        if self._covers(table.get((entity_type, operation)), scope):
            return True
        return (operation.startswith(DELEGATE_PREFIX) and operation != DELEGATE_ALL
                and self._covers(table.get((entity_type, DELEGATE_ALL)), scope))

    def held(self, user_id: str, entity_type: str, operation: str) -> frozenset[Scope]:
        """The scopes at which the user holds (entity type, operation): a snapshot."""
        table = self.by_user.get(user_id)
        counter = table.get((entity_type, operation)) if table else None
        return frozenset(counter) if counter else frozenset()

    def _covers(self, held: Counter[Scope] | None, scope: Scope) -> bool:
        if not held:
            return False
        return scope in held or not held.keys().isdisjoint(self.ancestors(scope))

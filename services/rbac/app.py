"""RbacApplication: role commands (load → decide → save); what identity's events teach it is
`learn.py::learn_identity_events`, called by `reactions.py`."""

from __future__ import annotations

import uuid
from typing import Any
from uuid import UUID

from contracts import rbac as c
from contracts.envelope import Actor
from contracts.values import UserRole
from services.rbac.domain.errors import refuse
from services.rbac.domain.model import (
    KnownName,
    KnownScope,
    Role,
    RoleName,
    check_description,
    check_name,
    known_name_id,
    known_scope_id,
    role_name_id,
)
from services.runtime.actors import ActorDirectory
from services.runtime.store import Decision, ServiceApplication

SUPERADMIN = UserRole.SUPERADMIN


class RbacApplication(ServiceApplication):
    name = "rbac"

    def __init__(self, env: dict[str, str] | None = None,
                 directory: ActorDirectory | None = None) -> None:
        super().__init__(env)
        self.directory = directory or ActorDirectory()

    # ---- lookups -----------------------------------------------------------------------------

    def role(self, ref: str) -> Role:
        try:
            found = self.find(UUID(ref))
        except ValueError:
            found = None
        if not isinstance(found, Role) or found.purged:
            raise refuse("role.not_found", "no such role", field="role_id")
        return found

    def known(self, scope_type: str, scope_id: str) -> KnownScope | None:
        return self.find(known_scope_id(scope_type, scope_id))

    def require_target(self, scope_type: str, scope_id: str, field: str = "scope_id") -> None:
        if self.known(scope_type, scope_id) is None:
            raise refuse("scope.unknown_target", f"no {scope_type} with id '{scope_id}' "
                         "is known", field=field, scope_type=scope_type)

    def user_by_email(self, email: str) -> str | None:
        index = self.find(known_name_id("email", email.strip()))
        return index.scope_id if isinstance(index, KnownName) else None

    def claim_name(self, name: str, rid: str) -> RoleName:
        index = self.find(role_name_id(name))
        if index is None:
            return RoleName(name=name, role_id=rid)
        if index.role_id not in (None, rid):
            raise refuse("role.name_taken", f"a role named '{name}' exists", field="name")
        if index.role_id is None:
            index.reclaim(rid)
        return index

    def _run(self, command_id: str, actor: Actor, data: dict[str, Any], decide: Any
             ) -> dict[str, Any]:
        def guarded() -> Decision:
            self.directory.require_role(actor, SUPERADMIN)
            return decide()

        return self.execute(command_id, data, guarded)

    # ---- role commands ------------------------------------------------------------------------

    def create_role(self, command_id: str, actor: Actor, p: c.CreateRole) -> dict[str, Any]:
        def decide() -> Decision:
            name = check_name(p.name, c.RoleSource.CUSTOM)
            description = check_description(p.description)
            scopes = list({(s.scope_type.value, s.scope_id): None for s in p.scopes})
            if not scopes:
                raise refuse("role.scope_required", "a custom role needs at least one scope",
                             field="scopes")
            for scope_type, scope_id in scopes:
                self.require_target(scope_type, scope_id, field="scopes")
            role = Role(key=str(uuid.uuid4()), name=name, description=description,
                        source=c.RoleSource.CUSTOM.value,
                        scopes=[{"scope_type": t, "scope_id": i} for t, i in scopes])
            index = self.claim_name(name, str(role.id))
            return Decision([role, index], summary(role))

        return self._run(command_id, actor, p.model_dump(mode="json"), decide)

    def update_role(self, command_id: str, actor: Actor, p: c.UpdateRole) -> dict[str, Any]:
        def decide() -> Decision:
            role = self.role(p.role_id)
            old = role.name
            changes = role.edit(p.name, p.description)
            touched: list[Any] = [role]
            if "name" in changes and role_name_id(old) != role_name_id(role.name):
                touched.append(self.claim_name(role.name, str(role.id)))
                previous = self.find(role_name_id(old))
                if previous is not None and previous.role_id == str(role.id):
                    previous.release()
                    touched.append(previous)
            return Decision(touched, summary(role) | {"changed": sorted(changes)})

        return self._run(command_id, actor, p.model_dump(mode="json"), decide)

    def set_status(self, command_id: str, actor: Actor, role_id: str, active: bool
                   ) -> dict[str, Any]:
        def decide() -> Decision:
            role = self.role(role_id)
            role.set_active(active)
            return Decision([role], summary(role))

        return self._run(command_id, actor, {"role_id": role_id, "active": active}, decide)

    def purge_role(self, command_id: str, actor: Actor, role_id: str) -> dict[str, Any]:
        def decide() -> Decision:
            role = self.role(role_id)
            role.check_purgeable()
            role.purge()
            touched: list[Any] = [role]
            index = self.find(role_name_id(role.name))
            if index is not None and index.role_id == str(role.id):
                index.release()
                touched.append(index)
            return Decision(touched, {"role_id": role_id, "name": role.name, "purged": True})

        return self._run(command_id, actor, {"role_id": role_id, "purge": True}, decide)

    # ---- permissions ---------------------------------------------------------------------------

    def add_permission(self, command_id: str, actor: Actor, p: c.AddPermission
                       ) -> dict[str, Any]:
        def decide() -> Decision:
            role = self.role(p.role_id)
            if not role.scopes:  # a legacy role: the explicit target must exist
                self.require_target(p.scope_type.value, p.scope_id)
            ids = role.grant(p.scope_type.value, p.scope_id, p.entity_type.value,
                             [op.value for op in p.operations])
            return Decision([role], {"role_id": p.role_id, "permission_ids": ids,
                                     "permissions": len(role.permissions)})

        return self._run(command_id, actor, p.model_dump(mode="json"), decide)

    def remove_permission(self, command_id: str, actor: Actor, p: c.RemovePermission
                          ) -> dict[str, Any]:
        def decide() -> Decision:
            role = self.role(p.role_id)
            role.revoke(p.permission_id)
            return Decision([role], {"role_id": p.role_id, "permission_id": p.permission_id,
                                     "permissions": len(role.permissions)})

        return self._run(command_id, actor, p.model_dump(mode="json"), decide)

    # ---- assignments ---------------------------------------------------------------------------

    def assign(self, command_id: str, actor: Actor, p: c.AssignUsers) -> dict[str, Any]:
        def decide() -> Decision:
            granted_by = self.directory.resolve(actor).user_id
            role = self.role(p.role_id)
            if role.status != c.RoleStatus.ACTIVE:
                raise refuse("role.inactive", "an inactive role takes no new assignments")
            users = self.resolve_users(p.user_ids, p.emails)
            held = [u for u in users if u in role.assignments]
            if held:
                raise refuse("assignment.exists", "a user holds each role at most once",
                             field="user_ids", user_ids=held)
            for user in users:
                role.assign(user, granted_by)
            return Decision([role], {"role_id": p.role_id, "assigned": users,
                                     "assignments": len(role.assignments)})

        return self._run(command_id, actor, p.model_dump(mode="json"), decide)

    def resolve_users(self, user_ids: list[str], emails: list[str]) -> list[str]:
        if not user_ids and not emails:
            raise refuse("assignment.no_users", "name at least one user", field="user_ids")
        found: dict[str, None] = {}
        unknown: list[str] = []
        for ref in user_ids:
            # The actor directory has seen what the request had seen (the dispatcher awaited
            # its positions): a user identity just created counts before rbac's own consumer
            # learns it, so "create, then assign at once" is never refused.
            known = self.known("user", ref) is not None or ref in self.directory.users
            (found.__setitem__(ref, None) if known else unknown.append(ref))
        for email in emails:
            uid = self.user_by_email(email)
            (found.__setitem__(uid, None) if uid else unknown.append(email))
        if unknown:
            raise refuse("user.not_found", f"{len(unknown)} user(s) are unknown",
                         field="user_ids", unknown=unknown[:20])
        return list(found)

    def unassign(self, command_id: str, actor: Actor, p: c.UnassignUser) -> dict[str, Any]:
        def decide() -> Decision:
            role = self.role(p.role_id)
            user = p.user_id or (self.user_by_email(p.email) if p.email else None)
            if user is None or user not in role.assignments:
                raise refuse("assignment.not_found", "the user does not hold this role",
                             field="user_id")
            role.unassign(user)
            return Decision([role], {"role_id": p.role_id, "unassigned": user,
                                     "assignments": len(role.assignments)})

        return self._run(command_id, actor, p.model_dump(mode="json"), decide)


def summary(role: Role) -> dict[str, Any]:
    return {"role_id": str(role.id), "name": role.name, "description": role.description,
            "source": role.source, "status": role.status, "scopes": list(role.scopes)}

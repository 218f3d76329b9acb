"""Stored rbac events → published contract events (role events only; the directory learnt
from identity stays private)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from contracts import rbac as c
from contracts.envelope import Event
from services.rbac.domain.model import Role
from services.runtime.relay import contract_event
from services.runtime.store import ServiceApplication

_STATUS = {Role.Deactivated: "RoleDeactivated", Role.Activated: "RoleActivated",
           Role.Purged: "RolePurged"}


class RbacTranslator:
    def __init__(self, app: ServiceApplication) -> None:
        self.app = app
        self._names: dict[str, str] = {}
        self._permissions: dict[str, dict[str, str]] = {}

    def name(self, role_id: str) -> str:
        if role_id not in self._names:
            self._names[role_id] = self.app.repository.get(UUID(role_id)).name
        return self._names[role_id]

    def __call__(self, e: Any) -> tuple[str, Event] | None:
        found = self.data(e)
        return None if found is None else contract_event(c, e, *found)

    def data(self, e: Any) -> tuple[str, dict[str, Any]] | None:
        rid = str(e.originator_id)
        if isinstance(e, Role.Created):
            self._names[rid] = e.name
            return "RoleCreated", {"role_id": rid, "name": e.name, "description": e.description,
                                   "source": e.source, "status": "active", "scopes": e.scopes,
                                   "created_at": e.timestamp}
        if isinstance(e, Role.Changed):
            if "name" in e.changes:
                self._names[rid] = e.changes["name"]
            return "RoleUpdated", {"role_id": rid, "name": self.name(rid), "changes": e.changes}
        if type(e) in _STATUS:
            return _STATUS[type(e)], {"role_id": rid, "name": self.name(rid)}
        if isinstance(e, Role.PermissionAdded):
            grant = {"scope_type": e.scope_type, "scope_id": e.scope_id,
                     "entity_type": e.entity_type, "operation": e.operation}
            self._permissions[e.permission_id] = grant
            return "PermissionAdded", {"role_id": rid, "permission_id": e.permission_id, **grant}
        if isinstance(e, Role.PermissionRemoved):
            grant = self._permissions.pop(e.permission_id, None) or self._grant_of(e)
            return "PermissionRemoved", {"role_id": rid, "permission_id": e.permission_id,
                                         **grant}
        if isinstance(e, Role.Assigned | Role.Unassigned):
            kind = "RoleAssigned" if isinstance(e, Role.Assigned) else "RoleUnassigned"
            return kind, {"role_id": rid, "user_id": e.user_id}
        return None

    def _grant_of(self, e: Any) -> dict[str, str]:
        """After a relay restart: the removed permission as of the version before removal."""
        role = self.app.repository.get(e.originator_id, version=e.originator_version - 1)
        return dict(role.permissions[e.permission_id])

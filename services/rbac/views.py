"""Read models built from rbac's own events: the role catalogue (list, detail, user search)
and the grant index that answers permission checks."""

from __future__ import annotations

from typing import Any

from contracts import rbac as c
from contracts.values import UserRole
from services.rbac.domain.errors import refuse
from services.rbac.domain.model import KnownScope, Role
from services.runtime.grants import GrantIndex
from services.runtime.store import ServiceApplication
from services.runtime.views import FollowingView


class RoleCatalogView(FollowingView):
    def __init__(self, app: ServiceApplication) -> None:
        super().__init__(app)
        self.roles: dict[str, dict[str, Any]] = {}
        self.targets: dict[tuple[str, str], str] = {}  # (scope type, id) -> display name
        self.users: dict[str, dict[str, Any]] = {}
        self.known: dict[str, tuple[str, str]] = {}  # KnownScope aggregate id -> scope

    def apply(self, e: Any) -> None:
        if isinstance(e, KnownScope.Event):
            self._known(e)
        elif isinstance(e, Role.Created):
            at = e.timestamp.isoformat()
            self.roles[str(e.originator_id)] = {
                "role_id": str(e.originator_id), "name": e.name, "description": e.description,
                "source": e.source, "status": "active", "scopes": [dict(s) for s in e.scopes],
                "created_at": at, "updated_at": at, "permissions": {}, "assignments": {}}
        elif isinstance(e, Role.Event) and str(e.originator_id) in self.roles:
            self._role(self.roles[str(e.originator_id)], e)

    def _role(self, row: dict[str, Any], e: Any) -> None:
        row["updated_at"] = e.timestamp.isoformat()
        if isinstance(e, Role.Changed):
            row.update(e.changes)
        elif isinstance(e, Role.Deactivated | Role.Activated):
            row["status"] = "active" if isinstance(e, Role.Activated) else "inactive"
        elif isinstance(e, Role.Purged):
            self.roles.pop(row["role_id"])
        elif isinstance(e, Role.PermissionAdded):
            row["permissions"][e.permission_id] = {
                "permission_id": e.permission_id, "scope_type": e.scope_type,
                "scope_id": e.scope_id, "entity_type": e.entity_type, "operation": e.operation}
        elif isinstance(e, Role.PermissionRemoved):
            row["permissions"].pop(e.permission_id, None)
        elif isinstance(e, Role.Assigned):
            row["assignments"][e.user_id] = {"granted_at": row["updated_at"],
                                             "granted_by": e.granted_by}
        elif isinstance(e, Role.Unassigned):
            row["assignments"].pop(e.user_id, None)

    def _known(self, e: Any) -> None:
        oid = str(e.originator_id)
        if isinstance(e, KnownScope.Learnt):
            self.known[oid] = (e.scope_type, e.scope_id)
            self.targets[(e.scope_type, e.scope_id)] = e.name
            if e.scope_type == "user":
                self.users[e.scope_id] = {"user_id": e.scope_id, **e.attrs}
        elif isinstance(e, KnownScope.Changed) and self.known.get(oid, ("",))[0] == "user":
            self.users[self.known[oid][1]].update(e.attrs)

    # ---- queries ------------------------------------------------------------------------------

    def list(self, q: c.ListRoles) -> dict[str, Any]:
        needle = q.name_contains.casefold()
        with self.lock:
            rows = [_list_row(r) for r in self.roles.values()
                    if r["status"] == q.status and needle in r["name"].casefold()
                    and (q.source is None or r["source"] == q.source)]
        key = "name" if q.sort == "name" else q.sort
        rows.sort(key=lambda r: (r[key].casefold() if key == "name" else r[key],
                                 r["name"].casefold()), reverse=q.order == "desc")
        return {"total": len(rows), "offset": q.offset, "limit": q.limit,
                "items": rows[q.offset:q.offset + q.limit]}

    def get(self, q: c.GetRole) -> dict[str, Any]:
        with self.lock:
            row = self.roles.get(q.role_id)
            if row is None:
                raise refuse("role.not_found", "no such role", field="role_id")
            scopes = [self._target(s) for s in row["scopes"]
                      if q.scope_type is None or s["scope_type"] == q.scope_type]
            permissions = [self._target(p) for p in row["permissions"].values()]
            assignments = [{"user_id": uid, "email": self.users.get(uid, {}).get("email"),
                            "full_name": self.users.get(uid, {}).get("full_name"), **info}
                           for uid, info in row["assignments"].items()]
        base = {k: v for k, v in row.items() if k not in ("permissions", "assignments")}
        permissions.sort(key=lambda p: (p["scope_type"], p["scope_id"], p["entity_type"],
                                        p["operation"]))
        assignments.sort(key=lambda a: a["email"] or "")
        return base | {"scopes": scopes, "permissions": permissions,
                       "assignments": assignments}

    def _target(self, item: dict[str, Any]) -> dict[str, Any]:
        return {**item, "target": self.targets.get((item["scope_type"], item["scope_id"]))}

    def search_users(self, q: c.SearchUsers) -> dict[str, Any]:
        needle = q.text.casefold()
        with self.lock:
            rows = [dict(u) for u in self.users.values()
                    if any(needle in str(u.get(f) or "").casefold()
                           for f in ("email", "username", "full_name"))]
        rows.sort(key=lambda u: u["email"])
        return {"total": len(rows), "offset": q.offset, "limit": q.limit,
                "items": rows[q.offset:q.offset + q.limit]}


def _list_row(r: dict[str, Any]) -> dict[str, Any]:
    first = r["scopes"][0] if r["scopes"] else {"scope_type": None, "scope_id": None}
    return {"role_id": r["role_id"], "name": r["name"], "description": r["description"],
            "scope_type": first["scope_type"], "scope_id": first["scope_id"],
            "more_scopes": max(0, len(r["scopes"]) - 1), "source": r["source"],
            "status": r["status"], "created_at": r["created_at"], "updated_at": r["updated_at"]}


class GrantView(FollowingView):
    """The materialized view of active roles' grants; checks read it under the lock."""

    def __init__(self, app: ServiceApplication) -> None:
        super().__init__(app)
        self.index = GrantIndex()
        self.known: dict[str, tuple[str, str, str]] = {}  # aggregate id -> type, id, domain

    def apply(self, e: Any) -> None:
        rid = str(e.originator_id)
        ix = self.index
        if isinstance(e, Role.Created):
            ix.add_role(rid)
        elif isinstance(e, Role.Deactivated | Role.Activated):
            ix.set_active(rid, isinstance(e, Role.Activated))
        elif isinstance(e, Role.Purged):
            ix.drop_role(rid)
        elif isinstance(e, Role.PermissionAdded):
            ix.add_permission(rid, e.permission_id,
                              (e.scope_type, e.scope_id, e.entity_type, e.operation))
        elif isinstance(e, Role.PermissionRemoved):
            ix.remove_permission(rid, e.permission_id)
        elif isinstance(e, Role.Assigned | Role.Unassigned):
            ix.assign(rid, e.user_id, isinstance(e, Role.Assigned))
        elif isinstance(e, KnownScope.Event):
            self._known(rid, e)

    def _known(self, oid: str, e: Any) -> None:
        if isinstance(e, KnownScope.Learnt):
            self.known[oid] = (e.scope_type, e.scope_id, e.domain_id)
            if e.scope_type == "project":
                self.index.set_project(e.scope_id, e.domain_id)
            elif e.scope_type == "user":
                self.index.set_user(e.scope_id, e.domain_id,
                                    e.attrs.get("role") == UserRole.SUPERADMIN)
            return
        kind, sid, domain = self.known[oid]
        if isinstance(e, KnownScope.Changed) and kind == "user" and "role" in e.attrs:
            self.index.set_user(sid, domain, e.attrs["role"] == UserRole.SUPERADMIN)
        elif isinstance(e, KnownScope.Joined | KnownScope.Left):
            self.index.set_membership(sid, e.project_id, isinstance(e, KnownScope.Joined))

    def check(self, q: c.Check) -> bool:
        with self.lock:
            return self.index.check(q.user_id, q.operation, q.entity_type, q.scope_type,
                                    q.scope_id)

    def check_many(self, checks: list[c.Check]) -> list[bool]:
        check = self.index.check
        with self.lock:
            return [check(q.user_id, q.operation, q.entity_type, q.scope_type, q.scope_id)
                    for q in checks]

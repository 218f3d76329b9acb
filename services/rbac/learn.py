"""What rbac learns from identity's events: the directory of domains, projects and users
(scope targets, inheritance, user search) and the system roles kept in step with them.

Each event's effects and the consumer position commit in one transaction (`save_tracked`).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.persistence import Tracking

from contracts.envelope import Event
from contracts.values import UserRole
from services.rbac.domain import system_roles as sr
from services.rbac.domain.model import (
    KnownName,
    KnownScope,
    Role,
    RoleName,
    known_name_id,
    role_name_id,
)
from services.rbac.domain.model import known_scope_id as scope_key
from services.rbac.domain.model import role_id as role_key
from services.runtime.store import ServiceApplication

SYSTEM = "system"
USER_ATTRS = ("username", "full_name", "role")


class _Unit:
    """The aggregates one consumed event touches, each loaded once."""

    def __init__(self, app: ServiceApplication) -> None:
        self.app = app
        self.touched: dict[UUID, Any] = {}

    def get(self, aggregate_id: UUID) -> Any | None:
        if aggregate_id not in self.touched:
            found = self.app.find(aggregate_id)
            if found is None:
                return None
            self.touched[aggregate_id] = found
        return self.touched[aggregate_id]

    def add(self, aggregate: Any) -> Any:
        self.touched[aggregate.id] = aggregate
        return aggregate


class IdentityLearner:
    def on_identity_event(self: Any, envelope: Event, tracking: Tracking) -> None:
        unit = _Unit(self)
        handler = _HANDLERS.get(envelope.type)
        if handler is not None:
            handler(unit, envelope.data)
        self.save_tracked(tracking, *(a for a in unit.touched.values() if a.pending_events))


def _domain_created(unit: _Unit, data: dict[str, Any]) -> None:
    did, name = data["domain_id"], data["name"]
    if unit.get(scope_key("domain", did)) is None:
        unit.add(KnownScope(scope_type="domain", scope_id=did, name=name, domain_id=did,
                            attrs={}))
        unit.add(KnownName(kind="domain", key=name, scope_id=did))
    _system_role(unit, sr.domain_admin_role(did, name))


def _project_created(unit: _Unit, data: dict[str, Any]) -> None:
    pid = data["project_id"]
    if unit.get(scope_key("project", pid)) is None:
        unit.add(KnownScope(scope_type="project", scope_id=pid, name=data["name"],
                            domain_id=_domain_id(unit, data["domain"]), attrs={}))
    _system_role(unit, sr.project_admin_role(pid))
    _system_role(unit, sr.project_member_role(pid))


def _user_created(unit: _Unit, data: dict[str, Any]) -> None:
    uid = data["user_id"]
    did = _domain_id(unit, data["domain"])
    if unit.get(scope_key("user", uid)) is None:
        attrs = {k: data[k] for k in USER_ATTRS} | {
            "email": data["email"], "active": data["status"] == "active"}
        unit.add(KnownScope(scope_type="user", scope_id=uid, name=data["email"],
                            domain_id=did, attrs=attrs))
        if unit.get(known_name_id("email", data["email"])) is None:
            unit.add(KnownName(kind="email", key=data["email"], scope_id=uid))
    _assign(unit, _system_role(unit, sr.user_role(uid)), uid, True)
    if data["role"] == UserRole.ADMIN:
        _assign(unit, unit.get(role_key(f"domain-admin:{did}")), uid, True)
    for pid in data["projects"]:
        _membership(unit, {"project_id": pid, "user_id": uid}, True)


def _user_updated(unit: _Unit, data: dict[str, Any]) -> None:
    user = unit.get(scope_key("user", data["user_id"]))
    changes = {k: v for k, v in data["changes"].items() if k in USER_ATTRS}
    if user is None or not changes:
        return
    was_admin = user.attrs.get("role") == UserRole.ADMIN
    user.change(changes)
    is_admin = user.attrs.get("role") == UserRole.ADMIN
    if was_admin != is_admin:
        admin_role = unit.get(role_key(f"domain-admin:{user.domain_id}"))
        _assign(unit, admin_role, user.scope_id, is_admin)


def _user_status(active: bool) -> Any:
    def handle(unit: _Unit, data: dict[str, Any]) -> None:
        user = unit.get(scope_key("user", data["user_id"]))
        if user is not None and user.attrs.get("active") != active:
            user.change({"active": active})

    return handle


def _membership(unit: _Unit, data: dict[str, Any], member: bool) -> None:
    pid, uid = data["project_id"], data["user_id"]
    user = unit.get(scope_key("user", uid))
    if user is not None and (pid in user.projects) != member:
        (user.join if member else user.leave)(pid)
    _assign(unit, unit.get(role_key(f"project-member:{pid}")), uid, member)


_HANDLERS = {
    "DomainCreated": _domain_created,
    "ProjectCreated": _project_created,
    "UserCreated": _user_created,
    "UserUpdated": _user_updated,
    "UserDeactivated": _user_status(False),
    "UserActivated": _user_status(True),
    "MemberAdded": lambda unit, data: _membership(unit, data, True),
    "MemberRemoved": lambda unit, data: _membership(unit, data, False),
}


def _domain_id(unit: _Unit, name: str) -> str:
    index = unit.get(known_name_id("domain", name))
    return index.scope_id if index is not None else ""


def _system_role(unit: _Unit, t: sr.Template) -> Role | None:
    """The system role for a template, created with its default permissions the first time.
    A purged one stays purged (its id never comes back)."""
    found = unit.get(role_key(t.key))
    if found is not None:
        return None if found.purged else found
    name = t.name
    index = unit.get(role_name_id(name))
    if index is not None and index.role_id is not None:
        name = f"{t.name}-{t.key.split(':', 1)[1]}"[:64]  # 8-hex prefix collision
        index = None
    role = unit.add(Role(key=t.key, name=name, description=f"system role ({t.key})",
                         source="system", scopes=t.scopes))
    if index is None:
        unit.add(RoleName(name=name, role_id=str(role.id)))
    else:
        index.reclaim(str(role.id))
    for entity, operations in t.permissions():
        if operations:
            role.grant(t.scope_type, t.scope_id, entity, operations)
    return role


def _assign(unit: _Unit, role: Role | None, user_id: str, assigned: bool) -> None:
    if role is None or role.purged or (user_id in role.assignments) == assigned:
        return
    if assigned:
        role.assign(user_id, SYSTEM)
    else:
        role.unassign(user_id)

"""What rbac learns from identity's events: the directory of domains, projects and users
(scope targets, inheritance, user search) and the system roles kept in step with them.

Each event's effects and the consumer position commit in one transaction (`save_tracked`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Tracking

from contracts import identity as idc
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


def learn_identity_events(app: ServiceApplication, events: list[idc.IdentityEvent],
                          tracking: Tracking) -> None:
    """One consumed envelope's typed events (reactions.py parses it; a retired event comes as
    the specific ones it stood for): their effects and the position in one transaction."""
    unit = _Unit(app)
    for event in events:
        handler = _HANDLERS.get(type(event))
        if handler is not None:
            handler(unit, event)
    app.save_tracked(tracking, *(a for a in unit.touched.values() if a.pending_events))


def _domain_created(unit: _Unit, e: idc.DomainCreated) -> None:
    did, name = e.domain_id, e.name
    if unit.get(scope_key("domain", did)) is None:
        unit.add(KnownScope(scope_type="domain", scope_id=did, name=name, domain_id=did,
                            attrs={}))
        unit.add(KnownName(kind="domain", key=name, scope_id=did))
    _system_role(unit, sr.domain_admin_role(did, name))


def _project_created(unit: _Unit, e: idc.ProjectCreated) -> None:
    pid = e.project_id
    if unit.get(scope_key("project", pid)) is None:
        unit.add(KnownScope(scope_type="project", scope_id=pid, name=e.name,
                            domain_id=_domain_id(unit, e.domain), attrs={}))
    _system_role(unit, sr.project_admin_role(pid))
    _system_role(unit, sr.project_member_role(pid))


def _user_created(unit: _Unit, e: idc.UserCreated) -> None:
    uid = e.user_id
    did = _domain_id(unit, e.domain)
    if unit.get(scope_key("user", uid)) is None:
        attrs = {"username": e.username, "full_name": e.full_name, "role": str(e.role),
                 "email": e.email, "active": e.status == "active"}
        unit.add(KnownScope(scope_type="user", scope_id=uid, name=e.email,
                            domain_id=did, attrs=attrs))
        if unit.get(known_name_id("email", e.email)) is None:
            unit.add(KnownName(kind="email", key=e.email, scope_id=uid))
    _assign(unit, _system_role(unit, sr.user_role(uid)), uid, True)
    if e.role == UserRole.ADMIN:
        _assign(unit, unit.get(role_key(f"domain-admin:{did}")), uid, True)
    for pid in e.projects:
        _membership(unit, pid, uid, True)


def _user_changed(unit: _Unit, user_id: str, attrs: dict[str, Any]) -> None:
    user = unit.get(scope_key("user", user_id))
    attrs = {k: v for k, v in attrs.items() if v is not None}
    if user is not None and attrs and any(user.attrs.get(k) != v for k, v in attrs.items()):
        user.change(attrs)


def _user_role_changed(unit: _Unit, e: idc.UserRoleChanged) -> None:
    user = unit.get(scope_key("user", e.user_id))
    if user is None:
        return
    was_admin = user.attrs.get("role") == UserRole.ADMIN
    _user_changed(unit, e.user_id, {"role": str(e.role)})
    is_admin = e.role == UserRole.ADMIN
    if was_admin != is_admin:
        admin_role = unit.get(role_key(f"domain-admin:{user.domain_id}"))
        _assign(unit, admin_role, user.scope_id, is_admin)


def _membership(unit: _Unit, pid: str, uid: str, member: bool) -> None:
    user = unit.get(scope_key("user", uid))
    if user is not None and (pid in user.projects) != member:
        (user.join if member else user.leave)(pid)
    _assign(unit, unit.get(role_key(f"project-member:{pid}")), uid, member)


_HANDLERS: dict[type, Callable[[_Unit, Any], None]] = {
    idc.DomainCreated: _domain_created,
    idc.ProjectCreated: _project_created,
    idc.UserCreated: _user_created,
    idc.UserRenamed: lambda unit, e: _user_changed(unit, e.user_id, {"username": e.username}),
    idc.UserProfileChanged: lambda unit, e: _user_changed(
        unit, e.user_id, {"full_name": e.full_name}),
    idc.UserRoleChanged: _user_role_changed,
    idc.UserDeactivated: lambda unit, e: _user_changed(unit, e.user_id, {"active": False}),
    idc.UserActivated: lambda unit, e: _user_changed(unit, e.user_id, {"active": True}),
    idc.MemberAdded: lambda unit, e: _membership(unit, e.project_id, e.user_id, True),
    idc.MemberRemoved: lambda unit, e: _membership(unit, e.project_id, e.user_id, False),
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

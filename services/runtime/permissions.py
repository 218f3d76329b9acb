"""Enforcement of each command's declared permission (`contracts.permissions.Needs`).

`PermissionGuard.require(actor, needs, payload)` runs in the dispatcher's worker thread before
the handler: it resolves the actor, maps the payload's target to a scope and checks the grant
in memory, with no round trip. Its index is a replica of rbac's materialized view:

- grants: `GrantReplica` reads `BAI_EVT_RBAC` (roles, their status, permissions, assignments)
  from the start at each start;
- hierarchy: a domain's id by name, a project's domain, a user's email, domain, role and
  projects, a keypair's owner, learnt from identity's events through `learn_*` (the
  `ActorDirectory` of every service, identity's own read model in identity).

Refusals are `auth.forbidden` with the permission in the details; an unknown target refuses
too (nothing is granted on what the replica does not know). Superadmins pass every scoped and
system-wide need; only trusted system actors pass a `system_only` one.

Queries declare their needs too. A list query's need (target `ROWS`) only admits a known,
active user at `require`; its handler then keeps the rows `readable(actor, needs)` admits,
each checked at its own scope from the same index (a few dict lookups per row).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Protocol

from contracts.envelope import Actor
from contracts.permissions import Needs, Target
from contracts.values import UserRole, canonical_email
from services.runtime.context import MustBlock, may_block
from services.runtime.errors import Forbidden
from services.runtime.grants import GrantIndex
from services.runtime.replica import StreamReplica

SUPERADMIN = UserRole.SUPERADMIN
Scope = tuple[str, str]


class Principal(Protocol):
    user_id: str
    role: str


class PermissionGuard:
    def __init__(self, principal_of: Callable[[Actor], Principal],
                 trusted_systems: frozenset[str] = frozenset(),
                 owners: dict[Target, Callable[[str], str | None]] | None = None,
                 follow_grants: bool = True) -> None:
        """`owners`: service-specific targets (a session id → its owner's user id).
        `follow_grants` False: a service whose commands are all system-only (an agent)."""
        self.principal_of = principal_of
        self.trusted_systems = trusted_systems
        self.owners = owners or {}
        self.index = GrantIndex()
        self.lock = threading.RLock()
        self.domain_ids: dict[str, str] = {}  # domain name -> id
        self.user_ids: dict[str, str] = {}  # normalized email -> user id
        self.keypair_owner: dict[str, str] = {}  # access key -> user id
        self.replica = GrantReplica(self) if follow_grants else None
        # Users rbac has assigned any role to. Every user gets a system role when created,
        # derived by rbac from identity's event, so a reply's positions cannot name it: a
        # refusal of a user without one waits (bounded) for it (see the runtime README).
        self.assigned: set[str] = set()
        self.assigned_changed = threading.Condition(self.lock)
        self.assignment_wait = 1.0

    # ---- enforcement ---------------------------------------------------------------------------

    def require(self, actor: Actor, needs: Needs, payload: Any) -> Principal | None:
        """Return the principal (None for a system actor) or raise `auth.forbidden`."""
        if needs.system_only:
            systems = needs.systems or self.trusted_systems
            if actor.system is not None and actor.system in systems:
                return None
            raise Forbidden("this comes only from a trusted system actor",
                            **needs.describe())
        if actor.system is not None:
            raise Forbidden("system actors may not send this", **needs.describe())
        principal = self.principal_of(actor)
        if principal.role == SUPERADMIN or needs.any_user or needs.filters_rows:
            return principal  # rows: the handler keeps what `readable` admits
        if needs.scope_type is None:
            raise Forbidden("this needs the superadmin role", **needs.describe())
        scope = self.scope_of(needs, payload, principal)
        if (scope is None or not self.allowed(principal.user_id, needs, scope)) \
                and self._await_first_role(principal.user_id):
            scope = self.scope_of(needs, payload, principal)
        if scope is None or not self.allowed(principal.user_id, needs, scope):
            raise Forbidden(
                f"this needs {needs.entity_type}:{needs.operation} at the {needs.scope_type} "
                "scope of its target", **needs.describe(),
                scope_id=scope[1] if scope else None)
        return principal

    def _await_first_role(self, user_id: str) -> bool:
        """In the worker thread: wait until rbac's first assignment to this user arrives;
        True when it did (decide again), False when the user already had one or none came."""
        if self.replica is None:
            return False
        with self.assigned_changed:
            if user_id in self.assigned:
                return False
            if not may_block():
                raise MustBlock  # on the event loop: decided again in a worker thread
            return self.assigned_changed.wait_for(lambda: user_id in self.assigned,
                                                  self.assignment_wait)

    def allowed(self, user_id: str, needs: Needs, scope: Scope) -> bool:
        with self.lock:
            return self.index.check(user_id, str(needs.operation), str(needs.entity_type),
                                    *scope)

    def readable(self, actor: Actor, needs: Needs) -> Callable[[str], bool]:
        """Whether the caller may read a row whose scope (of `needs.scope_type`) has this id:
        for rows whose scope is a user, the owner's user id. Resolves the caller once, takes a
        snapshot of the scopes granting (entity, operation), then each row is a set lookup or
        two: its own scope, its domain, and (a user) its projects and their domains, as the
        index's ancestors walk them."""
        principal = self.principal_of(actor)
        if principal.role == SUPERADMIN:
            return _everything
        kind = str(needs.scope_type)
        with self.lock:
            held = self.index.held(principal.user_id, str(needs.entity_type),
                                   str(needs.operation))
        if not held:
            return _nothing
        at = {k: frozenset(sid for held_kind, sid in held if held_kind == k)
              for k in ("domain", "project", "user")}
        direct, domains, projects = at[kind], at["domain"], at["project"]
        ix, lock = self.index, self.lock
        if kind == "domain" or not (domains or projects):
            return direct.__contains__
        if kind == "project":
            return lambda sid: sid in direct or ix.project_domain.get(sid) in domains

        def may_read(sid: str) -> bool:
            if sid in direct or ix.user_domain.get(sid) in domains:
                return True
            if not ix.user_projects.get(sid):
                return False
            with lock:  # membership sets change under the replicas
                return any(p in projects or ix.project_domain.get(p) in domains
                           for p in ix.user_projects.get(sid, ()))

        return may_read

    def scope_of(self, needs: Needs, payload: Any, principal: Principal) -> Scope | None:
        """The scope a scoped need is checked at; None when the target is unknown."""
        target = needs.target
        raw = getattr(payload, needs.field) if needs.field else None
        if raw is None and needs.or_field:
            raw = getattr(payload, needs.or_field)
        value = "" if raw is None else str(raw)
        user: str | None
        if target in self.owners:
            # A service's own owner lookup takes its view's lock: never call it under ours
            # (a list query holds its view's lock while it checks rows here).
            user = self.owners[target](value)
        with self.lock:
            if target is Target.DOMAIN:
                domain = self.domain_ids.get(value)
                return ("domain", domain) if domain else None
            if target is Target.PROJECT:
                return self._lift("project", value, str(needs.scope_type))
            if target is Target.ACTOR:
                user = principal.user_id
            elif target is Target.USER:  # by email, or by id
                user = self.user_ids.get(canonical_email(value)) or (
                    value if value in self.index.user_domain else None)
            elif target is Target.KEYPAIR:
                user = self.keypair_owner.get(value)
            elif target not in self.owners:
                user = None
            return self._lift("user", user, str(needs.scope_type)) if user else None

    def _lift(self, kind: str, sid: str, scope_type: str) -> Scope | None:
        """(kind, sid) as a scope of `scope_type`: itself, or the domain it belongs to."""
        domain_of = self.index.project_domain if kind == "project" else self.index.user_domain
        if scope_type == kind:
            return (kind, sid) if sid in domain_of else None
        if scope_type == "domain" and domain_of.get(sid):
            return ("domain", domain_of[sid])
        return None

    # ---- hierarchy, learnt from identity ------------------------------------------------------

    def learn_domain(self, domain_id: str, name: str) -> None:
        with self.lock:
            self.domain_ids[name] = domain_id

    def learn_project(self, project_id: str, domain_name: str) -> None:
        with self.lock:
            domain = self.domain_ids.get(domain_name)
            if domain:
                self.index.set_project(project_id, domain)

    def learn_user(self, user_id: str, email: str, domain_name: str, role: str) -> None:
        with self.lock:
            self.user_ids[canonical_email(email)] = user_id
            self.index.set_user(user_id, self.domain_ids.get(domain_name, ""),
                                role == SUPERADMIN)

    def learn_role(self, user_id: str, role: str) -> None:
        with self.lock:
            domain = self.index.user_domain.get(user_id)
            if domain is not None:
                self.index.set_user(user_id, domain, role == SUPERADMIN)

    def learn_membership(self, user_id: str, project_id: str, member: bool) -> None:
        with self.lock:
            self.index.set_membership(user_id, project_id, member)

    def learn_keypair(self, access_key: str, user_id: str) -> None:
        with self.lock:
            self.keypair_owner[access_key] = user_id

    def projects_of(self, user_id: str) -> frozenset[str]:
        """The user's projects as learnt from identity (awaited causally with the directory)."""
        with self.lock:
            return frozenset(self.index.user_projects.get(user_id, ()))

    def domain_of_project(self, project_id: str) -> str | None:
        with self.lock:
            return self.index.project_domain.get(project_id)


def _everything(sid: str) -> bool:
    return True


def _nothing(sid: str) -> bool:
    return False


class GrantReplica(StreamReplica):
    """rbac's events folded into the guard's index: roles, status, permissions, assignments."""

    decides_permissions = True

    def __init__(self, guard: PermissionGuard) -> None:
        super().__init__("rbac")
        self.guard = guard
        self.lock = guard.lock

    def apply(self, envelope: dict[str, Any]) -> None:
        kind, data = envelope["type"], envelope["data"]
        ix, rid = self.guard.index, data.get("role_id", "")
        if kind == "RoleCreated":
            ix.add_role(rid, active=data["status"] == "active")
        elif kind in ("RoleDeactivated", "RoleActivated"):
            ix.set_active(rid, kind == "RoleActivated")
        elif kind == "RolePurged":
            ix.drop_role(rid)
        elif kind == "PermissionAdded":
            ix.add_permission(rid, data["permission_id"], (
                data["scope_type"], data["scope_id"], data["entity_type"], data["operation"]))
        elif kind == "PermissionRemoved":
            ix.remove_permission(rid, data["permission_id"])
        elif kind in ("RoleAssigned", "RoleUnassigned"):
            ix.assign(rid, data["user_id"], kind == "RoleAssigned")
            if kind == "RoleAssigned" and data["user_id"] not in self.guard.assigned:
                with self.guard.assigned_changed:  # the guard's lock, reentrant
                    self.guard.assigned.add(data["user_id"])
                    self.guard.assigned_changed.notify_all()

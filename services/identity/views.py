"""Read models for identity queries, kept current by following the notification log."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from contracts import identity as c
from contracts.envelope import Actor
from contracts.values import canonical_email
from services.identity.domain.access import Principal
from services.identity.domain.errors import refuse
from services.identity.domain.model import Domain, Keypair, Project, User
from services.runtime.context import MustBlock, may_block
from services.runtime.permissions import PermissionGuard
from services.runtime.store import ServiceApplication
from services.runtime.views import FollowingView

Readable = Callable[[str], bool]  # a row's scope id -> may the caller read it


def _all(sid: str) -> bool:
    return True


# The user row's fields each specific change sets.
USER_FIELDS: dict[type, Callable[[Any], dict[str, Any]]] = {
    User.Renamed: lambda e: {"username": e.username},
    User.ProfileChanged: lambda e: {"full_name": e.full_name, "description": e.description},
    User.RoleChanged: lambda e: {"role": e.role},
    User.PolicyAssigned: lambda e: {"resource_policy": e.resource_policy},
    User.PasswordChangeRequired: lambda e: {"need_password_change": e.required},
}


class IdentityView(FollowingView):
    """Users, keypairs, domains and projects for the identity queries."""

    def __init__(self, app: ServiceApplication) -> None:
        super().__init__(app)
        self.users: dict[str, dict[str, Any]] = {}
        self.keypairs: dict[str, dict[str, Any]] = {}
        self.domains: dict[str, dict[str, Any]] = {}
        self.projects: dict[str, dict[str, Any]] = {}
        self._keypair_ids: dict[str, str] = {}  # aggregate id -> access key
        # Taught the scope hierarchy in the saving thread, so a check right after a write
        # (a project just created, a member just added) already sees it.
        self.guard: PermissionGuard | None = None

    def apply(self, e: Any) -> None:
        self._apply(e)
        if self.guard is not None:
            _teach(self.guard, e)

    def _apply(self, e: Any) -> None:
        oid = str(e.originator_id)
        at = e.timestamp.isoformat()
        if isinstance(e, User.Created):
            self.users[oid] = {
                "user_id": oid, "email": e.email, "username": e.username,
                "full_name": e.full_name, "description": e.description, "role": e.role,
                "status": e.status, "domain": e.domain, "projects": list(e.projects),
                "resource_policy": e.resource_policy,
                "need_password_change": e.need_password_change, "keypairs": [],
                "created_at": at, "updated_at": at,
            }
        elif type(e) in USER_FIELDS:
            self.users[oid].update(USER_FIELDS[type(e)](e), updated_at=at)
        elif isinstance(e, User.JoinedProject):
            self.users[oid]["projects"].append(e.project_id)
        elif isinstance(e, User.LeftProject):
            self.users[oid]["projects"].remove(e.project_id)
        elif isinstance(e, User.Updated):  # retired shape, stored by older code
            self.users[oid].update(e.changes, updated_at=at)
        elif isinstance(e, User.Deactivated | User.Activated):
            status = "active" if isinstance(e, User.Activated) else "inactive"
            self.users[oid].update(status=status, updated_at=at)
        elif isinstance(e, User.PasswordChanged):
            self.users[oid].update(updated_at=at, password_changed_at=at)
        elif isinstance(e, User.KeypairAttached):
            self.users[oid]["keypairs"].append(e.access_key)
        else:
            self._apply_other(e, oid, at)

    def _apply_other(self, e: Any, oid: str, at: str) -> None:
        if isinstance(e, Keypair.Issued):
            self.keypairs[e.access_key] = {
                "access_key": e.access_key, "user_id": e.user_id, "email": e.email,
                "is_active": e.is_active, "is_admin": e.is_admin, "is_default": e.is_default,
                "resource_policy": e.resource_policy, "rate_limit": e.rate_limit,
                "created_at": at, "_id": oid,
            }
            self._keypair_ids[oid] = e.access_key
        elif isinstance(e, Keypair.Activated | Keypair.Deactivated):
            self._keypair(oid)["is_active"] = isinstance(e, Keypair.Activated)
        elif isinstance(e, Keypair.PolicyAssigned):
            self._keypair(oid)["resource_policy"] = e.resource_policy
        elif isinstance(e, Keypair.RateLimitSet):
            self._keypair(oid)["rate_limit"] = e.rate_limit
        elif isinstance(e, Domain.Created):
            self.domains[e.name] = {"domain_id": oid, "name": e.name,
                                    "description": e.description, "created_at": at}
        elif isinstance(e, Project.Created):
            self.projects[oid] = {"project_id": oid, "domain": e.domain, "name": e.name,
                                  "description": e.description,
                                  "resource_policy": e.resource_policy, "members": [],
                                  "created_at": at}
        elif isinstance(e, Project.MemberAdded):
            self.projects[oid]["members"].append(e.user_id)
        elif isinstance(e, Project.MemberRemoved):
            self.projects[oid]["members"].remove(e.user_id)

    def _keypair(self, aggregate_id: str) -> dict[str, Any]:
        return self.keypairs[self._keypair_ids[aggregate_id]]

    def principal(self, actor: Actor) -> Principal:
        if self.others_write and actor.access_key and actor.access_key not in self.keypairs:
            if not may_block():
                raise MustBlock  # a read of the store: not on the event loop
            self.catch_up()  # another instance may have issued it a moment ago
        with self.lock:
            keypair = self.keypairs.get(actor.access_key or "")
            user = self.users.get(keypair["user_id"]) if keypair else None
            if keypair is None or user is None:
                raise refuse("auth.unauthenticated", "the actor's access key is unknown")
            if not keypair["is_active"] or user["status"] != "active":
                raise refuse("auth.unauthenticated", "the actor's keypair or user is inactive")
            return Principal(user["user_id"], user["email"], user["role"], user["domain"])

    def inactive(self, actor: Actor) -> bool:
        """A known keypair that is deactivated, or whose user is (the dispatcher's check)."""
        with self.lock:
            keypair = self.keypairs.get(actor.access_key or "")
            user = self.users.get(keypair["user_id"]) if keypair else None
            return keypair is not None and (not keypair["is_active"] or (
                user is not None and user["status"] != "active"))

    def token_for(self, access_key: str) -> tuple[str, str] | None:
        """(user id, access key) of an active keypair of an active user, else None."""
        with self.lock:
            keypair = self.keypairs.get(access_key)
            user = self.users.get(keypair["user_id"]) if keypair else None
            if keypair is None or user is None or not keypair["is_active"] \
                    or user["status"] != "active":
                return None
            return user["user_id"], access_key

    # ---- queries --------------------------------------------------------------------------

    def get_user(self, q: c.GetUser, keypairs_readable: Readable = _all
                 ) -> dict[str, Any] | None:
        with self.lock:
            if q.user_id:
                user = self.users.get(q.user_id)
            else:
                email = canonical_email(q.email or "")
                user = next((u for u in self.users.values() if u["email"] == email), None)
            if user is None:
                return None
            shown = user["keypairs"] if keypairs_readable(user["user_id"]) else []
            keypairs = [_public_keypair(self.keypairs[ak]) for ak in shown]
            projects = [{"project_id": p, "name": self.projects[p]["name"]}
                        for p in user["projects"] if p in self.projects]
            return {**user, "keypairs": keypairs, "projects": projects}

    def list_users(self, q: c.ListUsers, readable: Readable = _all) -> dict[str, Any]:
        """Only the users `readable` admits (by user id) count and show."""
        with self.lock:
            rows = [
                u for u in self.users.values()
                if (q.status is None or u["status"] == q.status)
                and q.email_contains.lower() in u["email"]
                and q.username_contains.lower() in u["username"].lower()
                and (q.domain is None or u["domain"] == q.domain)
                and readable(u["user_id"])
            ]
            rows.sort(key=lambda u: (u[q.sort], u["email"]), reverse=q.order == "desc")
            page = [{k: v for k, v in u.items() if k != "keypairs"}
                    for u in rows[q.offset:q.offset + q.limit]]
        return {"total": len(rows), "offset": q.offset, "limit": q.limit, "items": page}

    def list_keypairs(self, q: c.ListKeypairs, readable: Readable = _all) -> dict[str, Any]:
        """Only the keypairs whose owner `readable` admits count and show."""
        with self.lock:
            rows = [
                _public_keypair(k) for k in self.keypairs.values()
                if (q.is_active is None or k["is_active"] == q.is_active)
                and q.email_contains.lower() in k["email"]
                and readable(k["user_id"])
            ]
        rows.sort(key=lambda k: (k[q.sort], k["access_key"]), reverse=q.order == "desc")
        return {"total": len(rows), "offset": q.offset, "limit": q.limit,
                "items": rows[q.offset:q.offset + q.limit]}

    def list_domains(self, readable: Readable = _all) -> dict[str, Any]:
        with self.lock:
            rows = [d for d in self.domains.values() if readable(d["domain_id"])]
        return {"items": sorted(rows, key=lambda d: d["name"])}

    def list_projects(self, q: c.ListProjects, readable: Readable = _all) -> dict[str, Any]:
        with self.lock:
            rows = [p for p in self.projects.values() if q.domain in (None, p["domain"])
                    and readable(p["project_id"])]
            return {"items": sorted(rows, key=lambda p: (p["domain"], p["name"]))}


def _public_keypair(keypair: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in keypair.items() if not k.startswith("_")}


def _teach(guard: PermissionGuard, e: Any) -> None:
    oid = str(e.originator_id)
    if isinstance(e, Domain.Created):
        guard.learn_domain(oid, e.name)
    elif isinstance(e, Project.Created):
        guard.learn_project(oid, e.domain)
    elif isinstance(e, User.Created):
        guard.learn_user(oid, e.email, e.domain, e.role)
    elif isinstance(e, User.RoleChanged):
        guard.learn_role(oid, e.role)
    elif isinstance(e, User.Updated) and "role" in e.changes:  # retired shape
        guard.learn_role(oid, e.changes["role"])
    elif isinstance(e, Project.MemberAdded | Project.MemberRemoved):
        guard.learn_membership(e.user_id, oid, isinstance(e, Project.MemberAdded))
    elif isinstance(e, Keypair.Issued):
        guard.learn_keypair(e.access_key, e.user_id)

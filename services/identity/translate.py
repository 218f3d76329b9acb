"""Stored identity events → published contract events (and which ones are published)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from contracts import identity as c
from contracts.envelope import Event
from services.identity.domain.model import Domain, Keypair, Project, User
from services.runtime.relay import contract_event
from services.runtime.store import ServiceApplication


class IdentityTranslator:
    """Builds self-contained contract events.

    Stored events carry only what changed; published ones also carry the immutable keys a
    consumer needs (email, access key, user id). Those are remembered from the creation
    events as the relay passes them, or read from the aggregate after a relay restart.
    """

    def __init__(self, app: ServiceApplication) -> None:
        self.app = app
        self._keys: dict[str, dict[str, str]] = {}

    def __call__(self, e: Any) -> tuple[str, Event] | None:
        found = self.data(e)
        return None if found is None else contract_event(c, e, *found)

    def keys(self, aggregate_id: str) -> dict[str, str]:
        if aggregate_id not in self._keys:
            aggregate = self.app.repository.get(UUID(aggregate_id))
            if isinstance(aggregate, User):
                self._keys[aggregate_id] = {"user_id": aggregate_id, "email": aggregate.email}
            else:
                self._keys[aggregate_id] = {"access_key": aggregate.access_key,
                                            "user_id": aggregate.user_id}
        return self._keys[aggregate_id]

    def data(self, e: Any) -> tuple[str, dict[str, Any]] | None:
        oid = str(e.originator_id)
        if isinstance(e, User.Created):
            self._keys[oid] = {"user_id": oid, "email": e.email}
            return "UserCreated", {
                "user_id": oid, "email": e.email, "username": e.username,
                "full_name": e.full_name, "description": e.description, "role": e.role,
                "status": e.status, "domain": e.domain, "projects": e.projects,
                "resource_policy": e.resource_policy,
                "need_password_change": e.need_password_change, "created_at": e.timestamp}
        found = self._user_change(e, oid)
        if found is not None:
            return found
        if isinstance(e, User.Updated):  # retired shape, stored by older code
            return "UserUpdated", {**self.keys(oid), "changes": e.changes}
        if isinstance(e, User.Deactivated):
            return "UserDeactivated", {**self.keys(oid),
                                       "deactivated_keypairs": e.deactivated_keypairs}
        if isinstance(e, User.Activated):
            return "UserActivated", self.keys(oid)
        if isinstance(e, User.PasswordChanged):  # never the hash
            return "PasswordChanged", {**self.keys(oid), "changed_at": e.timestamp}
        return self._keypair(e, oid) or _directory(e, oid)

    def _user_change(self, e: Any, oid: str) -> tuple[str, dict[str, Any]] | None:
        """One specific event per user change (a user's own project list is not published:
        the project's MemberAdded / MemberRemoved say it)."""
        if isinstance(e, User.Renamed):
            return "UserRenamed", {**self.keys(oid), "username": e.username,
                                   "previous_username": e.previous_username}
        if isinstance(e, User.ProfileChanged):
            return "UserProfileChanged", {**self.keys(oid), "full_name": e.full_name,
                                          "description": e.description}
        if isinstance(e, User.RoleChanged):
            return "UserRoleChanged", {**self.keys(oid), "role": e.role,
                                       "previous_role": e.previous_role}
        if isinstance(e, User.PolicyAssigned):
            return "UserPolicyAssigned", {**self.keys(oid), "resource_policy": e.resource_policy,
                                          "previous_policy": e.previous_policy}
        if isinstance(e, User.PasswordChangeRequired):
            return "PasswordChangeRequired", {**self.keys(oid), "required": e.required}
        return None

    def _keypair(self, e: Any, oid: str) -> tuple[str, dict[str, Any]] | None:
        if isinstance(e, Keypair.Issued):  # never the secret
            self._keys[oid] = {"access_key": e.access_key, "user_id": e.user_id}
            return "KeypairIssued", {
                "access_key": e.access_key, "user_id": e.user_id, "email": e.email,
                "is_active": e.is_active, "is_admin": e.is_admin, "is_default": e.is_default,
                "resource_policy": e.resource_policy, "rate_limit": e.rate_limit}
        if isinstance(e, Keypair.Activated):
            return "KeypairActivated", self.keys(oid)
        if isinstance(e, Keypair.Deactivated):
            return "KeypairDeactivated", {**self.keys(oid), "reason": e.reason}
        if isinstance(e, Keypair.PolicyAssigned):
            return "KeypairPolicyAssigned", {**self.keys(oid),
                                             "resource_policy": e.resource_policy,
                                             "previous_policy": e.previous_policy}
        if isinstance(e, Keypair.RateLimitSet):  # v1 (RateLimitChanged) upcast: previous None
            return "KeypairRateLimitSet", {**self.keys(oid), "rate_limit": e.rate_limit,
                                           "previous_rate_limit": e.previous_rate_limit}
        return None


def _directory(e: Any, oid: str) -> tuple[str, dict[str, Any]] | None:
    if isinstance(e, Domain.Created):
        return "DomainCreated", {"domain_id": oid, "name": e.name, "description": e.description}
    if isinstance(e, Project.Created):
        return "ProjectCreated", {"project_id": oid, "domain": e.domain, "name": e.name,
                                  "description": e.description,
                                  "resource_policy": e.resource_policy}
    if isinstance(e, Project.MemberAdded):
        return "MemberAdded", {"project_id": oid, "user_id": e.user_id}
    if isinstance(e, Project.MemberRemoved):
        return "MemberRemoved", {"project_id": oid, "user_id": e.user_id}
    return None

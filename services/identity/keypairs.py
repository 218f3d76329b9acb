"""Keypair commands and authentication (login, access-key resolution) of identity."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from contracts import identity as c
from contracts.envelope import Actor
from services.identity.directory import ADMIN_ROLES, IdentityBase, credentials_reply
from services.identity.domain import access
from services.identity.domain.credentials import verify_password
from services.identity.domain.errors import IdentityError, refuse
from services.identity.domain.model import Keypair, keypair_id
from services.runtime.store import Decision


class KeypairCommands(IdentityBase):
    """Issue, activate, deactivate and re-policy keypairs; log in; resolve access keys."""

    def issue_keypair(self, command_id: str, actor: Actor, p: c.IssueKeypair) -> dict[str, Any]:
        def decide() -> Decision:
            principal = self.principal(actor)
            user = self.user_by_email(p.email)
            access.require_may_manage(principal, user.role)
            if p.resource_policy is not None:
                self.require_policy("keypair", p.resource_policy)
            keypair = self._new_keypair(user, is_default=not user.keypairs,
                                        policy=p.resource_policy, rate_limit=p.rate_limit)
            return Decision([user, keypair], credentials_reply(user, keypair))

        return self.execute(command_id, p.model_dump(), decide)

    def change_keypair(self, command_id: str, actor: Actor, access_key: str,
                       change: str, value: Any = None) -> dict[str, Any]:
        """activate | deactivate | assign-policy | set-rate-limit on one keypair."""

        def decide() -> Decision:
            principal = self.principal(actor)
            keypair = self.keypair(access_key)
            user = self.find(UUID(keypair.user_id))
            if user is None:
                raise refuse("keypair.orphaned", "the keypair's user does not exist")
            access.require_may_manage(principal, user.role)
            if change == "activate" and not keypair.is_active:
                if not user.is_active:
                    raise refuse("keypair.user_inactive",
                                 "activate the user before its keypairs", field="access_key")
                keypair.activate()
            elif change == "deactivate" and keypair.is_active:
                keypair.deactivate("admin-requested")
            elif change == "assign-policy" and keypair.resource_policy != value:
                self.require_policy("keypair", value)
                keypair.assign_policy(value, keypair.resource_policy)
            elif change == "set-rate-limit" and keypair.rate_limit != value:
                keypair.set_rate_limit(value)
            return Decision([keypair], _keypair_summary(keypair))

        data = {"access_key": access_key, "change": change, "value": value}
        return self.execute(command_id, data, decide)

    # ---- authentication (gateway only; NATS permissions guard the subjects) --------------

    def login(self, p: c.Login) -> dict[str, Any]:
        """Same refusal for unknown email, wrong password and inactive user: no enumeration."""
        failure = refuse("auth.invalid_credentials", "email or password is wrong, "
                         "or the account is inactive")
        try:
            user = self.user_by_email(p.email)
        except IdentityError:
            raise failure from None
        if not verify_password(user.password_hash, p.password) or not user.is_active:
            raise failure
        if user.domain != p.domain:
            raise failure
        keypairs = [self.keypair(ak) for ak in user.keypairs]
        active = sorted((k for k in keypairs if k.is_active), key=lambda k: not k.is_default)
        if not active:
            raise refuse("auth.no_active_keypair", "the user has no active keypair")
        return {**credentials_reply(user, active[0]), "domain": user.domain,
                "need_password_change": user.need_password_change}

    def resolve_keypair(self, access_key: str) -> dict[str, Any]:
        keypair = self.find(keypair_id(access_key))
        user = self.find(UUID(keypair.user_id)) if keypair else None
        if keypair is None or user is None:
            raise refuse("keypair.not_found", "unknown access key")
        if not keypair.is_active or not user.is_active:
            raise refuse("keypair.inactive", "the keypair or its user is inactive")
        return {**_keypair_summary(keypair), "secret_key": keypair.secret_key,
                "is_admin": user.role in ADMIN_ROLES, "role": user.role,
                "domain": user.domain, "user_status": user.status}


def _keypair_summary(keypair: Keypair) -> dict[str, Any]:
    return {"access_key": keypair.access_key, "user_id": keypair.user_id,
            "email": keypair.email, "is_active": keypair.is_active,
            "is_admin": keypair.is_admin, "is_default": keypair.is_default,
            "resource_policy": keypair.resource_policy, "rate_limit": keypair.rate_limit}

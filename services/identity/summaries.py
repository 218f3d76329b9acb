"""What identity's commands and authentication queries answer: plain functions of the
aggregates (no secret but where the reply is the credentials' only delivery)."""

from __future__ import annotations

from typing import Any

from services.identity.domain.model import ADMIN_ROLES, Keypair, User


def credentials(user: User, keypair: Keypair) -> dict[str, Any]:
    """A new user's or keypair's credentials (the secret is in this reply only)."""
    return {"user_id": str(user.id), "email": user.email, "username": user.username,
            "role": user.role, "access_key": keypair.access_key,
            "secret_key": keypair.secret_key}


def user_summary(user: User) -> dict[str, Any]:
    return {"user_id": str(user.id), "email": user.email, "username": user.username,
            "full_name": user.full_name, "role": user.role, "status": user.status,
            "domain": user.domain, "projects": list(user.projects),
            "resource_policy": user.resource_policy,
            "need_password_change": user.need_password_change}


def keypair_summary(keypair: Keypair) -> dict[str, Any]:
    return {"access_key": keypair.access_key, "user_id": keypair.user_id,
            "email": keypair.email, "is_active": keypair.is_active,
            "is_admin": keypair.is_admin, "is_default": keypair.is_default,
            "resource_policy": keypair.resource_policy, "rate_limit": keypair.rate_limit}


def resolved(user: User, keypair: Keypair) -> dict[str, Any]:
    """`keypairs.resolve`: the secret to verify a signature, and the owner's standing."""
    return {**keypair_summary(keypair), "secret_key": keypair.secret_key,
            "is_admin": user.role in ADMIN_ROLES, "role": user.role,
            "domain": user.domain, "user_status": user.status}

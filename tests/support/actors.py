"""Teach an `ActorDirectory` a user and its keypair directly (unit tests, no bus)."""

from __future__ import annotations

from services.runtime.actors import ActorDirectory


def teach_actor(directory: ActorDirectory, user_id: str, role: str, access_key: str, *,
                email: str | None = None, status: str = "active", key_active: bool = True,
                policy: str = "default") -> None:
    """As identity's UserCreated and KeypairIssued events would."""
    email = email or f"{user_id}@example.com"
    directory.apply({"type": "UserCreated", "data": {
        "user_id": user_id, "email": email, "username": user_id, "full_name": "",
        "description": "", "role": role, "status": status, "domain": "default",
        "projects": [], "resource_policy": "default"}})
    directory.apply({"type": "KeypairIssued", "data": {
        "access_key": access_key, "user_id": user_id, "email": email,
        "is_active": key_active, "is_admin": role != "user", "is_default": True,
        "resource_policy": policy, "rate_limit": 1000}})

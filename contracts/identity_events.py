"""Identity's event data: what each event on `BAI_EVT_IDENTITY` carries (re-exported by
contracts/identity.py, which maps them to types and subjects in `EVENT_TYPES`). The retired
shapes (`UserUpdated`, `KeypairRateLimitChanged`) stay: older streams still hold them."""

from __future__ import annotations

from datetime import datetime

from contracts.identity_requests import Payload
from contracts.values import UserRole, UserStatus


class UserCreated(Payload):
    user_id: str
    email: str
    username: str
    full_name: str
    description: str
    role: UserRole
    status: UserStatus
    domain: str
    projects: list[str]
    resource_policy: str
    need_password_change: bool
    created_at: datetime


class UserRenamed(Payload):
    user_id: str
    email: str
    username: str
    previous_username: str | None = None  # None: expanded from a retired UserUpdated


class UserProfileChanged(Payload):
    """The new full name and description (None: not told, from a retired UserUpdated)."""

    user_id: str
    email: str
    full_name: str | None
    description: str | None


class UserRoleChanged(Payload):
    user_id: str
    email: str
    role: UserRole
    previous_role: UserRole | None = None  # None: expanded from a retired UserUpdated


class UserPolicyAssigned(Payload):
    user_id: str
    email: str
    resource_policy: str
    previous_policy: str | None = None  # None: expanded from a retired UserUpdated


class PasswordChangeRequired(Payload):
    """Whether the user must change the password at the next login."""

    user_id: str
    email: str
    required: bool


class UserUpdated(Payload):
    """Retired (published until 2026-12-01; streams of older data dirs still hold it): any
    field change, `changes` = {field: new value}. `typed_events` expands it into the specific
    events above."""

    user_id: str
    email: str
    changes: dict[str, object]


class UserDeactivated(Payload):
    """The user can no longer log in; all its keypairs were deactivated with it."""

    user_id: str
    email: str
    deactivated_keypairs: list[str]


class UserActivated(Payload):
    user_id: str
    email: str


class PasswordChanged(Payload):
    user_id: str
    email: str
    changed_at: datetime


class KeypairIssued(Payload):
    access_key: str
    user_id: str
    email: str
    is_active: bool
    is_admin: bool
    is_default: bool
    resource_policy: str
    rate_limit: int


class KeypairActivated(Payload):
    access_key: str
    user_id: str


class KeypairDeactivated(Payload):
    access_key: str
    user_id: str
    reason: str


class KeypairPolicyAssigned(Payload):
    access_key: str
    user_id: str
    resource_policy: str
    previous_policy: str


class KeypairRateLimitSet(Payload):
    access_key: str
    user_id: str
    rate_limit: int
    previous_rate_limit: int | None = None  # None: recorded before 2026-12-02


class KeypairRateLimitChanged(Payload):
    """Retired (published until 2026-12-01): now KeypairRateLimitSet."""

    access_key: str
    user_id: str
    rate_limit: int


class DomainCreated(Payload):
    domain_id: str
    name: str
    description: str


class ProjectCreated(Payload):
    project_id: str
    domain: str
    name: str
    description: str
    resource_policy: str


class MemberAdded(Payload):
    project_id: str
    user_id: str


class MemberRemoved(Payload):
    project_id: str
    user_id: str

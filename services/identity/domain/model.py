"""Identity aggregates: Domain, Project, User, Keypair and the uniqueness indexes."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from services.runtime.ids import stable_id


def domain_id(name: str) -> UUID:
    return stable_id("domain", name.lower())


def project_id(domain: str, name: str) -> UUID:
    return stable_id("project", domain.lower(), name.lower())


def keypair_id(access_key: str) -> UUID:
    return stable_id("keypair", access_key)


def email_index_id(email: str) -> UUID:
    return stable_id("email", email.lower())


def username_index_id(username: str) -> UUID:
    return stable_id("username", username.lower())


class Domain(Aggregate):
    @event("Created")
    def __init__(self, name: str, description: str) -> None:
        self.name = name
        self.description = description
        self.is_active = True

    @staticmethod
    def create_id(name: str, description: str) -> UUID:
        return domain_id(name)


class Project(Aggregate):
    @event("Created")
    def __init__(self, domain: str, name: str, description: str, resource_policy: str) -> None:
        self.domain = domain
        self.name = name
        self.description = description
        self.resource_policy = resource_policy
        self.members: list[str] = []

    @staticmethod
    def create_id(domain: str, name: str, description: str, resource_policy: str) -> UUID:
        return project_id(domain, name)

    @event("MemberAdded")
    def add_member(self, user_id: str) -> None:
        self.members.append(user_id)

    @event("MemberRemoved")
    def remove_member(self, user_id: str) -> None:
        self.members.remove(user_id)


class User(Aggregate):
    @event("Created")
    def __init__(
        self,
        email: str,
        username: str,
        full_name: str,
        description: str,
        password_hash: str,
        role: str,
        status: str,
        domain: str,
        projects: list[str],
        resource_policy: str,
        need_password_change: bool,
    ) -> None:
        self.email = email
        self.username = username
        self.full_name = full_name
        self.description = description
        self.password_hash = password_hash
        self.role = role
        self.status = status
        self.domain = domain
        self.projects = list(projects)
        self.resource_policy = resource_policy
        self.need_password_change = need_password_change
        self.keypairs: list[str] = []

    @property
    def is_active(self) -> bool:
        return self.status == "active"

    @event("Updated")
    def update(self, changes: dict[str, Any]) -> None:
        for name, value in changes.items():
            setattr(self, name, value)

    @event("PasswordChanged")
    def change_password(self, password_hash: str) -> None:
        self.password_hash = password_hash

    @event("Deactivated")
    def deactivate(self, deactivated_keypairs: list[str]) -> None:
        self.status = "inactive"

    @event("Activated")
    def activate(self) -> None:
        self.status = "active"

    @event("KeypairAttached")
    def attach_keypair(self, access_key: str) -> None:
        self.keypairs.append(access_key)


class Keypair(Aggregate):
    @event("Issued")
    def __init__(
        self,
        access_key: str,
        secret_key: str,
        user_id: str,
        email: str,
        is_active: bool,
        is_admin: bool,
        is_default: bool,
        resource_policy: str,
        rate_limit: int,
    ) -> None:
        self.access_key = access_key
        self.secret_key = secret_key
        self.user_id = user_id
        self.email = email
        self.is_active = is_active
        self.is_admin = is_admin
        self.is_default = is_default
        self.resource_policy = resource_policy
        self.rate_limit = rate_limit

    @staticmethod
    def create_id(access_key: str, **_: Any) -> UUID:
        return keypair_id(access_key)

    @event("Activated")
    def activate(self) -> None:
        self.is_active = True

    @event("Deactivated")
    def deactivate(self, reason: str) -> None:
        self.is_active = False

    @event("PolicyAssigned")
    def assign_policy(self, resource_policy: str, previous_policy: str) -> None:
        self.resource_policy = resource_policy

    @event("RateLimitChanged")
    def set_rate_limit(self, rate_limit: int) -> None:
        self.rate_limit = rate_limit


class EmailIndex(Aggregate):
    """Owns one email address; its deterministic id makes the address globally unique."""

    @event("Claimed")
    def __init__(self, email: str, user_id: str) -> None:
        self.email = email
        self.user_id = user_id

    @staticmethod
    def create_id(email: str, user_id: str) -> UUID:
        return email_index_id(email)


class UsernameIndex(Aggregate):
    """Owns one username; released on rename so the name can be taken again."""

    @event("Claimed")
    def __init__(self, username: str, user_id: str) -> None:
        self.username = username
        self.user_id: str | None = user_id

    @staticmethod
    def create_id(username: str, user_id: str) -> UUID:
        return username_index_id(username)

    @event("Reclaimed")
    def reclaim(self, user_id: str) -> None:
        self.user_id = user_id

    @event("Released")
    def release(self) -> None:
        self.user_id = None


class Bootstrapped(Aggregate):
    """Exists once the first superadmin was created; bootstrap is refused afterwards."""

    @event("Done")
    def __init__(self, user_id: str) -> None:
        self.user_id = user_id

    @staticmethod
    def create_id(user_id: str) -> UUID:
        return BOOTSTRAPPED_ID


BOOTSTRAPPED_ID = stable_id("identity-bootstrapped")


class PolicyCatalog(Aggregate):
    """Names of one tier's resource policies, as quota announced them."""

    @event("Started")
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.names: list[str] = []

    @staticmethod
    def create_id(kind: str) -> UUID:
        return stable_id("policy-catalog", kind)

    @event("Added")
    def add(self, name: str) -> None:
        self.names.append(name)

    @event("Removed")
    def remove(self, name: str) -> None:
        self.names.remove(name)

"""What storage learns from identity and quota (kept in its own store, exactly once): users
with their projects and policy, projects, keypairs' policies, and the policies' folder limits."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from services.runtime.ids import stable_id
from services.runtime.traced import Aggregate


def known_user_id(user_id: str) -> UUID:
    return stable_id("known-user", user_id)


def known_project_id(project_id: str) -> UUID:
    return stable_id("known-project", project_id)


def known_keypair_id(access_key: str) -> UUID:
    return stable_id("known-keypair", access_key)


def known_policy_id(kind: str, name: str) -> UUID:
    return stable_id("known-policy", kind, name)


class KnownUser(Aggregate):
    @event("Learnt")
    def __init__(self, user_id: str, email: str, domain: str, role: str, policy: str,
                 projects: list[str]) -> None:
        self.user_id = user_id
        self.email = email
        self.domain = domain
        self.role = role
        self.policy = policy
        self.projects = list(dict.fromkeys(projects))

    @staticmethod
    def create_id(user_id: str, email: str, domain: str, role: str, policy: str,
                  projects: list[str]) -> UUID:
        return known_user_id(user_id)

    @event("Changed")
    def change(self, role: str, domain: str, policy: str) -> None:
        self.role, self.domain, self.policy = role, domain, policy

    @event("Joined")
    def join(self, project_id: str) -> None:
        if project_id not in self.projects:
            self.projects.append(project_id)

    @event("Left")
    def leave(self, project_id: str) -> None:
        if project_id in self.projects:
            self.projects.remove(project_id)


class KnownProject(Aggregate):
    @event("Learnt")
    def __init__(self, project_id: str, name: str, domain: str, policy: str) -> None:
        self.project_id = project_id
        self.name = name
        self.domain = domain
        self.policy = policy

    @staticmethod
    def create_id(project_id: str, name: str, domain: str, policy: str) -> UUID:
        return known_project_id(project_id)


class KnownKeypair(Aggregate):
    @event("Learnt")
    def __init__(self, access_key: str, user_id: str, policy: str) -> None:
        self.access_key = access_key
        self.user_id = user_id
        self.policy = policy

    @staticmethod
    def create_id(access_key: str, user_id: str, policy: str) -> UUID:
        return known_keypair_id(access_key)

    @event("PolicyAssigned")
    def assign(self, policy: str) -> None:
        self.policy = policy


class KnownPolicy(Aggregate):
    """The folder fields of one resource policy: max_vfolder_count, allowed_vfolder_hosts."""

    @event("Learnt")
    def __init__(self, kind: str, name: str, limits: dict[str, Any]) -> None:
        self.kind = kind
        self.name = name
        self.limits = dict(limits)
        self.deleted = False

    @staticmethod
    def create_id(kind: str, name: str, limits: dict[str, Any]) -> UUID:
        return known_policy_id(kind, name)

    @event("Changed")
    def change(self, limits: dict[str, Any]) -> None:
        self.limits = dict(limits)
        self.deleted = False

    @event("Forgotten")
    def forget(self) -> None:
        self.deleted = True


FOLDER_FIELDS = ("max_vfolder_count", "allowed_vfolder_hosts", "max_vfolder_size",
                 "max_quota_scope_size")


def folder_limits(policy: dict[str, Any]) -> dict[str, Any]:
    """The policy fields storage acts on (the rest are other services' business)."""
    return {k: policy[k] for k in FOLDER_FIELDS if k in policy}


def byte_limit(value: Any) -> int | None:
    """A size limit in bytes from a policy field ("unlimited", 0 or absent: none)."""
    text = str(value) if value is not None else ""
    return int(text) if text.isdigit() and int(text) > 0 else None


def count_limit(*limits: Any) -> int | None:
    """The tightest of several `max_vfolder_count` values ("unlimited", 0 or absent: none)."""
    bounded = [int(v) for v in limits
               if v not in (None, "unlimited") and str(v).isdigit() and int(v) > 0]
    return min(bounded) if bounded else None

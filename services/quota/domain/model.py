"""Quota aggregates: Policy, PolicyUsage (who references a policy), Assignment."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from services.runtime.ids import stable_id

BOOTSTRAPPED = stable_id("quota-bootstrapped")


def policy_id(kind: str, name: str) -> UUID:
    return stable_id("policy", kind, name)


def usage_id(kind: str, name: str) -> UUID:
    return stable_id("policy-usage", kind, name)


def assignment_id(kind: str, subject: str) -> UUID:
    return stable_id("policy-assignment", kind, subject)


class Policy(Aggregate):
    """One named policy of one tier; the name is the key and never changes."""

    @event("Created")
    def __init__(self, kind: str, name: str, values: dict[str, Any]) -> None:
        self.kind = kind
        self.name = name
        self.values = dict(values)
        self.deleted = False

    @staticmethod
    def create_id(kind: str, name: str, values: dict[str, Any]) -> UUID:
        return policy_id(kind, name)

    @event("Updated")
    def update(self, values: dict[str, Any], changed: list[str]) -> None:
        self.values = dict(values)

    @event("Deleted")
    def delete(self) -> None:
        self.deleted = True

    @event("Recreated")
    def recreate(self, values: dict[str, Any]) -> None:
        self.values = dict(values)
        self.deleted = False


class PolicyUsage(Aggregate):
    """Which subjects (keypairs, users or projects) reference a policy, active or not."""

    @event("Started")
    def __init__(self, kind: str, name: str) -> None:
        self.kind = kind
        self.name = name
        self.subjects: dict[str, str] = {}  # subject id -> label (email, access key)

    @staticmethod
    def create_id(kind: str, name: str) -> UUID:
        return usage_id(kind, name)

    @event("Referenced")
    def reference(self, subject: str, label: str) -> None:
        self.subjects[subject] = label

    @event("Released")
    def release(self, subject: str) -> None:
        self.subjects.pop(subject, None)


class Assignment(Aggregate):
    """The policy one subject uses now (so a change knows what to release)."""

    @event("Assigned")
    def __init__(self, kind: str, subject: str, policy: str, label: str) -> None:
        self.kind = kind
        self.subject = subject
        self.policy = policy
        self.label = label

    @staticmethod
    def create_id(kind: str, subject: str, policy: str, label: str) -> UUID:
        return assignment_id(kind, subject)

    @event("Reassigned")
    def reassign(self, policy: str) -> None:
        self.policy = policy


class Bootstrapped(Aggregate):
    """Exists once the `default` keypair policy was created at first start."""

    @event("Done")
    def __init__(self) -> None:
        pass

    @staticmethod
    def create_id() -> UUID:
        return BOOTSTRAPPED

"""Quota aggregates: Policy, PolicyUsage (who references a policy), Assignment."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import event

from services.quota.domain.errors import refuse
from services.runtime.ids import stable_id
from services.runtime.traced import Aggregate

BOOTSTRAPPED = stable_id("quota-bootstrapped")
DEFAULT_POLICY = "default"
NAMES_SHOWN = 5


def policy_id(kind: str, name: str) -> UUID:
    return stable_id("policy", kind, name)


def usage_id(kind: str, name: str) -> UUID:
    return stable_id("policy-usage", kind, name)


def assignment_id(kind: str, subject: str) -> UUID:
    return stable_id("policy-assignment", kind, subject)


class Policy(Aggregate):
    """One named policy of one tier; the name is the key and never changes.

    Command methods refuse (coded `quota.…` errors) or record one event; `Updated` is the
    design's PolicyUpdated: the whole new policy and the names of the fields that changed."""

    @event("Created")
    def __init__(self, kind: str, name: str, values: dict[str, Any]) -> None:
        self.kind = kind
        self.name = name
        self.values = dict(values)
        self.deleted = False

    @staticmethod
    def create_id(kind: str, name: str, values: dict[str, Any]) -> UUID:
        return policy_id(kind, name)

    # ---- commands (refuse, or record a fact) ------------------------------------------------

    def create_again(self, values: dict[str, Any]) -> None:
        """A deleted policy's name taken again (the id is the name's)."""
        if not self.deleted:
            raise refuse("policy.name_taken", f"a {self.kind} policy named '{self.name}' "
                         "exists", field="name")
        self.recreated(values)

    def change(self, fields: dict[str, Any], new_name: str | None = None) -> list[str]:
        """Set the given (already canonical) fields; the changed ones, none recorded if none."""
        if new_name not in (None, self.name):
            raise refuse("policy.name_immutable",
                         "a policy cannot be renamed: the name is its key", field="new_name")
        values = self.values | fields
        changed = sorted(k for k in fields if self.values.get(k) != values[k])
        if changed:
            self.updated(values, changed)
        return changed

    def delete(self, usage: PolicyUsage | None) -> None:
        """Only a policy no one references, and never `default` (new subjects get it)."""
        if self.name == DEFAULT_POLICY:
            raise refuse("policy.protected", "the default policy cannot be deleted; "
                         "new keypairs, users and projects get it", field="name")
        if usage is not None and usage.subjects:
            raise usage.in_use()
        self.was_deleted()

    # ---- events ----------------------------------------------------------------------------

    @event("Updated")
    def updated(self, values: dict[str, Any], changed: list[str]) -> None:
        self.values = dict(values)

    @event("Deleted")
    def was_deleted(self) -> None:
        self.deleted = True

    @event("Recreated")
    def recreated(self, values: dict[str, Any]) -> None:
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

    def in_use(self) -> Exception:
        """The refusal to delete the policy: how many subjects, and a few by name."""
        labels = sorted(self.subjects.values())[:NAMES_SHOWN]
        counts = {"keypairs": 0, "users": 0, "projects": 0}
        counts[f"{self.kind}s"] = len(self.subjects)
        return refuse("policy.in_use",
                      f"'{self.name}' is used by {len(self.subjects)} {self.kind}(s), inactive "
                      f"ones included; e.g. {', '.join(labels)}", field="name",
                      references=counts, examples=labels)

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

    def move_to(self, policy: str) -> bool:
        if policy == self.policy:
            return False
        self.reassign(policy)
        return True

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

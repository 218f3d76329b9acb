"""QuotaApplication: policy commands (load → decide → save) and reference tracking."""

from __future__ import annotations

from typing import Any

from eventsourcing.persistence import Tracking

from contracts.envelope import Actor, Event
from contracts.quota import effective_slots
from contracts.values import UserRole
from services.quota.domain import fields
from services.quota.domain.errors import refuse
from services.quota.domain.model import (
    BOOTSTRAPPED,
    Assignment,
    Bootstrapped,
    Policy,
    PolicyUsage,
    assignment_id,
    policy_id,
    usage_id,
)
from services.runtime.actors import ActorDirectory
from services.runtime.store import Decision, ServiceApplication

DEFAULT_POLICY = "default"
NAMES_SHOWN = 5


class QuotaApplication(ServiceApplication):
    name = "quota"

    def __init__(self, env: dict[str, str] | None = None,
                 directory: ActorDirectory | None = None) -> None:
        super().__init__(env)
        self.directory = directory or ActorDirectory()

    def bootstrap_defaults(self) -> bool:
        """First start: an unlimited `default` policy of each tier (idempotent)."""
        if self.find(BOOTSTRAPPED) is not None:
            return False
        defaults = [Policy(kind="keypair", name=DEFAULT_POLICY,
                           values=fields.unlimited_keypair_policy())]
        defaults += [Policy(kind=kind, name=DEFAULT_POLICY, values=fields.defaults(kind))
                     for kind in ("user", "project")]
        self.save(*defaults, Bootstrapped())
        return True

    def policy(self, kind: str, name: str) -> Policy:
        found = self.find(policy_id(kind, name))
        if found is None or found.deleted:
            raise refuse("policy.not_found", f"no {kind} resource policy named '{name}'",
                         field="name")
        return found

    # ---- commands --------------------------------------------------------------------------

    def create_policy(self, command_id: str, actor: Actor, kind: str,
                      given: dict[str, Any]) -> dict[str, Any]:
        def decide() -> Decision:
            self.directory.require_role(actor, UserRole.SUPERADMIN)
            name = fields.check_name(given["name"])
            values = fields.defaults(kind) | fields.read_fields(kind, given)
            existing = self.find(policy_id(kind, name))
            if existing is not None and not existing.deleted:
                raise refuse("policy.name_taken", f"a {kind} policy named '{name}' exists",
                             field="name")
            if existing is None:
                policy = Policy(kind=kind, name=name, values=values)
            else:
                existing.recreate(values)
                policy = existing
            return Decision([policy], _summary(policy))

        return self.execute(command_id, {"kind": kind, **given}, decide)

    def update_policy(self, command_id: str, actor: Actor, kind: str,
                      given: dict[str, Any]) -> dict[str, Any]:
        def decide() -> Decision:
            self.directory.require_role(actor, UserRole.SUPERADMIN)
            if given.get("new_name") not in (None, given["name"]):
                raise refuse("policy.name_immutable",
                             "a policy cannot be renamed: the name is its key", field="new_name")
            policy = self.policy(kind, given["name"])
            changes = fields.read_fields(kind, given)
            values = policy.values | changes
            changed = sorted(k for k in changes if policy.values.get(k) != values[k])
            if changed:
                policy.update(values, changed)
            return Decision([policy], _summary(policy))

        return self.execute(command_id, {"kind": kind, **given}, decide)

    def delete_policy(self, command_id: str, actor: Actor, kind: str,
                      name: str) -> dict[str, Any]:
        def decide() -> Decision:
            self.directory.require_role(actor, UserRole.SUPERADMIN)
            policy = self.policy(kind, name)
            if name == DEFAULT_POLICY:
                raise refuse("policy.protected", "the default policy cannot be deleted; "
                             "new keypairs, users and projects get it", field="name")
            usage = self.find(usage_id(kind, name))
            if usage is not None and usage.subjects:
                raise in_use(kind, name, usage)
            policy.delete()
            return Decision([policy], {"kind": kind, "name": name, "deleted": True})

        return self.execute(command_id, {"kind": kind, "name": name}, decide)

    # ---- reactions to identity (effects + position in one transaction) ------------------

    def on_identity_event(self, envelope: Event, tracking: Tracking) -> None:
        data = envelope.data
        touched: list[Any] = []
        if envelope.type == "KeypairIssued":
            touched = self._assign("keypair", data["access_key"], data["resource_policy"],
                                   f"{data['access_key']} ({data['email']})")
        elif envelope.type == "KeypairPolicyAssigned":
            touched = self._assign("keypair", data["access_key"], data["resource_policy"], "")
        elif envelope.type == "UserCreated":
            touched = self._assign("user", data["user_id"], data["resource_policy"],
                                   data["email"])
        elif envelope.type == "UserUpdated" and "resource_policy" in data["changes"]:
            touched = self._assign("user", data["user_id"],
                                   data["changes"]["resource_policy"], data["email"])
        elif envelope.type == "ProjectCreated":
            touched = self._assign("project", data["project_id"], data["resource_policy"],
                                   f"{data['domain']}/{data['name']}")
        self.save_tracked(tracking, *touched)

    def _assign(self, kind: str, subject: str, policy: str, label: str) -> list[Any]:
        assignment = self.find(assignment_id(kind, subject))
        touched: list[Any] = []
        if assignment is None:
            assignment = Assignment(kind=kind, subject=subject, policy=policy, label=label)
        elif assignment.policy == policy:
            return []
        else:
            old = self._usage(kind, assignment.policy)
            old.release(subject)
            touched.append(old)
            assignment.reassign(policy)
        new = self._usage(kind, policy)
        new.reference(subject, label or assignment.label)
        return [assignment, new, *touched]

    def _usage(self, kind: str, name: str) -> PolicyUsage:
        found = self.find(usage_id(kind, name))
        return found if found is not None else PolicyUsage(kind=kind, name=name)

    # ---- queries -----------------------------------------------------------------------------

    def effective_limits(self, access_key: str) -> dict[str, Any]:
        """Authorized by the dispatcher (keypair:read at the keypair owner's scope)."""
        assignment = self.find(assignment_id("keypair", access_key))
        if assignment is None:
            raise refuse("keypair.unknown", "quota has not seen this keypair",
                         field="access_key")
        policy = self.policy("keypair", assignment.policy)
        scalars = {k: v for k, v in policy.values.items()
                   if k not in ("total_resource_slots", "default_for_unspecified")}
        return {"access_key": access_key, "policy": policy.name,
                "slots": effective_slots(policy.values), **scalars}


def in_use(kind: str, name: str, usage: PolicyUsage) -> Exception:
    labels = sorted(usage.subjects.values())[:NAMES_SHOWN]
    counts = {"keypairs": 0, "users": 0, "projects": 0}
    counts[f"{kind}s"] = len(usage.subjects)
    return refuse("policy.in_use",
                  f"'{name}' is used by {len(usage.subjects)} {kind}(s), inactive ones included;"
                  f" e.g. {', '.join(labels)}", field="name", references=counts, examples=labels)


def _summary(policy: Policy) -> dict[str, Any]:
    return {"kind": policy.kind, "name": policy.name, "policy": dict(policy.values)}


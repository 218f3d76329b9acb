"""QuotaApplication: policy commands (load → call the Policy's method → save) and the
reference tracking that identity's typed events drive (reactions.py parses them)."""

from __future__ import annotations

from typing import Any

from eventsourcing.persistence import Tracking

from contracts import identity as idc
from contracts.envelope import Actor
from contracts.quota import effective_slots
from contracts.values import UserRole
from services.quota.domain import fields
from services.quota.domain.errors import refuse
from services.quota.domain.model import (
    BOOTSTRAPPED,
    DEFAULT_POLICY,
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
            policy = self.find(policy_id(kind, name))
            if policy is None:
                policy = Policy(kind=kind, name=name, values=values)
            else:
                policy.create_again(values)
            return Decision([policy], _summary(policy))

        return self.execute(command_id, {"kind": kind, **given}, decide)

    def update_policy(self, command_id: str, actor: Actor, kind: str,
                      given: dict[str, Any]) -> dict[str, Any]:
        def decide() -> Decision:
            self.directory.require_role(actor, UserRole.SUPERADMIN)
            policy = self.policy(kind, given["name"])
            policy.change(fields.read_fields(kind, given), given.get("new_name"))
            return Decision([policy], _summary(policy))

        return self.execute(command_id, {"kind": kind, **given}, decide)

    def delete_policy(self, command_id: str, actor: Actor, kind: str,
                      name: str) -> dict[str, Any]:
        def decide() -> Decision:
            self.directory.require_role(actor, UserRole.SUPERADMIN)
            policy = self.policy(kind, name)
            policy.delete(self.find(usage_id(kind, name)))
            return Decision([policy], {"kind": kind, "name": name, "deleted": True})

        return self.execute(command_id, {"kind": kind, "name": name}, decide)

    # ---- reactions to identity, typed (reactions.py; effects + position in one transaction)

    def on_identity_events(self, events: list[idc.IdentityEvent], tracking: Tracking) -> None:
        """Who references which policy: keypairs, users and projects as identity tells."""
        touched: list[Any] = []
        for e in events:
            if isinstance(e, idc.KeypairIssued):
                touched += self._assign("keypair", e.access_key, e.resource_policy,
                                        f"{e.access_key} ({e.email})")
            elif isinstance(e, idc.KeypairPolicyAssigned):
                touched += self._assign("keypair", e.access_key, e.resource_policy, "")
            elif isinstance(e, idc.UserCreated):
                touched += self._assign("user", e.user_id, e.resource_policy, e.email)
            elif isinstance(e, idc.UserPolicyAssigned):
                touched += self._assign("user", e.user_id, e.resource_policy, e.email)
            elif isinstance(e, idc.ProjectCreated):
                touched += self._assign("project", e.project_id, e.resource_policy,
                                        f"{e.domain}/{e.name}")
        self.save_tracked(tracking, *touched)

    def _assign(self, kind: str, subject: str, policy: str, label: str) -> list[Any]:
        assignment = self.find(assignment_id(kind, subject))
        touched: list[Any] = []
        if assignment is None:
            assignment = Assignment(kind=kind, subject=subject, policy=policy, label=label)
        else:
            old = assignment.policy
            if not assignment.move_to(policy):
                return []
            released = self._usage(kind, old)
            released.release(subject)
            touched.append(released)
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


def _summary(policy: Policy) -> dict[str, Any]:
    return {"kind": policy.kind, "name": policy.name, "policy": dict(policy.values)}


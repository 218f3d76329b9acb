"""Quota contracts: resource policies (keypair, user, project), effective limits, events.

Wire conventions (one representation each):
- "unlimited" (the string) is the only way to say unlimited, for slots and scalar limits alike;
  commands also accept the reference system's 0 for idle_timeout / max_session_lifetime /
  max_vfolder_count / max_vfolder_size and null for max_pending_session_count, and the service
  normalizes them to "unlimited" in events and replies.
- Slot quantities are decimal strings. In commands `mem` is GiB; in events and replies `mem` is
  bytes (an integer string).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    StringConstraints,
)

from contracts import specs, subjects
from contracts.envelope import Event
from contracts.permissions import Needs, Target, any_user, scoped, system_wide
from contracts.rbac import EntityType as E
from contracts.rbac import Operation as O
from contracts.rbac import ScopeType as Sc
from contracts.reading import read_event_data
from contracts.replies import quota as r
from contracts.values import SLOT_NAMES as SLOT_NAMES  # one list of slots (values.SlotName)
from contracts.values import AccessKey, Limit, Offset, SortOrder
from contracts.values import DefaultForUnspecified as DefaultForUnspecified
from contracts.values import PolicyKind as PolicyKind

SERVICE = "quota"
UNLIMITED = "unlimited"


def effective_slots(policy: dict[str, Any]) -> dict[str, str]:
    """Every known slot of a keypair policy (as events and replies carry it) resolved: the
    value it names, else what `default_for_unspecified` says ("unlimited", or "0" when
    limited), so an unlimited slot and a slot limited to nothing never look alike."""
    fallback = UNLIMITED if policy["default_for_unspecified"] == UNLIMITED else "0"
    named = policy.get("total_resource_slots") or {}
    return {slot: str(named.get(slot, fallback)) for slot in SLOT_NAMES}

# Raw policy field values arrive as JSON scalars; the domain checks type and range so each
# refusal names the field and its range.
Scalar = StrictInt | StrictFloat | StrictStr | None
PolicyNameText = Annotated[str, StringConstraints(max_length=1024)]


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")


class KeypairPolicyFields(_Payload):
    total_resource_slots: dict[Annotated[str, StringConstraints(max_length=64)], Scalar] | None = (
        Field(default=None, max_length=16))
    default_for_unspecified: DefaultForUnspecified | None = None
    max_containers_per_session: Scalar = None
    idle_timeout: Scalar = None
    max_concurrent_sessions: Scalar = None
    max_session_lifetime: Scalar = None
    max_pending_session_count: Scalar = None
    allowed_vfolder_hosts: dict[
        Annotated[str, StringConstraints(max_length=128)],
        list[Annotated[str, StringConstraints(max_length=64)]],
    ] | None = Field(default=None, max_length=64)
    max_vfolder_count: Scalar = None
    max_vfolder_size: Scalar = None


class UserPolicyFields(_Payload):
    max_vfolder_count: Scalar = None
    max_quota_scope_size: Scalar = None
    max_session_count_per_model_session: Scalar = None
    max_customized_image_count: Scalar = None
    max_concurrent_logins: Scalar = None


class ProjectPolicyFields(_Payload):
    max_vfolder_count: Scalar = None
    max_quota_scope_size: Scalar = None
    max_network_count: Scalar = None


class CreateKeypairPolicy(KeypairPolicyFields):
    name: PolicyNameText


class UpdateKeypairPolicy(KeypairPolicyFields):
    name: PolicyNameText
    new_name: PolicyNameText | None = None  # always refused: the name is the primary key


class CreateUserPolicy(UserPolicyFields):
    name: PolicyNameText


class UpdateUserPolicy(UserPolicyFields):
    name: PolicyNameText
    new_name: PolicyNameText | None = None


class CreateProjectPolicy(ProjectPolicyFields):
    name: PolicyNameText


class UpdateProjectPolicy(ProjectPolicyFields):
    name: PolicyNameText
    new_name: PolicyNameText | None = None


class PolicyRef(_Payload):
    name: PolicyNameText


class ListPolicies(_Payload):
    name_contains: Annotated[str, StringConstraints(max_length=64)] = ""
    sort: Literal["name", "created_at", "updated_at"] = "name"
    order: SortOrder = SortOrder.ASC
    offset: Offset = 0
    limit: Limit = 50


class EffectiveLimits(_Payload):
    access_key: AccessKey


# ---- events ----------------------------------------------------------------------------------


class PolicyCreated(_Payload):
    kind: PolicyKind
    name: str
    policy: dict[str, Any]


class PolicyUpdated(_Payload):
    """Carries the whole new policy, so a consumer needs no query."""

    kind: PolicyKind
    name: str
    policy: dict[str, Any]
    changed: list[str]


class PolicyDeleted(_Payload):
    kind: PolicyKind
    name: str


EVENT_TYPES: dict[str, tuple[str, str, type[_Payload]]] = {
    "PolicyCreated": ("policy", "created", PolicyCreated),
    "PolicyUpdated": ("policy", "updated", PolicyUpdated),
    "PolicyDeleted": ("policy", "deleted", PolicyDeleted),
}


PolicyEvent = PolicyCreated | PolicyUpdated | PolicyDeleted


def event_subject(type_name: str) -> str:
    aggregate, name, _ = EVENT_TYPES[type_name]
    return subjects.event(SERVICE, aggregate, name)


def typed_event(envelope: Event) -> PolicyEvent | None:
    """The envelope's data as its contract model (None for a type this contract lacks):
    what a consumer's reaction receives, parsed once."""
    return typed_event_of(envelope.type, envelope.data)


def typed_event_of(type_name: str, data: dict[str, Any]) -> PolicyEvent | None:
    """The same from a type name and data (a replica folding the stream's JSON)."""
    found = EVENT_TYPES.get(type_name)
    return None if found is None else read_event_data(found[2], data)  # type: ignore[return-value]


class Subjects:
    KEYPAIR_POLICY_CREATE = subjects.command(SERVICE, "keypair-policy", "create")
    KEYPAIR_POLICY_UPDATE = subjects.command(SERVICE, "keypair-policy", "update")
    KEYPAIR_POLICY_DELETE = subjects.command(SERVICE, "keypair-policy", "delete")
    USER_POLICY_CREATE = subjects.command(SERVICE, "user-policy", "create")
    USER_POLICY_UPDATE = subjects.command(SERVICE, "user-policy", "update")
    USER_POLICY_DELETE = subjects.command(SERVICE, "user-policy", "delete")
    PROJECT_POLICY_CREATE = subjects.command(SERVICE, "project-policy", "create")
    PROJECT_POLICY_UPDATE = subjects.command(SERVICE, "project-policy", "update")
    PROJECT_POLICY_DELETE = subjects.command(SERVICE, "project-policy", "delete")

    KEYPAIR_POLICY_GET = subjects.query(SERVICE, "keypair-policies", "get")
    KEYPAIR_POLICY_LIST = subjects.query(SERVICE, "keypair-policies", "list")
    USER_POLICY_GET = subjects.query(SERVICE, "user-policies", "get")
    USER_POLICY_LIST = subjects.query(SERVICE, "user-policies", "list")
    PROJECT_POLICY_GET = subjects.query(SERVICE, "project-policies", "get")
    PROJECT_POLICY_LIST = subjects.query(SERVICE, "project-policies", "list")
    EFFECTIVE_LIMITS = subjects.query(SERVICE, "limits", "effective")


# ---- one declaration per message (contracts/specs.py); the tables below are views of it ------

# Resource policies are system-wide: superadmins only (contracts/permissions.py). Reading one
# policy: any active user (policies bound everyone and hold nothing secret; a user's resource
# indicator shows them). Listing them and reading a keypair's limits are an administrator's
# reads (Backend.AI: admins and superadmins): a policy list needs read of that policy type at
# the caller's own domain (a domain admin's role), a keypair's limits need keypair:read at the
# keypair owner's scope (the owner's own role, or the domain's admin).
S = Subjects
_FIELDS = ("policy.bad_choice", "policy.bad_step", "policy.bad_vfolder_host",
           "policy.name_invalid", "policy.not_a_number", "policy.out_of_range",
           "policy.unknown_slot")
# kind -> (entity, create/update/delete/get/list subjects, create/update payloads)
_TIERS: tuple[tuple[str, E, tuple[str, str, str, str, str], type[_Payload], type[_Payload]],
              ...] = (
    ("keypair", E.KEYPAIR_RESOURCE_POLICY,
     (S.KEYPAIR_POLICY_CREATE, S.KEYPAIR_POLICY_UPDATE, S.KEYPAIR_POLICY_DELETE,
      S.KEYPAIR_POLICY_GET, S.KEYPAIR_POLICY_LIST), CreateKeypairPolicy, UpdateKeypairPolicy),
    ("user", E.USER_RESOURCE_POLICY,
     (S.USER_POLICY_CREATE, S.USER_POLICY_UPDATE, S.USER_POLICY_DELETE,
      S.USER_POLICY_GET, S.USER_POLICY_LIST), CreateUserPolicy, UpdateUserPolicy),
    ("project", E.PROJECT_RESOURCE_POLICY,
     (S.PROJECT_POLICY_CREATE, S.PROJECT_POLICY_UPDATE, S.PROJECT_POLICY_DELETE,
      S.PROJECT_POLICY_GET, S.PROJECT_POLICY_LIST), CreateProjectPolicy, UpdateProjectPolicy),
)


def _tier_specs() -> list[specs.MessageSpec]:
    found: list[specs.MessageSpec] = []
    for kind, entity, (create, update, delete, get, listing), new, change in _TIERS:
        found += [
            specs.command(create, new, system_wide(entity, O.CREATE),
                          f"Create a {kind} resource policy.", ("policy.name_taken", *_FIELDS),
                          reply=r.PolicyState),
            specs.command(update, change, system_wide(entity, O.UPDATE),
                          f"Change a {kind} resource policy's fields (the whole policy is in "
                          "the event).", ("policy.not_found", "policy.name_immutable",
                                          *_FIELDS), reply=r.PolicyState),
            specs.command(delete, PolicyRef, system_wide(entity, O.HARD_DELETE),
                          f"Delete a {kind} resource policy no one uses.",
                          ("policy.not_found", "policy.protected", "policy.in_use"),
                          reply=r.DeletedPolicy),
            specs.query(get, PolicyRef, any_user(entity, O.READ),
                        f"One {kind} resource policy.", ("policy.not_found",),
                        reply=r.PolicyRow),
            specs.query(listing, ListPolicies, scoped(entity, O.READ, Sc.DOMAIN, Target.ACTOR),
                        f"The {kind} resource policies, filtered, sorted and paged.",
                        reply=r.PolicyPage),
        ]
    return found


SPECS: dict[str, specs.MessageSpec] = specs.index([
    *_tier_specs(),
    specs.query(S.EFFECTIVE_LIMITS, EffectiveLimits,
                scoped(E.KEYPAIR, O.READ, Sc.USER, Target.KEYPAIR, "access_key"),
                "A keypair's effective limits (its keypair, user and project policies).",
                ("keypair.unknown", "policy.not_found"), reply=r.KeypairLimits),
    specs.event(event_subject("PolicyCreated"), "PolicyCreated", PolicyCreated,
                "A resource policy was created (the whole policy)."),
    specs.event(event_subject("PolicyUpdated"), "PolicyUpdated", PolicyUpdated,
                "A resource policy changed (the whole new policy and the changed fields)."),
    specs.event(event_subject("PolicyDeleted"), "PolicyDeleted", PolicyDeleted,
                "A resource policy was deleted."),
])

COMMAND_PAYLOADS: dict[str, type[BaseModel]] = specs.payloads(SPECS, specs.COMMANDS)
QUERY_PAYLOADS: dict[str, type[BaseModel]] = specs.payloads(SPECS, specs.QUERIES)
COMMAND_NEEDS: dict[str, Needs] = specs.needs(SPECS, specs.COMMANDS)
QUERY_NEEDS: dict[str, Needs] = specs.needs(SPECS, specs.QUERIES)

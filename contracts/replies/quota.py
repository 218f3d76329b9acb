"""Quota's replies (contracts/quota.py SPECS name them).

Quantities are in the reply wire form of contracts/quota.py: "unlimited", an integer, or a
decimal string; `mem` and the size limits in bytes.
"""

from __future__ import annotations

from pydantic import Field

from contracts.replies import Page, ReplyModel
from contracts.values import DefaultForUnspecified, PolicyKind

Quantity = int | str  # "unlimited", an integer, or a decimal string ("0.5")


class KeypairPolicyValues(ReplyModel):
    total_resource_slots: dict[str, str] = Field(
        description="Slot → quantity; a slot not named follows default_for_unspecified")
    default_for_unspecified: DefaultForUnspecified
    max_containers_per_session: Quantity
    idle_timeout: Quantity
    max_concurrent_sessions: Quantity
    max_session_lifetime: Quantity
    max_pending_session_count: Quantity
    allowed_vfolder_hosts: dict[str, list[str]] = Field(
        description="Storage host → the permissions granted on it")
    max_vfolder_count: Quantity
    max_vfolder_size: Quantity


class UserPolicyValues(ReplyModel):
    max_vfolder_count: Quantity
    max_quota_scope_size: Quantity
    max_session_count_per_model_session: Quantity
    max_customized_image_count: Quantity
    max_concurrent_logins: Quantity


class ProjectPolicyValues(ReplyModel):
    max_vfolder_count: Quantity
    max_quota_scope_size: Quantity
    max_network_count: Quantity


PolicyValues = KeypairPolicyValues | UserPolicyValues | ProjectPolicyValues


class PolicyState(ReplyModel):
    """A policy as created or changed: its kind, name and every field's value."""

    kind: PolicyKind
    name: str
    policy: PolicyValues


class PolicyRow(PolicyState):
    references: int = Field(description="How many keypairs, users or projects use it")
    created_at: str
    updated_at: str


class PolicyPage(Page):
    items: list[PolicyRow]


class DeletedPolicy(ReplyModel):
    kind: PolicyKind
    name: str
    deleted: bool


class KeypairLimits(ReplyModel):
    """`limits.effective`: the keypair's policy resolved, every slot made explicit."""

    access_key: str
    policy: str = Field(description="The keypair resource policy's name")
    slots: dict[str, str] = Field(description="Every known slot: a quantity or 'unlimited'")
    max_containers_per_session: Quantity
    idle_timeout: Quantity
    max_concurrent_sessions: Quantity
    max_session_lifetime: Quantity
    max_pending_session_count: Quantity
    allowed_vfolder_hosts: dict[str, list[str]]
    max_vfolder_count: Quantity
    max_vfolder_size: Quantity

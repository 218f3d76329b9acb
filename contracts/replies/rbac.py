"""Rbac's replies (contracts/rbac.py SPECS name them)."""

from __future__ import annotations

from pydantic import Field

from contracts.catalogue import EntityType, Operation, RoleSource, RoleStatus, ScopeType
from contracts.replies import Page, ReplyModel
from contracts.values import UserRole


class RoleScope(ReplyModel):
    scope_type: ScopeType
    scope_id: str


class NamedScope(RoleScope):
    target: str | None = Field(default=None, description="The scope's name, when rbac knows it")


class RoleState(ReplyModel):
    """A role as a command left it: create, deactivate, activate."""

    role_id: str
    name: str
    description: str
    source: RoleSource
    status: RoleStatus
    scopes: list[RoleScope]


class UpdatedRole(RoleState):
    changed: list[str] = Field(description="The fields the update changed")


class PurgedRole(ReplyModel):
    role_id: str
    name: str
    purged: bool


class RoleRow(ReplyModel):
    role_id: str
    name: str
    description: str
    scope_type: ScopeType | None = Field(description="The first scope (none: a legacy role)")
    scope_id: str | None
    more_scopes: int = Field(description="How many scopes besides the first (the '+N')")
    source: RoleSource
    status: RoleStatus
    created_at: str
    updated_at: str


class RolePage(Page):
    items: list[RoleRow]


class PermissionRow(ReplyModel):
    permission_id: str
    scope_type: ScopeType
    scope_id: str
    entity_type: EntityType
    operation: Operation
    target: str | None = Field(default=None, description="The scope's name, when rbac knows it")


class AssignmentRow(ReplyModel):
    user_id: str
    email: str | None = None
    full_name: str | None = None
    granted_at: str
    granted_by: str | None = None


class RoleDetail(ReplyModel):
    """`roles.get`: one role with its scopes (tab-filtered), permissions and users."""

    role_id: str
    name: str
    description: str
    source: RoleSource
    status: RoleStatus
    created_at: str
    updated_at: str
    scopes: list[NamedScope]
    permissions: list[PermissionRow]
    assignments: list[AssignmentRow]


class AddedPermissions(ReplyModel):
    role_id: str
    permission_ids: list[str] = Field(description="One per operation, deterministic")
    permissions: int = Field(description="How many the role has now")


class RemovedPermission(ReplyModel):
    role_id: str
    permission_id: str
    permissions: int = Field(description="How many the role has now")


class AssignedUsers(ReplyModel):
    role_id: str
    assigned: list[str] = Field(description="User ids")
    assignments: int = Field(description="How many users hold the role now")


class UnassignedUser(ReplyModel):
    role_id: str
    unassigned: str = Field(description="User id")
    assignments: int = Field(description="How many users hold the role now")


class KnownUser(ReplyModel):
    """A user as rbac learnt it from identity's events."""

    user_id: str
    email: str | None = None
    username: str | None = None
    full_name: str | None = None
    role: UserRole | None = None
    active: bool | None = None


class KnownUserPage(Page):
    items: list[KnownUser]


class CheckResult(ReplyModel):
    allowed: bool


class CheckBatchResult(ReplyModel):
    allowed: list[bool] = Field(description="One answer per check, in order")

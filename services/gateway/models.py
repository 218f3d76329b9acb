"""HTTP request and response models (the OpenAPI document); bodies reuse the contracts."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, create_model

from contracts import identity as ic
from contracts import quota as qc
from contracts import rbac as rc

Status = Literal["active", "inactive", "all"]


def without(model: type[BaseModel], *names: str, name: str) -> type[BaseModel]:
    """A body model: the contract payload minus the fields the URL path carries."""
    fields: dict[str, Any] = {
        key: (info.annotation, info) for key, info in model.model_fields.items()
        if key not in names
    }
    return create_model(name, __config__=ConfigDict(extra="forbid"), **fields)


# ---- request bodies (path-carried fields removed) ----------------------------------------

UserChanges = without(ic.UpdateUser, "email", name="UserChanges")
KeypairPolicyChanges = without(qc.UpdateKeypairPolicy, "name", name="KeypairPolicyChanges")
UserPolicyChanges = without(qc.UpdateUserPolicy, "name", name="UserPolicyChanges")
ProjectPolicyChanges = without(qc.UpdateProjectPolicy, "name", name="ProjectPolicyChanges")
RoleChanges = without(rc.UpdateRole, "role_id", name="RoleChanges")
PermissionGrant = without(rc.AddPermission, "role_id", name="PermissionGrant")
RoleAssignment = without(rc.AssignUsers, "role_id", name="RoleAssignment")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PolicyAssignment(_Body):
    resource_policy: Annotated[str, StringConstraints(min_length=1, max_length=64,
                                                      pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]


class RateLimitChange(_Body):
    rate_limit: Annotated[int, Field(ge=1, le=1_000_000)]


class MemberRef(_Body):
    email: ic.Text


class Termination(_Body):
    reason: Annotated[str, StringConstraints(max_length=64)] = "user-requested"


class LoginBody(_Body):
    email: ic.Text
    password: ic.Secret
    domain: ic.Text = "default"


# ---- responses ----------------------------------------------------------------------------


class _Out(BaseModel):
    # Services may add fields; the gateway passes them through.
    model_config = ConfigDict(extra="allow")


class ApiRoot(_Out):
    version: str
    manager: str
    service: str


class Credentials(_Out):
    user_id: str
    email: str
    username: str
    role: str
    access_key: str
    secret_key: str


class UserSummary(_Out):
    user_id: str
    email: str
    username: str
    full_name: str
    role: str
    status: str
    domain: str
    projects: list[str]
    resource_policy: str
    need_password_change: bool


class KeypairOut(_Out):
    access_key: str
    user_id: str
    email: str
    is_active: bool
    is_admin: bool
    is_default: bool
    resource_policy: str
    rate_limit: int


class ProjectRef(_Out):
    project_id: str
    name: str


class UserOut(_Out):
    user_id: str
    email: str
    username: str
    full_name: str
    description: str
    role: str
    status: str
    domain: str
    projects: list[ProjectRef]
    resource_policy: str
    need_password_change: bool
    keypairs: list[KeypairOut]
    created_at: str
    updated_at: str


class UserRow(_Out):
    user_id: str
    email: str
    username: str
    full_name: str
    description: str
    role: str
    status: str
    domain: str
    projects: list[str]
    created_at: str


class Page(_Out):
    total: int
    offset: int
    limit: int


class UserPage(Page):
    items: list[UserRow]


class KeypairPage(Page):
    items: list[KeypairOut]


class DomainOut(_Out):
    name: str


class DomainList(_Out):
    items: list[DomainOut]


class DomainCreated(_Out):
    domain_id: str
    name: str


class ProjectOut(_Out):
    project_id: str
    domain: str
    name: str


class ProjectList(_Out):
    items: list[ProjectOut]


class ProjectCreated(_Out):
    project_id: str
    name: str


class Membership(_Out):
    project_id: str
    user_id: str
    members: int


class PolicyOut(_Out):
    kind: qc.PolicyKind
    name: str
    policy: dict[str, Any]


class PolicyRow(PolicyOut):
    references: int
    created_at: str
    updated_at: str


class PolicyPage(Page):
    items: list[PolicyRow]


class PolicyDeleted(_Out):
    kind: qc.PolicyKind
    name: str
    deleted: bool


class EffectiveLimits(_Out):
    access_key: str
    policy: str
    slots: dict[str, str]


class LoginOut(_Out):
    token: str
    token_type: Literal["Bearer"]
    expires_at: int
    access_key: str
    user: dict[str, Any]


class WhoAmI(_Out):
    access_key: str
    user_id: str
    email: str
    role: str
    domain: str
    method: Literal["hmac", "token"]


class SessionOut(_Out):
    """As the scheduler answers; its fields are its contract's."""


class SessionPage(_Out):
    items: list[SessionOut] = Field(default_factory=list)


class AgentList(_Out):
    items: list[dict[str, Any]] = Field(default_factory=list)


class EventPage(_Out):
    stream: str
    items: list[dict[str, Any]]
    next_sequence: int


class ServiceHealth(_Out):
    instance: str
    service: str
    source: Literal["health", "bus", "self"]
    status: str
    version: str | None = None
    store: str | None = None


class Information(_Out):
    name: str
    version: str
    api_version: str
    license: str
    services: list[ServiceHealth]
    nats: dict[str, Any]
    event_store: dict[str, Any]


# ---- roles and permissions (rbac) ---------------------------------------------------------


class RoleScope(_Out):
    scope_type: rc.ScopeType
    scope_id: str
    target: str | None = Field(default=None, description="The scope's name, when rbac knows it")


class RoleOut(_Out):
    role_id: str
    name: str
    description: str
    source: rc.RoleSource
    status: rc.RoleStatus
    scopes: list[RoleScope]


class RoleUpdated(RoleOut):
    changed: list[str]


class RolePurged(_Out):
    role_id: str
    name: str
    purged: bool


class RoleRow(_Out):
    role_id: str
    name: str
    description: str
    scope_type: rc.ScopeType | None = Field(description="The first scope (none: a legacy role)")
    scope_id: str | None
    more_scopes: int = Field(description="How many scopes besides the first (the '+N')")
    source: rc.RoleSource
    status: rc.RoleStatus
    created_at: str
    updated_at: str


class RolePage(Page):
    items: list[RoleRow]


class PermissionOut(_Out):
    permission_id: str
    scope_type: rc.ScopeType
    scope_id: str
    entity_type: rc.EntityType
    operation: rc.Operation
    target: str | None = None


class AssignmentOut(_Out):
    user_id: str
    email: str | None = None
    full_name: str | None = None
    granted_at: str
    granted_by: str | None = None


class RoleDetail(_Out):
    role_id: str
    name: str
    description: str
    source: rc.RoleSource
    status: rc.RoleStatus
    created_at: str
    updated_at: str
    scopes: list[RoleScope]
    permissions: list[PermissionOut]
    assignments: list[AssignmentOut]


class PermissionsAdded(_Out):
    role_id: str
    permission_ids: list[str] = Field(description="One per operation, deterministic")
    permissions: int


class PermissionRemoved(_Out):
    role_id: str
    permission_id: str
    permissions: int


class UsersAssigned(_Out):
    role_id: str
    assigned: list[str] = Field(description="User ids")
    assignments: int


class UserUnassigned(_Out):
    role_id: str
    unassigned: str = Field(description="User id")
    assignments: int


class RbacUser(_Out):
    user_id: str
    email: str | None = None
    username: str | None = None
    full_name: str | None = None


class RbacUserPage(Page):
    items: list[RbacUser]


class CheckOut(_Out):
    allowed: bool


class CheckBatchOut(_Out):
    allowed: list[bool] = Field(description="One answer per check, in order")

"""RBAC contracts: the permission catalogue, role commands and queries, events, subjects.

The catalogue is the single list of valid (scope type, entity type, operation) triples: the
permission editor and every command's declared permission are checked against it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from contracts import subjects

# The permission vocabulary lives below contracts.permissions; re-exported here.
from contracts.catalogue import (
    CATALOGUE as CATALOGUE,
)
from contracts.catalogue import (
    DELEGATES as DELEGATES,
)
from contracts.catalogue import (
    DIRECT_OPERATIONS as DIRECT_OPERATIONS,
)
from contracts.catalogue import (
    REFUSED as REFUSED,
)
from contracts.catalogue import (
    SCOPE_ENTITIES as SCOPE_ENTITIES,
)
from contracts.catalogue import (
    EntityType as EntityType,
)
from contracts.catalogue import (
    Operation as Operation,
)
from contracts.catalogue import (
    ScopeType as ScopeType,
)
from contracts.catalogue import (
    entity_valid_at as entity_valid_at,
)
from contracts.catalogue import (
    is_valid as is_valid,
)
from contracts.catalogue import (
    operations_for as operations_for,
)
from contracts.permissions import Needs, any_user, system_wide
from contracts.values import Limit, Offset, SortOrder

SERVICE = "rbac"
ROLE_NAME_MAX = 64


class RoleSource(StrEnum):
    SYSTEM = "system"
    CUSTOM = "custom"


class RoleStatus(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")


Text = Annotated[str, StringConstraints(max_length=1024)]
Description = Annotated[str, StringConstraints(max_length=4096)]
Ref = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class ScopeRef(_Payload):
    scope_type: ScopeType
    scope_id: Ref


# ---- commands -------------------------------------------------------------------------------


class CreateRole(_Payload):
    name: Text
    description: Description = ""
    scopes: list[ScopeRef] = Field(default_factory=list, max_length=64)


class UpdateRole(_Payload):
    role_id: Ref
    name: Text | None = None
    description: Description | None = None


class RoleRef(_Payload):
    role_id: Ref


class AddPermission(_Payload):
    """One permission per operation; the scope must be one of the role's own scopes."""

    role_id: Ref
    scope_type: ScopeType
    scope_id: Ref
    entity_type: EntityType
    operations: list[Operation] = Field(min_length=1, max_length=len(Operation))


class RemovePermission(_Payload):
    role_id: Ref
    permission_id: Ref


class AssignUsers(_Payload):
    """Users by id (as found by `users.search`) or by email; at least one in all."""

    role_id: Ref
    user_ids: list[Ref] = Field(default_factory=list, max_length=100)
    emails: list[Text] = Field(default_factory=list, max_length=100)


class UnassignUser(_Payload):
    role_id: Ref
    user_id: Ref | None = None
    email: Text | None = None


# ---- queries --------------------------------------------------------------------------------


class ListRoles(_Payload):
    status: RoleStatus = RoleStatus.ACTIVE
    name_contains: Annotated[str, StringConstraints(max_length=64)] = ""
    source: RoleSource | None = None
    sort: Literal["name", "created_at", "updated_at"] = "name"
    order: SortOrder = SortOrder.ASC
    offset: Offset = 0
    limit: Limit = 20


class GetRole(_Payload):
    role_id: Ref
    scope_type: ScopeType | None = None  # filter of the scopes tab


class SearchUsers(_Payload):
    """Email or name (username, full name) substring, case-insensitive."""

    text: Annotated[str, StringConstraints(max_length=128)] = ""
    offset: Offset = 0
    limit: Limit = 20


class Check(_Payload):
    user_id: Ref
    operation: Operation
    entity_type: EntityType
    scope_type: ScopeType
    scope_id: Ref


class CheckBatch(_Payload):
    checks: list[Check] = Field(min_length=1, max_length=1000)


# ---- event data ------------------------------------------------------------------------------


class RoleCreated(_Payload):
    role_id: str
    name: str
    description: str
    source: RoleSource
    status: RoleStatus
    scopes: list[ScopeRef]
    created_at: datetime


class RoleUpdated(_Payload):
    role_id: str
    name: str
    changes: dict[str, str]


class RoleStatusChanged(_Payload):
    role_id: str
    name: str


class RoleDeactivated(RoleStatusChanged):
    pass


class RoleActivated(RoleStatusChanged):
    pass


class RolePurged(RoleStatusChanged):
    """Irreversible: the id never comes back."""


class PermissionChanged(_Payload):
    role_id: str
    permission_id: str
    scope_type: ScopeType
    scope_id: str
    entity_type: EntityType
    operation: Operation


class PermissionAdded(PermissionChanged):
    pass


class PermissionRemoved(PermissionChanged):
    pass


class RoleAssigned(_Payload):
    role_id: str
    user_id: str


class RoleUnassigned(_Payload):
    role_id: str
    user_id: str


EVENT_TYPES: dict[str, tuple[str, str, type[_Payload]]] = {
    "RoleCreated": ("role", "created", RoleCreated),
    "RoleUpdated": ("role", "updated", RoleUpdated),
    "RoleDeactivated": ("role", "deactivated", RoleDeactivated),
    "RoleActivated": ("role", "activated", RoleActivated),
    "RolePurged": ("role", "purged", RolePurged),
    "PermissionAdded": ("role", "permission-added", PermissionAdded),
    "PermissionRemoved": ("role", "permission-removed", PermissionRemoved),
    "RoleAssigned": ("role", "assigned", RoleAssigned),
    "RoleUnassigned": ("role", "unassigned", RoleUnassigned),
}


def event_subject(type_name: str) -> str:
    aggregate, name, _ = EVENT_TYPES[type_name]
    return subjects.event(SERVICE, aggregate, name)


class Subjects:
    ROLE_CREATE = subjects.command(SERVICE, "role", "create")
    ROLE_UPDATE = subjects.command(SERVICE, "role", "update")
    ROLE_DEACTIVATE = subjects.command(SERVICE, "role", "deactivate")
    ROLE_ACTIVATE = subjects.command(SERVICE, "role", "activate")
    ROLE_PURGE = subjects.command(SERVICE, "role", "purge")
    ROLE_ADD_PERMISSION = subjects.command(SERVICE, "role", "add-permission")
    ROLE_REMOVE_PERMISSION = subjects.command(SERVICE, "role", "remove-permission")
    ROLE_ASSIGN = subjects.command(SERVICE, "role", "assign")
    ROLE_UNASSIGN = subjects.command(SERVICE, "role", "unassign")

    ROLE_LIST = subjects.query(SERVICE, "roles", "list")
    ROLE_GET = subjects.query(SERVICE, "roles", "get")
    USER_SEARCH = subjects.query(SERVICE, "users", "search")
    CHECK = subjects.query(SERVICE, "permissions", "check")
    CHECK_BATCH = subjects.query(SERVICE, "permissions", "check-batch")


COMMAND_PAYLOADS: dict[str, type[_Payload]] = {
    Subjects.ROLE_CREATE: CreateRole,
    Subjects.ROLE_UPDATE: UpdateRole,
    Subjects.ROLE_DEACTIVATE: RoleRef,
    Subjects.ROLE_ACTIVATE: RoleRef,
    Subjects.ROLE_PURGE: RoleRef,
    Subjects.ROLE_ADD_PERMISSION: AddPermission,
    Subjects.ROLE_REMOVE_PERMISSION: RemovePermission,
    Subjects.ROLE_ASSIGN: AssignUsers,
    Subjects.ROLE_UNASSIGN: UnassignUser,
}

# Only superadmins manage RBAC: every role command is system-wide (contracts/permissions.py).
_R = EntityType.ROLE
COMMAND_NEEDS: dict[str, Needs] = {
    Subjects.ROLE_CREATE: system_wide(_R, Operation.CREATE),
    Subjects.ROLE_UPDATE: system_wide(_R, Operation.UPDATE),
    Subjects.ROLE_DEACTIVATE: system_wide(_R, Operation.SOFT_DELETE),
    Subjects.ROLE_ACTIVATE: system_wide(_R, Operation.UPDATE),
    Subjects.ROLE_PURGE: system_wide(_R, Operation.HARD_DELETE),
    Subjects.ROLE_ADD_PERMISSION: system_wide(_R, Operation.UPDATE),
    Subjects.ROLE_REMOVE_PERMISSION: system_wide(_R, Operation.UPDATE),
    Subjects.ROLE_ASSIGN: system_wide(_R, Operation.UPDATE),
    Subjects.ROLE_UNASSIGN: system_wide(_R, Operation.UPDATE),
}

QUERY_PAYLOADS: dict[str, type[_Payload]] = {
    Subjects.ROLE_LIST: ListRoles,
    Subjects.ROLE_GET: GetRole,
    Subjects.USER_SEARCH: SearchUsers,
    Subjects.CHECK: Check,
    Subjects.CHECK_BATCH: CheckBatch,
}

# Reading roles and searching users for assignment are a superadmin's (as managing roles);
# a permission check is any user's, and the handler narrows it to the caller themself unless
# the caller is a superadmin.
QUERY_NEEDS: dict[str, Needs] = {
    Subjects.ROLE_LIST: system_wide(_R, Operation.READ),
    Subjects.ROLE_GET: system_wide(_R, Operation.READ),
    Subjects.USER_SEARCH: system_wide(EntityType.USER, Operation.READ),
    Subjects.CHECK: any_user(_R, Operation.READ),
    Subjects.CHECK_BATCH: any_user(_R, Operation.READ),
}

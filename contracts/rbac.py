"""RBAC contracts: the permission catalogue, role commands and queries, events, subjects.

The catalogue is the single list of valid (scope type, entity type, operation) triples: the
permission editor and every command's declared permission are checked against it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from contracts import specs, subjects

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
from contracts.catalogue import RoleSource as RoleSource
from contracts.catalogue import RoleStatus as RoleStatus
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
from contracts.reading import read_event_data
from contracts.replies import rbac as r
from contracts.values import Limit, Offset, SortOrder

SERVICE = "rbac"
ROLE_NAME_MAX = 64


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


RbacEvent = (RoleCreated | RoleUpdated | RoleDeactivated | RoleActivated | RolePurged
             | PermissionAdded | PermissionRemoved | RoleAssigned | RoleUnassigned)


def typed_event_of(type_name: str, data: dict[str, Any]) -> RbacEvent | None:
    """An event's data as its contract model, parsed once (None for a type this contract
    lacks): what a consumer folds."""
    found = EVENT_TYPES.get(type_name)
    return None if found is None else read_event_data(found[2], data)  # type: ignore[return-value]


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


# ---- one declaration per message (contracts/specs.py); the tables below are views of it ------

# Only superadmins manage RBAC: every role command is system-wide (contracts/permissions.py).
# Reading roles and searching users for assignment are a superadmin's (as managing roles);
# a permission check is any user's, and the handler narrows it to the caller themself unless
# the caller is a superadmin.
_R = EntityType.ROLE
S = Subjects
_ROLE = ("role.not_found",)
_NAME = ("role.name_taken", "role.name_invalid", "role.name_reserved",
         "role.description_too_long")
_PERMISSION = ("role.not_found", "role.system_immutable", "permission.entity_invalid",
               "permission.operation_invalid", "permission.scope_not_in_role")


def _cmd(subject: str, payload: type[_Payload], operation: Operation, summary: str,
         errors: tuple[str, ...], reply: type[BaseModel]) -> specs.MessageSpec:
    return specs.command(subject, payload, system_wide(_R, operation), summary, errors, reply)


SPECS: dict[str, specs.MessageSpec] = specs.index([
    _cmd(S.ROLE_CREATE, CreateRole, Operation.CREATE, "Create a custom role with its scopes.",
         (*_NAME, "role.scope_required", "scope.unknown_target"), r.RoleState),
    _cmd(S.ROLE_UPDATE, UpdateRole, Operation.UPDATE, "Rename or describe a role.",
         (*_ROLE, "role.system_immutable", *_NAME), r.UpdatedRole),
    _cmd(S.ROLE_DEACTIVATE, RoleRef, Operation.SOFT_DELETE,
         "Deactivate a role (its grants stop counting).", (*_ROLE, "role.system_immutable"),
         reply=r.RoleState),
    _cmd(S.ROLE_ACTIVATE, RoleRef, Operation.UPDATE, "Re-activate a role.", _ROLE,
         reply=r.RoleState),
    _cmd(S.ROLE_PURGE, RoleRef, Operation.HARD_DELETE,
         "Delete an inactive role for good (its id never comes back).",
         (*_ROLE, "role.active", "role.not_empty", "role.system_immutable"), r.PurgedRole),
    _cmd(S.ROLE_ADD_PERMISSION, AddPermission, Operation.UPDATE,
         "Grant operations on an entity type at one of the role's scopes.",
         (*_PERMISSION, "permission.exists"), r.AddedPermissions),
    _cmd(S.ROLE_REMOVE_PERMISSION, RemovePermission, Operation.UPDATE,
         "Remove one permission from a role.",
         (*_ROLE, "role.system_immutable", "permission.not_found"), r.RemovedPermission),
    _cmd(S.ROLE_ASSIGN, AssignUsers, Operation.UPDATE, "Assign a role to users.",
         (*_ROLE, "role.inactive", "assignment.exists", "assignment.no_users",
          "user.not_found"), r.AssignedUsers),
    _cmd(S.ROLE_UNASSIGN, UnassignUser, Operation.UPDATE, "Take a role from a user.",
         (*_ROLE, "assignment.not_found", "assignment.no_users", "user.not_found"),
         reply=r.UnassignedUser),
    specs.query(S.ROLE_LIST, ListRoles, system_wide(_R, Operation.READ),
                "The roles, filtered, sorted and paged.", reply=r.RolePage),
    specs.query(S.ROLE_GET, GetRole, system_wide(_R, Operation.READ),
                "One role with its scopes, permissions and users.", _ROLE, reply=r.RoleDetail),
    specs.query(S.USER_SEARCH, SearchUsers, system_wide(EntityType.USER, Operation.READ),
                "Users by email or name, to assign roles to.", reply=r.KnownUserPage),
    specs.query(S.CHECK, Check, any_user(_R, Operation.READ),
                "Whether a user may do an operation at a scope (own checks unless superadmin).",
                reply=r.CheckResult),
    specs.query(S.CHECK_BATCH, CheckBatch, any_user(_R, Operation.READ),
                "Many permission checks in one request.", reply=r.CheckBatchResult),
    *(specs.event(event_subject(name), name, model, summary)
      for name, model, summary in (
          ("RoleCreated", RoleCreated, "A role was created."),
          ("RoleUpdated", RoleUpdated, "A role was renamed or described."),
          ("RoleDeactivated", RoleDeactivated, "A role was deactivated."),
          ("RoleActivated", RoleActivated, "A role was re-activated."),
          ("RolePurged", RolePurged, "A role was deleted for good."),
          ("PermissionAdded", PermissionAdded, "A role gained a permission."),
          ("PermissionRemoved", PermissionRemoved, "A role lost a permission."),
          ("RoleAssigned", RoleAssigned, "A user was given a role."),
          ("RoleUnassigned", RoleUnassigned, "A user lost a role."),
      )),
])

COMMAND_PAYLOADS: dict[str, type[BaseModel]] = specs.payloads(SPECS, specs.COMMANDS)
QUERY_PAYLOADS: dict[str, type[BaseModel]] = specs.payloads(SPECS, specs.QUERIES)
COMMAND_NEEDS: dict[str, Needs] = specs.needs(SPECS, specs.COMMANDS)
QUERY_NEEDS: dict[str, Needs] = specs.needs(SPECS, specs.QUERIES)

"""Roles, their permissions and assignments, the user search and permission checks (rbac).

rbac decides who may do what (today: role management is for superadmins; a user may check their
own permissions), so these routes ask no role here beyond being authenticated.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from contracts import rbac as rc
from contracts.replies import rbac as rr
from contracts.values import SortOrder
from services.gateway.errors import ERROR_RESPONSES
from services.gateway.models import PermissionGrant, RoleAssignment, RoleChanges
from services.gateway.routes.calls import Reader, Writer, body_data, json_response

S = rc.Subjects
router = APIRouter(tags=["roles"], responses=ERROR_RESPONSES)
RoleId = Annotated[str, Path(min_length=1, max_length=64, description="The role's id")]
RoleSort = rc.ListRoles.model_fields["sort"].annotation


@router.post("/roles", status_code=201, response_model=rr.RoleState,
             summary="Create a custom role with its scopes (fixed from then on)")
async def create_role(body: rc.CreateRole, call: Writer) -> Response:
    return json_response(await call.command(S.ROLE_CREATE, body_data(body)), 201)


@router.get("/roles", response_model=rr.RolePage,
            summary="List roles (Active / Inactive tabs; system or custom)")
async def list_roles(
    call: Reader,
    status: rc.RoleStatus = rc.RoleStatus.ACTIVE,
    name_contains: Annotated[str, Query(max_length=64)] = "",
    source: rc.RoleSource | None = None,
    sort: RoleSort = "name",  # type: ignore[valid-type]
    order: SortOrder = SortOrder.ASC,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 20,
) -> Response:
    data = {"status": status.value, "name_contains": name_contains,
            "source": source.value if source else None, "sort": sort, "order": order.value,
            "offset": offset, "limit": limit}
    return json_response(await call.query(S.ROLE_LIST, data))


@router.get("/roles/{role_id}", response_model=rr.RoleDetail,
            summary="One role: scopes, permissions and assigned users")
async def get_role(role_id: RoleId, call: Reader,
                   scope_type: rc.ScopeType | None = None) -> Response:
    data = {"role_id": role_id, "scope_type": scope_type.value if scope_type else None}
    return json_response(await call.query(S.ROLE_GET, data))


@router.patch("/roles/{role_id}", response_model=rr.UpdatedRole,
              summary="Rename or describe a custom role (system roles are immutable)")
async def update_role(role_id: RoleId, body: RoleChanges,  # type: ignore[valid-type]
                      call: Writer) -> Response:
    return json_response(await call.command(S.ROLE_UPDATE, body_data(body, role_id=role_id)))


@router.post("/roles/{role_id}/deactivate", response_model=rr.RoleState,
             summary="Deactivate a role: its permissions stop counting at once")
async def deactivate_role(role_id: RoleId, call: Writer) -> Response:
    return json_response(await call.command(S.ROLE_DEACTIVATE, {"role_id": role_id}))


@router.post("/roles/{role_id}/activate", response_model=rr.RoleState, summary="Reactivate a role")
async def activate_role(role_id: RoleId, call: Writer) -> Response:
    return json_response(await call.command(S.ROLE_ACTIVATE, {"role_id": role_id}))


@router.delete("/roles/{role_id}", response_model=rr.PurgedRole,
               summary="Purge an inactive role without permissions or assignments (for good)")
async def purge_role(role_id: RoleId, call: Writer) -> Response:
    return json_response(await call.command(S.ROLE_PURGE, {"role_id": role_id}))


@router.post("/roles/{role_id}/permissions", status_code=201, response_model=rr.AddedPermissions,
             summary="Grant operations on an entity type at one of the role's scopes")
async def add_permission(role_id: RoleId, body: PermissionGrant,  # type: ignore[valid-type]
                         call: Writer) -> Response:
    data = body_data(body, role_id=role_id)
    return json_response(await call.command(S.ROLE_ADD_PERMISSION, data), 201)


@router.delete("/roles/{role_id}/permissions/{permission_id}", response_model=rr.RemovedPermission,
               summary="Revoke one permission")
async def remove_permission(
        role_id: RoleId, call: Writer,
        permission_id: Annotated[str, Path(min_length=1, max_length=64)]) -> Response:
    data = {"role_id": role_id, "permission_id": permission_id}
    return json_response(await call.command(S.ROLE_REMOVE_PERMISSION, data))


@router.post("/roles/{role_id}/assignments", response_model=rr.AssignedUsers,
             summary="Assign the role to users (by id or email)")
async def assign_users(role_id: RoleId, body: RoleAssignment,  # type: ignore[valid-type]
                       call: Writer) -> Response:
    return json_response(await call.command(S.ROLE_ASSIGN, body_data(body, role_id=role_id)))


@router.delete("/roles/{role_id}/assignments/{user}", response_model=rr.UnassignedUser,
               summary="Take the role from a user (a user id, or an email)")
async def unassign_user(
        role_id: RoleId, call: Writer,
        user: Annotated[str, Path(min_length=1, max_length=1024,
                                  description="A user id, or an email (it has an @)")],
) -> Response:
    data = {"role_id": role_id, **({"email": user} if "@" in user else {"user_id": user})}
    return json_response(await call.command(S.ROLE_UNASSIGN, data))


@router.get("/rbac/users", response_model=rr.KnownUserPage,
            summary="Users to assign: email, username or full name containing `text`")
async def search_users(
    call: Reader,
    text: Annotated[str, Query(max_length=128)] = "",
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 20,
) -> Response:
    data = {"text": text, "offset": offset, "limit": limit}
    return json_response(await call.query(S.USER_SEARCH, data))


@router.post("/permissions/check", response_model=rr.CheckResult,
             summary="May this user do this operation on this entity type in this scope?")
async def check(body: rc.Check, call: Reader) -> Response:
    return json_response(await call.query(S.CHECK, body.model_dump(mode="json")))


@router.post("/permissions/check-batch", response_model=rr.CheckBatchResult,
             summary="Up to 1,000 checks at once; answers in order")
async def check_batch(body: rc.CheckBatch, call: Reader) -> Response:
    return json_response(await call.query(S.CHECK_BATCH, body.model_dump(mode="json")))

"""Keypair, user and project resource policies (quota): CRUD and list, one router per tier.

No `from __future__ import annotations` here: the per-tier handlers are built in a function and
FastAPI must see their body types as real objects, not as names to look up in this module.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from contracts import quota as qc
from contracts.replies import quota as qr
from contracts.values import SortOrder
from services.gateway.errors import ERROR_RESPONSES
from services.gateway.models import KeypairPolicyChanges, ProjectPolicyChanges, UserPolicyChanges
from services.gateway.routes.calls import (
    Reader,
    SuperadminWriter,
    body_data,
    json_response,
    query_route,
)

S = qc.Subjects
PolicyName = Annotated[str, Path(max_length=1024)]
TIERS: dict[str, tuple[Any, Any, tuple[str, str, str, str, str]]] = {
    "keypair": (qc.CreateKeypairPolicy, KeypairPolicyChanges,
                (S.KEYPAIR_POLICY_CREATE, S.KEYPAIR_POLICY_UPDATE, S.KEYPAIR_POLICY_DELETE,
                 S.KEYPAIR_POLICY_GET, S.KEYPAIR_POLICY_LIST)),
    "user": (qc.CreateUserPolicy, UserPolicyChanges,
             (S.USER_POLICY_CREATE, S.USER_POLICY_UPDATE, S.USER_POLICY_DELETE,
              S.USER_POLICY_GET, S.USER_POLICY_LIST)),
    "project": (qc.CreateProjectPolicy, ProjectPolicyChanges,
                (S.PROJECT_POLICY_CREATE, S.PROJECT_POLICY_UPDATE, S.PROJECT_POLICY_DELETE,
                 S.PROJECT_POLICY_GET, S.PROJECT_POLICY_LIST)),
}


def tier_router(kind: str) -> APIRouter:
    create_body, changes_body, subjects = TIERS[kind]
    create, update, delete, get, listing = subjects
    router = APIRouter(prefix=f"/resource-policies/{kind}",
                       tags=["resource policies"], responses=ERROR_RESPONSES)

    @router.get("", response_model=qr.PolicyPage, name=f"list_{kind}_policies",
                summary=f"List {kind} resource policies with their reference counts")
    async def list_policies(
        call: Reader,
        name_contains: Annotated[str, Query(max_length=64)] = "",
        sort: Annotated[str, Query(pattern="^(name|created_at|updated_at)$")] = "name",
        order: SortOrder = SortOrder.ASC,
        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    ) -> Response:
        data = {"name_contains": name_contains, "sort": sort, "order": order.value,
                "offset": offset, "limit": limit}
        return json_response(await call.query(listing, data))

    @router.post("", status_code=201, response_model=qr.PolicyState, name=f"create_{kind}_policy",
                 summary=f"Create a {kind} resource policy (superadmin)")
    async def create_policy(body: create_body,  # type: ignore[valid-type]
                            call: SuperadminWriter) -> Response:
        return json_response(await call.command(create, body_data(body)), 201)

    @router.get("/{name}", response_model=qr.PolicyRow, name=f"get_{kind}_policy")
    @query_route(get)
    async def get_policy(name: PolicyName, call: Reader) -> Response:
        """Quota's answer for the policy of this name."""

    @router.patch("/{name}", response_model=qr.PolicyState, name=f"update_{kind}_policy",
                  summary=f"Update a {kind} resource policy; the name never changes")
    async def update_policy(name: PolicyName, body: changes_body,  # type: ignore[valid-type]
                            call: SuperadminWriter) -> Response:
        return json_response(await call.command(update, body_data(body, name=name)))

    @router.delete("/{name}", response_model=qr.DeletedPolicy, name=f"delete_{kind}_policy",
                   summary=f"Delete a {kind} resource policy (refused while in use)")
    async def delete_policy(name: PolicyName,
                            call: SuperadminWriter) -> Response:
        return json_response(await call.command(delete, {"name": name}))

    return router


routers = [tier_router(kind) for kind in TIERS]

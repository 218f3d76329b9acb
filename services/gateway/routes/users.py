"""Users: create, update, deactivate, activate, list, get (identity)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from contracts import identity as ic
from contracts.replies import identity as ir
from contracts.values import SortOrder
from services.gateway.errors import ERROR_RESPONSES
from services.gateway.models import Status, UserChanges
from services.gateway.routes.calls import Reader, Writer, body_data, json_response, query_route

S = ic.Subjects
router = APIRouter(prefix="/users", tags=["users"], responses=ERROR_RESPONSES)
Email = Annotated[str, Path(max_length=1024, description="The user's email (its id)")]


@router.post("", status_code=201, response_model=ir.Credentials,
             summary="Create a user and its default keypair (the reply carries the secret)")
async def create_user(body: ic.CreateUser, call: Writer) -> Response:
    return json_response(await call.command(S.USER_CREATE, body_data(body)), 201)


@router.get("", response_model=ir.UserPage, summary="List users (Active / Inactive tabs)")
async def list_users(
    call: Reader,
    status: Status = "active",
    email_contains: Annotated[str, Query(max_length=64)] = "",
    username_contains: Annotated[str, Query(max_length=64)] = "",
    domain: Annotated[str | None, Query(max_length=64)] = None,
    sort: ic.UserSortKey = "email",
    order: SortOrder = SortOrder.ASC,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> Response:
    data = {"status": None if status == "all" else status, "email_contains": email_contains,
            "username_contains": username_contains, "domain": domain, "sort": sort,
            "order": order.value, "offset": offset, "limit": limit}
    return json_response(await call.query(S.USER_LIST, data))


@router.get("/{email}", response_model=ir.UserDetail,
            summary="One user with domain, projects, keypairs")
@query_route(S.USER_GET)
async def get_user(email: Email, call: Reader) -> Response:
    """The user with this email, as identity's `users.get` answers."""


@router.patch("/{email}", response_model=ir.UserSummary,
              summary="Update a user (everything but the email)")
async def update_user(email: Email, body: UserChanges,  # type: ignore[valid-type]
                      call: Writer) -> Response:
    reply = await call.command(S.USER_UPDATE, body_data(body, email=email))
    call.gateway.auth.keys.forget_user(str(reply.get("user_id")))  # role or status changed
    return json_response(reply)


@router.post("/{email}/deactivate", response_model=ir.UserSummary,
             summary="Deactivate a user and all of its keypairs")
async def deactivate_user(email: Email, call: Writer) -> Response:
    reply = await call.command(S.USER_DEACTIVATE, {"email": email})
    call.gateway.auth.keys.forget_user(str(reply.get("user_id")))  # at once, here
    return json_response(reply)


@router.post("/{email}/activate", response_model=ir.UserSummary,
             summary="Reactivate a user (its keypairs stay as they are)")
async def activate_user(email: Email, call: Writer) -> Response:
    reply = await call.command(S.USER_ACTIVATE, {"email": email})
    call.gateway.auth.keys.forget_refusals()
    return json_response(reply)

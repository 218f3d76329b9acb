"""Keypairs: issue, activate, deactivate, policy, rate limit, list, effective limits."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from contracts import identity as ic
from contracts import quota as qc
from contracts.replies import identity as ir
from contracts.replies import quota as qr
from contracts.values import SortOrder
from services.gateway.errors import ERROR_RESPONSES
from services.gateway.models import PolicyAssignment, RateLimitChange, Status
from services.gateway.routes.calls import Reader, Writer, body_data, json_response, query_route

S = ic.Subjects
router = APIRouter(prefix="/keypairs", tags=["keypairs"], responses=ERROR_RESPONSES)
AccessKey = Annotated[str, Path(pattern=r"^AKIA[A-Z2-7]{16}$")]


@router.post("", status_code=201, response_model=ir.Credentials,
             summary="Issue another keypair for a user (the reply carries the secret)")
async def issue_keypair(body: ic.IssueKeypair, call: Writer) -> Response:
    return json_response(await call.command(S.KEYPAIR_ISSUE, body_data(body)), 201)


@router.get("", response_model=ir.KeypairPage, summary="List keypairs (never their secrets)")
async def list_keypairs(
    call: Reader,
    status: Status = "active",
    email_contains: Annotated[str, Query(max_length=64)] = "",
    sort: ic.KeypairSortKey = "created_at",
    order: SortOrder = SortOrder.ASC,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> Response:
    data = {"is_active": None if status == "all" else status == "active",
            "email_contains": email_contains, "sort": sort, "order": order.value,
            "offset": offset, "limit": limit}
    return json_response(await call.query(S.KEYPAIR_LIST, data))


@router.post("/{access_key}/activate", response_model=ir.KeypairSummary)
async def activate_keypair(access_key: AccessKey, call: Writer) -> Response:
    reply = await call.command(S.KEYPAIR_ACTIVATE, {"access_key": access_key})
    call.gateway.auth.keys.forget(access_key)  # accepted here at once, not after the cache
    return json_response(reply)


@router.post("/{access_key}/deactivate", response_model=ir.KeypairSummary)
async def deactivate_keypair(access_key: AccessKey, call: Writer) -> Response:
    reply = await call.command(S.KEYPAIR_DEACTIVATE, {"access_key": access_key})
    call.gateway.auth.keys.forget(access_key)  # this instance stops accepting it at once
    return json_response(reply)


@router.put("/{access_key}/resource-policy", response_model=ir.KeypairSummary,
            summary="Assign a keypair resource policy")
async def assign_policy(access_key: AccessKey, body: PolicyAssignment,
                        call: Writer) -> Response:
    data = body_data(body, access_key=access_key)
    return json_response(await call.command(S.KEYPAIR_ASSIGN_POLICY, data))


@router.put("/{access_key}/rate-limit", response_model=ir.KeypairSummary,
            summary="Requests allowed per rolling 15 minutes")
async def set_rate_limit(access_key: AccessKey, body: RateLimitChange,
                         call: Writer) -> Response:
    reply = await call.command(S.KEYPAIR_SET_RATE_LIMIT, body_data(body, access_key=access_key))
    call.gateway.auth.keys.forget(access_key)
    return json_response(reply)


@router.get("/{access_key}/effective-limits", response_model=qr.KeypairLimits,
            summary="The keypair's policy resolved: every slot, unlimited made explicit")
@query_route(qc.Subjects.EFFECTIVE_LIMITS)
async def effective_limits(access_key: AccessKey, call: Reader) -> Response:
    """Quota's `limits.effective` for this keypair."""

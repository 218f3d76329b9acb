"""Email/password login for people (a short-lived bearer token) and "who am I"."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from contracts.identity import Subjects as IdentitySubjects
from contracts.values import canonical_email
from services.gateway.auth import GATEWAY_ACTOR, Caller
from services.gateway.errors import ERROR_RESPONSES, gateway_error
from services.gateway.models import LoginBody, LoginOut, WhoAmI
from services.gateway.routes.calls import AnyCaller, caller_route, json_response
from services.gateway.state import Gateway

router = APIRouter(prefix="/auth", tags=["auth"], responses=ERROR_RESPONSES)


@router.post("/login", response_model=LoginOut,
             summary="Log in with email and password; returns a bearer token (15 minutes)")
async def login(body: LoginBody, request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    # Login attempts count against a per-email window, so passwords cannot be tried fast.
    allowed, _ = gateway.limiter.hit(f"login:{canonical_email(body.email)}", 30)
    if not allowed:
        raise gateway_error("rate_limit.exceeded", "too many login attempts for this email")
    creds = await gateway.bus.query(IdentitySubjects.LOGIN, body.model_dump(), GATEWAY_ACTOR)
    token, expires = gateway.tokens.issue(creds["access_key"])
    user = {k: v for k, v in creds.items() if k not in ("secret_key", "access_key")}
    return json_response({"token": token, "token_type": "Bearer", "expires_at": expires,
                          "access_key": creds["access_key"], "user": user})


def whoami_data(caller: Caller) -> dict[str, Any]:
    return {"access_key": caller.access_key, "user_id": caller.user_id, "email": caller.email,
            "role": caller.role, "domain": caller.domain, "method": caller.method}


@router.get("/whoami", response_model=WhoAmI, summary="The authenticated caller")
@caller_route(whoami_data)  # also served by direct.py in front of FastAPI
async def whoami(caller: AnyCaller) -> Response:
    return json_response(whoami_data(caller))

"""What every route needs: the caller, and commands/queries sent in the caller's name.

No `from __future__ import annotations`: the dependencies are built per role in a function, and
FastAPI reads their parameter annotations as objects.
"""

import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.responses import Response

from services.gateway.auth import Caller, admin, authenticated, superadmin
from services.gateway.metrics import REQUEST_ID_SCOPE_KEY
from services.gateway.state import Gateway

IDEMPOTENCY_KEY = r"^[\x21-\x7e]{1,100}$"


@dataclass
class Call:
    gateway: Gateway
    caller: Caller
    request_id: str
    idempotency_key: str | None = None

    async def command(self, subject: str, data: dict[str, Any]) -> dict[str, Any]:
        # Scoped per caller, so one caller's key can never replay another caller's reply.
        command_id = (f"{self.caller.access_key}:{self.idempotency_key}"
                      if self.idempotency_key else str(uuid.uuid4()))
        return await self.gateway.bus.command(subject, data, self.caller.actor, command_id,
                                              self.request_id)

    async def query(self, subject: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        return await self.gateway.bus.query(subject, data or {}, self.caller.actor,
                                            self.request_id)


CallerDep = Callable[..., Awaitable[Caller]]
_ROLES: dict[str, CallerDep] = {"user": authenticated, "admin": admin, "superadmin": superadmin}


def reader(role: str = "user") -> Callable[..., Awaitable[Call]]:
    identify = _ROLES[role]

    async def dependency(request: Request) -> Call:
        return Call(request.app.state.gateway, await identify(request),
                    request.scope[REQUEST_ID_SCOPE_KEY])

    return dependency


def writer(role: str = "user") -> Callable[..., Awaitable[Call]]:
    identify = _ROLES[role]

    async def dependency(
        request: Request,
        idempotency_key: Annotated[str | None, Header(
            alias="Idempotency-Key", pattern=IDEMPOTENCY_KEY,
            description="Retries with the same key return the first reply and change nothing.",
        )] = None,
    ) -> Call:
        return Call(request.app.state.gateway, await identify(request),
                    request.scope[REQUEST_ID_SCOPE_KEY], idempotency_key)

    return dependency


Reader = Annotated[Call, Depends(reader())]
AdminReader = Annotated[Call, Depends(reader("admin"))]
SuperadminReader = Annotated[Call, Depends(reader("superadmin"))]
Writer = Annotated[Call, Depends(writer())]
SuperadminWriter = Annotated[Call, Depends(writer("superadmin"))]
AnyCaller = Annotated[Caller, Depends(authenticated)]
AdminCaller = Annotated[Caller, Depends(admin)]


def json_response(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data, default=str).encode(), status_code=status,
                    media_type="application/json")


def body_data(body: Any, **extra: Any) -> dict[str, Any]:
    """A body as the contract payload: only what the client set, plus path fields."""
    data: dict[str, Any] = body.model_dump(mode="json", exclude_unset=True)
    return {**data, **extra}

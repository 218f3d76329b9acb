"""What every route needs: the caller, and commands/queries sent in the caller's name.

No `from __future__ import annotations`: the dependencies are built per role in a function, and
FastAPI reads their parameter annotations as objects.
"""

import functools
import inspect
import json
import typing
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.responses import Response

from contracts.values import UserRole
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

    async def query_json(self, subject: str, data: dict[str, Any]) -> bytes:
        """The reply data as JSON, passed through as the service sent it."""
        return await self.gateway.bus.query_json(subject, data, self.caller.actor,
                                                 self.request_id)


CallerDep = Callable[..., Awaitable[Caller]]
_ROLES: dict[str, CallerDep] = {UserRole.USER: authenticated, UserRole.ADMIN: admin,
                                UserRole.SUPERADMIN: superadmin}
# Each reader dependency → the role it requires (query routes served directly read it).
READER_ROLES: dict[Callable[..., Awaitable["Call"]], str] = {}


def reader(role: str = UserRole.USER) -> Callable[..., Awaitable[Call]]:
    identify = _ROLES[role]

    async def dependency(request: Request) -> Call:
        return Call(request.app.state.gateway, await identify(request),
                    request.scope[REQUEST_ID_SCOPE_KEY])

    READER_ROLES[dependency] = role
    return dependency


def writer(role: str = UserRole.USER) -> Callable[..., Awaitable[Call]]:
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
AdminReader = Annotated[Call, Depends(reader(UserRole.ADMIN))]
SuperadminReader = Annotated[Call, Depends(reader(UserRole.SUPERADMIN))]
Writer = Annotated[Call, Depends(writer())]
SuperadminWriter = Annotated[Call, Depends(writer(UserRole.SUPERADMIN))]
AnyCaller = Annotated[Caller, Depends(authenticated)]
AdminCaller = Annotated[Caller, Depends(admin)]


QUERY_SUBJECT = "__baikal_query_subject__"


def query_route(subject: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A read whose path parameters are the query's data and whose reply data is the body.

    The decorated function only declares the parameters (path parameters and one `Reader`);
    this supplies the body. Such routes are also served by `services.gateway.direct` in front
    of FastAPI, from the same declaration, so both paths answer alike.
    """

    def decorate(declared: Callable[..., Any]) -> Callable[..., Any]:
        hints = typing.get_type_hints(declared, include_extras=True)
        signature = inspect.signature(declared)
        caller_params = [name for name in signature.parameters
                         if _reader_role(hints[name]) is not None]
        if len(caller_params) != 1:
            raise TypeError(f"{declared.__name__}: a query route takes exactly one Reader")

        @functools.wraps(declared)
        async def endpoint(**params: Any) -> Response:
            call: Call = params.pop(caller_params[0])
            return json_bytes_response(await call.query_json(subject, params))

        # Annotations resolved here: FastAPI reads them as objects from the signature.
        endpoint.__signature__ = signature.replace(  # type: ignore[attr-defined]
            parameters=[p.replace(annotation=hints[p.name])
                        for p in signature.parameters.values()],
            return_annotation=Response)
        setattr(endpoint, QUERY_SUBJECT, subject)
        return endpoint

    return decorate


def _reader_role(annotation: Any) -> str | None:
    for meta in getattr(annotation, "__metadata__", ()):
        dependency = getattr(meta, "dependency", None)
        if dependency in READER_ROLES:
            return READER_ROLES[dependency]
    return None


def query_route_parts(endpoint: Callable[..., Any]) -> tuple[str, str, dict[str, Any]] | None:
    """(subject, role, {path parameter: annotation}) of a `query_route`, else None."""
    subject = getattr(endpoint, QUERY_SUBJECT, None)
    if subject is None:
        return None
    signature: inspect.Signature = endpoint.__signature__  # type: ignore[attr-defined]
    role, params = UserRole.USER, {}
    for name, param in signature.parameters.items():
        found = _reader_role(param.annotation)
        if found is None:
            params[name] = param.annotation
        else:
            role = found
    return subject, role, params


CALLER_ANSWER = "__baikal_caller_answer__"


def caller_route(answer: Callable[[Caller], dict[str, Any]]
                 ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Marks a GET whose body is `answer(caller)` alone (no path parameters, no bus), so
    `services.gateway.direct` may serve it in front of FastAPI too, as it does query routes.
    The route itself must return `json_response(answer(caller))` for any authenticated user:
    both paths then answer the same bytes."""

    def mark(endpoint: Callable[..., Any]) -> Callable[..., Any]:
        setattr(endpoint, CALLER_ANSWER, answer)
        return endpoint

    return mark


def caller_route_answer(endpoint: object) -> Callable[[Caller], dict[str, Any]] | None:
    """The `answer` a `caller_route` was marked with, else None."""
    answer: Callable[[Caller], dict[str, Any]] | None = getattr(endpoint, CALLER_ANSWER, None)
    return answer


def json_bytes_response(body: bytes, status: int = 200) -> Response:
    return Response(body, status_code=status, media_type="application/json")


def json_body(data: Any) -> bytes:
    """A route's JSON body as `json_response` encodes it (the direct layer encodes alike)."""
    return json.dumps(data, default=str).encode()


def json_response(data: Any, status: int = 200) -> Response:
    return Response(json_body(data), status_code=status, media_type="application/json")


def body_data(body: Any, **extra: Any) -> dict[str, Any]:
    """A body as the contract payload: only what the client set, plus path fields."""
    data: dict[str, Any] = body.model_dump(mode="json", exclude_unset=True)
    return {**data, **extra}

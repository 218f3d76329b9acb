"""The gateway's FastAPI application: routes, error handlers, metrics middleware, lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response
from fastapi.routing import APIRoute
from nats.aio.client import Client
from starlette.exceptions import HTTPException
from starlette.routing import Route
from starlette.types import ASGIApp

from services.gateway.auth import SECURITY_SCHEME
from services.gateway.direct import DirectRoutes, direct_queries
from services.gateway.errors import ApiError, error_body
from services.gateway.info import package_version
from services.gateway.metrics import ObservedMiddleware
from services.gateway.routes import (
    auth,
    exports,
    files,
    folders,
    keypairs,
    org,
    policies,
    roles,
    sessions,
    system,
    usage,
    users,
)
from services.gateway.settings import GatewaySettings
from services.gateway.state import Gateway

log = logging.getLogger(__name__)
PUBLIC_PATHS = {"/", "/health", "/metrics", "/auth/login"}
DESCRIPTION = """\
HTTP face of Baikal. Every request becomes a command or query on the bus in the caller's name.

**Authentication**: Backend.AI request signing (HMAC-SHA256; `Authorization: BackendAI
signMethod=HMAC-SHA256, credential=AK:SIG`, `Date` within ±15 minutes, `X-BackendAI-Version`),
or `Authorization: Bearer <token>` from `POST /auth/login`. Each keypair may make `rate_limit`
requests per rolling 15 minutes (headers `X-RateLimit-*`; 429 beyond).

**Errors** are `{"error": {"code", "message", "details"}}` with stable codes; the status follows
from the code (one table). 503 names the service nobody answers for; 504 one that was too slow.
"""


# FastAPI's own OpenTelemetry bridge (0.16x) looks up the global providers on every request;
# the gateway reports through Prometheus instead.
NO_TELEMETRY = {"tracing": False, "metrics": False, "logs": False}
# Every route the gateway serves, in this order; the tests that check each route (response
# models, fast paths both ways) enumerate this list, so a new router is never left out.
ROUTERS = [*(m.router for m in (system, auth, users, keypairs, org, roles, sessions, usage,
                                exports, folders, files)), *policies.routers]


class GatewayApp(FastAPI):
    """FastAPI behind the gateway's outer layers (`front`): metrics, then the direct routes.

    Outside FastAPI's error middleware, so every response is counted and stamped (request id,
    rate-limit headers), a 500 included.
    """

    front: Callable[[ASGIApp], ASGIApp] = staticmethod(lambda app: app)

    def build_middleware_stack(self) -> ASGIApp:
        return self.front(super().build_middleware_stack())


def create_app(settings: GatewaySettings | None = None, nc: Client | None = None,
               direct: bool = True) -> FastAPI:
    """`nc` lets a caller share a connection (tests, benchmarks); else the lifespan connects.

    `direct=False` (or BAIKAL_GATEWAY_DIRECT_READS=false) leaves every request to FastAPI
    (tests compare both paths).
    """
    gateway = Gateway(settings or GatewaySettings(), nc)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await gateway.start()
        yield
        await gateway.stop()

    app = GatewayApp(title="Baikal gateway", version=package_version(),
                     description=DESCRIPTION, lifespan=lifespan,
                     license_info={"name": "Apache-2.0", "identifier": "Apache-2.0"},
                     telemetry=NO_TELEMETRY)
    app.state.gateway = gateway
    for router in ROUTERS:
        app.include_router(router)
    app.add_exception_handler(ApiError, _api_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _invalid)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)
    own = [r for r in app.router.routes if isinstance(r, Route) and not isinstance(r, APIRoute)]
    direct = direct and gateway.settings.gateway_direct_reads
    queries = direct_queries(ROUTERS, earlier=own) if direct else []
    window = gateway.settings.rate_limit_window_seconds
    app.front = lambda inner: ObservedMiddleware(  # type: ignore[method-assign]
        DirectRoutes(inner, gateway, queries) if queries else inner,
        metrics=gateway.metrics, window_seconds=window,
        positions=gateway.positions_header)
    app.openapi = lambda: _openapi_with_security(app)  # type: ignore[method-assign]
    return app


def _openapi_with_security(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document plus the signing scheme on every operation that needs it."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, routes=app.routes,
                             description=app.description, license_info=app.license_info)
        schema.setdefault("components", {})["securitySchemes"] = {"BackendAI": SECURITY_SCHEME}
        for path, operations in schema["paths"].items():
            for operation in operations.values():
                if path not in PUBLIC_PATHS:
                    operation["security"] = [{"BackendAI": []}]
        app.openapi_schema = schema
    return app.openapi_schema


def _json(status: int, body: bytes, headers: Mapping[str, str] | None = None) -> Response:
    return Response(body, status_code=status, media_type="application/json", headers=headers)


async def _api_error(_: Request, exc: ApiError) -> Response:
    return _json(exc.status, exc.body(), exc.headers)


async def _invalid(_: Request, exc: RequestValidationError) -> Response:
    # Field paths and reasons only: input values are never echoed (they may be passwords).
    errors = [{"field": ".".join(str(p) for p in err.get("loc", ())), "reason": err.get("msg"),
               "type": err.get("type")} for err in exc.errors()]
    return _json(422, error_body("gateway.request.invalid",
                                 "the request does not match the schema", {"errors": errors}))


async def _http_error(_: Request, exc: HTTPException) -> Response:
    codes = {404: "gateway.route.not_found", 405: "gateway.method_not_allowed"}
    code = codes.get(exc.status_code, f"gateway.http_{exc.status_code}")
    return _json(exc.status_code, error_body(code, str(exc.detail)), exc.headers)


async def _unexpected(request: Request, exc: Exception) -> Response:
    # Process edge for one request: logged with its traceback, answered, counted by status.
    log.exception("unexpected error serving %s %s", request.method, request.url.path)
    return _json(500, error_body("gateway.internal", "unexpected gateway error; see its logs"))

"""Query routes served in front of FastAPI: the hot read path without its per-request machinery.

A `query_route` (routes/calls.py) is an ordinary FastAPI route: it is in the OpenAPI document and
FastAPI serves it whenever this layer does not. Here the same declaration is served directly:
match the path, validate the path parameters with the route's own annotations, authenticate,
check the role, send the query and pass the reply's JSON through. A `caller_route` (`GET
/auth/whoami`: the body is the authenticated caller, no bus) is served alike, its body encoded
by its own `answer` as the route's `json_response` encodes it. Whatever this layer does not
fully recognise (another method, a root path, a request body, a parameter that fails validation)
goes on to FastAPI, which answers it as it always did (422 with field paths, 405, ...).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter
from pydantic import TypeAdapter, ValidationError
from starlette.routing import BaseRoute, Convertor, compile_path
from starlette.types import ASGIApp, Receive, Scope, Send

from contracts.values import UserRole
from services.gateway.auth import Caller, require
from services.gateway.errors import ApiError, error_body
from services.gateway.metrics import REQUEST_ID_SCOPE_KEY
from services.gateway.routes.calls import caller_route_answer, json_body, query_route_parts
from services.gateway.state import Gateway

log = logging.getLogger(__name__)
JSON_TYPE = (b"content-type", b"application/json")


@dataclass(frozen=True)
class DirectQuery:
    route: BaseRoute  # the FastAPI route: its template labels the metrics, as FastAPI's would
    subject: str
    role: str
    regex: re.Pattern[str]
    convertors: dict[str, Convertor[Any]]
    params: dict[str, TypeAdapter[Any]]
    # A caller_route's body from the caller alone (subject empty, no query sent); else None.
    answer: Callable[[Caller], dict[str, Any]] | None = None

    def data(self, path: str) -> dict[str, Any] | None:
        """The query's data from the path; None when it is not this route or not valid."""
        match = self.regex.match(path)
        if match is None:
            return None
        data = {}
        for name, adapter in self.params.items():
            try:
                data[name] = adapter.validate_python(self.convertors[name].convert(match[name]))
            except ValidationError:
                return None  # FastAPI answers it: 422 with the field path
        return data


def direct_queries(routers: Iterable[APIRouter],
                   earlier: Iterable[BaseRoute] = ()) -> list[DirectQuery]:
    """Every `query_route` and `caller_route` of the routers (in the order FastAPI matches them).

    Refuses, at start-up, such a route that an earlier GET route might also match: FastAPI
    would serve that one first, so serving the route here would change the answer.
    """
    seen: list[BaseRoute] = list(earlier)
    found: list[DirectQuery] = []
    for router in routers:
        for route in router.routes:
            endpoint = getattr(route, "endpoint", None)
            parts = query_route_parts(endpoint)
            answer = caller_route_answer(endpoint)
            path = getattr(route, "path", "")
            if answer is not None and parts is None:
                parts = ("", UserRole.USER, {})  # no query, no path parameters
            if parts is not None and "GET" in (getattr(route, "methods", None) or ()):
                subject, role, annotations = parts
                clash = next((r for r in seen if _may_match_same(r, path)), None)
                if clash is not None:
                    raise RuntimeError(f"GET {path} is shadowed by {getattr(clash, 'path', '')}")
                regex, _, convertors = compile_path(path)
                if set(annotations) != set(convertors):  # a query parameter would be lost
                    raise TypeError(f"GET {path}: a query route takes its path parameters only")
                found.append(DirectQuery(
                    route=route, subject=subject, role=role, regex=regex,
                    convertors=convertors,
                    params={name: TypeAdapter(annotations[name]) for name in convertors},
                    answer=answer))
            seen.append(route)
    return found


def _may_match_same(route: BaseRoute, template: str) -> bool:
    """Whether a GET for `template` might match `route` (conservative: True when unsure)."""
    methods = getattr(route, "methods", None)
    if methods is not None and "GET" not in methods:
        return False
    other = getattr(route, "path", None)
    if other is None or ":path}" in other or ":path}" in template:
        return True
    mine, theirs = template.split("/"), other.split("/")
    if len(mine) != len(theirs):
        return False
    return all("{" in a or "{" in b or a == b for a, b in zip(mine, theirs, strict=True))


class DirectRoutes:
    """Pure ASGI, inside the metrics middleware (which sets the request id) and before FastAPI."""

    def __init__(self, app: ASGIApp, gateway: Gateway, routes: list[DirectQuery]) -> None:
        self.app = app
        self.gateway = gateway
        # Routes without path parameters by their path (one look-up, not a regex each); no two
        # direct routes match one path (direct_queries refuses a shadowed one), so the order
        # of the look-up and the templates' loop changes no answer.
        self.fixed = {getattr(r.route, "path", ""): r for r in routes if not r.convertors}
        self.routes = [r for r in routes if r.convertors]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] == "http" and scope["method"] == "GET" and not scope.get("root_path")
                and not _has_body(scope)):
            path = scope["path"]
            fixed = self.fixed.get(path)
            if fixed is not None:
                await self._serve(fixed, {}, scope, send)
                return
            for route in self.routes:
                data = route.data(path)
                if data is not None:
                    await self._serve(route, data, scope, send)
                    return
        await self.app(scope, receive, send)

    async def _serve(self, route: DirectQuery, data: dict[str, Any], scope: Scope,
                     send: Send) -> None:
        scope["route"] = route.route
        gateway = self.gateway
        headers: dict[str, str] = {}
        try:
            caller = require(await gateway.auth.authenticate(scope, _no_body), route.role)
            if route.answer is not None:
                status, body = 200, json_body(route.answer(caller))
            else:
                status, body = 200, await gateway.bus.query_json(
                    route.subject, data, caller.actor, scope[REQUEST_ID_SCOPE_KEY])
        except ApiError as exc:
            status, body, headers = exc.status, exc.body(), exc.headers
        except Exception:
            # As FastAPI's outermost layer does: logged, answered 500, raised to the server.
            log.exception("unexpected error serving GET %s", scope["path"])
            await _send_json(send, 500, error_body(
                "gateway.internal", "unexpected gateway error; see its logs"), {})
            raise
        await _send_json(send, status, body, headers)


def _has_body(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"transfer-encoding" or (name == b"content-length" and value != b"0"):
            return True
    return False


async def _no_body() -> bytes:
    return b""  # a request without Content-Length or Transfer-Encoding has none


async def _send_json(send: Send, status: int, body: bytes, headers: dict[str, str]) -> None:
    raw = [(b"content-length", str(len(body)).encode()), JSON_TYPE,
           *((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items())]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})

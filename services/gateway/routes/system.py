"""Unauthenticated basics (API version, health, metrics) and the information page."""

from __future__ import annotations

import os
import time

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from contracts import asyncapi
from contracts.signing import API_VERSION
from services.gateway import info
from services.gateway.errors import ERROR_RESPONSES
from services.gateway.models import ApiRoot, Information
from services.gateway.routes.calls import AdminCaller, json_response
from services.gateway.state import Gateway

router = APIRouter(tags=["system"])


@router.get("/", response_model=ApiRoot, summary="API version (read by the Backend.AI SDK)")
async def root() -> Response:
    return json_response({"version": API_VERSION, "manager": info.package_version(),
                          "service": "baikal"})


@router.get("/health", summary="Liveness and bus connection", responses={503: {}})
async def health(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    connected = gateway.connected
    body = {"status": "ok" if connected else "degraded", "checks": {
        "nats": {"ok": connected, "server_version": info.nats_info(gateway).get(
            "server_version")},
        "service": {"ok": True, "service": "gateway", "version": info.package_version(),
                    "store": None, "pid": os.getpid(),
                    "uptime_seconds": round(time.time() - gateway.started_at, 1)},
    }}
    return json_response(body, 200 if connected else 503)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response,
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}})
async def metrics(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    return Response(generate_latest(gateway.metrics.registry),
                    headers={"Content-Type": CONTENT_TYPE_LATEST})


@router.get("/info", responses=ERROR_RESPONSES, response_model=Information,
            summary="Services' versions and health, NATS, event stores, license (admins)")
async def information(request: Request, _: AdminCaller) -> Response:
    started = time.perf_counter()
    body = await info.gather(request.app.state.gateway)
    body["elapsed_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return json_response(body)


# The bus's AsyncAPI document (contracts/asyncapi.py): to people who publish on the bus what
# OpenAPI is to HTTP users. Kept out of the OpenAPI document (it is not an HTTP API).
@router.get("/asyncapi.json", include_in_schema=False)
async def asyncapi_document() -> Response:
    return Response(asyncapi.document_json(), media_type="application/json")


@router.get("/asyncapi", include_in_schema=False)
async def asyncapi_page() -> Response:
    return HTMLResponse(asyncapi.html_page(asyncapi.document()))

"""The gateway serves the bus's AsyncAPI document and a plain docs page."""

from __future__ import annotations

import asyncio
import json

from contracts import asyncapi
from services.gateway.routes import system
from tests.support.gateway import GatewayStack


def test_the_asyncapi_routes_answer_the_generated_document_and_page_without_a_bus() -> None:
    document = asyncio.run(system.asyncapi_document())
    assert document.media_type == "application/json"
    assert json.loads(bytes(document.body)) == asyncapi.document()
    page = asyncio.run(system.asyncapi_page())
    assert "<code>bai.qry.scheduler.sessions.list.v1</code>" in bytes(page.body).decode()


def test_asyncapi_json_over_the_gateway_equals_the_generated_document(
        stack: GatewayStack) -> None:
    with stack.client(signed=False) as client:
        reply = client.get("/asyncapi.json")
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("application/json")
    assert reply.json() == asyncapi.document()


def test_the_asyncapi_page_lists_the_channels_with_no_external_assets(
        stack: GatewayStack) -> None:
    with stack.client(signed=False) as client:
        reply = client.get("/asyncapi")
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/html")
    assert "<code>bai.cmd.identity.user.update.v1</code>" in reply.text
    assert "<code>bai.cmd.agent.{agent_id}.start-container.v1</code>" in reply.text
    assert "<script" not in reply.text


def test_the_asyncapi_routes_stay_out_of_the_openapi_document(stack: GatewayStack) -> None:
    with stack.client(signed=False) as client:
        paths = client.get("/openapi.json").json()["paths"]
    assert "/asyncapi.json" not in paths and "/asyncapi" not in paths

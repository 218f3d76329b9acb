"""X-Request-ID: taken from the client when valid, refused when not, generated when absent,
echoed on the response and used as the correlation id of the bus requests made for it."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from contracts.envelope import Actor
from services.gateway.bus import CORRELATION, Bus
from services.gateway.metrics import HttpMetrics, ObservedMiddleware


def serve(headers: list[tuple[bytes, bytes]]) -> tuple[int, dict[bytes, bytes], Any, list[str]]:
    """One request through the middleware: (status, response headers, body, correlations
    the inner app saw)."""
    seen: list[str] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen.append(str(CORRELATION.get()))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    scope = {"type": "http", "method": "GET", "path": "/users", "headers": headers}
    asyncio.run(ObservedMiddleware(inner, HttpMetrics())(scope, receive, send))
    start, body = sent[0], sent[1]["body"]
    return start["status"], dict(start["headers"]), json.loads(body), seen


def test_a_valid_request_id_is_echoed_and_is_the_correlation_of_the_request() -> None:
    status, headers, _, seen = serve([(b"x-request-id", b"r-123")])
    assert (status, headers[b"x-request-id"], seen) == (200, b"r-123", ["r-123"])


def test_a_request_without_an_id_gets_a_fresh_one_used_the_same_way() -> None:
    status, headers, _, seen = serve([])
    assert status == 200 and len(headers[b"x-request-id"]) == 32
    assert seen == [headers[b"x-request-id"].decode()]


@pytest.mark.parametrize("value", [b"x" * 65, b"has space", b"tab\there", b"caf\xc3\xa9", b""])
def test_an_invalid_request_id_is_refused_with_a_stable_code(value: bytes) -> None:
    status, headers, body, seen = serve([(b"x-request-id", value)])
    assert (status, body["error"]["code"]) == (400, "gateway.request.id_invalid")
    assert seen == [] and len(headers[b"x-request-id"]) == 32  # nothing reached a route


def test_sixty_four_printable_characters_are_accepted() -> None:
    value = ("A!~" * 22)[:64].encode()
    assert serve([(b"x-request-id", value)])[0] == 200


class Recording:
    def __init__(self) -> None:
        self.payloads: list[dict[str, Any]] = []

    async def request(self, subject: str, payload: bytes, timeout: float) -> Any:
        self.payloads.append(json.loads(payload))

        class Msg:
            data = b'{"status":"accepted","data":{}}'
        return Msg()


def test_every_bus_request_made_for_a_request_carries_its_id() -> None:
    nc = Recording()
    bus = Bus(nc, timeout=1.0)  # type: ignore[arg-type]

    async def during_request() -> None:
        token = CORRELATION.set("r-123")
        try:
            await bus.command("bai.cmd.identity.user.update.v1", {}, Actor(system="gateway"))
            await bus.query("bai.qry.identity.user.get.v1", {}, Actor(system="gateway"))
        finally:
            CORRELATION.reset(token)

    asyncio.run(during_request())
    assert [p["correlation_id"] for p in nc.payloads] == ["r-123", "r-123"]


def test_the_cli_sends_one_request_id_per_invocation(monkeypatch: pytest.MonkeyPatch) -> None:
    from services.cli.admin_client import Credentials, GatewayClient

    creds = Credentials("http://127.0.0.1:9", "AKIA" + "C" * 16, "secret")
    monkeypatch.delenv("BAIKAL_REQUEST_ID", raising=False)
    one, two = GatewayClient(creds), GatewayClient(creds)
    assert one.http.headers["X-Request-ID"].startswith("cli-")
    assert one.http.headers["X-Request-ID"] != two.http.headers["X-Request-ID"]
    monkeypatch.setenv("BAIKAL_REQUEST_ID", "r-123")
    named = GatewayClient(creds)
    assert named.http.headers["X-Request-ID"] == "r-123"
    for client in (one, two, named):
        client.close()

"""Signed HTTP requests: a signature is accepted once (also by another gateway instance), the
CLI's signature version 2 binds the body, the SDK's legacy scheme can be switched off, and
the gateway serves TLS with a certificate and key given by settings."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from contracts import signing
from services.gateway.app import create_app
from services.gateway.main import tls_options
from services.gateway.settings import GatewaySettings
from tests.service.gateway.test_auth import oracle
from tests.support.gateway import GatewayStack, new_user


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayStack]:
    running = GatewayStack(tmp_path_factory.mktemp("signing")).start()
    yield running
    running.stop()


def signed(stack: GatewayStack, method: str, path: str, body: Any = None,
           version2: bool = False, url: str | None = None) -> httpx.Request:
    raw = json.dumps(body).encode() if body is not None else b""
    host = (url or stack.url).removeprefix("http://")
    headers = signing.signed_headers(
        access_key=stack.root["access_key"], secret_key=stack.root["secret_key"],
        method=method, path_with_query=path, host=host,
        body=raw if version2 else None)
    return httpx.Request(method, (url or stack.url) + path, headers=headers, content=raw)


def send(request: httpx.Request, url: str | None = None) -> httpx.Response:
    if url is not None:  # the same request (headers and body) to another gateway
        request = httpx.Request(request.method, url + request.url.raw_path.decode(),
                                headers=request.headers, content=request.content)
    with httpx.Client(timeout=15) as client:
        return client.send(request)


def code(answer: httpx.Response) -> str:
    return str(answer.json()["error"]["code"])


def serve(stack: GatewayStack, settings: GatewaySettings) -> str:
    """One more gateway with these settings (TLS when they say so), stopped with the stack."""

    async def start() -> tuple[uvicorn.Server, Any, int]:
        import asyncio

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port,
                                log_level="warning", lifespan="on", **tls_options(settings))
        server = uvicorn.Server(config)
        serving = asyncio.ensure_future(server.serve())
        for _ in range(400):
            if server.started:
                return server, serving, port
            await asyncio.sleep(0.025)
        raise TimeoutError("the gateway did not start")

    server, serving, port = stack.run(start())
    stack.others.append((server, serving))
    scheme = "https" if settings.tls_cert_file else "http"
    return f"{scheme}://127.0.0.1:{port}"


def test_a_request_replayed_one_second_later_is_refused(stack: GatewayStack) -> None:
    request = signed(stack, "POST", "/keypairs", {"email": stack.root["email"]})
    assert send(request).status_code == 201
    time.sleep(1)
    again = send(request)
    assert (again.status_code, code(again)) == (401, "gateway.auth.replayed")


def test_a_read_replayed_is_refused_too(stack: GatewayStack) -> None:
    request = signed(stack, "GET", "/users?status=all")
    assert send(request).status_code == 200
    again = send(request)
    assert (again.status_code, code(again)) == (401, "gateway.auth.replayed")


def test_a_request_replayed_to_another_gateway_instance_is_refused(stack: GatewayStack) -> None:
    other = stack.another_gateway()
    request = signed(stack, "POST", "/keypairs", {"email": stack.root["email"]})
    assert send(request).status_code == 201
    again = send(request, url=other)
    assert (again.status_code, code(again)) == (401, "gateway.auth.replayed")


def test_a_body_swapped_under_a_version_2_signature_is_refused(stack: GatewayStack) -> None:
    request = signed(stack, "POST", "/users", new_user("swap-a"), version2=True)
    same = {k: v for k, v in request.headers.items() if k != "content-length"}
    swapped = httpx.Request("POST", str(request.url), headers=same,
                            content=json.dumps({"email": stack.root["email"]}).encode())
    answer = send(swapped)
    assert (answer.status_code, code(answer)) == (401, "gateway.auth.signature_mismatch")
    stripped = httpx.Request("POST", str(request.url), content=request.content, headers={
        k: v for k, v in same.items() if k != "x-baikal-signature-version"})
    answer = send(stripped)
    assert (answer.status_code, code(answer)) == (401, "gateway.auth.signature_mismatch")
    assert send(request).status_code == 201  # the genuine one, once


def test_an_unknown_signature_version_is_refused(stack: GatewayStack) -> None:
    request = signed(stack, "GET", "/users", version2=True)
    request.headers["X-Baikal-Signature-Version"] = "3"
    answer = send(request)
    assert (answer.status_code, code(answer)) == (401, "gateway.auth.signature_version_unknown")


def test_the_sdks_legacy_signing_is_accepted_by_default_and_refused_when_switched_off(
        stack: GatewayStack) -> None:
    spec = {"endpoint": stack.url, "access_key": stack.root["access_key"],
            "secret_key": stack.root["secret_key"], "method": "GET", "path": "/auth/whoami"}
    assert oracle("request", spec)["status"] == 200
    strict = serve(stack, stack.settings().model_copy(update={"gateway_legacy_signing": False}))
    refused = oracle("request", {**spec, "endpoint": strict})
    assert refused["status"] == 401, refused
    assert refused["body"]["error"]["code"] == "gateway.auth.legacy_signing_disabled"
    ours = send(signed(stack, "GET", "/auth/whoami", version2=True, url=strict))
    assert ours.status_code == 200, ours.text


def test_the_gateway_serves_tls_with_the_certificate_and_key_it_is_given(
        stack: GatewayStack, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    url = serve(stack, stack.settings().model_copy(update={
        "tls_cert_file": str(cert), "tls_key_file": str(key)}))
    with httpx.Client(verify=ssl.create_default_context(cafile=str(cert)),
                      timeout=15) as client:
        assert client.get(url + "/health").status_code == 200
        request = signed(stack, "GET", "/auth/whoami", version2=True,
                         url=url.replace("https://", "http://"))
        headers = {k: v for k, v in request.headers.items() if k not in ("content-length",)}
        answer = client.get(url + "/auth/whoami", headers=headers)
        assert answer.status_code == 200, answer.text
    with pytest.raises(httpx.HTTPError):  # plain HTTP gets no answer
        httpx.get(url.replace("https://", "http://") + "/health", timeout=5)


def test_a_request_replayed_sixty_seconds_later_is_refused(stack: GatewayStack) -> None:
    request = signed(stack, "POST", "/keypairs", {"email": stack.root["email"]})
    assert send(request).status_code == 201
    time.sleep(60)
    again = send(request)
    assert (again.status_code, code(again)) == (401, "gateway.auth.replayed")


def self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "gateway.crt", directory / "gateway.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path

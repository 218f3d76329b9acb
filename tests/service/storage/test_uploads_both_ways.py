"""Uploads through the gateway with its zero-copy upload (services/gateway/bodyfile.py: the
body spliced from the socket into the file) and without it (BAIKAL_GATEWAY_ZERO_COPY_UPLOAD
false: the app reads `request.stream()`): the same answers and the same files, a digest that
does not match refused alike, an over-limit body refused before it is read, a client that sends
less than it announced leaves nothing, `Expect: 100-continue` answered, and with every slot
busy an upload is streamed by the app."""

from __future__ import annotations

import hashlib
import os
import socket
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest

from contracts.signing import signed_headers
from services.cli.admin_client import BackendAISigner
from services.gateway import bodyfile
from tests.support.gateway import GatewayStack, eventually, new_user

WAYS = ("zero-copy", "plain")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayStack]:
    running = GatewayStack(tmp_path_factory.mktemp("uploads")).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def urls(stack: GatewayStack) -> dict[str, str]:
    return {"zero-copy": stack.url,
            "plain": stack.another_gateway(settings={"gateway_zero_copy_upload": False})}


@pytest.fixture(scope="module")
def clients(stack: GatewayStack, urls: dict[str, str]) -> Iterator[dict[str, httpx.Client]]:
    """A user's token clients: the body is not signed, so nothing reads it before the route."""
    with stack.client() as root:
        made = root.post("/users", json=new_user("uploader"))
        assert made.status_code == 201, made.text
    tokens = {way: eventually(lambda u=url: httpx.post(f"{u}/auth/login", json={
        "email": "useruploader@example.com", "password": "Passw0rd!"}, timeout=10),
        lambda r: r.status_code == 200).json()["token"] for way, url in urls.items()}
    opened = {way: httpx.Client(base_url=url, timeout=30,
                                headers={"Authorization": f"Bearer {tokens[way]}"})
              for way, url in urls.items()}
    for client in opened.values():  # storage's guard knows the new user
        eventually(lambda c=client: c.post("/folders", json={"name": "."}),
                   lambda r: r.status_code == 400, attempts=400)
    yield opened
    for client in opened.values():
        client.close()


@pytest.fixture(scope="module")
def signed(stack: GatewayStack, urls: dict[str, str]) -> Iterator[dict[str, httpx.Client]]:
    """The superadmin's signing clients (as the CLI signs: version 2)."""
    auth = BackendAISigner(stack.root["access_key"], stack.root["secret_key"])
    opened = {way: httpx.Client(base_url=url, auth=auth, timeout=30)
              for way, url in urls.items()}
    yield opened
    for client in opened.values():
        client.close()


@pytest.fixture
def spliced(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The byte counts `bodyfile.receive_all` moved, call by call."""
    moved: list[int] = []
    real = bodyfile.receive_all

    def counted(sock_fd: int, out_fd: int, left: int, digest: Any) -> None:
        real(sock_fd, out_fd, left, digest)
        moved.append(left)

    monkeypatch.setattr(bodyfile, "receive_all", counted)
    return moved


def folder_dir(stack: GatewayStack, client: httpx.Client) -> tuple[str, Any]:
    name = f"up-{uuid.uuid4().hex[:8]}"
    made = client.post("/folders", json={"name": name})
    assert made.status_code == 201, made.text
    return name, stack.data / "vfolders" / uuid.UUID(made.json()["folder_id"]).hex


def test_a_large_upload_lands_alike_both_ways(stack, clients, spliced):
    body = os.urandom(24 * 1024 * 1024 + 5)  # more than any socket buffer holds
    answers = {}
    for way in WAYS:
        client = clients[way]
        name, directory = folder_dir(stack, client)
        up = client.put(f"/folders/{name}/file", params={"path": "big.bin"}, content=body,
                        headers={"content-type": "application/octet-stream"})
        assert up.status_code == 201, up.text
        answers[way] = {k: v for k, v in up.json().items() if k != "folder_id"}
        assert (directory / "big.bin").read_bytes() == body
        assert sorted(p.name for p in directory.iterdir()) == ["big.bin"]  # no temporary
        assert oct((directory / "big.bin").stat().st_mode & 0o777) == "0o644"
        # The parser never saw the spliced bytes: that connection ends with the response.
        assert (up.headers.get("connection") == "close") is (way == "zero-copy")
        again = client.get(f"/folders/{name}/file", params={"path": "big.bin"})
        assert again.status_code == 200 and again.content == body
    assert answers["zero-copy"] == answers["plain"]
    assert len(spliced) == 1 and 0 < spliced[0] <= len(body)  # only the zero-copy gateway


def test_a_declared_digest_is_checked_alike_both_ways(stack, signed, spliced):
    genuine, swapped = os.urandom(3 * 1024 * 1024), os.urandom(3 * 1024 * 1024)
    declared = {"content-type": "application/octet-stream",
                "x-baikal-content-sha256": hashlib.sha256(genuine).hexdigest()}
    for way in WAYS:
        client = signed[way]
        name, directory = folder_dir(stack, client)
        lied = client.put(f"/folders/{name}/file", params={"path": "x.bin"}, content=swapped,
                          headers=declared)
        assert lied.status_code == 401, lied.text
        assert lied.json()["error"]["code"] == "gateway.auth.content_mismatch"
        assert list(directory.iterdir()) == []  # nothing kept, not even the temporary file
        ok = client.put(f"/folders/{name}/file", params={"path": "x.bin"}, content=genuine,
                        headers=declared)
        assert ok.status_code == 201 and ok.json()["size"] == len(genuine), ok.text
        assert (directory / "x.bin").read_bytes() == genuine
    assert len(spliced) == 2  # the zero-copy gateway hashed both bodies from the socket


def test_a_body_signed_whole_is_read_by_the_authentication_and_stored_whole(stack, signed,
                                                                             spliced):
    """Signature version 2 over the body itself: the authentication reads it all before the
    route, so the route stores what Starlette kept (the protocol has nothing left to take)."""
    body = os.urandom(2 * 1024 * 1024 + 3)
    for way in WAYS:
        client = signed[way]
        name, directory = folder_dir(stack, client)
        up = client.put(f"/folders/{name}/file", params={"path": "w.bin"}, content=body)
        assert up.status_code == 201 and up.json()["size"] == len(body), up.text
        assert (directory / "w.bin").read_bytes() == body
        assert up.headers.get("connection") != "close"  # the parser saw every byte
    assert spliced == []


def raw_put(url: str, keys: dict[str, Any], path: str, announced: int, parts: list[bytes],
            expect_continue: bool = False) -> bytes:
    """A PUT written by hand (legacy signature): `announced` as its Content-Length, then
    `parts`, then the connection's end for writing; the gateway's answer (b"" if none)."""
    where = urlsplit(url)
    host = where.netloc
    headers = signed_headers(access_key=keys["access_key"], secret_key=keys["secret_key"],
                             method="PUT", path_with_query=path, host=host,
                             content_type="application/octet-stream")
    head = [f"PUT {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {announced}",
            *(f"{k}: {v}" for k, v in headers.items())]
    if expect_continue:
        head.append("Expect: 100-continue")
    with socket.create_connection((where.hostname, where.port), timeout=15) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        if expect_continue:
            assert sock.recv(1024).startswith(b"HTTP/1.1 100 Continue")
        for part in parts:
            sock.sendall(part)
        if sum(map(len, parts)) < announced:
            sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        return answer


def test_a_short_body_leaves_nothing_and_expect_continue_is_answered(stack, signed, spliced):
    for way in WAYS:
        client = signed[way]
        url = str(client.base_url).rstrip("/")
        name, directory = folder_dir(stack, client)
        path = f"/folders/{quote(name)}/file?path=short.bin"
        raw_put(url, stack.root, path, 10 * 1024 * 1024, [b"s" * (3 * 1024 * 1024)])
        # The temporary file is gone too (removed as the request ends, maybe just after the
        # connection closed).
        eventually(lambda d=directory: list(d.iterdir()), lambda left: left == [])
        assert list(directory.iterdir()) == []
        body = os.urandom(2 * 1024 * 1024 + 1)
        answer = raw_put(url, stack.root, f"/folders/{quote(name)}/file?path=c.bin", len(body),
                         [body[:1000], body[1000:]], expect_continue=True)
        assert answer.startswith(b"HTTP/1.1 201"), answer[:300]
        assert (directory / "c.bin").read_bytes() == body
        assert client.get(f"/folders/{name}/files").status_code == 200  # still serving
    assert len(spliced) == 1  # the short body raised inside receive_all: never counted


def test_with_every_slot_busy_an_upload_is_streamed_by_the_app(stack, clients, spliced):
    client = clients["zero-copy"]
    name, directory = folder_dir(stack, client)
    body = os.urandom(5 * 1024 * 1024)
    bodyfile._active[0] += bodyfile.MAX_ACTIVE
    try:
        up = client.put(f"/folders/{name}/file", params={"path": "b.bin"}, content=body)
    finally:
        bodyfile._active[0] -= bodyfile.MAX_ACTIVE
    assert up.status_code == 201 and (directory / "b.bin").read_bytes() == body
    assert spliced == [] and up.headers.get("connection") != "close"
    assert sorted(p.name for p in directory.iterdir()) == ["b.bin"]


def test_the_protocol_offers_the_upload_only_with_a_content_length_alone():
    assert bodyfile.announced_length([(b"content-length", b"12")]) == 12
    assert bodyfile.announced_length([(b"content-length", b"12"),
                                      (b"transfer-encoding", b"chunked")]) is None
    assert bodyfile.announced_length([(b"content-length", b"1"),
                                      (b"content-length", b"2")]) is None
    assert bodyfile.announced_length([(b"content-length", b"-1")]) is None
    assert bodyfile.announced_length([]) is None
    assert bodyfile.wants_body_to_file("PUT", "/folders/x/file")
    assert not bodyfile.wants_body_to_file("POST", "/folders/x/file")
    assert not bodyfile.wants_body_to_file("PUT", "/folders/x/files")

"""Folders and files through the gateway: the seed's walk-through over HTTP, invitations, the
trash, streamed upload / download / listing, and path escapes refused with stable codes."""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.gateway import GatewayStack, eventually
from tests.support.storage import knows

PASSWORD = "Passw0rd!"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayStack]:
    running = GatewayStack(tmp_path_factory.mktemp("storage-http")).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def people(stack: GatewayStack) -> Iterator[dict[str, Any]]:
    root = stack.client()
    project = root.post("/projects", json={"name": "research"})
    assert project.status_code == 201, project.text
    pid = project.json()["project_id"]
    clients: dict[str, Any] = {"root": root, "project_id": pid}
    for name, role, projects in (("admin", "admin", []), ("a", "user", []),
                                 ("b", "user", [pid]), ("outsider", "user", [])):
        made = root.post("/users", json={"email": f"{name}@example.com", "password": PASSWORD,
                                         "password_confirm": PASSWORD, "role": role,
                                         "projects": projects})
        assert made.status_code == 201, made.text
        login = httpx.post(f"{stack.url}/auth/login", json={
            "email": f"{name}@example.com", "password": PASSWORD}, timeout=10)
        assert login.status_code == 200, login.text
        clients[name] = httpx.Client(base_url=stack.url, timeout=30, headers={
            "Authorization": f"Bearer {login.json()['token']}"})
    eventually(lambda: clients["outsider"].get("/folders"), lambda r: r.status_code == 200,
               attempts=400)
    eventually(lambda: knows(stack.hosts, "outsider@example.com"), bool, attempts=400)
    for name in ("admin", "a", "b", "outsider"):  # storage's guard has their grants
        eventually(lambda c=clients[name]: c.post("/folders", json={"name": "."}),
                   lambda r: r.status_code == 400, attempts=400)
    yield clients
    for client in clients.values():
        if isinstance(client, httpx.Client):
            client.close()


def code(answer: httpx.Response) -> str:
    return str(answer.json()["error"]["code"])


def test_seed_walkthrough_over_http(people):
    made = people["admin"].post("/folders", json={
        "name": "group-data", "type": "group", "project": "research", "permission": "ro"})
    assert made.status_code == 201, made.text
    listed = people["b"].get("/folders").json()["items"]
    [row] = [r for r in listed if r["name"] == "group-data"]
    assert (row["permission_label"], row["ownership"]) == ("R", "group")
    assert people["b"].get("/folders/invitations/list").json()["items"] == []
    assert all(r["name"] != "group-data" for r in people["outsider"].get("/folders").json()[
        "items"])
    hidden = people["outsider"].get("/folders/group-data")
    assert hidden.status_code == 404 and code(hidden) == "storage.folder.not_found"
    refused = people["a"].post("/folders", json={"name": "x", "type": "group",
                                                 "project": "research"})
    assert refused.status_code == 403 and code(refused) == "storage.folder.group_forbidden"
    write = people["b"].put("/folders/group-data/file", params={"path": "x.txt"},
                            content=b"nope")
    assert write.status_code == 403 and code(write) == "storage.folder.forbidden"


def test_invitation_accept_and_trash_restore_purge_over_http(people):
    assert people["a"].post("/folders", json={"name": "notes"}).status_code == 201
    sent = people["a"].post("/folders/notes/invite", json={"emails": ["b@example.com"],
                                                           "permission": "rw"})
    assert sent.status_code == 200, sent.text
    inv = sent.json()["invitations"]["b@example.com"]
    again = people["a"].post("/folders/notes/invite", json={"emails": ["b@example.com"]})
    assert again.status_code == 409 and code(again) == "storage.invitation.pending"
    accepted = people["b"].post("/folders/invitations/accept", json={"inv_id": inv})
    assert accepted.json()["state"] == "accepted"
    assert people["b"].get("/folders/notes").json()["permission_label"] == "RW"
    assert people["a"].delete("/folders/notes").json()["status"] == "delete-pending"
    trash = people["a"].get("/folders", params={"status": "delete-pending"}).json()["items"]
    assert [r["name"] for r in trash] == ["notes"]
    assert people["a"].post("/folders/notes/restore").json()["status"] == "ready"
    people["a"].delete("/folders/notes")
    gone = people["a"].post("/folders/notes/delete-forever")
    assert gone.json()["status"] == "delete-complete", gone.text


def test_files_stream_up_and_down_and_list_in_pages(people, tmp_path):
    a = people["a"]
    assert a.post("/folders", json={"name": "files"}).status_code == 201
    body = os.urandom(3 * 1024 * 1024 + 17)
    up = a.put("/folders/files/file", params={"path": "blob.bin"}, content=body)
    assert up.status_code == 201 and up.json()["size"] == len(body), up.text
    with a.stream("GET", "/folders/files/file", params={"path": "blob.bin"}) as down:
        digest = hashlib.sha256()
        for chunk in down.iter_bytes():
            digest.update(chunk)
    assert digest.hexdigest() == hashlib.sha256(body).hexdigest()
    assert a.post("/folders/files/mkdir", json={"path": "d/e"}).status_code == 201
    moved = a.post("/folders/files/move-file", json={"path": "blob.bin", "target": "d/b.bin"})
    assert moved.status_code == 200, moved.text
    for n in range(30):
        a.put("/folders/files/file", params={"path": f"d/f{n:02d}"}, content=b"x")
    page = a.get("/folders/files/files", params={"path": "d", "offset": 5, "limit": 10}).json()
    assert page["total"] == 32 and len(page["items"]) == 10
    assert page["items"][0]["name"] == "f03"  # after b.bin, e, f00, f01, f02
    deleted = a.post("/folders/files/delete-files", json={"paths": ["d"], "recursive": True})
    assert deleted.status_code == 200
    assert a.get("/folders/files/files").json()["items"] == []


@pytest.mark.parametrize(("path", "expected"), [
    ("../outside", "storage.path.escape"), ("/etc/passwd", "storage.path.absolute"),
    ("a/../../x", "storage.path.escape"), ("n" * 300, "storage.path.too_long"),
    ("bad\x00name", "storage.path.invalid"), ("link/secret", "storage.path.escape")])
def test_paths_leaving_the_folder_are_refused_for_every_operation(people, stack, path,
                                                                   expected):
    a = people["a"]
    name = f"esc-{uuid.uuid4().hex[:8]}"
    made = a.post("/folders", json={"name": name}).json()
    folder_dir = stack.data / "vfolders" / uuid.UUID(made["folder_id"]).hex
    os.symlink(stack.data, folder_dir / "link")
    answers = [a.put(f"/folders/{name}/file", params={"path": path}, content=b"x"),
               a.get(f"/folders/{name}/file", params={"path": path}),
               a.get(f"/folders/{name}/files", params={"path": path}),
               a.post(f"/folders/{name}/mkdir", json={"path": path}),
               a.post(f"/folders/{name}/move-file", json={"path": "nothing", "target": path}),
               a.post(f"/folders/{name}/delete-files", json={"paths": [path]})]
    for answer in answers:
        assert answer.status_code == 400 and code(answer) == expected, answer.text
    assert (stack.data / "outside").exists() is False


def test_an_upload_over_the_owners_quota_scope_is_refused_and_nothing_is_kept(people, stack):
    root = people["root"]
    made = root.post("/resource-policies/user", json={"name": "tiny",
                                                      "max_quota_scope_size": 0.001})
    assert made.status_code == 201, made.text
    # identity learns the new policy from quota's stream
    eventually(lambda: root.post("/users", json={
        "email": "c@example.com", "password": PASSWORD, "password_confirm": PASSWORD,
        "resource_policy": "tiny"}), lambda r: r.status_code == 201, attempts=200)
    token = httpx.post(f"{stack.url}/auth/login", json={
        "email": "c@example.com", "password": PASSWORD}, timeout=10).json()["token"]
    with httpx.Client(base_url=stack.url, timeout=30,
                      headers={"Authorization": f"Bearer {token}"}) as c:
        eventually(lambda: c.post("/folders", json={"name": "small"}),
                   lambda r: r.status_code == 201, attempts=400)
        limit = made.json()["policy"]["max_quota_scope_size"]
        big = c.put("/folders/small/file", params={"path": "big.bin"},
                    content=b"z" * (int(limit) + 1))
        assert big.status_code == 413 and code(big) == "storage.quota.exceeded", big.text

        def chunks():  # no Content-Length: refused while streaming
            for _ in range(int(limit) // 65536 + 2):
                yield b"z" * 65536

        streamed = c.put("/folders/small/file", params={"path": "big.bin"}, content=chunks())
        assert streamed.status_code == 413
        assert c.get("/folders/small/files").json()["items"] == []
        assert c.put("/folders/small/file", params={"path": "ok.bin"},
                     content=b"z" * 1000).status_code == 201
        assert c.get("/folders/small/usage").json()["bytes"] == 1000


def test_a_streamed_upload_whose_bytes_are_not_the_signed_digest_is_refused_and_not_kept(
        people):
    """Signature version 2 of a streamed body: the signature covers the declared SHA-256
    (X-Baikal-Content-SHA256), and the upload route checks the bytes against it."""
    root = people["root"]
    assert root.post("/folders", json={"name": "signed"}).status_code == 201
    genuine, swapped = b"the signed bytes\n" * 1000, b"the swapped bytes\n" * 1000
    declared = {"content-type": "application/octet-stream",
                "x-baikal-content-sha256": hashlib.sha256(genuine).hexdigest()}

    def stream(data: bytes) -> Iterator[bytes]:  # no Content-Length: a streamed body
        yield data[:500]
        yield data[500:]

    refused = root.put("/folders/signed/file", params={"path": "x.txt"},
                       content=stream(swapped), headers=declared)
    assert refused.status_code == 401, refused.text
    assert refused.json()["error"]["code"] == "gateway.auth.content_mismatch"
    listed = root.get("/folders/signed/files").json()["items"]
    assert listed == []  # nothing kept, not even the temporary file
    accepted = root.put("/folders/signed/file", params={"path": "x.txt"},
                        content=stream(genuine), headers=declared)
    assert accepted.status_code == 201 and accepted.json()["size"] == len(genuine)
    # A body the route reads whole (JSON) is checked against a declared digest too.
    lied = root.post("/folders", json={"name": "other"}, headers={
        "x-baikal-content-sha256": hashlib.sha256(b"{}").hexdigest()})
    assert lied.status_code == 401
    assert lied.json()["error"]["code"] == "gateway.auth.content_mismatch"


def test_a_large_download_goes_out_whole_with_sendfile_and_an_abandoned_one_harms_nothing(
        people, stack, monkeypatch):
    """Zero-copy downloads (services/gateway/sendfile.py): more bytes than a socket buffer
    holds (the writer waits for the slow reader), a range request still answered by
    Starlette's own path, a client that walks away mid-body leaves the gateway serving, and
    with every sendfile slot busy a download is sent in chunks."""
    from services.gateway import sendfile

    sent: list[int] = []

    def counted(sock_fd: int, path: str, expected: int) -> int:
        sent.append(real(sock_fd, path, expected))
        return sent[-1]

    real = sendfile._send_all
    monkeypatch.setattr(sendfile, "_send_all", counted)
    assert sendfile.http_protocol(True, tls=False) is sendfile.PathsendProtocol
    assert sendfile.http_protocol(False, tls=False) == "auto"
    assert sendfile.http_protocol(True, tls=True) == "auto"
    a = people["a"]
    assert a.post("/folders", json={"name": "big"}).status_code == 201
    body = os.urandom(40 * 1024 * 1024 + 3)
    assert a.put("/folders/big/file", params={"path": "b.bin"},
                 content=body).status_code == 201
    with a.stream("GET", "/folders/big/file", params={"path": "b.bin"}) as down:
        assert down.headers["content-length"] == str(len(body))
        digest = hashlib.sha256()
        for n, chunk in enumerate(down.iter_bytes(256 * 1024)):
            digest.update(chunk)
            if n % 40 == 0:
                time.sleep(0.01)  # a slow reader: the socket fills, sendfile waits
    assert digest.hexdigest() == hashlib.sha256(body).hexdigest()
    assert sent == [len(body)]  # by sendfile, all of it
    ranged = a.get("/folders/big/file", params={"path": "b.bin"},
                   headers={"Range": "bytes=10-19"})
    assert ranged.status_code == 206 and ranged.content == body[10:20]
    for _ in range(3):
        with a.stream("GET", "/folders/big/file", params={"path": "b.bin"}) as down:
            next(down.iter_bytes(64 * 1024))  # then closed without reading the rest
    again = a.get("/folders/big/file", params={"path": "b.bin"})
    assert again.status_code == 200 and again.content == body
    assert sent[-1] == len(body) and len(sent) == 2  # the abandoned ones never completed
    sendfile._active[0] += sendfile.MAX_ACTIVE  # every sendfile slot busy
    try:
        chunked = a.get("/folders/big/file", params={"path": "b.bin"})
    finally:
        sendfile._active[0] -= sendfile.MAX_ACTIVE
    assert chunked.status_code == 200 and chunked.content == body and len(sent) == 2

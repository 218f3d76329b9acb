"""Membership changes are causal for folders: right after identity's add-member or
remove-member returns, the user's very next folder list, and the very next session request
naming the folder (decided by storage at admission), over HTTP through the gateway's position
token, see it — never the membership from before (0 stale answers)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.gateway import GatewayStack, eventually
from tests.support.storage import knows

PASSWORD = "Passw0rd!"
ROUNDS = 200
RETRIES = 3  # `replica.behind` (503) is retryable: the service waited its bound (1 s)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayStack]:
    running = GatewayStack(tmp_path_factory.mktemp("storage-causal"), scheduler=True).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def world(stack: GatewayStack) -> Iterator[dict[str, Any]]:
    """A group folder of project `research` and a user who is not (yet) its member."""
    root = stack.client()
    project = root.post("/projects", json={"name": "research"})
    assert project.status_code == 201, project.text
    made = root.post("/users", json={"email": "c@example.com", "password": PASSWORD,
                                     "password_confirm": PASSWORD, "role": "user"})
    assert made.status_code == 201, made.text
    login = httpx.post(f"{stack.url}/auth/login", json={"email": "c@example.com",
                                                        "password": PASSWORD}, timeout=10)
    assert login.status_code == 200, login.text
    user = httpx.Client(base_url=stack.url, timeout=30, headers={
        "Authorization": f"Bearer {login.json()['token']}"})
    eventually(lambda: knows(stack.hosts, "c@example.com"), bool, attempts=400)
    folder = root.post("/folders", json={"name": "team", "type": "group",
                                         "project": "research", "permission": "rw"})
    assert folder.status_code == 201, folder.text
    yield {"root": root, "user": user, "project_id": project.json()["project_id"]}
    user.close()
    root.close()


def listed(client: httpx.Client, retried: list[int]) -> httpx.Response:
    answer = client.get("/folders")
    for _ in range(RETRIES):
        if answer.status_code != 503 or "replica.behind" not in answer.text:
            break
        retried[0] += 1
        answer = client.get("/folders")
    return answer


def test_add_member_then_list_and_remove_member_then_list_are_never_stale(world):
    root, user, pid = world["root"], world["user"], world["project_id"]
    stale: list[str] = []
    retried = [0]
    for n in range(ROUNDS):
        added = root.post(f"/projects/{pid}/members", json={"email": "c@example.com"})
        assert added.status_code == 200, added.text
        seen = listed(user, retried)
        if seen.status_code != 200 or "team" not in [r["name"] for r in seen.json()["items"]]:
            stale.append(f"add round {n}: {seen.status_code} {seen.text[:120]}")
        removed = root.delete(f"/projects/{pid}/members/c@example.com")
        assert removed.status_code == 200, removed.text
        seen = listed(user, retried)
        if seen.status_code != 200 or "team" in [r["name"] for r in seen.json()["items"]]:
            stale.append(f"remove round {n}: {seen.status_code} {seen.text[:120]}")
    assert stale == [], f"{len(stale)} stale answers in {2 * ROUNDS}: {stale[:5]}"
    assert retried[0] <= 2 * ROUNDS // 100, f"{retried[0]} answers were `replica.behind`"


SESSION_ROUNDS = 50
SESSION = {"name": "s", "image": "baikal/busybox:latest", "command": ["true"],
           "slots": {"cpu": 1, "mem": "64m"}, "mounts": [{"folder": "team"}]}


def requested(client: httpx.Client, retried: list[int]) -> httpx.Response:
    answer = client.post("/sessions", json=SESSION)
    for _ in range(RETRIES):
        if answer.status_code != 503 or "replica.behind" not in answer.text:
            break
        retried[0] += 1
        answer = client.post("/sessions", json=SESSION)
    return answer


def test_add_member_then_mount_and_remove_member_then_mount_are_never_stale(world):
    root, user, pid = world["root"], world["user"], world["project_id"]
    eventually(lambda: user.get("/resource-indicator"), lambda r: r.status_code == 200,
               attempts=400)  # the scheduler knows the user and the policy
    stale: list[str] = []
    retried = [0]
    for n in range(SESSION_ROUNDS):
        added = root.post(f"/projects/{pid}/members", json={"email": "c@example.com"})
        assert added.status_code == 200, added.text
        made = requested(user, retried)
        if made.status_code != 201:
            stale.append(f"add round {n}: {made.status_code} {made.text[:160]}")
        else:
            ended = user.post(f"/sessions/{made.json()['session_id']}/terminate")
            assert ended.status_code == 200, ended.text
        removed = root.delete(f"/projects/{pid}/members/c@example.com")
        assert removed.status_code == 200, removed.text
        refused = requested(user, retried)
        if refused.status_code != 403 or refused.json()["error"]["code"] != (
                "scheduler.session.mount_forbidden"):
            stale.append(f"remove round {n}: {refused.status_code} {refused.text[:160]}")
    assert stale == [], f"{len(stale)} stale answers in {2 * SESSION_ROUNDS}: {stale[:5]}"
    assert retried[0] <= 2 * SESSION_ROUNDS // 20, f"{retried[0]} were `replica.behind`"

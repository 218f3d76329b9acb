"""Query routes served in front of FastAPI answer exactly as FastAPI answers them.

Each request goes to the stack's gateway (direct routes on) and to a second gateway on the
same bus with `direct=False`; status, body and the stamped headers must agree."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from services.gateway.auth import ACCESS_KEY
from tests.support.gateway import GatewayStack, eventually, new_user

STAMPED = ("content-type", "x-ratelimit-limit", "x-ratelimit-window")


@pytest.fixture(scope="module")
def plain(stack: GatewayStack) -> Iterator[httpx.Client]:
    """Signed as the superadmin, against a gateway where FastAPI serves everything."""
    url = stack.another_gateway(direct=False)
    with httpx.Client(base_url=url, auth=stack.client().auth, timeout=15) as client:
        yield client


def same(direct: httpx.Response, plain: httpx.Response) -> httpx.Response:
    assert (direct.status_code, direct.content) == (plain.status_code, plain.content)
    for name in STAMPED:
        assert direct.headers.get(name) == plain.headers.get(name), name
    assert direct.headers["x-request-id"] and direct.headers["x-ratelimit-remaining"]
    return direct


@pytest.mark.parametrize("path", [
    "/users/root@baikal.test", "/users/nobody@example.com", "/users/" + "a" * 1100,
    "/users/root@baikal.test/", "/resource-policies/keypair/default",
    "/resource-policies/user/nothing-here", "/keypairs/AKIANOTAKEY/effective-limits",
    "/sessions/x", "/users/r%C3%B6ot@baikal.test",
])
def test_direct_query_routes_answer_exactly_as_fastapi_does(
        root: httpx.Client, plain: httpx.Client, path: str) -> None:
    same(root.get(path), plain.get(path))


def test_a_users_own_keypair_limits_and_refusals_answer_alike(
        stack: GatewayStack, root: httpx.Client, plain: httpx.Client) -> None:
    created = root.post("/users", json=new_user("direct")).json()
    assert ACCESS_KEY.match(created["access_key"])
    path = f"/keypairs/{created['access_key']}/effective-limits"
    eventually(lambda: root.get(path), lambda r: r.status_code == 200)  # quota learns it
    assert same(root.get(path), plain.get(path)).json()["access_key"] == created["access_key"]
    signed_as_user = stack.client(created["access_key"], created["secret_key"]).auth
    for client in (root, plain):
        client.auth = signed_as_user
    try:
        same(root.get("/users/root@baikal.test"), plain.get("/users/root@baikal.test"))
        same(root.get("/users/userdirect@example.com"),
             plain.get("/users/userdirect@example.com"))
    finally:
        root.auth = plain.auth = stack.client().auth
    anonymous, other = httpx.Client(base_url=stack.url), httpx.Client(base_url=str(plain.base_url))
    unsigned = same(anonymous.get("/users/root@baikal.test"), other.get("/users/root@baikal.test"))
    assert unsigned.json()["error"]["code"] == "gateway.auth.missing"
    forged = {"Authorization": f"BackendAI signMethod=HMAC-SHA256, credential="
                               f"{created['access_key']}:00", "X-BackendAI-Version": "v8",
              "Date": "2020-01-01T00:00:00+00:00"}
    skewed = same(anonymous.get("/users/x@y.z", headers=forged),
                  other.get("/users/x@y.z", headers=forged))
    assert skewed.json()["error"]["code"] == "gateway.auth.date_skew"


def test_request_ids_bodies_and_other_methods_go_the_usual_way(root: httpx.Client,
                                                               plain: httpx.Client) -> None:
    answer = root.get("/users/root@baikal.test", headers={"X-Request-ID": "direct-1"})
    assert answer.status_code == 200 and answer.headers["x-request-id"] == "direct-1"
    with_body = root.request("GET", "/users/root@baikal.test", content=b"{}")
    same(with_body, plain.request("GET", "/users/root@baikal.test", content=b"{}"))
    head = root.head("/users/root@baikal.test")
    assert head.status_code == plain.head("/users/root@baikal.test").status_code


def test_whoami_answers_exactly_as_fastapi_does_for_each_way_of_signing(
        stack: GatewayStack, root: httpx.Client, plain: httpx.Client) -> None:
    """GET /auth/whoami (a caller_route, no bus) is served in front of FastAPI too: signed as
    the superadmin and as a plain user, with a login token, unsigned and forged, the two
    gateways answer the same status, bytes and stamped headers; what the direct layer leaves
    to FastAPI (a trailing slash, another method) answers as FastAPI does."""
    me = same(root.get("/auth/whoami"), plain.get("/auth/whoami"))
    assert me.json()["access_key"] == stack.root["access_key"] and me.json()["method"] == "hmac"
    assert same(root.get("/auth/whoami?x=1"), plain.get("/auth/whoami?x=1")).status_code == 200
    created = root.post("/users", json=new_user("whoami")).json()
    signed_as_user = stack.client(created["access_key"], created["secret_key"]).auth
    for client in (root, plain):
        client.auth = signed_as_user
    try:
        user = same(root.get("/auth/whoami"), plain.get("/auth/whoami"))
        assert user.json()["email"] == "userwhoami@example.com"
    finally:
        root.auth = plain.auth = stack.client().auth
    anonymous, other = httpx.Client(base_url=stack.url), httpx.Client(base_url=str(plain.base_url))
    bearer = {}  # each gateway's own login token (tokens are signed with a gateway's key)
    for client in (anonymous, other):
        login = client.post("/auth/login", json={"email": "userwhoami@example.com",
                                                 "password": "Passw0rd!"})
        assert login.status_code == 200, login.text
        bearer[client] = {"Authorization": f"Bearer {login.json()['token']}"}
    by_token = same(anonymous.get("/auth/whoami", headers=bearer[anonymous]),
                    other.get("/auth/whoami", headers=bearer[other]))
    assert by_token.json()["method"] == "token"
    unsigned = same(anonymous.get("/auth/whoami"), other.get("/auth/whoami"))
    assert unsigned.json()["error"]["code"] == "gateway.auth.missing"
    forged = {"Authorization": f"BackendAI signMethod=HMAC-SHA256, credential="
                               f"{created['access_key']}:00", "X-BackendAI-Version": "v8",
              "Date": "2020-01-01T00:00:00+00:00"}
    skewed = same(anonymous.get("/auth/whoami", headers=forged),
                  other.get("/auth/whoami", headers=forged))
    assert skewed.json()["error"]["code"] == "gateway.auth.date_skew"
    slash = root.get("/auth/whoami/")
    assert slash.status_code == plain.get("/auth/whoami/").status_code
    post = same(root.post("/auth/whoami"), plain.post("/auth/whoami"))
    assert post.status_code == 405

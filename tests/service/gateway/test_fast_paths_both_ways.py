"""Every query route answers alike with the gateway's read fast paths on and off.

Two fast paths serve the query routes (`query_route`, the only routes either one touches;
`direct.py` also serves the `caller_route` GET /auth/whoami, asked here alike):
`direct.py` (served in front of FastAPI; off: BAIKAL_GATEWAY_DIRECT_READS=false) and the
reply splice (an accepted reply's `data` passed through undecoded; off:
BAIKAL_GATEWAY_REPLY_SPLICE=false). Four gateways on one bus, one per combination: for every
query route the app declares, found and missing targets, as the superadmin and as a plain
user, the four answer with the same status and JSON, and byte for byte where only the
direct path differs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from itertools import product
from typing import Any

import httpx
import pytest

from services.gateway.app import ROUTERS
from services.gateway.direct import direct_queries
from tests.support.gateway import GatewayStack, eventually, new_user

COMBINATIONS = list(product((True, False), (True, False)))  # (direct, splice)
ROOT_KEY = "{root_key}"
# Per query route template: paths to ask (found, missing, invalid where the route has a rule).
SAMPLES: dict[str, list[str]] = {
    "/users/{email}": ["/users/root@baikal.test", "/users/nobody@example.com",
                       "/users/userfast@example.com", "/users/" + "a" * 1100],
    "/keypairs/{access_key}/effective-limits": [
        f"/keypairs/{ROOT_KEY}/effective-limits", "/keypairs/AKIANOTAKEY/effective-limits"],
    "/sessions/{session_id}": ["/sessions/x"],
    "/auth/whoami": ["/auth/whoami"],  # a caller_route: no query, no reply to splice
    "/resource-policies/keypair/{name}": ["/resource-policies/keypair/default",
                                          "/resource-policies/keypair/nothing-here"],
    "/resource-policies/user/{name}": ["/resource-policies/user/default",
                                       "/resource-policies/user/nothing-here"],
    "/resource-policies/project/{name}": ["/resource-policies/project/default",
                                          "/resource-policies/project/nothing-here"],
}


def query_templates() -> set[str]:
    return {getattr(q.route, "path", "") for q in direct_queries(ROUTERS)}


def test_every_query_route_has_samples_here() -> None:
    assert query_templates() == set(SAMPLES)


@pytest.fixture(scope="module")
def gateways(stack: GatewayStack) -> Iterator[dict[tuple[bool, bool], str]]:
    urls = {(True, True): stack.url}
    for direct, splice in COMBINATIONS[1:]:
        urls[(direct, splice)] = stack.another_gateway(
            settings={"gateway_reply_splice": splice}, direct=direct)
    yield urls


@pytest.fixture(scope="module")
def plain_user(stack: GatewayStack, root: httpx.Client) -> httpx.Auth:
    created = root.post("/users", json=new_user("fast")).json()
    path = f"/keypairs/{created['access_key']}/effective-limits"
    eventually(lambda: root.get(path), lambda r: r.status_code == 200)  # quota learns it
    return stack.client(created["access_key"], created["secret_key"]).auth


def ask_all(urls: dict[tuple[bool, bool], str], auth: httpx.Auth,
            path: str) -> dict[tuple[bool, bool], httpx.Response]:
    answers = {}
    for combination, url in urls.items():
        with httpx.Client(base_url=url, auth=auth, timeout=15) as client:
            answers[combination] = client.get(path)
    return answers


def body(answer: httpx.Response) -> Any:
    return json.loads(answer.content)


@pytest.mark.parametrize("as_root", [True, False], ids=["superadmin", "plain-user"])
@pytest.mark.parametrize("template", sorted(SAMPLES))
def test_a_query_route_answers_alike_with_each_fast_path_on_and_off(
        stack: GatewayStack, root: httpx.Client, gateways: dict[tuple[bool, bool], str],
        plain_user: httpx.Auth, template: str, as_root: bool) -> None:
    auth = root.auth if as_root else plain_user
    for sample in SAMPLES[template]:
        path = sample.replace(ROOT_KEY, stack.root["access_key"])
        answers = ask_all(gateways, auth, path)
        statuses = {answer.status_code for answer in answers.values()}
        assert len(statuses) == 1, (path, {k: v.status_code for k, v in answers.items()})
        for splice in (True, False):  # only the path taken differs: the same bytes
            assert answers[(True, splice)].content == answers[(False, splice)].content, path
        assert body(answers[(True, True)]) == body(answers[(True, False)]), path
        for answer in answers.values():
            assert answer.headers["content-type"] == "application/json"
            assert answer.headers["x-request-id"]

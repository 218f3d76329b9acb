"""Read permissions over real HTTP (identity, quota, rbac, scheduler behind the gateway).

Every read route: a plain user is refused 403 `<service>.auth.forbidden` (or sees only their
own rows); the same user given a custom role holding exactly the query's declared grant is
answered (or sees the row). Lists: a plain user sees only themself and their keypairs; a
holder of Session·Read at the domain reads that domain's sessions, not another domain's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from contracts import identity, quota, rbac, scheduler
from contracts.identity import Subjects as IS
from contracts.quota import Subjects as QS
from contracts.scheduler import Subjects as SS
from tests.support.gateway import GatewayStack, eventually, new_user


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayStack]:
    running = GatewayStack(tmp_path_factory.mktemp("reads"), scheduler=True).start()
    yield running
    running.stop()


@dataclass
class World:
    stack: GatewayStack
    root: httpx.Client
    domain_id: str
    project_id: str
    people: dict[str, dict[str, Any]]
    sessions: dict[str, str]
    roles: int = 0

    def as_(self, who: str) -> httpx.Client:
        person = self.people[who]
        return self.stack.client(person["access_key"], person["secret_key"])

    def grant(self, who: str, scope: tuple[str, str], entity: str) -> str:
        self.roles += 1
        role = self.root.post("/roles", json={
            "name": f"http-reads-{self.roles}",
            "scopes": [{"scope_type": scope[0], "scope_id": scope[1]}]}).json()
        assert self.root.post(f"/roles/{role['role_id']}/permissions", json={
            "scope_type": scope[0], "scope_id": scope[1], "entity_type": entity,
            "operations": ["read"]}).status_code == 201
        assert self.root.post(f"/roles/{role['role_id']}/assignments", json={
            "user_ids": [self.people[who]["user_id"]]}).status_code == 200
        return str(role["role_id"])

    def revoke(self, role_id: str) -> None:
        assert self.root.post(f"/roles/{role_id}/deactivate").status_code == 200


def known_to_rbac(root: httpx.Client, email: str) -> None:
    eventually(lambda: root.get("/rbac/users", params={"text": email}),
               lambda r: r.status_code == 200 and r.json()["total"] == 1)


@pytest.fixture(scope="module")
def world(stack: GatewayStack) -> Iterator[World]:
    with stack.client() as root:
        assert root.post("/domains", json={"name": "faraway"}).status_code == 201
        domains = root.get("/domains").json()["items"]
        domain_id = next(d["domain_id"] for d in domains if d["name"] == "default")
        project_id = root.post("/projects", json={"name": "http-reads"}).json()["project_id"]
        people = {}
        for who, extra in (("plain", {}), ("holder", {}), ("watcher", {}),
                           ("target", {"projects": [project_id]}),
                           ("alien", {"domain": "faraway"})):
            answer = root.post("/users", json=new_user(f"http-{who}", **extra))
            assert answer.status_code == 201, answer.text
            people[who] = answer.json()
            known_to_rbac(root, people[who]["email"])
        w = World(stack, root, domain_id, project_id, people, {})
        for who in ("target", "alien"):  # no agent: the sessions stay PENDING, which is enough
            w.sessions[who] = request_session(w, who)
        yield w


def request_session(w: World, who: str) -> str:
    with w.as_(who) as client:
        made = eventually(lambda: client.post("/sessions", json={
            "name": "r", "image": "baikal/busybox:latest", "session_type": "batch",
            "command": ["true"], "slots": {"cpu": "0.1", "mem": "64m"}}),
            lambda r: r.status_code == 201)
    return str(made.json()["session_id"])


def code(answer: httpx.Response) -> tuple[int, str]:
    return answer.status_code, answer.json().get("error", {}).get("code", "")


@dataclass(frozen=True)
class Case:
    subject: str
    path: Callable[[World], str]
    scope: Callable[[World], tuple[str, str]]
    entity: str
    service: str
    row: Callable[[World], str] | None = None  # a list: the target's row, by its key
    key: str = ""


def target(w: World) -> tuple[str, str]:
    return ("user", w.people["target"]["user_id"])


def domain(w: World) -> tuple[str, str]:
    return ("domain", w.domain_id)


def _key(w: World) -> str:
    return str(w.people["target"]["access_key"])


CASES = {
    "GET /users/{email}": Case(IS.USER_GET, lambda w: f"/users/{w.people['target']['email']}",
                               target, "user", "identity"),
    "GET /sessions/{id}": Case(SS.SESSION_GET, lambda w: f"/sessions/{w.sessions['target']}",
                               target, "session", "scheduler"),
    "GET /keypairs/{key}/effective-limits": Case(
        QS.EFFECTIVE_LIMITS, lambda w: f"/keypairs/{_key(w)}/effective-limits", target,
        "keypair", "quota"),
    "GET /resource-indicator": Case(
        SS.RESOURCE_INDICATOR, lambda w: f"/resource-indicator?access_key={_key(w)}", target,
        "keypair", "scheduler"),
    "GET /agents": Case(SS.AGENT_LIST, lambda w: "/agents", domain, "agent", "scheduler"),
    **{f"GET /resource-policies/{tier}": Case(
        subject, lambda w, tier=tier: f"/resource-policies/{tier}", domain,
        f"{tier}_resource_policy", "quota")
       for tier, subject in (("keypair", QS.KEYPAIR_POLICY_LIST),
                             ("user", QS.USER_POLICY_LIST),
                             ("project", QS.PROJECT_POLICY_LIST))},
    "GET /users": Case(IS.USER_LIST, lambda w: "/users?status=all", target, "user", "identity",
                       lambda w: w.people["target"]["user_id"], "user_id"),
    "GET /keypairs": Case(IS.KEYPAIR_LIST, lambda w: "/keypairs", target, "keypair",
                          "identity", _key, "access_key"),
    "GET /sessions": Case(SS.SESSION_LIST, lambda w: "/sessions", target, "session",
                          "scheduler", lambda w: w.sessions["target"], "session_id"),
    "GET /domains": Case(IS.DOMAIN_LIST, lambda w: "/domains", domain, "domain", "identity",
                         lambda w: w.domain_id, "domain_id"),
    "GET /projects": Case(IS.PROJECT_LIST, lambda w: "/projects",
                          lambda w: ("project", w.project_id), "project", "identity",
                          lambda w: w.project_id, "project_id"),
}
# Read elsewhere over HTTP: the policy gets (any user: below), rbac's queries (superadmins, and
# one's own check: test_roles_over_http.py), the gateway's own secret queries (no route) and the
# usage view (any user, filtered by its handler) and a recalculation's stages (superadmins):
# test_usage_over_http.py.
ELSEWHERE = {QS.KEYPAIR_POLICY_GET, QS.USER_POLICY_GET, QS.PROJECT_POLICY_GET,
             *rbac.QUERY_NEEDS, IS.KEYPAIR_RESOLVE, IS.LOGIN, IS.TOKEN_ISSUE, SS.USAGE_LIST,
             SS.USAGE_RECALCULATION}


def test_the_table_names_every_query_with_a_route() -> None:
    every = {*identity.QUERY_NEEDS, *quota.QUERY_NEEDS, *scheduler.QUERY_NEEDS,
             *rbac.QUERY_NEEDS}
    assert {case.subject for case in CASES.values()} | ELSEWHERE == every


@pytest.mark.parametrize("name", CASES)
def test_each_read_needs_exactly_its_declared_grant(world: World, name: str) -> None:
    case = CASES[name]
    path = case.path(world)
    with world.as_("holder") as holder:
        before = holder.get(path)
        if case.row is None:
            assert code(before) == (403, f"{case.service}.auth.forbidden"), before.text
        else:
            assert before.status_code == 200, before.text
            assert case.row(world) not in {r[case.key] for r in before.json()["items"]}
        role = world.grant("holder", case.scope(world), case.entity)
        if case.row is None:
            eventually(lambda: holder.get(path), lambda r: r.status_code == 200)
        else:
            row = case.row(world)
            eventually(lambda: holder.get(path),
                       lambda r: row in {x[case.key] for x in r.json()["items"]})
        world.revoke(role)
        eventually(lambda: holder.get(path), lambda r: r.status_code == 403 if case.row is None
                   else case.row(world) not in {x[case.key] for x in r.json()["items"]})


def test_a_plain_user_reads_only_their_own_rows(world: World) -> None:
    with world.as_("plain") as plain:
        users = plain.get("/users", params={"status": "all"}).json()
        assert [u["user_id"] for u in users["items"]] == [world.people["plain"]["user_id"]]
        assert users["total"] == 1
        keys = plain.get("/keypairs", params={"status": "all"}).json()["items"]
        assert [k["access_key"] for k in keys] == [world.people["plain"]["access_key"]]
        assert all("secret_key" not in k for k in keys)
        me = plain.get(f"/users/{world.people['plain']['email']}")
        assert me.status_code == 200 and me.json()["keypairs"][0]["access_key"] == \
            world.people["plain"]["access_key"]
        assert code(plain.get("/users/root@baikal.test")) == (403, "identity.auth.forbidden")
        assert code(plain.get("/users/nobody@example.com")) == (403, "identity.auth.forbidden")
        assert plain.get("/sessions").json()["items"] == []
        assert plain.get("/domains").json()["items"] == []
        assert code(plain.get("/roles")) == (403, "rbac.auth.forbidden")
        for tier in ("keypair", "user", "project"):  # one policy: any user may read it
            assert plain.get(f"/resource-policies/{tier}/default").status_code == 200


def test_session_read_at_a_domain_reads_that_domains_sessions(world: World) -> None:
    world.grant("watcher", domain(world), "session")
    with world.as_("watcher") as watcher:
        mine = eventually(lambda: watcher.get("/sessions"),
                          lambda r: len(r.json()["items"]) == 1).json()["items"]
        assert [s["session_id"] for s in mine] == [world.sessions["target"]]
        got = watcher.get(f"/sessions/{world.sessions['target']}")
        assert got.status_code == 200 and got.json()["user_id"] == \
            world.people["target"]["user_id"]
        assert code(watcher.get(f"/sessions/{world.sessions['alien']}")) == (
            403, "scheduler.auth.forbidden")
    every = world.root.get("/sessions").json()["items"]
    assert {world.sessions["target"], world.sessions["alien"]} <= {
        s["session_id"] for s in every}  # the superadmin still reads everything

"""Read-permission matrix over the bus, against a real nats-server and every service in-process.

For every query subject of every service (the union of the contracts' `QUERY_NEEDS`):
- scoped (one target): a plain user is refused `<service>.auth.forbidden` naming `read`; a user
  given a custom role holding exactly the declared (scope, entity, read) is answered; once the
  role is deactivated the same user is refused again;
- list (rows): the plain user's answer lacks the target's row; with exactly the declared grant
  at the row's scope the row appears, and it goes again when the role is deactivated;
- any user: a plain user is answered, a system actor refused;
- system-wide: a plain user and a domain admin are refused, a superadmin is answered;
- system-only: users (superadmins included) are refused; the named system actor passes.
Then the filters themselves: a plain user lists only themself and their keypairs; a domain
admin their domain; Session·Read at a domain (or a project) reads those sessions only.
The table must name every query subject: a new query without a case fails here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from contracts import agent as ac
from contracts import identity, quota, rbac, scheduler
from contracts.envelope import Actor, Reply
from contracts.identity import Subjects as IS
from contracts.quota import Subjects as QS
from contracts.rbac import Subjects as RS
from contracts.scheduler import Subjects as SS
from contracts.subjects import service_of
from services.runtime.client import BusClient
from tests.support.agent import unique_label_prefix
from tests.support.identity import SUPERADMIN_EMAIL, SUPERADMIN_PASSWORD, connect_as, user_payload
from tests.support.stack import Stack, start_stack

AGENT = "local"
SESSION = {"name": "r", "image": "baikal/busybox:latest", "session_type": "batch",
           "command": ["sleep", "600"], "slots": {"cpu": "0.1", "mem": "64m"}}
NEEDS = {**identity.QUERY_NEEDS, **quota.QUERY_NEEDS, **scheduler.QUERY_NEEDS,
         **rbac.QUERY_NEEDS, **ac.query_needs(AGENT)}
Data = Callable[["World"], dict[str, Any]]


@dataclass
class World:
    stack: Stack
    domain_id: str = ""
    other_domain_id: str = ""
    project_id: str = ""
    people: dict[str, dict[str, Any]] = field(default_factory=dict)
    sessions: dict[str, str] = field(default_factory=dict)  # who -> a session of theirs
    roles: int = 0

    @property
    def root(self) -> BusClient:
        return self.stack.client

    def as_(self, who: str) -> BusClient:
        return BusClient(self.stack.nc, Actor(access_key=self.people[who]["access_key"]),
                         timeout=10)

    def id_of(self, who: str) -> str:
        return str(self.people[who]["user_id"])

    async def grant(self, who: str, scope: tuple[str, str], entity: str, op: str = "read"
                    ) -> str:
        """A custom role holding exactly (scope, entity, op), assigned to `who`."""
        self.roles += 1
        role = await self.root.command_or_raise(RS.ROLE_CREATE, {
            "name": f"reads-{self.roles}",
            "scopes": [{"scope_type": scope[0], "scope_id": scope[1]}]})
        await self.root.command_or_raise(RS.ROLE_ADD_PERMISSION, {
            "role_id": role["role_id"], "scope_type": scope[0], "scope_id": scope[1],
            "entity_type": entity, "operations": [op]})
        await self.root.command_or_raise(RS.ROLE_ASSIGN, {"role_id": role["role_id"],
                                                          "user_ids": [self.id_of(who)]})
        return str(role["role_id"])

    async def revoke(self, role_id: str) -> None:
        await self.root.command_or_raise(RS.ROLE_DEACTIVATE, {"role_id": role_id})


def forbidden(reply: Reply, subject: str) -> bool:
    return (not reply.ok and reply.error is not None
            and reply.error.code == f"{service_of(subject)}.auth.forbidden")


def refused(reply: Reply, subject: str) -> bool:
    """Forbidden by the guard, or refused before it by the proof check (an actor whose proof
    no trusted key signed)."""
    return forbidden(reply, subject) or (
        not reply.ok and reply.error is not None
        and reply.error.code == f"{service_of(subject)}.auth.token_invalid")


async def until(call: Callable[[], Awaitable[Reply]], check: Callable[[Reply], bool],
                what: str) -> Reply:
    """Bounded: the grant or revocation reaches the owning service's replica."""
    reply = None
    for _ in range(250):
        reply = await call()
        if check(reply):
            return reply
        await asyncio.sleep(0.02)
    raise AssertionError(f"{what}: never held; last reply {reply}")


# ---- the cases -------------------------------------------------------------------------------


def domain(w: World) -> tuple[str, str]:
    return ("domain", w.domain_id)


def project(w: World) -> tuple[str, str]:
    return ("project", w.project_id)


def target(w: World) -> tuple[str, str]:
    return ("user", w.id_of("target"))


def target_key(w: World) -> dict[str, Any]:
    return {"access_key": w.people["target"]["access_key"]}


@dataclass(frozen=True)
class Scoped:
    scope: Callable[[World], tuple[str, str]]
    data: Data


SCOPED: dict[str, Scoped] = {
    IS.USER_GET: Scoped(target, lambda w: {"email": w.people["target"]["email"]}),
    SS.SESSION_GET: Scoped(target, lambda w: {"session_id": w.sessions["target"]}),
    SS.RESOURCE_INDICATOR: Scoped(target, target_key),
    QS.EFFECTIVE_LIMITS: Scoped(target, target_key),
    SS.AGENT_LIST: Scoped(domain, lambda w: {}),  # at the caller's own domain
    QS.KEYPAIR_POLICY_LIST: Scoped(domain, lambda w: {}),
    QS.USER_POLICY_LIST: Scoped(domain, lambda w: {}),
    QS.PROJECT_POLICY_LIST: Scoped(domain, lambda w: {}),
}


@dataclass(frozen=True)
class Rows:
    """The list, and the row of the target it must show with the grant and hide without."""

    scope: Callable[[World], tuple[str, str]]
    data: Data
    key: str
    row: Callable[[World], str]


ROWS: dict[str, Rows] = {
    IS.USER_LIST: Rows(target, lambda w: {"status": None}, "user_id",
                       lambda w: w.id_of("target")),
    IS.KEYPAIR_LIST: Rows(target, lambda w: {"is_active": None}, "access_key",
                          lambda w: w.people["target"]["access_key"]),
    SS.SESSION_LIST: Rows(target, lambda w: {}, "session_id", lambda w: w.sessions["target"]),
    IS.DOMAIN_LIST: Rows(domain, lambda w: {}, "domain_id", lambda w: w.domain_id),
    IS.PROJECT_LIST: Rows(project, lambda w: {}, "project_id", lambda w: w.project_id),
}

ANY_USER: dict[str, Data] = {
    QS.KEYPAIR_POLICY_GET: lambda w: {"name": "default"},
    QS.USER_POLICY_GET: lambda w: {"name": "default"},
    QS.PROJECT_POLICY_GET: lambda w: {"name": "default"},
    RS.CHECK: lambda w: {"user_id": w.id_of("outsider"), "operation": "read",
                         "entity_type": "session", "scope_type": "domain",
                         "scope_id": w.domain_id},
    RS.CHECK_BATCH: lambda w: {"checks": [ANY_USER[RS.CHECK](w)]},
    SS.USAGE_LIST: lambda w: {},
}

SYSTEM_WIDE: dict[str, Data] = {
    RS.ROLE_LIST: lambda w: {},
    RS.ROLE_GET: lambda w: {"role_id": w.people["any-role"]["role_id"]},
    RS.USER_SEARCH: lambda w: {"text": ""},
    SS.USAGE_RECALCULATION: lambda w: {"run_id": "never-ran"},
}

SYSTEM_ONLY: dict[str, tuple[str, Data]] = {  # subject -> (the system actor that passes, data)
    IS.KEYPAIR_RESOLVE: ("gateway", target_key),
    IS.TOKEN_ISSUE: ("gateway", target_key),
    IS.LOGIN: ("gateway", lambda w: {"email": SUPERADMIN_EMAIL,
                                     "password": SUPERADMIN_PASSWORD}),
    ac.list_subject(AGENT): ("operator", lambda w: {}),
    ac.report_subject(AGENT): ("operator", lambda w: {}),
}


def rows_of(reply: Reply, key: str) -> set[str]:
    assert reply.ok and reply.data is not None, reply.error
    return {str(item[key]) for item in reply.data["items"]}


# ---- the world -------------------------------------------------------------------------------


async def own_session(w: World, who: str) -> str:
    """A session of `who`'s (requested with their own role, once rbac made it)."""
    made = await until(lambda: w.as_(who).command(SS.SESSION_REQUEST, SESSION),
                       lambda r: r.ok, f"{who}'s session request")
    assert made.data is not None
    return str(made.data["session_id"])


@pytest.fixture
async def world(nats_server, tmp_path, cipher_key: str):
    stack = await start_stack(nats_server, tmp_path, cipher_key, "simulated",
                              unique_label_prefix())
    w = World(stack)
    w.other_domain_id = (await w.root.command_or_raise(IS.DOMAIN_CREATE,
                                                       {"name": "elsewhere"}))["domain_id"]
    domains = await w.root.query_or_raise(IS.DOMAIN_LIST, {})
    w.domain_id = next(d["domain_id"] for d in domains["items"] if d["name"] == "default")
    w.project_id = (await w.root.command_or_raise(IS.PROJECT_CREATE,
                                                  {"name": "reads"}))["project_id"]
    for who in ("outsider", "holder", "watcher", "lead"):
        w.people[who] = await w.root.command_or_raise(IS.USER_CREATE, user_payload(who))
    w.people["target"] = await w.root.command_or_raise(
        IS.USER_CREATE, user_payload("target", projects=[w.project_id]))
    w.people["alien"] = await w.root.command_or_raise(
        IS.USER_CREATE, user_payload("alien", domain="elsewhere"))
    w.people["dadmin"] = await w.root.command_or_raise(IS.USER_CREATE,
                                                       user_payload("dadmin", role="admin"))
    w.people["any-role"] = await w.root.command_or_raise(RS.ROLE_CREATE, {
        "name": "reads-any", "scopes": [{"scope_type": "domain", "scope_id": w.domain_id}]})
    for who in ("target", "alien"):
        w.sessions[who] = await own_session(w, who)
    yield w
    await stack.stop()


# ---- the tests -------------------------------------------------------------------------------


async def test_every_query_is_enforced_with_exactly_its_declared_grant(world: World) -> None:
    covered = set(SCOPED) | set(ROWS) | set(ANY_USER) | set(SYSTEM_WIDE) | set(SYSTEM_ONLY)
    assert covered == set(NEEDS)
    w = world
    for subject, case in SCOPED.items():
        await scoped_query(w, subject, case)
    for subject, rows in ROWS.items():
        await list_query(w, subject, rows)

    intruder = BusClient(w.stack.nc, Actor(system="intruder"), timeout=10)
    for subject, make in ANY_USER.items():
        answered = await w.as_("outsider").query(subject, make(w))
        assert answered.ok, (subject, answered.error)
        assert refused(await intruder.query(subject, make(w)), subject), subject

    for subject, make in SYSTEM_WIDE.items():
        for who in ("outsider", "dadmin"):
            assert forbidden(await w.as_(who).query(subject, make(w)), subject), (subject, who)
        answered = await w.root.query(subject, make(w))
        assert answered.ok, (subject, answered.error)

    await system_only_queries(w)


async def scoped_query(w: World, subject: str, case: Scoped) -> None:
    need, data = NEEDS[subject], case.data(w)
    refused = await w.as_("outsider").query(subject, data)
    assert forbidden(refused, subject), (subject, refused)
    assert refused.error is not None and refused.error.details["operation"] == "read"
    scope = case.scope(w)
    assert scope[0] == need.scope_type, subject
    role = await w.grant("holder", scope, str(need.entity_type))
    await until(lambda: w.as_("holder").query(subject, data), lambda r: r.ok, subject)
    await w.revoke(role)
    await until(lambda: w.as_("holder").query(subject, data),
                lambda r: forbidden(r, subject), f"{subject} after the revocation")


async def list_query(w: World, subject: str, rows: Rows) -> None:
    need, data, row = NEEDS[subject], rows.data(w), rows.row(w)
    assert row not in rows_of(await w.as_("outsider").query(subject, data), rows.key)
    scope = rows.scope(w)
    assert scope[0] == need.scope_type, subject
    role = await w.grant("holder", scope, str(need.entity_type))
    await until(lambda: w.as_("holder").query(subject, data),
                lambda r: row in rows_of(r, rows.key), subject)
    await w.revoke(role)
    await until(lambda: w.as_("holder").query(subject, data),
                lambda r: row not in rows_of(r, rows.key), f"{subject} after the revocation")


async def system_only_queries(w: World) -> None:
    # The secret queries are published only by the gateway's NATS user: ask through it.
    gateway_nc = await connect_as(w.stack.server, "gateway")
    try:
        for subject, (system, make) in SYSTEM_ONLY.items():
            nc = gateway_nc if service_of(subject) == "identity" else w.stack.nc
            for actor in (Actor(access_key=w.stack.creds["access_key"]), Actor(system="intruder"),
                          Actor(system="scheduler" if system == "gateway" else "gateway")):
                reply = await BusClient(nc, actor, timeout=10).query(subject, make(w))
                assert refused(reply, subject), (subject, actor, reply)
            reply = await BusClient(nc, Actor(system=system), timeout=15).query(subject, make(w))
            assert reply.ok, (subject, reply.error)
    finally:
        await gateway_nc.close()


async def test_lists_show_only_what_the_caller_may_read(world: World) -> None:
    w = world
    everyone = {w.id_of(who) for who in w.people if who != "any-role"}
    default = everyone - {w.id_of("alien")}

    async def users(who: str) -> set[str]:
        return rows_of(await w.as_(who).query(IS.USER_LIST, {"status": None, "limit": 1000}),
                       "user_id")

    async def key_owners(who: str) -> set[str]:
        listed = await w.as_(who).query(IS.KEYPAIR_LIST, {"is_active": None, "limit": 1000})
        assert listed.data is not None
        assert all("secret_key" not in k for k in listed.data["items"])  # never in a list
        return {k["user_id"] for k in listed.data["items"]}

    async def sessions(who: str) -> set[str]:
        return rows_of(await w.as_(who).query(SS.SESSION_LIST, {"limit": 1000}), "session_id")

    # a plain user: their own account and keypairs, their own sessions
    assert await users("outsider") == {w.id_of("outsider")}
    assert await key_owners("outsider") == {w.id_of("outsider")}
    assert await sessions("target") == {w.sessions["target"]}
    assert await sessions("outsider") == set()
    me = await w.as_("outsider").query_or_raise(IS.USER_GET,
                                                {"user_id": w.id_of("outsider")})
    assert [k["access_key"] for k in me["keypairs"]] == [w.people["outsider"]["access_key"]]
    # a domain admin: their domain's, not another domain's
    assert default <= await users("dadmin") and w.id_of("alien") not in await users("dadmin")
    assert w.id_of("alien") not in await key_owners("dadmin")
    assert await sessions("dadmin") == {w.sessions["target"]}
    # a superadmin: everything
    root_users = rows_of(await w.root.query(IS.USER_LIST, {"status": None, "limit": 1000}),
                         "user_id")
    assert everyone <= root_users
    assert {w.sessions["target"], w.sessions["alien"]} <= rows_of(
        await w.root.query(SS.SESSION_LIST, {"limit": 1000}), "session_id")

    # Session·Read at the domain (the seed's example grant): that domain's sessions, get and list
    await w.grant("watcher", ("domain", w.domain_id), "session")
    await until(lambda: w.as_("watcher").query(SS.SESSION_LIST, {}),
                lambda r: rows_of(r, "session_id") == {w.sessions["target"]}, "watcher's list")
    got = await w.as_("watcher").query(SS.SESSION_GET, {"session_id": w.sessions["target"]})
    assert got.ok and got.data is not None and got.data["user_id"] == w.id_of("target")
    assert forbidden(await w.as_("watcher").query(SS.SESSION_GET,
                                                  {"session_id": w.sessions["alien"]}),
                     SS.SESSION_GET)
    assert forbidden(await w.as_("watcher").query(SS.SESSION_GET,
                                                  {"session_id": "no-such-session"}),
                     SS.SESSION_GET)  # missing and unreadable answer alike
    assert await users("watcher") == {w.id_of("watcher")}  # sessions only, not users

    # a project-scoped grant covers its members' sessions (target is a member), no one else's
    await w.grant("lead", ("project", w.project_id), "session")
    await until(lambda: w.as_("lead").query(SS.SESSION_LIST, {}),
                lambda r: rows_of(r, "session_id") == {w.sessions["target"]}, "lead's list")

"""Enforcement matrix over the bus, against a real nats-server and every service in-process.

For every command subject of every service (the union of the contracts' `COMMAND_NEEDS`):
- scoped: a user without the permission is refused with `<service>.auth.forbidden`; a user
  given a custom role holding exactly the declared (scope, entity, operation) succeeds; after
  the role is deactivated the same user is refused again within a second (measured from the
  deactivation's reply to the first refusal, at the owning service's own replica);
- system-wide: a plain user and a domain admin are refused, a superadmin succeeds;
- system-only: users (superadmins included) are refused; a trusted system actor passes.
The table must name every command subject: a new command without a case fails here.
"""

from __future__ import annotations

import asyncio
import time
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
from tests.support.agent import start_payload, unique_label_prefix
from tests.support.identity import user_payload
from tests.support.stack import Stack, eventually, start_stack

AGENT = "local"
REVOKED_WITHIN = 1.0
SESSION = {"name": "m", "image": "baikal/busybox:latest", "session_type": "batch",
           "command": ["true"], "slots": {"cpu": "0.1", "mem": "64m"}}
Maker = Callable[["World", int], Awaitable[dict[str, Any]]]


def every_command_subject() -> set[str]:
    found = {s for m in (identity, quota, scheduler, rbac) for s in m.COMMAND_NEEDS}
    return found | set(ac.command_needs(AGENT))


@dataclass
class World:
    stack: Stack
    domain_id: str = ""
    project_id: str = ""
    people: dict[str, dict[str, Any]] = field(default_factory=dict)
    second_key: str = ""
    touchable: str = ""
    revocations: dict[str, float] = field(default_factory=dict)
    roles: int = 0

    @property
    def root(self) -> BusClient:
        return self.stack.client

    def as_(self, who: str) -> BusClient:
        return BusClient(self.stack.nc, Actor(access_key=self.people[who]["access_key"]),
                         timeout=10)

    def id_of(self, who: str) -> str:
        return str(self.people[who]["user_id"])

    async def grant(self, who: str, scope: tuple[str, str], entity: str, op: str) -> str:
        self.roles += 1
        role = await self.root.command_or_raise(RS.ROLE_CREATE, {
            "name": f"matrix-{self.roles}",
            "scopes": [{"scope_type": scope[0], "scope_id": scope[1]}]})
        await self.root.command_or_raise(RS.ROLE_ADD_PERMISSION, {
            "role_id": role["role_id"], "scope_type": scope[0], "scope_id": scope[1],
            "entity_type": entity, "operations": [op]})
        await self.root.command_or_raise(RS.ROLE_ASSIGN, {"role_id": role["role_id"],
                                                          "user_ids": [self.id_of(who)]})
        return str(role["role_id"])

    async def own_role(self, who: str) -> str:
        """The user's system role (`user-<id8>`), once rbac has made it."""
        listed = await eventually(
            lambda: self.root.query(RS.ROLE_LIST, {"name_contains": f"user-{self.id_of(who)[:8]}",
                                                   "source": "system"}),
            lambda r: r.ok and r.data["total"] == 1)
        assert listed.data is not None
        return str(listed.data["items"][0]["role_id"])


def forbidden(reply: Reply, subject: str) -> bool:
    return (not reply.ok and reply.error is not None
            and reply.error.code == f"{service_of(subject)}.auth.forbidden")


async def until_allowed(client: BusClient, subject: str, make: Maker, world: World,
                        attempt: int) -> tuple[Reply, int]:
    """Send until the grant has reached the owning service (bounded); a new payload each."""
    reply = None
    for _ in range(250):
        attempt += 1
        reply = await client.command(subject, await make(world, attempt))
        if not forbidden(reply, subject):
            return reply, attempt
        await asyncio.sleep(0.02)
    raise AssertionError(f"{subject}: the grant never reached the service: {reply}")


async def until_refused(client: BusClient, subject: str, make: Maker, world: World,
                        attempt: int) -> float:
    started = time.monotonic()
    for _ in range(300):
        attempt += 1
        reply = await client.command(subject, await make(world, attempt))
        if forbidden(reply, subject):
            return time.monotonic() - started
        assert reply.ok, f"{subject}: {reply.error}"
        await asyncio.sleep(0.01)
    raise AssertionError(f"{subject}: still allowed after its role was deactivated")


# ---- the cases -------------------------------------------------------------------------------


def fixed(data: dict[str, Any]) -> Maker:
    async def make(world: World, attempt: int) -> dict[str, Any]:
        return data

    return make


async def new_project(w: World, n: int) -> dict[str, Any]:
    return {"name": f"mp{n}"}


async def new_user(w: World, n: int) -> dict[str, Any]:
    return user_payload(f"mu{n}")


async def rename_target(w: World, n: int) -> dict[str, Any]:
    return {"email": w.people["target"]["email"], "full_name": f"Target {n}"}


async def member(w: World, n: int) -> dict[str, Any]:
    return {"project_id": w.project_id, "email": w.people["member"]["email"]}


async def victim(w: World, n: int) -> dict[str, Any]:
    return {"email": w.people["victim"]["email"]}


async def issue_for_target(w: World, n: int) -> dict[str, Any]:
    return {"email": w.people["target"]["email"]}


async def second_key(w: World, n: int) -> dict[str, Any]:
    return {"access_key": w.second_key}


async def second_key_policy(w: World, n: int) -> dict[str, Any]:
    return {"access_key": w.second_key, "resource_policy": "default"}


async def second_key_rate(w: World, n: int) -> dict[str, Any]:
    return {"access_key": w.second_key, "rate_limit": 5000 + n}


async def fresh_session_of_target(w: World, n: int) -> dict[str, Any]:
    made = await w.as_("target").command_or_raise(SS.SESSION_REQUEST, SESSION)
    return {"session_id": made["session_id"]}


async def touch_target_session(w: World, n: int) -> dict[str, Any]:
    return {"session_id": w.touchable}


@dataclass(frozen=True)
class Scoped:
    """Grant `op` on `entity` at the scope `scope(world)` and send `make`'s payloads."""

    scope: Callable[[World], tuple[str, str]]
    make: Maker


def domain(w: World) -> tuple[str, str]:
    return ("domain", w.domain_id)


def project(w: World) -> tuple[str, str]:
    return ("project", w.project_id)


def target_user(w: World) -> tuple[str, str]:
    return ("user", w.id_of("target"))


def victim_user(w: World) -> tuple[str, str]:
    return ("user", w.id_of("victim"))


SCOPED: dict[str, Scoped] = {
    IS.PROJECT_CREATE: Scoped(domain, new_project),
    IS.PROJECT_ADD_MEMBER: Scoped(project, member),
    IS.PROJECT_REMOVE_MEMBER: Scoped(project, member),
    IS.USER_CREATE: Scoped(domain, new_user),
    IS.USER_UPDATE: Scoped(target_user, rename_target),
    IS.USER_DEACTIVATE: Scoped(victim_user, victim),
    IS.USER_ACTIVATE: Scoped(domain, victim),
    IS.KEYPAIR_ISSUE: Scoped(domain, issue_for_target),
    IS.KEYPAIR_DEACTIVATE: Scoped(target_user, second_key),
    IS.KEYPAIR_ACTIVATE: Scoped(domain, second_key),
    IS.KEYPAIR_ASSIGN_POLICY: Scoped(domain, second_key_policy),
    IS.KEYPAIR_SET_RATE_LIMIT: Scoped(domain, second_key_rate),
    SS.SESSION_TERMINATE: Scoped(target_user, fresh_session_of_target),
    SS.SESSION_TOUCH: Scoped(target_user, touch_target_session),
}
ACTOR_SCOPED = {SS.SESSION_REQUEST: fixed(SESSION)}


def policy(kind: str) -> list[tuple[str, Maker]]:
    subjects = {"keypair": (QS.KEYPAIR_POLICY_CREATE, QS.KEYPAIR_POLICY_UPDATE,
                            QS.KEYPAIR_POLICY_DELETE),
                "user": (QS.USER_POLICY_CREATE, QS.USER_POLICY_UPDATE, QS.USER_POLICY_DELETE),
                "project": (QS.PROJECT_POLICY_CREATE, QS.PROJECT_POLICY_UPDATE,
                            QS.PROJECT_POLICY_DELETE)}[kind]
    name = f"matrix-{kind}"
    field_name = {"keypair": "max_concurrent_sessions", "user": "max_vfolder_count",
                  "project": "max_vfolder_count"}[kind]
    return [(subjects[0], fixed({"name": name})),
            (subjects[1], fixed({"name": name, field_name: 3})),
            (subjects[2], fixed({"name": name}))]


async def role_ref(w: World, n: int) -> dict[str, Any]:
    return {"role_id": w.people["sw-role"]["role_id"]}


async def sw_permission(w: World, n: int) -> dict[str, Any]:
    return {"role_id": w.people["sw-role"]["role_id"], "scope_type": "domain",
            "scope_id": w.domain_id, "entity_type": "image", "operations": ["read"]}


async def sw_permission_ref(w: World, n: int) -> dict[str, Any]:
    role = await w.root.query_or_raise(RS.ROLE_GET, {"role_id": w.people["sw-role"]["role_id"]})
    return {"role_id": role["role_id"], "permission_id": role["permissions"][0]["permission_id"]}


async def sw_assign(w: World, n: int) -> dict[str, Any]:
    return {"role_id": w.people["sw-role"]["role_id"], "user_ids": [w.id_of("outsider")]}


async def sw_unassign(w: World, n: int) -> dict[str, Any]:
    return {"role_id": w.people["sw-role"]["role_id"], "user_id": w.id_of("outsider")}


# In order: each superadmin call must succeed on the state the previous ones left.
SYSTEM_WIDE: list[tuple[str, Maker]] = [
    (IS.DOMAIN_CREATE, fixed({"name": "matrix"})),
    *policy("keypair"), *policy("user"), *policy("project"),
    (RS.ROLE_CREATE, lambda w, n: _scoped_role(w)),
    (RS.ROLE_UPDATE, lambda w, n: _with_role(w, {"description": "edited"})),
    (RS.ROLE_ADD_PERMISSION, sw_permission),
    (RS.ROLE_REMOVE_PERMISSION, sw_permission_ref),
    (RS.ROLE_ASSIGN, sw_assign),
    (RS.ROLE_UNASSIGN, sw_unassign),
    (RS.ROLE_ACTIVATE, role_ref),  # already active: a no-op, still the superadmin's
    (RS.ROLE_DEACTIVATE, role_ref),
    (RS.ROLE_PURGE, role_ref),
    (SS.USAGE_RECALCULATE, fixed({"agent_timeout_seconds": 0.5})),
]


async def _scoped_role(w: World) -> dict[str, Any]:
    return {"name": "sw-role", "scopes": [{"scope_type": "domain", "scope_id": w.domain_id}]}


async def _with_role(w: World, data: dict[str, Any]) -> dict[str, Any]:
    return {"role_id": w.people["sw-role"]["role_id"], **data}


# ---- the test --------------------------------------------------------------------------------


@pytest.fixture
async def world(nats_server, tmp_path, cipher_key: str):
    stack = await start_stack(nats_server, tmp_path, cipher_key, "simulated",
                              unique_label_prefix())
    w = World(stack)
    domains = await w.root.query_or_raise(IS.DOMAIN_LIST, {})
    w.domain_id = next(d["domain_id"] for d in domains["items"] if d["name"] == "default")
    w.project_id = (await w.root.command_or_raise(IS.PROJECT_CREATE,
                                                  {"name": "matrix"}))["project_id"]
    for who in ("outsider", "holder", "target", "member", "victim", "selfless", "selfish"):
        w.people[who] = await w.root.command_or_raise(IS.USER_CREATE, user_payload(who))
    w.people["dadmin"] = await w.root.command_or_raise(IS.USER_CREATE,
                                                       user_payload("dadmin", role="admin"))
    w.second_key = (await w.root.command_or_raise(IS.KEYPAIR_ISSUE, {
        "email": w.people["target"]["email"]}))["access_key"]
    for who in w.people:
        await w.own_role(who)
    w.touchable = (await until_allowed(w.as_("target"), SS.SESSION_REQUEST, fixed(SESSION),
                                       w, 0))[0].data["session_id"]  # type: ignore[index]
    yield w
    await stack.stop()


async def test_every_command_is_enforced_and_revocable(world: World) -> None:
    covered = (set(SCOPED) | set(ACTOR_SCOPED) | {s for s, _ in SYSTEM_WIDE}
               | {IS.BOOTSTRAP, *ac.command_needs(AGENT)})
    assert covered == every_command_subject()
    needs = {**identity.COMMAND_NEEDS, **quota.COMMAND_NEEDS, **scheduler.COMMAND_NEEDS,
             **rbac.COMMAND_NEEDS}

    for subject, case in SCOPED.items():
        need = needs[subject]
        assert need.scope_type is not None
        refused = await world.as_("outsider").command(subject, await case.make(world, 0))
        assert forbidden(refused, subject), (subject, refused)
        assert refused.error is not None and refused.error.details["operation"] == need.operation
        scope = case.scope(world)
        assert scope[0] == need.scope_type or scope[0] == "domain"
        role_id = await world.grant("holder", scope, need.entity_type, need.operation)
        reply, attempt = await until_allowed(world.as_("holder"), subject, case.make, world, 0)
        assert reply.ok, (subject, reply.error)
        await world.root.command_or_raise(RS.ROLE_DEACTIVATE, {"role_id": role_id})
        world.revocations[subject] = await until_refused(world.as_("holder"), subject,
                                                         case.make, world, attempt)

    for subject, make in ACTOR_SCOPED.items():  # the granting role is the user's own
        selfless = await world.own_role("selfless")
        await world.root.command_or_raise(RS.ROLE_DEACTIVATE, {"role_id": selfless})
        await until_refused(world.as_("selfless"), subject, make, world, 0)
        reply, attempt = await until_allowed(world.as_("selfish"), subject, make, world, 0)
        assert reply.ok, (subject, reply.error)
        selfish = await world.own_role("selfish")
        await world.root.command_or_raise(RS.ROLE_DEACTIVATE, {"role_id": selfish})
        world.revocations[subject] = await until_refused(world.as_("selfish"), subject, make,
                                                         world, attempt)

    for subject, make in SYSTEM_WIDE:
        for who in ("outsider", "dadmin"):
            refused = await world.as_(who).command(subject, await make(world, 0))
            assert forbidden(refused, subject), (subject, who, refused)
        done = await world.root.command(subject, await make(world, 0))
        assert done.ok, (subject, done.error)
        if subject == RS.ROLE_CREATE:
            world.people["sw-role"] = done.data  # type: ignore[assignment]

    await system_only_commands(world)
    slowest = max(world.revocations, key=world.revocations.__getitem__)
    print("revocation latency (s):", {s.split(".")[3:5].__str__(): round(v, 3)
                                      for s, v in world.revocations.items()})
    assert world.revocations[slowest] <= REVOKED_WITHIN, (slowest, world.revocations)


async def system_only_commands(world: World) -> None:
    bootstrap = {"email": "again@example.com", "password": "Passw0rd!"}
    for who in ("outsider", "dadmin"):
        assert forbidden(await world.as_(who).command(IS.BOOTSTRAP, bootstrap), IS.BOOTSTRAP)
    assert forbidden(await world.root.command(IS.BOOTSTRAP, bootstrap), IS.BOOTSTRAP)
    supervisor = BusClient(world.stack.nc, Actor(system="bootstrap"))
    again = await supervisor.command(IS.BOOTSTRAP, bootstrap)
    assert again.error is not None and again.error.code == "identity.system.already_bootstrapped"

    session_id = "00000000-0000-4000-8000-00000000beef"
    start = start_payload(session_id, ["true"])
    for client in (world.root, world.as_("outsider")):
        reply = await client.command(ac.start_subject(AGENT), start)
        assert forbidden(reply, ac.start_subject(AGENT)), reply
        reply = await client.command(ac.stop_subject(AGENT), {"session_id": session_id})
        assert forbidden(reply, ac.stop_subject(AGENT)), reply
    operator = BusClient(world.stack.nc, Actor(system="operator"), timeout=15)
    assert (await operator.command(ac.start_subject(AGENT), start)).ok
    assert (await operator.command(ac.stop_subject(AGENT), {"session_id": session_id})).ok


async def test_forged_or_malformed_actors_never_pass(world: World) -> None:
    """No command of any service is accepted from an actor that is not a known, active user
    holding the permission (or a trusted system actor for system-only commands)."""
    unknown_key = "AKIA" + "Z" * 16
    forged = [Actor(), Actor(access_key=unknown_key), Actor(system="scheduler"),
              Actor(system="bootstrap"), Actor(system="intruder"),
              Actor(access_key=world.people["holder"]["access_key"], system="operator")]
    world.people["sw-role"] = {"role_id": "00000000-0000-4000-8000-0000000000aa"}
    valid: dict[str, dict[str, Any]] = {s: await c.make(world, 0) for s, c in SCOPED.items()}
    valid |= {s: await make(world, 0) for s, make in [*ACTOR_SCOPED.items(), *SYSTEM_WIDE]
              if s != RS.ROLE_REMOVE_PERMISSION}
    valid[RS.ROLE_REMOVE_PERMISSION] = {"role_id": "x", "permission_id": "y"}
    valid[IS.BOOTSTRAP] = {"email": "again@example.com", "password": "Passw0rd!"}
    valid[ac.start_subject(AGENT)] = start_payload("00000000-0000-4000-8000-0000000000bb",
                                                   ["true"])
    valid[ac.stop_subject(AGENT)] = {"session_id": "00000000-0000-4000-8000-0000000000bb"}
    assert set(valid) == every_command_subject()
    system_only = {IS.BOOTSTRAP, *ac.command_needs(AGENT)}
    for subject, payload in sorted(valid.items()):
        actors = forged if subject not in system_only else [
            Actor(access_key=world.people["holder"]["access_key"]),
            Actor(access_key=unknown_key), Actor(system="intruder")]
        for actor in actors:
            reply = await BusClient(world.stack.nc, actor, timeout=10).command(subject, payload)
            # refused by the proof check or the guard (a valid payload), not by validation
            assert reply.error is not None and reply.error.code.endswith(
                ("auth.forbidden", "auth.unauthenticated", "auth.token_invalid")), (
                subject, actor, reply)

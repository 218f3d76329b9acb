"""The permission guard: declared needs checked against a replica of rbac's grants."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from contracts import identity, rbac, scheduler
from contracts.envelope import Actor
from contracts.permissions import Needs, Target
from contracts.rbac import EntityType, Operation, ScopeType
from services.runtime.errors import CodedError, Unauthenticated
from services.runtime.permissions import PermissionGuard

IS, SS = identity.Subjects, scheduler.Subjects
ROOT, ADA = "AKIAROOTROOTROOTROOT", "AKIAADAADAADAADAADAA"
BOB, CY = "AKIABOBBOBBOBBOBBOBB", "AKIACYCYCYCYCYCYCYCY"
NOBODY = "AKIANOBODYNOBODYNOBO"


@dataclass
class Who:
    user_id: str
    role: str


PEOPLE = {ROOT: Who("u-root", "superadmin"), ADA: Who("u-ada", "admin"),
          BOB: Who("u-bob", "user"), CY: Who("u-cy", "user")}
KEYS = {who.user_id: key for key, who in PEOPLE.items()}
SESSIONS = {"s-bob": "u-bob", "s-cy": "u-cy"}


def principal_of(actor: Actor) -> Who:
    if actor.access_key not in PEOPLE:
        raise Unauthenticated("unknown")
    return PEOPLE[actor.access_key]


def as_(key: str) -> Actor:
    return Actor(access_key=key)


def event(kind: str, **data: Any) -> dict[str, Any]:
    return {"type": kind, "data": data}


@pytest.fixture()
def guard() -> PermissionGuard:
    return make_guard()


def make_guard() -> PermissionGuard:
    g = PermissionGuard(principal_of, frozenset({"scheduler"}),
                        owners={Target.SESSION: SESSIONS.get})
    g.learn_domain("d-1", "default")
    g.learn_domain("d-2", "research")
    g.learn_project("p-1", "default")
    for who, email, domain in (("u-ada", "ada@x.test", "default"),
                               ("u-bob", "bob@x.test", "default"),
                               ("u-cy", "cy@x.test", "research")):
        g.learn_user(who, email, domain, PEOPLE[KEYS[who]].role)
        g.learn_keypair(KEYS[who], who)
    g.learn_membership("u-bob", "p-1", True)
    assert g.replica is not None
    feed = g.replica.apply
    # ada: domain admin of default; bob and cy: their own user roles
    feed(event("RoleCreated", role_id="r-admin", status="active"))
    for entity, op in (("user", "create"), ("user", "update"), ("keypair", "update")):
        feed(event("PermissionAdded", role_id="r-admin", permission_id=f"{entity}{op}",
                   scope_type="domain", scope_id="d-1", entity_type=entity, operation=op))
    feed(event("RoleAssigned", role_id="r-admin", user_id="u-ada"))
    for who in ("u-bob", "u-cy"):
        feed(event("RoleCreated", role_id=f"r-{who}", status="active"))
        for entity, op in (("user", "update"), ("session", "create"),
                           ("session", "soft-delete"), ("keypair", "soft-delete")):
            feed(event("PermissionAdded", role_id=f"r-{who}", permission_id=f"{entity}{op}",
                       scope_type="user", scope_id=who, entity_type=entity, operation=op))
        feed(event("RoleAssigned", role_id=f"r-{who}", user_id=who))
    return g


def allowed(guard: PermissionGuard, key: str, subject: str, payload: BaseModel,
            needs: Any = None) -> bool:
    needs = needs or {**identity.COMMAND_NEEDS, **scheduler.COMMAND_NEEDS}[subject]
    try:
        guard.require(as_(key), needs, payload)
    except CodedError as exc:
        assert exc.code == "auth.forbidden"
        return False
    return True


def create_user(domain: str) -> identity.CreateUser:
    return identity.CreateUser(email="n@x.test", password="Passw0rd!",
                               password_confirm="Passw0rd!", domain=domain)


def test_domain_admin_acts_in_its_domain_only(guard: PermissionGuard) -> None:
    assert allowed(guard, ADA, IS.USER_CREATE, create_user("default"))
    assert not allowed(guard, ADA, IS.USER_CREATE, create_user("research"))
    assert allowed(guard, ADA, IS.USER_UPDATE, identity.UpdateUser(email="bob@x.test"))
    assert not allowed(guard, ADA, IS.USER_UPDATE, identity.UpdateUser(email="cy@x.test"))


def test_a_user_acts_on_its_own_things_only(guard: PermissionGuard) -> None:
    assert allowed(guard, BOB, IS.USER_UPDATE, identity.UpdateUser(email="BOB@x.test "))
    assert not allowed(guard, BOB, IS.USER_UPDATE, identity.UpdateUser(email="cy@x.test"))
    assert not allowed(guard, BOB, IS.USER_CREATE, create_user("default"))
    # the privileged part of an update is checked at the domain: bob cannot promote himself
    assert not allowed(guard, BOB, "", identity.UpdateUser(email="bob@x.test"),
                       identity.PRIVILEGED_USER_UPDATE)
    assert allowed(guard, BOB, IS.KEYPAIR_DEACTIVATE, identity.KeypairRef(
        access_key=BOB))
    assert not allowed(guard, BOB, IS.KEYPAIR_ASSIGN_POLICY, identity.AssignKeypairPolicy(
        access_key=BOB, resource_policy="default"))


def test_sessions_are_checked_at_their_owner(guard: PermissionGuard) -> None:
    assert allowed(guard, BOB, SS.SESSION_TERMINATE,
                   scheduler.TerminateSession(session_id="s-bob"))
    assert not allowed(guard, BOB, SS.SESSION_TERMINATE,
                       scheduler.TerminateSession(session_id="s-cy"))
    assert not allowed(guard, BOB, SS.SESSION_TERMINATE,
                       scheduler.TerminateSession(session_id="s-unknown"))


def test_a_project_grant_covers_its_members_things(guard: PermissionGuard) -> None:
    assert guard.replica is not None
    guard.replica.apply(event("RoleCreated", role_id="r-lead", status="active"))
    guard.replica.apply(event("PermissionAdded", role_id="r-lead", permission_id="x",
                              scope_type="project", scope_id="p-1", entity_type="session",
                              operation="soft-delete"))
    guard.replica.apply(event("RoleAssigned", role_id="r-lead", user_id="u-cy"))
    terminate_bob = scheduler.TerminateSession(session_id="s-bob")
    assert allowed(guard, CY, SS.SESSION_TERMINATE, terminate_bob)  # bob is in p-1
    guard.learn_membership("u-bob", "p-1", False)
    assert not allowed(guard, CY, SS.SESSION_TERMINATE, terminate_bob)


def test_deactivation_and_purge_revoke_at_once(guard: PermissionGuard) -> None:
    assert guard.replica is not None
    payload = create_user("default")
    guard.replica.apply(event("RoleDeactivated", role_id="r-admin"))
    assert not allowed(guard, ADA, IS.USER_CREATE, payload)
    guard.replica.apply(event("RoleActivated", role_id="r-admin"))
    assert allowed(guard, ADA, IS.USER_CREATE, payload)
    guard.replica.apply(event("RoleUnassigned", role_id="r-admin", user_id="u-ada"))
    assert not allowed(guard, ADA, IS.USER_CREATE, payload)


def test_superadmins_pass_everything_but_system_only(guard: PermissionGuard) -> None:
    assert allowed(guard, ROOT, IS.DOMAIN_CREATE, identity.CreateDomain(name="lab"))
    assert not allowed(guard, ADA, IS.DOMAIN_CREATE, identity.CreateDomain(name="lab"))
    assert allowed(guard, ROOT, IS.USER_CREATE, create_user("nowhere"))
    bootstrap = identity.COMMAND_NEEDS[IS.BOOTSTRAP]
    assert not allowed(guard, ROOT, "", identity.CreateDomain(name="x"), bootstrap)


def test_system_only_needs_a_trusted_system_actor(guard: PermissionGuard) -> None:
    needs = identity.COMMAND_NEEDS[IS.BOOTSTRAP]
    guard.require(Actor(system="scheduler"), needs, None)
    with pytest.raises(CodedError) as caught:
        guard.require(Actor(system="intruder"), needs, None)
    assert caught.value.code == "auth.forbidden"
    with pytest.raises(CodedError):  # and system actors send nothing else
        guard.require(Actor(system="scheduler"), identity.COMMAND_NEEDS[IS.USER_CREATE],
                      create_user("default"))


def test_refusal_names_the_permission(guard: PermissionGuard) -> None:
    with pytest.raises(CodedError) as caught:
        guard.require(as_(BOB), identity.COMMAND_NEEDS[IS.USER_CREATE],
                      create_user("default"))
    assert caught.value.details == {"entity_type": "user", "operation": "create",
                                    "scope_type": "domain", "scope_id": "d-1"}


def test_unknown_actor_is_unauthenticated(guard: PermissionGuard) -> None:
    with pytest.raises(CodedError) as caught:
        guard.require(as_(NOBODY), identity.COMMAND_NEEDS[IS.USER_CREATE],
                      create_user("default"))
    assert caught.value.code == "auth.unauthenticated"


GUARD = make_guard()
BOB_EMAIL = "bob@x.test"


@settings(max_examples=300, deadline=None)
@given(email=st.one_of(st.text(max_size=70), st.sampled_from(
           [BOB_EMAIL, " BOB@X.TEST ", "cy@x.test", "ada@x.test", "bob@x.test\x00"])),
       session=st.one_of(st.text(max_size=64), st.sampled_from(["s-bob", "s-cy", "s-bob "])))
def test_fuzzed_targets_grant_nothing_beyond_the_own_scope(email: str, session: str) -> None:
    """Whatever a payload names, bob is allowed exactly on his own user and sessions."""
    update = identity.UpdateUser.model_construct(email=email)
    own = email.strip().lower() == BOB_EMAIL
    assert allowed(GUARD, BOB, IS.USER_UPDATE, update) is own
    terminate = scheduler.TerminateSession.model_construct(session_id=session)
    assert allowed(GUARD, BOB, SS.SESSION_TERMINATE, terminate) is (
        session == "s-bob")


# ---- reads -------------------------------------------------------------------------------------

USER_ROWS = identity.QUERY_NEEDS[IS.USER_LIST]
SESSION_ROWS = scheduler.QUERY_NEEDS[SS.SESSION_LIST]


def grant(guard: PermissionGuard, role: str, who: str, scope: tuple[str, str], entity: str,
          op: str = "read") -> None:
    assert guard.replica is not None
    guard.replica.apply(event("RoleCreated", role_id=role, status="active"))
    guard.replica.apply(event("PermissionAdded", role_id=role, permission_id=f"{role}-{entity}",
                              scope_type=scope[0], scope_id=scope[1], entity_type=entity,
                              operation=op))
    guard.replica.apply(event("RoleAssigned", role_id=role, user_id=who))


def readers(guard: PermissionGuard, key: str, needs: Any, ids: list[str]) -> list[str]:
    may_read = guard.readable(as_(key), needs)
    return [sid for sid in ids if may_read(sid)]


EVERYONE = ["u-root", "u-ada", "u-bob", "u-cy", "u-unknown"]


def test_rows_are_kept_where_the_caller_holds_read_at_their_scope(guard: PermissionGuard
                                                                   ) -> None:
    assert readers(guard, ROOT, USER_ROWS, EVERYONE) == EVERYONE  # superadmins read all
    assert readers(guard, BOB, USER_ROWS, EVERYONE) == []  # update is not read
    grant(guard, "r-bob-read", "u-bob", ("user", "u-bob"), "user")
    assert readers(guard, BOB, USER_ROWS, EVERYONE) == ["u-bob"]
    grant(guard, "r-ada-read", "u-ada", ("domain", "d-1"), "user")
    assert readers(guard, ADA, USER_ROWS, EVERYONE) == ["u-ada", "u-bob"]  # not research's
    assert readers(guard, ADA, SESSION_ROWS, EVERYONE) == []  # another entity type


def test_a_session_read_grant_at_a_domain_reads_that_domains_sessions(guard: PermissionGuard
                                                                       ) -> None:
    grant(guard, "r-watch", "u-cy", ("domain", "d-1"), "session")
    assert readers(guard, CY, SESSION_ROWS, EVERYONE) == ["u-ada", "u-bob"]
    get = scheduler.QUERY_NEEDS[SS.SESSION_GET]
    assert allowed(guard, CY, "", scheduler.SessionRef(session_id="s-bob"), get)
    assert not allowed(guard, CY, "", scheduler.SessionRef(session_id="s-cy"), get)  # d-2
    assert not allowed(guard, CY, "", scheduler.SessionRef(session_id="s-none"), get)
    guard.replica.apply(event("RoleDeactivated", role_id="r-watch"))  # type: ignore[union-attr]
    assert readers(guard, CY, SESSION_ROWS, EVERYONE) == []


def test_a_project_read_grant_covers_its_members_rows(guard: PermissionGuard) -> None:
    grant(guard, "r-lead", "u-cy", ("project", "p-1"), "session")
    assert readers(guard, CY, SESSION_ROWS, EVERYONE) == ["u-bob"]
    guard.learn_membership("u-bob", "p-1", False)
    assert readers(guard, CY, SESSION_ROWS, EVERYONE) == []


def test_a_user_is_read_by_email_or_by_id(guard: PermissionGuard) -> None:
    get = identity.QUERY_NEEDS[IS.USER_GET]
    grant(guard, "r-bob-read", "u-bob", ("user", "u-bob"), "user")
    assert allowed(guard, BOB, "", identity.GetUser(email="BOB@x.test"), get)
    assert allowed(guard, BOB, "", identity.GetUser(user_id="u-bob"), get)
    assert not allowed(guard, BOB, "", identity.GetUser(user_id="u-cy"), get)
    assert not allowed(guard, BOB, "", identity.GetUser(email="cy@x.test"), get)
    assert not allowed(guard, BOB, "", identity.GetUser(), get)  # names no one


def test_list_and_any_user_needs_admit_users_but_not_system_actors(guard: PermissionGuard
                                                                    ) -> None:
    for needs in (USER_ROWS, rbac.QUERY_NEEDS[rbac.Subjects.CHECK]):
        assert guard.require(as_(BOB), needs, None) is not None
        with pytest.raises(CodedError):
            guard.require(Actor(system="scheduler"), needs, None)
        with pytest.raises(Unauthenticated):
            guard.require(as_(NOBODY), needs, None)


def test_secret_queries_come_from_the_gateway_only(guard: PermissionGuard) -> None:
    login = identity.QUERY_NEEDS[IS.LOGIN]
    assert guard.require(Actor(system="gateway"), login, None) is None
    for actor in (Actor(system="scheduler"), as_(ROOT), Actor()):  # trusted elsewhere, or a user
        with pytest.raises(CodedError) as caught:
            guard.require(actor, login, None)
        assert caught.value.code == "auth.forbidden"


SCOPE_IDS = {"domain": ["d-1", "d-2"], "project": ["p-1", "p-2", "p-3"],
             "user": ["u-ada", "u-bob", "u-cy"]}


@settings(max_examples=200, deadline=None)
@given(grants=st.lists(st.tuples(st.sampled_from(["domain", "project", "user"]),
                                 st.integers(0, 2)), max_size=4),
       members=st.lists(st.tuples(st.sampled_from(SCOPE_IDS["user"]),
                                  st.sampled_from(SCOPE_IDS["project"])), max_size=5),
       project_domains=st.lists(st.sampled_from(["d-1", "d-2"]), min_size=3, max_size=3))
def test_row_filters_agree_with_the_single_check(grants: list[tuple[str, int]],
                                                members: list[tuple[str, str]],
                                                project_domains: list[str]) -> None:
    """`readable` (the list fast path) admits exactly the rows `allowed` (the get) admits."""
    g = make_guard()
    for project, domain_id in zip(SCOPE_IDS["project"], project_domains, strict=True):
        g.index.set_project(project, domain_id)
    for user, project in members:
        g.learn_membership(user, project, True)
    for n, (kind, i) in enumerate(grants):
        ids = SCOPE_IDS[kind]
        grant(g, f"r-{n}", "u-cy", (kind, ids[i % len(ids)]), "session")
    for kind in ("domain", "project", "user"):
        needs = Needs(EntityType.SESSION, Operation.READ, ScopeType(kind), Target.ROWS)
        may_read = g.readable(as_(CY), needs)
        for sid in [*SCOPE_IDS[kind], "unknown"]:
            assert may_read(sid) is g.allowed("u-cy", needs, (kind, sid)), (kind, sid)

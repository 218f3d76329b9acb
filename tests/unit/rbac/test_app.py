"""RbacApplication with an in-memory store: commands called directly, identity's events fed to
its reaction with tracking records, views attached. No bus, no mocks."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError, Tracking

from contracts import identity
from contracts import rbac as c
from contracts.envelope import Actor, Event
from services.rbac.app import RbacApplication
from services.rbac.domain.model import Role, role_id
from services.rbac.learn import learn_identity_events
from services.rbac.views import GrantView, RoleCatalogView
from services.runtime.actors import ActorDirectory
from services.runtime.errors import CodedError
from tests.support.actors import teach_actor

STREAM = "BAI_EVT_IDENTITY"
ROOT_KEY = "AKIAROOT000000000000"
ADMIN_KEY = "AKIAADMIN00000000000"
DOMAIN = "d0000000-0000-0000-0000-000000000001"
PROJECT = "p0000000-0000-0000-0000-000000000001"


def new_id() -> str:
    return str(uuid.uuid4())


class Harness:
    def __init__(self) -> None:
        self.directory = ActorDirectory()
        for n, (role, key) in enumerate([("superadmin", ROOT_KEY), ("admin", ADMIN_KEY)]):
            teach_actor(self.directory, f"actor-{n}", role, key, email=f"{role}@example.com")
        self.app = RbacApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"},
                                   directory=self.directory)
        self.catalog = RoleCatalogView(self.app)
        self.catalog.attach()
        self.grants = GrantView(self.app)
        self.grants.attach()
        self.root = Actor(access_key=ROOT_KEY)
        self.position = 0
        self.feed("DomainCreated", {"domain_id": DOMAIN, "name": "default", "description": ""})
        self.feed("ProjectCreated", {"project_id": PROJECT, "domain": "default",
                                     "name": "my-project", "description": "",
                                     "resource_policy": "default"})

    def feed(self, type_name: str, data: dict[str, Any], sequence: int | None = None) -> None:
        if sequence is None:
            self.position += 1
            sequence = self.position
        envelope = Event(id=new_id(), type=type_name, source="identity", aggregate_id=new_id(),
                         sequence=1, occurred_at=datetime.now(UTC), data=data)
        learn_identity_events(self.app, identity.typed_events(envelope),
                              Tracking(application_name=STREAM, notification_id=sequence))

    def user(self, n: int, role: str = "user", projects: list[str] | None = None) -> str:
        uid = f"u{n:07d}-0000-0000-0000-000000000000"
        self.feed("UserCreated", {
            "user_id": uid, "email": f"user{n}@example.com", "username": f"user{n}",
            "full_name": f"User Number{n}", "description": "", "role": role,
            "status": "active", "domain": "default", "projects": projects or [],
            "resource_policy": "default", "need_password_change": False,
            "created_at": "2025-01-01T00:00:00Z"})
        return uid

    def run(self, method: str, payload: Any, actor: Actor | None = None) -> dict[str, Any]:
        return getattr(self.app, method)(new_id(), actor or self.root, payload)

    def create(self, name: str = "vfolder-creators", **kw: Any) -> dict[str, Any]:
        scopes = kw.pop("scopes", [{"scope_type": "project", "scope_id": PROJECT}])
        return self.run("create_role", c.CreateRole(name=name, scopes=scopes, **kw))

    def grant(self, rid: str, scope_type: str, scope_id: str, entity: str,
              *ops: str) -> dict[str, Any]:
        return self.run("add_permission", c.AddPermission(
            role_id=rid, scope_type=scope_type, scope_id=scope_id, entity_type=entity,
            operations=list(ops)))

    def status(self, rid: str, active: bool) -> dict[str, Any]:
        return self.app.set_status(new_id(), self.root, rid, active)

    def purge(self, rid: str) -> dict[str, Any]:
        return self.app.purge_role(new_id(), self.root, rid)

    def check(self, uid: str, op: str, entity: str, scope_type: str, scope_id: str) -> bool:
        return self.grants.check(c.Check(user_id=uid, operation=op, entity_type=entity,
                                         scope_type=scope_type, scope_id=scope_id))


@pytest.fixture
def h() -> Harness:
    return Harness()


def refusal(call: Any, *args: Any) -> CodedError:
    with pytest.raises(CodedError) as info:
        call(*args)
    return info.value


# ---- roles -----------------------------------------------------------------------------------


def test_a_custom_role_with_project_and_user_scopes(h: Harness) -> None:
    uid = h.user(1)
    role = h.create(description="creates folders",
                    scopes=[{"scope_type": "project", "scope_id": PROJECT},
                            {"scope_type": "user", "scope_id": uid}])
    assert role["source"] == "custom" and role["status"] == "active"
    detail = h.catalog.get(c.GetRole(role_id=role["role_id"], scope_type="user"))
    assert detail["scopes"] == [{"scope_type": "user", "scope_id": uid,
                                 "target": "user1@example.com"}]
    listed = h.catalog.list(c.ListRoles(source="custom"))
    assert listed["items"][0]["scope_type"] == "project"
    assert listed["items"][0]["scope_id"] == PROJECT and listed["items"][0]["more_scopes"] == 1


@pytest.mark.parametrize(("kw", "code"), [
    ({"scopes": []}, "rbac.role.scope_required"),
    ({"scopes": [{"scope_type": "domain", "scope_id": "nowhere"}]}, "rbac.scope.unknown_target"),
    ({"name": "x" * 65}, "rbac.role.name_invalid"),
    ({"name": "  "}, "rbac.role.name_invalid"),
    ({"name": "user-0123abcd"}, "rbac.role.name_reserved"),
    ({"name": "Domain-default-admin"}, "rbac.role.name_reserved"),
])
def test_bad_roles_are_refused(h: Harness, kw: dict[str, Any], code: str) -> None:
    assert refusal(lambda: h.create(**kw)).code == code


def test_names_are_unique_case_insensitively_and_free_again_after_purge(h: Harness) -> None:
    role = h.create("Viewers")
    assert refusal(lambda: h.create("viewers")).code == "rbac.role.name_taken"
    h.run("update_role", c.UpdateRole(role_id=role["role_id"], name="Watchers"))
    other = h.create("viewers")  # the old name was released by the rename
    assert refusal(lambda: h.create("WATCHERS")).code == "rbac.role.name_taken"
    h.status(other["role_id"], False)
    h.purge(other["role_id"])
    assert h.create("viewers")["role_id"] != other["role_id"]


def test_only_custom_roles_are_edited(h: Harness) -> None:
    role = h.create()
    done = h.run("update_role", c.UpdateRole(role_id=role["role_id"], description="new"))
    assert done["changed"] == ["description"] and done["description"] == "new"
    system = h.catalog.list(c.ListRoles(source="system", name_contains="member"))["items"][0]
    refused = refusal(h.run, "update_role", c.UpdateRole(role_id=system["role_id"], name="x"))
    assert refused.code == "rbac.role.system_immutable"


def test_only_superadmins_manage_roles(h: Harness) -> None:
    refused = refusal(h.run, "create_role", c.CreateRole(
        name="x", scopes=[{"scope_type": "domain", "scope_id": DOMAIN}]),
        Actor(access_key=ADMIN_KEY))
    assert refused.code == "auth.forbidden"


# ---- permissions ------------------------------------------------------------------------------


def test_the_seeds_permission_examples_and_their_refusals(h: Harness) -> None:
    rid = h.create(scopes=[{"scope_type": "project", "scope_id": PROJECT},
                           {"scope_type": "domain", "scope_id": DOMAIN}])["role_id"]
    h.grant(rid, "project", PROJECT, "vfolder", "create")
    h.grant(rid, "domain", DOMAIN, "session", "read")
    done = h.grant(rid, "domain", DOMAIN, "endpoint", "create", "read", "update")
    assert len(done["permission_ids"]) == 3
    assert h.grant(rid, "domain", DOMAIN, "image", "soft-delete")["permissions"] == 6
    uid = h.user(1)
    refused = refusal(h.grant, rid, "user", uid, "vfolder", "read")
    assert refused.code == "rbac.permission.scope_not_in_role"
    assert refusal(h.grant, rid, "project", PROJECT, "image", "read").code == \
        "rbac.permission.entity_invalid"
    refused = refusal(h.grant, rid, "domain", DOMAIN, "agent", "read", "create")
    assert refused.code == "rbac.permission.operation_invalid"
    assert refused.details["refused"] == ["create"]
    assert refusal(h.grant, rid, "domain", DOMAIN, "session", "read").code == \
        "rbac.permission.exists"


def test_a_legacy_role_without_scopes_takes_an_explicit_known_scope(h: Harness) -> None:
    legacy = Role(key="legacy", name="legacy", description="", source="custom", scopes=[])
    h.app.save(legacy)
    rid = str(legacy.id)
    assert h.grant(rid, "domain", DOMAIN, "session", "read")["permissions"] == 1
    assert refusal(h.grant, rid, "domain", "ghost", "session", "read").code == \
        "rbac.scope.unknown_target"


# ---- assignments, status, purge ---------------------------------------------------------------


def test_the_seeds_lifecycle_purge_refused_until_empty_and_id_never_returns(h: Harness) -> None:
    one, two = h.user(1), h.user(2)
    rid = h.create()["role_id"]
    h.grant(rid, "project", PROJECT, "vfolder", "create")
    done = h.run("assign", c.AssignUsers(role_id=rid, emails=["user1@example.com",
                                                              "USER2@example.com"]))
    assert done["assigned"] == [one, two]
    refused = refusal(h.run, "assign", c.AssignUsers(role_id=rid, user_ids=[one]))
    assert refused.code == "rbac.assignment.exists"
    assert refusal(h.purge, rid).code == "rbac.role.active"
    h.status(rid, False)
    refused = refusal(h.purge, rid)
    assert refused.code == "rbac.role.not_empty"
    assert refused.details == {"assignments": 2, "permissions": 1}
    h.run("unassign", c.UnassignUser(role_id=rid, email="user1@example.com"))
    h.run("unassign", c.UnassignUser(role_id=rid, user_id=two))
    pid = h.catalog.get(c.GetRole(role_id=rid))["permissions"][0]["permission_id"]
    h.run("remove_permission", c.RemovePermission(role_id=rid, permission_id=pid))
    assert h.purge(rid)["purged"] is True
    for call in (lambda: h.purge(rid), lambda: h.status(rid, True)):
        assert refusal(call).code == "rbac.role.not_found"
    assert h.catalog.list(c.ListRoles(status="inactive"))["total"] == 0


def test_assigning_unknown_or_no_users_and_unassigning_a_stranger_are_refused(h: Harness) -> None:
    rid = h.create()["role_id"]
    refused = refusal(h.run, "assign", c.AssignUsers(role_id=rid, emails=["ghost@x.io"]))
    assert refused.code == "rbac.user.not_found" and refused.details["unknown"] == ["ghost@x.io"]
    assert refusal(h.run, "assign", c.AssignUsers(role_id=rid)).code == \
        "rbac.assignment.no_users"
    assert refusal(h.run, "unassign", c.UnassignUser(role_id=rid, user_id="x")).code == \
        "rbac.assignment.not_found"


# ---- system roles from identity's events ----------------------------------------------------


def test_system_roles_follow_domains_projects_users_and_membership(h: Harness) -> None:
    names = {r["name"] for r in h.catalog.list(c.ListRoles(source="system"))["items"]}
    assert names == {"domain-default-admin", "project-p0000000-admin", "project-p0000000-member"}
    uid = h.user(1, projects=[PROJECT])
    admin = h.user(2, role="admin")
    member = str(role_id(f"project-member:{PROJECT}"))
    mine = h.app.role(str(role_id(f"user:{uid}")))
    assert mine.name == "user-u0000001" and uid in mine.assignments
    assert uid in h.app.role(member).assignments
    assert admin in h.app.role(str(role_id(f"domain-admin:{DOMAIN}"))).assignments
    h.feed("MemberAdded", {"project_id": PROJECT, "user_id": uid})  # already member: no-op
    h.feed("MemberRemoved", {"project_id": PROJECT, "user_id": uid})
    assert uid not in h.app.role(member).assignments
    h.feed("UserRoleChanged", {"user_id": admin, "email": "user2@example.com",
                               "role": "user", "previous_role": "admin"})
    assert admin not in h.app.role(str(role_id(f"domain-admin:{DOMAIN}"))).assignments
    # the retired generic event of older streams still means the same
    h.feed("UserUpdated", {"user_id": admin, "email": "user2@example.com",
                           "changes": {"role": "admin"}})
    assert admin in h.app.role(str(role_id(f"domain-admin:{DOMAIN}"))).assignments


def test_a_redelivered_identity_event_is_never_applied_twice(h: Harness) -> None:
    h.user(1)
    with pytest.raises(IntegrityError):
        h.feed("MemberAdded", {"project_id": PROJECT, "user_id": "x"}, sequence=h.position)


def test_user_search_by_email_or_name_substring(h: Harness) -> None:
    h.user(1)
    h.user(22)
    found = h.catalog.search_users(c.SearchUsers(text="number2"))
    assert [u["email"] for u in found["items"]] == ["user22@example.com"]
    assert h.catalog.search_users(c.SearchUsers(text="EXAMPLE"))["total"] == 2


def test_user_search_follows_renames_and_full_name_changes(h: Harness) -> None:
    uid = h.user(1)
    h.feed("UserRenamed", {"user_id": uid, "email": "user1@example.com", "username": "zed",
                           "previous_username": "user1"})
    h.feed("UserProfileChanged", {"user_id": uid, "email": "user1@example.com",
                                  "full_name": "Quentin Quux", "description": ""})
    assert [u["user_id"] for u in h.catalog.search_users(c.SearchUsers(text="zed"))[
        "items"]] == [uid]
    assert h.catalog.search_users(c.SearchUsers(text="quux"))["total"] == 1


# ---- checks -------------------------------------------------------------------------------------


def test_checks_follow_grants_inheritance_and_status(h: Harness) -> None:
    uid = h.user(1, projects=[PROJECT])
    other = h.user(2)
    rid = h.create(scopes=[{"scope_type": "domain", "scope_id": DOMAIN}])["role_id"]
    h.grant(rid, "domain", DOMAIN, "session", "update")
    assert not h.check(uid, "update", "session", "project", PROJECT)
    h.run("assign", c.AssignUsers(role_id=rid, user_ids=[uid]))
    assert h.check(uid, "update", "session", "project", PROJECT)
    assert h.check(uid, "update", "session", "user", other)
    h.status(rid, False)
    assert not h.check(uid, "update", "session", "project", PROJECT)
    # the member role (system) grants session create in the project and its members' scopes
    assert h.check(uid, "create", "session", "project", PROJECT)
    assert h.check(uid, "create", "session", "user", uid)
    assert not h.check(other, "create", "session", "project", PROJECT)
    assert h.check("actor-0", "hard-delete", "agent", "domain", DOMAIN) is False  # unknown
    root = h.user(3, role="superadmin")
    assert h.check(root, "hard-delete", "agent", "domain", DOMAIN)


def test_list_filters_and_sorts_as_the_seed_says(h: Harness) -> None:
    for name in ("beta", "Alpha", "gamma"):
        h.create(name)
    h.status(h.catalog.list(c.ListRoles(name_contains="gam"))["items"][0]["role_id"], False)
    custom = h.catalog.list(c.ListRoles(source="custom"))
    assert [r["name"] for r in custom["items"]] == ["Alpha", "beta"]
    inactive = h.catalog.list(c.ListRoles(status="inactive"))
    assert [r["name"] for r in inactive["items"]] == ["gamma"]
    newest = h.catalog.list(c.ListRoles(source="custom", sort="created_at", order="desc"))
    assert [r["name"] for r in newest["items"]] == ["Alpha", "beta"]
    page = h.catalog.list(c.ListRoles(limit=2, offset=1))
    assert page["total"] == 5 and len(page["items"]) == 2


def test_a_user_the_directory_knows_can_be_assigned_before_rbac_learned_it(h: Harness) -> None:
    # The directory is awaited to the request's positions; rbac's learned users may lag it.
    rid = h.create()["role_id"]
    teach_actor(h.directory, "fresh-user", "user", "AKIAFRESH0000000000", email="f@x.io")
    assert h.run("assign", c.AssignUsers(role_id=rid, user_ids=["fresh-user"]))[
        "assigned"] == ["fresh-user"]
    refused = refusal(h.run, "assign", c.AssignUsers(role_id=rid, user_ids=["nobody"]))
    assert refused.code == "rbac.user.not_found"

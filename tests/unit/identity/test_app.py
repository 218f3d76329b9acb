"""IdentityApplication with an in-memory store: commands called directly, no bus, no mocks."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

import pytest
from eventsourcing.persistence import Tracking

from contracts import identity as c
from contracts import quota
from contracts.envelope import Actor, Event
from services.identity.app import IdentityApplication
from services.identity.domain.errors import IdentityError
from services.identity.domain.model import Keypair, User, keypair_id, username_index_id
from services.runtime.errors import CodedError

BOOTSTRAP = Actor(system="bootstrap")
ROOT_EMAIL = "root@baikal.test"
ROOT_PASSWORD = "Sup3r-secret!"  # noqa: S105 - test fixture
PASSWORD = "Passw0rd!"  # noqa: S105 - test fixture
NEW_PASSWORD = "N3w-passw0rd"  # noqa: S105 - test fixture
WRONG_PASSWORD = "Wr0ng-pass"  # noqa: S105 - test fixture
WEAK = "weak"


class Harness:
    """The application plus the superadmin's actor and a few short-hands."""

    def __init__(self) -> None:
        self.app = IdentityApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
        self.root = self.app.bootstrap(
            "bootstrap", BOOTSTRAP, c.Bootstrap(email=ROOT_EMAIL, password=ROOT_PASSWORD))
        self.admin = Actor(access_key=self.root["access_key"])

    def create_user(self, n: int | str, actor: Actor | None = None, command_id: str | None = None,
                    **overrides: Any) -> dict[str, Any]:
        data: dict[str, Any] = {"email": f"user{n}@example.com", "password": PASSWORD,
                                "password_confirm": PASSWORD, "full_name": f"User {n}"}
        return self.app.create_user(command_id or new_id(), actor or self.admin,
                                    c.CreateUser(**(data | overrides)))

    def update(self, email: str, actor: Actor | None = None, **changes: Any) -> dict[str, Any]:
        return self.app.update_user(new_id(), actor or self.admin,
                                    c.UpdateUser(email=email, **changes))

    def set_status(self, email: str, status: str) -> dict[str, Any]:
        return self.app.set_user_status(new_id(), self.admin, c.UserRef(email=email), status)

    def user(self, email: str) -> User:
        return self.app.user_by_email(email)

    def keypairs(self, email: str) -> list[Keypair]:
        return [self.app.keypair(ak) for ak in self.user(email).keypairs]

    def event_count(self) -> int:
        return self.app.recorder.max_notification_id() or 0


def new_id() -> str:
    return str(uuid.uuid4())


def refused(code: str, call: Callable[[], object]) -> CodedError:
    with pytest.raises(CodedError) as caught:
        call()
    assert caught.value.code == code, caught.value.message
    return caught.value


@pytest.fixture
def h() -> Harness:
    return Harness()


# ---- bootstrap -----------------------------------------------------------------------------


def test_bootstrap_creates_the_superadmin_with_a_keypair(h: Harness) -> None:
    assert h.root["role"] == "superadmin"
    assert h.root["email"] == ROOT_EMAIL and h.root["username"] == "root"
    assert len(h.root["secret_key"]) == 40
    principal = h.app.principal(h.admin)
    assert (principal.role, principal.domain, principal.system) == ("superadmin", "default", False)
    assert h.app.login(c.Login(email=ROOT_EMAIL, password=ROOT_PASSWORD))["access_key"] == (
        h.root["access_key"])


def test_bootstrap_replays_its_reply_for_the_same_command_and_refuses_another(h: Harness) -> None:
    again = h.app.bootstrap("bootstrap", BOOTSTRAP,
                            c.Bootstrap(email=ROOT_EMAIL, password=ROOT_PASSWORD))
    assert again == h.root  # same command id: the first reply
    refused("identity.system.already_bootstrapped", lambda: h.app.bootstrap(
        new_id(), BOOTSTRAP, c.Bootstrap(email="other@baikal.test", password=ROOT_PASSWORD)))


def test_bootstrap_is_only_for_the_supervisor(h: Harness) -> None:
    refused("identity.auth.forbidden", lambda: h.app.bootstrap(
        new_id(), h.admin, c.Bootstrap(email="x@baikal.test", password=ROOT_PASSWORD)))


def test_unknown_actor_is_unauthenticated(h: Harness) -> None:
    stranger = Actor(access_key="AKIAAAAAAAAAAAAAAAAA")
    refused("identity.auth.unauthenticated", lambda: h.create_user(1, actor=stranger))
    refused("identity.auth.unauthenticated", lambda: h.create_user(1, actor=Actor()))


# ---- create user and idempotency -----------------------------------------------------------


def test_create_user_lowers_the_email_hashes_the_password_and_issues_a_default_keypair(
        h: Harness) -> None:
    created = h.create_user(1, email="User1@Example.com")
    assert created["email"] == "user1@example.com"
    assert created["username"] == "user1"
    assert created["role"] == "user"
    user = h.user("USER1@example.com")
    assert str(user.id) == created["user_id"]
    assert user.password_hash.startswith("$argon2id$")
    [keypair] = h.keypairs("user1@example.com")
    assert keypair.access_key == created["access_key"]
    assert keypair.is_active and keypair.is_default and not keypair.is_admin


def test_duplicate_command_id_returns_the_same_reply_and_changes_nothing(h: Harness) -> None:
    first = h.create_user(1, command_id="cmd-1")
    events = h.event_count()
    second = h.create_user(1, command_id="cmd-1")
    assert second == first
    assert h.event_count() == events
    assert len(h.user("user1@example.com").keypairs) == 1


def test_reused_command_id_with_other_data_is_refused(h: Harness) -> None:
    h.create_user(1, command_id="cmd-1")
    refused("command.id_reused", lambda: h.create_user(2, command_id="cmd-1"))


def test_refused_command_leaves_no_trace(h: Harness) -> None:
    events = h.event_count()
    refused("identity.user.password_too_weak", lambda: h.create_user(
        1, command_id="cmd-1", password=WEAK, password_confirm=WEAK))
    assert h.event_count() == events
    h.create_user(1, command_id="cmd-1b")  # the email is still free


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"email": "user0@example.com"}, "identity.user.email_taken"),
        ({"email": "USER0@example.com"}, "identity.user.email_taken"),
        ({"username": "user0"}, "identity.user.username_taken"),
        ({"username": "USER0"}, "identity.user.username_taken"),
        ({"domain": "nowhere"}, "identity.domain.not_found"),
        ({"projects": ["nowhere"]}, "identity.project.not_found"),
        ({"password_confirm": "Passw0rd?"}, "identity.user.password_confirmation_mismatch"),
    ],
)
def test_create_user_is_refused_with_a_code_for_each_conflict_or_bad_field(
        h: Harness, overrides: dict[str, Any], code: str) -> None:
    h.create_user(0)
    refused(code, lambda: h.create_user(1, **overrides))


def test_admins_never_create_or_touch_superadmins(h: Harness) -> None:
    """Within a domain, who may act is RBAC's (the service's guard, before the app runs:
    tests/service/rbac/test_enforcement.py); the app keeps superadmins the superadmins' own."""
    admin = h.create_user("a", role="admin")
    as_admin = Actor(access_key=admin["access_key"])
    h.create_user(1, actor=as_admin)
    refused("identity.auth.forbidden", lambda: h.create_user(3, actor=as_admin,
                                                             role="superadmin"))
    refused("identity.auth.forbidden", lambda: h.update(ROOT_EMAIL, actor=as_admin,
                                                        full_name="x"))
    refused("identity.auth.forbidden", lambda: h.update("user1@example.com", actor=as_admin,
                                                        role="superadmin"))


def test_project_membership_on_create_and_update(h: Harness) -> None:
    project = h.app.create_project(new_id(), h.admin, c.CreateProject(name="vision"))
    created = h.create_user(1, projects=["vision"])
    found = h.app.find(uuid.UUID(project["project_id"]))
    assert found is not None and found.members == [created["user_id"]]
    h.update("user1@example.com", projects=[])
    found = h.app.find(uuid.UUID(project["project_id"]))
    assert found is not None and found.members == []
    assert h.user("user1@example.com").projects == []


# ---- status --------------------------------------------------------------------------------


def test_deactivation_cascades_to_every_keypair(h: Harness) -> None:
    h.create_user(1)
    h.app.issue_keypair(new_id(), h.admin, c.IssueKeypair(email="user1@example.com"))
    assert [k.is_active for k in h.keypairs("user1@example.com")] == [True, True]
    reply = h.set_status("user1@example.com", "inactive")
    assert reply["status"] == "inactive"
    assert [k.is_active for k in h.keypairs("user1@example.com")] == [False, False]
    refused("identity.auth.invalid_credentials",
            lambda: h.app.login(c.Login(email="user1@example.com", password=PASSWORD)))


def test_deactivation_by_update_cascades_too(h: Harness) -> None:
    created = h.create_user(1)
    h.update("user1@example.com", status="inactive")
    assert not h.app.keypair(created["access_key"]).is_active
    refused("identity.auth.unauthenticated",
            lambda: h.app.principal(Actor(access_key=created["access_key"])))


def test_reactivation_leaves_keypairs_inactive(h: Harness) -> None:
    created = h.create_user(1)
    h.set_status("user1@example.com", "inactive")
    h.set_status("user1@example.com", "active")
    assert h.user("user1@example.com").is_active
    assert not h.app.keypair(created["access_key"]).is_active
    refused("identity.auth.no_active_keypair",
            lambda: h.app.login(c.Login(email="user1@example.com", password=PASSWORD)))
    h.app.change_keypair(new_id(), h.admin, created["access_key"], "activate")
    assert h.app.keypair(created["access_key"]).is_active


def test_keypair_of_inactive_user_cannot_be_activated(h: Harness) -> None:
    created = h.create_user(1)
    h.set_status("user1@example.com", "inactive")
    refused("identity.keypair.user_inactive", lambda: h.app.change_keypair(
        new_id(), h.admin, created["access_key"], "activate"))


def test_repeated_deactivation_changes_nothing(h: Harness) -> None:
    h.create_user(1)
    h.set_status("user1@example.com", "inactive")
    events = h.event_count()
    h.set_status("user1@example.com", "inactive")
    assert h.event_count() == events + 1  # only the command record


def test_nobody_may_deactivate_their_own_account(h: Harness) -> None:
    refused("identity.user.self_deactivation", lambda: h.set_status(ROOT_EMAIL, "inactive"))


# ---- username ------------------------------------------------------------------------------


def test_rename_frees_the_old_username(h: Harness) -> None:
    first = h.create_user(1, username="alice")
    h.update("user1@example.com", username="alice2")
    assert h.user("user1@example.com").username == "alice2"
    old = h.app.find(username_index_id("alice"))
    assert old is not None and old.user_id is None
    second = h.create_user(2, username="alice")
    reclaimed = h.app.find(username_index_id("alice"))
    assert reclaimed is not None and reclaimed.user_id == second["user_id"]
    refused("identity.user.username_taken", lambda: h.update("user2@example.com",
                                                             username="alice2"))
    refused("identity.user.username_taken", lambda: h.create_user(3, username="ALICE2"))
    new = h.app.find(username_index_id("alice2"))
    assert new is not None and new.user_id == first["user_id"]


def test_renaming_back_reclaims_the_own_name(h: Harness) -> None:
    h.create_user(1, username="alice")
    h.update("user1@example.com", username="alice2")
    h.update("user1@example.com", username="alice")
    assert h.user("user1@example.com").username == "alice"
    released = h.app.find(username_index_id("alice2"))
    assert released is not None and released.user_id is None


# ---- keypairs and authentication -----------------------------------------------------------


def announce_policy(h: Harness, name: str, kind: str = "keypair", seq: int = 1) -> None:
    """What the quota consumer does when quota publishes PolicyCreated."""
    event = Event(id=new_id(), type="PolicyCreated", source="quota", aggregate_id=new_id(),
                  sequence=1, occurred_at=datetime.now(UTC),
                  data={"kind": kind, "name": name, "policy": {}})
    h.app.on_policy_event(quota.typed_event(event),
                          Tracking(application_name="BAI_EVT_QUOTA", notification_id=seq))


def test_unknown_policy_names_are_refused_until_quota_announces_them(h: Harness) -> None:
    ak = h.create_user(1)["access_key"]
    refused("identity.policy.unknown",
            lambda: h.app.change_keypair(new_id(), h.admin, ak, "assign-policy", "gpu-large"))
    announce_policy(h, "gpu-large")
    h.app.change_keypair(new_id(), h.admin, ak, "assign-policy", "gpu-large")
    assert h.app.find(keypair_id(ak)).resource_policy == "gpu-large"


def test_an_admin_assigns_a_policy_sets_a_rate_limit_and_deactivates_a_keypair(h: Harness) -> None:
    created = h.create_user(1)
    ak = created["access_key"]
    announce_policy(h, "gpu-large")
    h.app.change_keypair(new_id(), h.admin, ak, "assign-policy", "gpu-large")
    h.app.change_keypair(new_id(), h.admin, ak, "set-rate-limit", 500)
    h.app.change_keypair(new_id(), h.admin, ak, "deactivate")
    keypair = h.app.find(keypair_id(ak))
    assert keypair is not None
    assert (keypair.resource_policy, keypair.rate_limit, keypair.is_active) == (
        "gpu-large", 500, False)
    refused("identity.keypair.inactive", lambda: h.app.resolve_keypair(ak))


def test_issued_keypair_is_not_default_and_resolves(h: Harness) -> None:
    h.create_user(1)
    announce_policy(h, "gpu")
    issued = h.app.issue_keypair(new_id(), h.admin, c.IssueKeypair(
        email="user1@example.com", resource_policy="gpu", rate_limit=7))
    resolved = h.app.resolve_keypair(issued["access_key"])
    assert resolved["secret_key"] == issued["secret_key"]
    assert (resolved["is_default"], resolved["resource_policy"], resolved["rate_limit"]) == (
        False, "gpu", 7)


def test_login_does_not_tell_which_part_was_wrong(h: Harness) -> None:
    h.create_user(1)
    for login in (c.Login(email="user1@example.com", password=WRONG_PASSWORD),
                  c.Login(email="nobody@example.com", password=PASSWORD),
                  c.Login(email="not-an-email", password=PASSWORD),
                  c.Login(email="user1@example.com", password=PASSWORD, domain="other")):
        refused("identity.auth.invalid_credentials", partial(h.app.login, login))


def test_password_change_takes_effect(h: Harness) -> None:
    h.create_user(1)
    h.update("user1@example.com", password=NEW_PASSWORD, password_confirm=NEW_PASSWORD)
    refused("identity.auth.invalid_credentials",
            lambda: h.app.login(c.Login(email="user1@example.com", password=PASSWORD)))
    assert h.app.login(c.Login(email="user1@example.com", password=NEW_PASSWORD))


def test_errors_are_identity_errors(h: Harness) -> None:
    with pytest.raises(IdentityError):
        h.user("nobody@example.com")

"""QuotaApplication with an in-memory store: commands called directly, identity's events fed
to its reaction with tracking records. No bus, no mocks."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError, Tracking

from contracts import identity
from contracts.envelope import Actor, Event
from services.quota.app import DEFAULT_POLICY, QuotaApplication
from services.quota.domain.errors import QuotaError
from services.quota.domain.model import Policy, PolicyUsage, usage_id
from services.runtime.actors import ActorDirectory
from services.runtime.errors import CodedError, CommandIdReused
from tests.support.actors import teach_actor

GIB = 1024**3
STREAM = "BAI_EVT_IDENTITY"
ROOT_KEY = "AKIAROOT000000000000"
ADMIN_KEY = "AKIAADMIN00000000000"
USER_KEY = "AKIAUSER000000000000"
GONE_KEY = "AKIAGONE000000000000"


def new_id() -> str:
    return str(uuid.uuid4())


def principal(directory: ActorDirectory, n: int, role: str, access_key: str,
              status: str = "active", key_active: bool = True) -> None:
    teach_actor(directory, f"user-{n}", role, access_key, email=f"{role}{n}@example.com",
                status=status, key_active=key_active)


class Harness:
    def __init__(self) -> None:
        self.directory = ActorDirectory()
        principal(self.directory, 0, "superadmin", ROOT_KEY)
        principal(self.directory, 1, "admin", ADMIN_KEY)
        principal(self.directory, 2, "user", USER_KEY)
        principal(self.directory, 3, "superadmin", GONE_KEY, status="inactive")
        self.app = QuotaApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"},
                                    directory=self.directory)
        assert self.app.bootstrap_defaults() is True
        self.root = Actor(access_key=ROOT_KEY)
        self.position = 0

    # commands
    def create(self, name: str, kind: str = "keypair", actor: Actor | None = None,
               command_id: str | None = None, **values: Any) -> dict[str, Any]:
        return self.app.create_policy(command_id or new_id(), actor or self.root, kind,
                                      {"name": name, **values})

    def update(self, name: str, kind: str = "keypair", actor: Actor | None = None,
               command_id: str | None = None, **values: Any) -> dict[str, Any]:
        return self.app.update_policy(command_id or new_id(), actor or self.root, kind,
                                      {"name": name, **values})

    def delete(self, name: str, kind: str = "keypair", actor: Actor | None = None,
               command_id: str | None = None) -> dict[str, Any]:
        return self.app.delete_policy(command_id or new_id(), actor or self.root, kind, name)

    # identity's events
    def feed(self, type_name: str, data: dict[str, Any], sequence: int | None = None) -> None:
        if sequence is None:
            self.position += 1
            sequence = self.position
        envelope = Event(id=new_id(), type=type_name, source="identity", aggregate_id=new_id(),
                         sequence=1, occurred_at=datetime.now(UTC), data=data)
        self.app.on_identity_events(
            identity.typed_events(envelope),
            Tracking(application_name=STREAM, notification_id=sequence))

    def issue(self, access_key: str, policy: str, email: str = "x@example.com") -> None:
        self.feed("KeypairIssued", {"access_key": access_key, "user_id": f"u-{access_key}",
                                    "email": email, "is_active": True, "is_admin": False,
                                    "is_default": True, "resource_policy": policy,
                                    "rate_limit": 1000})

    def assign(self, access_key: str, policy: str, previous: str = "") -> None:
        self.feed("KeypairPolicyAssigned", {"access_key": access_key, "user_id": "u",
                                            "resource_policy": policy,
                                            "previous_policy": previous})

    def user(self, user_id: str, policy: str) -> None:
        self.feed("UserCreated", {"user_id": user_id, "email": f"{user_id}@example.com",
                                  "username": user_id, "full_name": "", "description": "",
                                  "role": "user", "status": "active", "domain": "default",
                                  "projects": [], "resource_policy": policy,
                                  "need_password_change": False, "created_at": "2024-05-01"})

    def user_updated(self, user_id: str, changes: dict[str, Any]) -> None:
        """The retired generic event (older streams)."""
        self.feed("UserUpdated", {"user_id": user_id, "email": f"{user_id}@example.com",
                                  "changes": changes})

    def user_policy(self, user_id: str, policy: str, previous: str) -> None:
        self.feed("UserPolicyAssigned", {"user_id": user_id, "email": f"{user_id}@example.com",
                                         "resource_policy": policy, "previous_policy": previous})

    def project(self, project_id: str, policy: str) -> None:
        self.feed("ProjectCreated", {"project_id": project_id, "domain": "default",
                                     "name": project_id, "description": "",
                                     "resource_policy": policy})

    # state
    def values(self, name: str, kind: str = "keypair") -> dict[str, Any]:
        return dict(self.app.policy(kind, name).values)

    def users_of(self, name: str, kind: str = "keypair") -> dict[str, str]:
        usage = self.app.find(usage_id(kind, name))
        return {} if usage is None else dict(usage.subjects)

    def event_count(self) -> int:
        return self.app.recorder.max_notification_id() or 0


@pytest.fixture
def h() -> Harness:
    return Harness()


def code_of(call: Any, *args: Any, **kw: Any) -> str:
    with pytest.raises(CodedError) as info:
        call(*args, **kw)
    return info.value.code


# ---- bootstrap -----------------------------------------------------------------------------


def test_bootstrap_creates_an_unlimited_default_of_each_tier_once(h: Harness) -> None:
    default = h.values(DEFAULT_POLICY)
    assert default["default_for_unspecified"] == "unlimited"
    assert default["total_resource_slots"] == {}
    assert h.app.policy("user", DEFAULT_POLICY).kind == "user"
    assert h.app.policy("project", DEFAULT_POLICY).kind == "project"
    before = h.event_count()
    assert h.app.bootstrap_defaults() is False
    assert h.event_count() == before


# ---- create ------------------------------------------------------------------------------


def test_create_stores_canonical_values_over_the_tier_defaults(h: Harness) -> None:
    reply = h.create("student", total_resource_slots={"cpu": 2, "mem": "4", "cuda.shares": "1"},
                     max_concurrent_sessions=2, idle_timeout=0, max_vfolder_size=10,
                     allowed_vfolder_hosts={"local": ["upload-file"]})
    assert reply["name"] == "student" and reply["kind"] == "keypair"
    policy = h.values("student")
    assert policy["total_resource_slots"] == {"cpu": "2", "mem": str(4 * GIB),
                                              "cuda.shares": "1"}
    assert policy["max_concurrent_sessions"] == 2
    assert policy["idle_timeout"] == "unlimited"
    assert policy["max_vfolder_size"] == 10 * 1000**3
    assert policy["default_for_unspecified"] == "limited"
    assert policy["max_containers_per_session"] == 1
    assert reply["policy"] == policy


@pytest.mark.parametrize("kind", ["user", "project"])
def test_create_user_and_project_policies(h: Harness, kind: str) -> None:
    h.create("team", kind=kind, max_vfolder_count=10, max_quota_scope_size="1.5")
    policy = h.values("team", kind)
    assert policy["max_vfolder_count"] == 10
    assert policy["max_quota_scope_size"] == 3 * GIB // 2
    assert code_of(h.values, "team", "keypair") == "quota.policy.not_found"


def test_create_refuses_a_taken_name_and_bad_names(h: Harness) -> None:
    assert code_of(h.create, DEFAULT_POLICY) == "quota.policy.name_taken"
    assert code_of(h.create, "bad name") == "quota.policy.name_invalid"
    assert code_of(h.create, "x" * 65) == "quota.policy.name_invalid"
    h.create("same", kind="user")
    h.create("same", kind="project")  # names are per tier
    h.create("same")


def test_create_refuses_out_of_range_values_and_stores_nothing(h: Harness) -> None:
    before = h.event_count()
    assert code_of(h.create, "big", total_resource_slots={"cpu": 513}) == \
        "quota.policy.out_of_range"
    assert code_of(h.create, "big", max_concurrent_sessions=-1) == "quota.policy.out_of_range"
    assert code_of(h.create, "big", idle_timeout="soon") == "quota.policy.not_a_number"
    assert h.event_count() == before
    assert code_of(h.values, "big") == "quota.policy.not_found"


def test_commands_need_an_active_superadmin(h: Harness) -> None:
    assert code_of(h.create, "p", actor=Actor(access_key=ADMIN_KEY)) == "auth.forbidden"
    assert code_of(h.create, "p", actor=Actor(access_key=USER_KEY)) == "auth.forbidden"
    assert code_of(h.create, "p", actor=Actor(access_key=GONE_KEY)) == "auth.unauthenticated"
    assert code_of(h.create, "p", actor=Actor(access_key="AKIANOBODY0000000000")) == \
        "auth.unauthenticated"
    assert code_of(h.create, "p", actor=Actor(system="bootstrap")) == "auth.unauthenticated"
    assert code_of(h.update, DEFAULT_POLICY, actor=Actor(access_key=USER_KEY),
                   max_concurrent_sessions=1) == "auth.forbidden"
    assert code_of(h.delete, DEFAULT_POLICY, actor=Actor(access_key=ADMIN_KEY)) == \
        "auth.forbidden"
    h.directory.apply({"type": "UserDeactivated", "data": {"user_id": "user-0"}})
    assert code_of(h.create, "p") == "auth.unauthenticated"


def test_a_repeated_command_id_returns_the_first_reply_and_changes_nothing(h: Harness) -> None:
    first = h.create("once", command_id="c-1", max_concurrent_sessions=3)
    count = h.event_count()
    assert h.create("once", command_id="c-1", max_concurrent_sessions=3) == first
    assert h.event_count() == count
    with pytest.raises(CommandIdReused):
        h.create("once", command_id="c-1", max_concurrent_sessions=4)


# ---- update ------------------------------------------------------------------------------


def test_update_changes_only_the_given_fields_and_records_what_changed(h: Harness) -> None:
    h.create("p", max_concurrent_sessions=2, idle_timeout=60)
    reply = h.update("p", max_concurrent_sessions=5, total_resource_slots={"cpu": "1.5"})
    policy = h.values("p")
    assert policy["max_concurrent_sessions"] == 5 and policy["idle_timeout"] == 60
    assert policy["total_resource_slots"] == {"cpu": "1.5"}
    assert reply["policy"] == policy
    stored = h.app.policy("keypair", "p")
    updates = [e for e in h.app.events.get(stored.id) if isinstance(e, Policy.Updated)]
    assert updates[-1].changed == ["max_concurrent_sessions", "total_resource_slots"]


def test_update_replaces_total_resource_slots_as_a_whole(h: Harness) -> None:
    h.create("p", total_resource_slots={"cpu": 4, "mem": 8})
    h.update("p", total_resource_slots={"cuda.device": 1})
    assert h.values("p")["total_resource_slots"] == {"cuda.device": "1"}


def test_update_with_the_same_values_stores_no_event(h: Harness) -> None:
    h.create("p", max_concurrent_sessions=2)
    count = h.event_count()
    h.update("p", max_concurrent_sessions=2)
    assert h.event_count() == count + 1  # only the command record


def test_update_refuses_out_of_range_and_keeps_the_old_values(h: Harness) -> None:
    h.create("p", max_concurrent_sessions=2)
    assert code_of(h.update, "p", max_concurrent_sessions=101) == "quota.policy.out_of_range"
    assert code_of(h.update, "p", max_concurrent_sessions=5,
                   total_resource_slots={"gpu": 1}) == "quota.policy.unknown_slot"
    assert h.values("p")["max_concurrent_sessions"] == 2


def test_the_name_is_immutable(h: Harness) -> None:
    h.create("p")
    with pytest.raises(QuotaError) as info:
        h.update("p", new_name="q")
    assert info.value.code == "quota.policy.name_immutable"
    assert info.value.details["field"] == "new_name"
    h.update("p", new_name="p", max_concurrent_sessions=1)  # the same name is no rename
    assert code_of(h.values, "q") == "quota.policy.not_found"
    assert h.values("p")["max_concurrent_sessions"] == 1


def test_update_of_a_missing_or_deleted_policy_is_not_found(h: Harness) -> None:
    assert code_of(h.update, "ghost", max_concurrent_sessions=1) == "quota.policy.not_found"
    h.create("p")
    h.delete("p")
    assert code_of(h.update, "p", max_concurrent_sessions=1) == "quota.policy.not_found"


# ---- delete and references -----------------------------------------------------------------


def test_delete_then_recreate_starts_from_the_new_values(h: Harness) -> None:
    h.create("p", max_concurrent_sessions=7)
    assert h.delete("p") == {"kind": "keypair", "name": "p", "deleted": True}
    assert code_of(h.values, "p") == "quota.policy.not_found"
    assert code_of(h.delete, "p") == "quota.policy.not_found"
    h.create("p", idle_timeout=5)
    assert h.values("p")["max_concurrent_sessions"] == "unlimited"
    assert h.values("p")["idle_timeout"] == 5


def test_delete_is_refused_while_a_keypair_uses_the_policy(h: Harness) -> None:
    h.create("student")
    h.issue("AKIASTUDENT000000001", "student", email="alice@example.com")
    with pytest.raises(QuotaError) as info:
        h.delete("student")
    error = info.value
    assert error.code == "quota.policy.in_use"
    assert error.details["references"] == {"keypairs": 1, "users": 0, "projects": 0}
    assert error.details["examples"] == ["AKIASTUDENT000000001 (alice@example.com)"]
    assert "student" in error.message
    h.values("student")  # still there


def test_delete_is_refused_while_users_or_projects_use_a_user_or_project_policy(
        h: Harness) -> None:
    h.create("u-pol", kind="user")
    h.create("p-pol", kind="project")
    for n in range(7):
        h.user(f"u{n}", "u-pol")
    h.project("proj", "p-pol")
    with pytest.raises(QuotaError) as info:
        h.delete("u-pol", kind="user")
    assert info.value.details["references"]["users"] == 7
    assert len(info.value.details["examples"]) == 5  # a few names, not all
    with pytest.raises(QuotaError) as info:
        h.delete("p-pol", kind="project")
    assert info.value.details["references"]["projects"] == 1
    assert info.value.details["examples"] == ["default/proj"]


def test_a_keypair_reference_moves_on_reassignment_and_delete_is_then_allowed(
        h: Harness) -> None:
    h.create("a")
    h.create("b")
    h.issue("AKIAK100000000000001", "a")
    h.issue("AKIAK200000000000002", "a")
    h.assign("AKIAK100000000000001", "b", previous="a")
    assert set(h.users_of("a")) == {"AKIAK200000000000002"}
    assert set(h.users_of("b")) == {"AKIAK100000000000001"}
    # the label from KeypairIssued is kept although KeypairPolicyAssigned carries none
    assert h.users_of("b")["AKIAK100000000000001"].startswith("AKIAK100000000000001 (")
    assert code_of(h.delete, "a") == "quota.policy.in_use"
    h.assign("AKIAK200000000000002", DEFAULT_POLICY, previous="a")
    assert h.users_of("a") == {}
    h.delete("a")
    assert code_of(h.delete, "b") == "quota.policy.in_use"


def test_assigning_the_same_policy_again_changes_nothing(h: Harness) -> None:
    h.create("a")
    h.issue("AKIAK100000000000001", "a")
    count = h.event_count()
    h.assign("AKIAK100000000000001", "a")
    assert h.users_of("a") == {"AKIAK100000000000001": "AKIAK100000000000001 (x@example.com)"}
    assert h.event_count() == count  # only the tracking record moved
    assert h.app.position(STREAM) == h.position


def test_user_reference_moves_on_user_updated(h: Harness) -> None:
    h.create("a", kind="user")
    h.create("b", kind="user")
    h.user("u1", "a")
    h.user_updated("u1", {"full_name": "no policy change"})
    assert set(h.users_of("a", "user")) == {"u1"}
    h.user_updated("u1", {"resource_policy": "b"})
    assert h.users_of("a", "user") == {}
    assert set(h.users_of("b", "user")) == {"u1"}
    h.delete("a", kind="user")
    assert code_of(h.delete, "b", kind="user") == "quota.policy.in_use"


def test_user_reference_moves_on_user_policy_assigned(h: Harness) -> None:
    h.create("a", kind="user")
    h.create("b", kind="user")
    h.user("u1", "a")
    h.user_policy("u1", "b", previous="a")
    assert h.users_of("a", "user") == {}
    assert set(h.users_of("b", "user")) == {"u1"}
    h.delete("a", kind="user")
    assert code_of(h.delete, "b", kind="user") == "quota.policy.in_use"


def test_keypair_user_and_project_references_are_separate(h: Harness) -> None:
    h.create("shared")
    h.create("shared", kind="user")
    h.create("shared", kind="project")
    h.user("u1", "shared")
    h.project("p1", "shared")
    h.delete("shared")  # no keypair uses the keypair policy named 'shared'
    assert code_of(h.delete, "shared", kind="user") == "quota.policy.in_use"
    assert code_of(h.delete, "shared", kind="project") == "quota.policy.in_use"


def test_other_identity_events_only_move_the_position(h: Harness) -> None:
    count = h.event_count()
    h.feed("DomainCreated", {"domain_id": "d1", "name": "d", "description": ""})
    h.feed("UserDeactivated", {"user_id": "u1", "email": "u1@example.com",
                               "deactivated_keypairs": []})
    h.feed("SomethingNew", {"any": "shape"})  # a type this contract lacks: ignored
    assert h.event_count() == count
    assert h.app.position(STREAM) == h.position == 3


def test_a_redelivered_tracking_id_raises_and_changes_nothing(h: Harness) -> None:
    h.create("a")
    h.create("b")
    h.issue("AKIAK100000000000001", "a")
    count = h.event_count()
    with pytest.raises(IntegrityError):
        h.feed("KeypairPolicyAssigned", {"access_key": "AKIAK100000000000001",
                                         "user_id": "u", "resource_policy": "b",
                                         "previous_policy": "a"}, sequence=h.position)
    with pytest.raises(IntegrityError):
        h.feed("KeypairIssued", {"access_key": "AKIAK300000000000003", "user_id": "u",
                                 "email": "e", "is_active": True, "is_admin": False,
                                 "is_default": True, "resource_policy": "b",
                                 "rate_limit": 1}, sequence=1)
    assert h.event_count() == count
    assert set(h.users_of("a")) == {"AKIAK100000000000001"}
    assert h.users_of("b") == {}
    assert h.app.position(STREAM) == h.position


def test_a_deleted_and_recreated_policy_keeps_counting_new_references(h: Harness) -> None:
    h.create("a")
    h.delete("a")
    h.create("a")
    h.issue("AKIAK100000000000001", "a")
    usage = h.app.find(usage_id("keypair", "a"))
    assert isinstance(usage, PolicyUsage) and len(usage.subjects) == 1
    assert code_of(h.delete, "a") == "quota.policy.in_use"


# ---- effective limits --------------------------------------------------------------------


def test_effective_limits_of_the_default_policy_are_all_unlimited(h: Harness) -> None:
    h.issue(ROOT_KEY, DEFAULT_POLICY)
    limits = h.app.effective_limits(ROOT_KEY)
    assert limits["policy"] == DEFAULT_POLICY and limits["access_key"] == ROOT_KEY
    assert limits["slots"] == {s: "unlimited" for s in ("cpu", "mem", "cuda.device",
                                                         "cuda.shares")}
    assert "total_resource_slots" not in limits and "default_for_unspecified" not in limits
    assert limits["max_concurrent_sessions"] == "unlimited"


def test_effective_limits_follow_updates_and_reassignment(h: Harness) -> None:
    h.issue(USER_KEY, DEFAULT_POLICY)
    h.update(DEFAULT_POLICY, total_resource_slots={"cpu": 2, "mem": 4, "cuda.shares": 1},
             default_for_unspecified="limited", max_concurrent_sessions=3)
    limits = h.app.effective_limits(USER_KEY)
    assert limits["slots"] == {"cpu": "2", "mem": str(4 * GIB), "cuda.device": "0",
                               "cuda.shares": "1"}
    assert limits["max_concurrent_sessions"] == 3
    h.create("gpu", total_resource_slots={"cuda.device": 2}, default_for_unspecified="unlimited")
    h.assign(USER_KEY, "gpu", previous=DEFAULT_POLICY)
    limits = h.app.effective_limits(USER_KEY)
    assert limits["policy"] == "gpu"
    assert limits["slots"] == {"cpu": "unlimited", "mem": "unlimited", "cuda.device": "2",
                               "cuda.shares": "unlimited"}


def test_effective_limits_of_an_unseen_keypair(h: Harness) -> None:
    assert code_of(h.app.effective_limits, "AKIANEVERSEEN0000000") == \
        "quota.keypair.unknown"

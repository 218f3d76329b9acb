"""Identity aggregates: deterministic ids, state changes, uniqueness indexes."""

from __future__ import annotations

from typing import Any

import pytest

from services.identity.domain import model
from services.identity.domain.errors import IdentityError
from services.identity.domain.model import (
    Bootstrapped,
    Domain,
    EmailIndex,
    Keypair,
    Project,
    User,
    UsernameIndex,
)


def new_user(**overrides: Any) -> User:
    fields: dict[str, Any] = {
        "email": "alice@example.com", "username": "alice", "full_name": "Alice",
        "description": "", "password_hash": "$argon2id$stub", "role": "user",
        "status": "active", "domain": "default", "projects": [], "resource_policy": "default",
        "need_password_change": False,
    }
    return User(**(fields | overrides))


def new_keypair(access_key: str = "AKIAAAAAAAAAAAAAAAAA", **overrides: Any) -> Keypair:
    fields: dict[str, Any] = {
        "access_key": access_key, "secret_key": "s" * 40, "user_id": "u1",
        "email": "alice@example.com", "is_active": True, "is_admin": False, "is_default": True,
        "resource_policy": "default", "rate_limit": 10_000,
    }
    return Keypair(**(fields | overrides))


def event_names(aggregate: Any) -> list[str]:
    return [type(e).__name__ for e in aggregate.collect_events()]


# ---- deterministic ids ---------------------------------------------------------------------


def test_ids_are_deterministic_and_case_insensitive_where_names_are() -> None:
    assert model.domain_id("Default") == model.domain_id("default")
    assert model.project_id("Default", "Vision") == model.project_id("default", "vision")
    assert model.email_index_id("A@X.test") == model.email_index_id("a@x.test")
    assert model.username_index_id("Alice") == model.username_index_id("alice")
    assert model.keypair_id("AKIAAAAAAAAAAAAAAAAA") != model.keypair_id("AKIAAAAAAAAAAAAAAAAB")


def test_ids_of_different_kinds_never_collide() -> None:
    ids = {model.domain_id("x"), model.email_index_id("x"), model.username_index_id("x"),
           model.keypair_id("x"), model.project_id("x", "x"), model.BOOTSTRAPPED_ID}
    assert len(ids) == 6


def test_project_in_another_domain_has_another_id() -> None:
    assert model.project_id("default", "vision") != model.project_id("research", "vision")


def test_aggregates_take_their_deterministic_ids() -> None:
    assert Domain(name="research", description="").id == model.domain_id("research")
    project = Project(domain="default", name="vision", description="", resource_policy="p")
    assert project.id == model.project_id("default", "vision")
    assert new_keypair("AKIAZZZZZZZZZZZZZZZZ").id == model.keypair_id("AKIAZZZZZZZZZZZZZZZZ")
    assert EmailIndex(email="A@x.test", user_id="u").id == model.email_index_id("a@x.test")
    assert UsernameIndex(username="Bob", user_id="u").id == model.username_index_id("bob")
    assert Bootstrapped(user_id="u").id == model.BOOTSTRAPPED_ID


def test_users_get_fresh_ids() -> None:
    assert new_user().id != new_user().id


# ---- user ----------------------------------------------------------------------------------


def test_user_deactivation_takes_its_active_keypairs_and_activation_does_not() -> None:
    user = new_user()
    keypairs = [new_keypair("AKIAAAAAAAAAAAAAAAAA"), new_keypair("AKIAAAAAAAAAAAAAAAAB")]
    keypairs[1].deactivate("admin-requested")
    assert user.deactivate(keypairs)
    assert not user.is_active and user.status == "inactive"
    assert not keypairs[0].is_active
    assert not user.deactivate(keypairs)  # already inactive: nothing recorded
    assert user.activate()
    assert user.is_active and not keypairs[0].is_active
    events = user.collect_events()
    assert [type(e).__name__ for e in events] == ["Created", "Deactivated", "Activated"]
    assert events[1].deactivated_keypairs == ["AKIAAAAAAAAAAAAAAAAA"]


def test_each_user_change_records_its_own_fact_and_a_no_change_records_none() -> None:
    user = new_user()
    assert user.rename("alice2") and not user.rename("alice2")
    assert user.edit_profile("A. L.", None) and not user.edit_profile("A. L.", "")
    assert user.change_role("admin") and not user.change_role("admin")
    assert user.assign_policy("big") and not user.assign_policy("big")
    assert user.require_password_change(True) and not user.require_password_change(True)
    user.change_password("$argon2id$other")
    assert (user.username, user.full_name, user.role, user.resource_policy,
            user.need_password_change, user.password_hash) == (
        "alice2", "A. L.", "admin", "big", True, "$argon2id$other")
    events = user.collect_events()
    assert [type(e).__name__ for e in events] == [
        "Created", "Renamed", "ProfileChanged", "RoleChanged", "PolicyAssigned",
        "PasswordChangeRequired", "PasswordChanged"]
    assert (events[1].previous_username, events[3].previous_role,
            events[4].previous_policy) == ("alice", "user", "default")


def test_user_rules_refuse_with_their_codes() -> None:
    user = new_user()
    with pytest.raises(IdentityError) as bad_name:
        user.rename("has space")
    assert bad_name.value.code == "identity.user.username_invalid"
    with pytest.raises(IdentityError) as long_name:
        user.edit_profile("x" * 65, None)
    assert long_name.value.code == "identity.user.full_name_too_long"
    with pytest.raises(IdentityError) as demotion:
        user.refuse_self_demotion(str(user.id), "admin", None)
    assert demotion.value.code == "identity.user.self_demotion"
    user.refuse_self_demotion("someone-else", "admin", "inactive")
    assert user.version == 1


def test_a_user_of_another_domain_cannot_join_a_project() -> None:
    project = Project(domain="research", name="vision", description="", resource_policy="p")
    with pytest.raises(IdentityError) as refused:
        project.admit(new_user())
    assert refused.value.code == "identity.project.other_domain"
    assert project.admit(new_user(domain="research")) and len(project.members) == 1


def test_user_projects_are_copied_not_shared() -> None:
    projects = ["p1"]
    user = new_user(projects=projects)
    projects.append("p2")
    assert user.projects == ["p1"]


def test_user_keeps_its_keypairs_in_order() -> None:
    user = new_user()
    user.attach_keypair("AKIAAAAAAAAAAAAAAAAA")
    user.attach_keypair("AKIAAAAAAAAAAAAAAAAB")
    assert user.keypairs == ["AKIAAAAAAAAAAAAAAAAA", "AKIAAAAAAAAAAAAAAAAB"]


# ---- keypair -------------------------------------------------------------------------------


def test_keypair_changes_record_an_event_only_when_they_change_something() -> None:
    keypair = new_keypair()
    assert keypair.deactivate("admin-requested") and not keypair.deactivate("again")
    assert not keypair.is_active
    assert keypair.activate(new_user()) and not keypair.activate(new_user())
    assert keypair.is_active
    assert keypair.assign_policy("gpu-large") and not keypair.assign_policy("gpu-large")
    assert keypair.set_rate_limit(500) and not keypair.set_rate_limit(500)
    assert (keypair.resource_policy, keypair.rate_limit) == ("gpu-large", 500)
    events = keypair.collect_events()
    assert [type(e).__name__ for e in events] == [
        "Issued", "Deactivated", "Activated", "PolicyAssigned", "RateLimitSet"]
    assert (events[3].previous_policy, events[4].previous_rate_limit) == ("default", 10_000)


def test_a_keypair_of_an_inactive_user_is_not_activated() -> None:
    keypair = new_keypair(is_active=False)
    with pytest.raises(IdentityError) as refused:
        keypair.activate(new_user(status="inactive"))
    assert refused.value.code == "identity.keypair.user_inactive"
    assert not keypair.is_active


# ---- project -------------------------------------------------------------------------------


def test_a_project_adds_and_removes_members() -> None:
    project = Project(domain="default", name="vision", description="", resource_policy="p")
    project.add_member("u1")
    project.add_member("u2")
    project.remove_member("u1")
    assert project.members == ["u2"]


# ---- uniqueness indexes --------------------------------------------------------------------


def test_username_index_release_and_reclaim() -> None:
    index = UsernameIndex(username="alice", user_id="u1")
    index.release()
    assert index.user_id is None
    index.reclaim("u2")
    assert index.user_id == "u2"
    assert index.id == model.username_index_id("ALICE")
    assert event_names(index) == ["Claimed", "Released", "Reclaimed"]


def test_reconstructed_aggregate_equals_original() -> None:
    index = UsernameIndex(username="alice", user_id="u1")
    index.release()
    events = index.collect_events()
    copy: UsernameIndex | None = None
    for e in events:
        copy = e.mutate(copy)
    assert copy is not None
    assert (copy.id, copy.version, copy.user_id) == (index.id, index.version, None)


@pytest.mark.parametrize("name", ["Default", "default", "DEFAULT"])
def test_domain_ids_fold_case(name: str) -> None:
    assert Domain(name=name, description="").id == model.domain_id("default")

"""Identity aggregates: deterministic ids, state changes, uniqueness indexes."""

from __future__ import annotations

from typing import Any

import pytest

from services.identity.domain import model
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


def test_user_deactivate_and_activate() -> None:
    user = new_user()
    assert user.is_active
    user.deactivate(["AKIAAAAAAAAAAAAAAAAA"])
    assert not user.is_active and user.status == "inactive"
    user.activate()
    assert user.is_active
    assert event_names(user) == ["Created", "Deactivated", "Activated"]


def test_user_update_and_password_change() -> None:
    user = new_user()
    user.update({"username": "alice2", "full_name": "A. L."})
    user.change_password("$argon2id$other")
    assert (user.username, user.full_name, user.password_hash) == (
        "alice2", "A. L.", "$argon2id$other")
    assert user.version == 3


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


def test_keypair_lifecycle() -> None:
    keypair = new_keypair()
    keypair.deactivate("admin-requested")
    assert not keypair.is_active
    keypair.activate()
    assert keypair.is_active
    keypair.assign_policy("gpu-large", "default")
    keypair.set_rate_limit(500)
    assert (keypair.resource_policy, keypair.rate_limit) == ("gpu-large", 500)
    assert event_names(keypair) == [
        "Issued", "Deactivated", "Activated", "PolicyAssigned", "RateLimitChanged"]


# ---- project -------------------------------------------------------------------------------


def test_project_membership() -> None:
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

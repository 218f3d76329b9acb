"""Stored identity events → contract events: every published type is declared and secret-free."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from eventsourcing.persistence import Tracking
from pydantic import ValidationError

from contracts import identity as c
from contracts import quota
from contracts.envelope import Actor, Event
from services.identity.app import IdentityApplication
from services.identity.translate import IdentityTranslator

PASSWORD = "Passw0rd!"  # noqa: S105 - test fixture
NEW_PASSWORD = "N3w-passw0rd"  # noqa: S105 - test fixture
ROOT_PASSWORD = "Sup3r-secret!"  # noqa: S105 - test fixture


def run_every_command(app: IdentityApplication) -> dict[str, Any]:
    root = app.bootstrap("bootstrap", Actor(system="bootstrap"),
                         c.Bootstrap(email="root@baikal.test", password=ROOT_PASSWORD))
    admin = Actor(access_key=root["access_key"])

    def cid() -> str:
        return str(uuid.uuid4())

    app.create_domain(cid(), admin, c.CreateDomain(name="research"))
    project = app.create_project(cid(), admin, c.CreateProject(name="vision"))
    user = app.create_user(cid(), admin, c.CreateUser(
        email="alice@example.com", password=PASSWORD, password_confirm=PASSWORD))
    member = c.ProjectMember(project_id=project["project_id"], email="alice@example.com")
    app.change_membership(cid(), admin, member, add=True)
    app.change_membership(cid(), admin, member, add=False)
    for seq, kind in enumerate(("keypair", "user"), start=1):
        policy_created = Event(id=cid(), type="PolicyCreated", source="quota",
                               aggregate_id=cid(), sequence=1, occurred_at=datetime.now(UTC),
                               data={"kind": kind, "name": "gpu", "policy": {}})
        app.on_policy_event(quota.typed_event(policy_created),
                            Tracking(application_name="BAI_EVT_QUOTA", notification_id=seq))
    app.update_user(cid(), admin, c.UpdateUser(
        email="alice@example.com", username="alice2", full_name="Alice", role="admin",
        need_password_change=True, resource_policy="gpu", password=NEW_PASSWORD,
        password_confirm=NEW_PASSWORD))
    ak = user["access_key"]
    app.change_keypair(cid(), admin, ak, "assign-policy", "gpu")
    app.change_keypair(cid(), admin, ak, "set-rate-limit", 5)
    app.change_keypair(cid(), admin, ak, "deactivate")
    app.change_keypair(cid(), admin, ak, "activate")
    app.set_user_status(cid(), admin, c.UserRef(email="alice@example.com"), "inactive")
    app.set_user_status(cid(), admin, c.UserRef(email="alice@example.com"), "active")
    return user


def published(app: IdentityApplication) -> list[tuple[str, Event]]:
    translate = IdentityTranslator(app)
    notifications = app.recorder.select_notifications(start=1, limit=100_000)
    out = []
    for notification in notifications:
        found = translate(app.mapper.to_domain_event(notification))
        if found is not None:
            out.append(found)
    return out


def test_every_declared_event_type_is_published_and_valid() -> None:
    app = IdentityApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    user = run_every_command(app)
    events = published(app)
    assert {e.type for _, e in events} == set(c.EVENT_TYPES) - set(c.RETIRED_EVENTS)
    for subject, event in events:
        assert subject == c.event_subject(event.type)
        assert event.source == c.SERVICE
        c.EVENT_TYPES[event.type][2].model_validate(event.data)
    text = json.dumps([e.model_dump(mode="json") for _, e in events])
    assert "secret_key" not in text and "password_hash" not in text
    assert PASSWORD not in text and "$argon2" not in text
    assert user["secret_key"] not in text


def test_event_ids_are_deterministic() -> None:
    app = IdentityApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    run_every_command(app)
    first = [e.id for _, e in published(app)]
    assert first == [e.id for _, e in published(app)]
    assert len(set(first)) == len(first)


def test_deactivation_names_the_keypairs_it_took() -> None:
    app = IdentityApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    user = run_every_command(app)
    [deactivated] = [e for _, e in published(app) if e.type == "UserDeactivated"]
    assert deactivated.data == {"user_id": user["user_id"], "email": "alice@example.com",
                                "deactivated_keypairs": [user["access_key"]]}


def test_each_user_change_is_published_as_its_own_typed_event() -> None:
    app = IdentityApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    user = run_every_command(app)
    mine = [e for _, e in published(app) if e.data.get("user_id") == user["user_id"]
            and e.type.startswith(("User", "Password"))]
    typed = {type(t).__name__: t for e in mine for t in c.typed_events(e)}
    assert typed["UserRenamed"] == c.UserRenamed(
        user_id=user["user_id"], email="alice@example.com", username="alice2",
        previous_username="alice")
    assert typed["UserRoleChanged"].role == "admin"
    assert typed["UserRoleChanged"].previous_role == "user"
    assert typed["UserPolicyAssigned"].previous_policy == "default"
    assert typed["PasswordChangeRequired"].required is True
    assert typed["UserProfileChanged"].full_name == "Alice"


def test_a_retired_user_updated_expands_into_the_specific_events() -> None:
    old = Event(id="e1", type="UserUpdated", source="identity", aggregate_id="u1", sequence=3,
                occurred_at=datetime.now(UTC),
                data={"user_id": "u1", "email": "a@x.test",
                      "changes": {"role": "admin", "full_name": "A", "projects": ["p1"]}})
    assert c.typed_events(old) == [
        c.UserProfileChanged(user_id="u1", email="a@x.test", full_name="A", description=None),
        c.UserRoleChanged(user_id="u1", email="a@x.test", role="admin")]


def test_a_consumer_ignores_fields_its_contract_does_not_know_but_not_missing_ones() -> None:
    data = {"access_key": "AKIA1", "user_id": "u1", "reason": "admin-requested",
            "added_later": True}
    newer = Event(id="e2", type="KeypairDeactivated", source="identity", aggregate_id="k1",
                  sequence=2, occurred_at=datetime.now(UTC), data=data)
    assert c.typed_events(newer) == [c.KeypairDeactivated(access_key="AKIA1", user_id="u1",
                                                          reason="admin-requested")]
    lacking = newer.model_copy(update={"data": {"access_key": "AKIA1"}})
    with pytest.raises(ValidationError):
        c.typed_events(lacking)

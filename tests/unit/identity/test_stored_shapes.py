"""Events stored by the code before specific events (2026-12-01) load into today's
aggregates: the generic `User.Updated` and `Keypair.RateLimitChanged` (v1, upcast)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import resolve_topic

from services.identity.app import IdentityApplication
from services.identity.domain import indexes
from services.identity.domain.model import Keypair, User
from services.identity.translate import IdentityTranslator
from services.identity.views import IdentityView
from tests.unit.identity.test_model import new_keypair, new_user


def stored_as_before(app: IdentityApplication, user: User, keypair: Keypair) -> None:
    """Append the two retired shapes exactly as the old mapper wrote them."""
    updated = User.Updated(originator_id=user.id, originator_version=user.version + 1,
                           timestamp=datetime.now(UTC),
                           changes={"username": "alice2", "role": "admin",
                                    "resource_policy": "big"})
    new_limit = app.mapper.to_stored_event(Keypair.RateLimitSet(
        originator_id=keypair.id, originator_version=keypair.version + 1,
        timestamp=datetime.now(UTC), rate_limit=77, previous_rate_limit=1))
    state: dict[str, Any] = app.mapper.transcoder.decode(new_limit.state)
    state.pop("class_version")
    state.pop("previous_rate_limit")
    changed = replace(new_limit, topic="services.identity.domain.model:Keypair.RateLimitChanged",
                      state=app.mapper.transcoder.encode(state))
    app.recorder.insert_events([app.mapper.to_stored_event(updated), changed])


def test_a_retired_user_updated_and_rate_limit_changed_load_into_todays_aggregates() -> None:
    app = IdentityApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    user, keypair = new_user(), new_keypair()
    app.save(user, keypair)
    stored_as_before(app, user, keypair)
    app.repository.cache = None
    loaded, limited = app.repository.get(user.id), app.repository.get(keypair.id)
    assert (loaded.username, loaded.role, loaded.resource_policy, loaded.version) == (
        "alice2", "admin", "big", 2)
    assert limited.rate_limit == 77
    assert loaded.change_role("user")  # and today's commands go on from there
    assert loaded.collect_events()[0].previous_role == "admin"


def test_retired_shapes_reach_the_read_model_and_the_bus_as_before() -> None:
    app = IdentityApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    user, keypair = new_user(), new_keypair()
    app.save(user, keypair)
    stored_as_before(app, user, keypair)
    view = IdentityView(app)
    notifications = app.recorder.select_notifications(start=1, limit=100)
    events = [app.mapper.to_domain_event(n) for n in notifications]
    for e in events:
        view.apply(e)
    assert view.users[str(user.id)]["username"] == "alice2"
    assert view.users[str(user.id)]["role"] == "admin"
    translate = IdentityTranslator(app)
    published = [found[1] for found in map(translate, events) if found is not None]
    assert [e.type for e in published][-2:] == ["UserUpdated", "KeypairRateLimitSet"]
    assert published[-1].data["previous_rate_limit"] is None


def test_a_stored_event_topic_of_the_first_version_names_a_class_today() -> None:
    stored = StoredEvent(originator_id=new_user().id, originator_version=1,
                         topic="services.identity.domain.model:Keypair.RateLimitChanged",
                         state=b"{}")
    assert resolve_topic(stored.topic) is Keypair.RateLimitSet


def test_the_index_aggregates_moved_to_indexes_py_load_under_their_first_topics() -> None:
    old = "services.identity.domain.model"
    assert resolve_topic(f"{old}:EmailIndex") is indexes.EmailIndex
    assert resolve_topic(f"{old}:EmailIndex.Claimed") is indexes.EmailIndex.Claimed
    assert resolve_topic(f"{old}:UsernameIndex.Released") is indexes.UsernameIndex.Released
    assert resolve_topic(f"{old}:Bootstrapped.Done") is indexes.Bootstrapped.Done
    assert resolve_topic(f"{old}:PolicyCatalog.Added") is indexes.PolicyCatalog.Added

"""The actor directory (every service's replica of identity) follows a role change in the
specific UserRoleChanged and in the retired UserUpdated of older streams alike."""

from __future__ import annotations

import pytest

from contracts.envelope import Actor
from services.runtime.actors import ActorDirectory
from services.runtime.errors import Forbidden
from tests.support.actors import teach_actor

KEY = "AKIAUSER000000000000"


@pytest.mark.parametrize("event", [
    {"type": "UserRoleChanged", "data": {"user_id": "u1", "email": "u1@example.com",
                                         "role": "superadmin", "previous_role": "user"}},
    {"type": "UserUpdated", "data": {"user_id": "u1", "email": "u1@example.com",
                                     "changes": {"role": "superadmin"}}},
], ids=["specific", "retired"])
def test_a_role_change_reaches_the_actor_directory(event: dict) -> None:
    directory = ActorDirectory()
    teach_actor(directory, "u1", "user", KEY)
    with pytest.raises(Forbidden):
        directory.require_role(Actor(access_key=KEY), "superadmin")
    directory.apply(event)
    assert directory.require_role(Actor(access_key=KEY), "superadmin").role == "superadmin"

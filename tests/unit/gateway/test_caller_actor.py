"""The gateway's caller keeps one `Actor` object per access key across keypair-cache rebuilds
(the bus client's remembered envelope parts are found by that object)."""

from __future__ import annotations

from contracts.envelope import Actor
from services.gateway.auth import Caller


def test_a_caller_rebuilt_for_the_same_key_keeps_its_actor_object() -> None:
    """The keypair cache refreshes every few seconds and its Caller is built anew: the actor
    stays the same object (found as the remembered part's key without comparing fields), and
    each key still has its own."""

    def caller(key: str, role: str) -> Caller:
        return Caller(access_key=key, user_id="u-1", email="a@x.test", role=role,
                      domain="default", rate_limit=10, method="hmac")

    key, other = "AKIA" + "F" * 16, "AKIA" + "G" * 16
    before, after = caller(key, "user"), caller(key, "admin")
    assert before is not after and before.actor is after.actor
    assert before.actor == Actor(access_key=key)
    assert caller(other, "user").actor == Actor(access_key=other)

"""The gateway writes query envelopes by hand (the hot read path): what it writes is the
`Query` the service reads, field for field, whatever the caller, proof and positions."""

from __future__ import annotations

import pytest

from contracts.envelope import Actor, Query
from services.gateway.bus import query_envelope

TOKEN = "eyJhbGciOiJFZERTQSJ9." + "a" * 300 + ".sig-_"
CASES = [
    ({"email": "root@baikal.test"}, Actor(access_key="AKIA" + "B" * 16), "r-123", TOKEN,
     {"identity": 12, "rbac": 7}),
    ({}, Actor(system="gateway"), None, None, None),
    ({"email": "rö\"ot\\@x", "n": 3, "l": [1, None]}, Actor(access_key="AKIA" + "C" * 16,
                                                            user_id="u-1"), "\u2028", "", {}),
]


@pytest.mark.parametrize(("data", "actor", "correlation_id", "proof", "after"), CASES)
def test_the_written_envelope_is_the_query_model(data: dict[str, object], actor: Actor,
                                                  correlation_id: str | None,
                                                  proof: str | None,
                                                  after: dict[str, int] | None) -> None:
    for _ in range(2):  # the second time from the remembered parts
        written = Query.model_validate_json(
            query_envelope(data, actor, correlation_id, proof, after))
        assert written == Query(actor=actor, correlation_id=correlation_id, data=data,
                                proof=proof, after=after or {})


def test_two_callers_never_share_a_remembered_part() -> None:
    one, two = Actor(access_key="AKIA" + "D" * 16), Actor(access_key="AKIA" + "E" * 16)
    first = Query.model_validate_json(query_envelope({}, one, None, "t1"))
    second = Query.model_validate_json(query_envelope({}, two, None, "t2"))
    assert (first.actor, first.proof) == (one, "t1")
    assert (second.actor, second.proof) == (two, "t2")


def test_a_caller_rebuilt_for_the_same_key_keeps_its_actor_object() -> None:
    """The keypair cache refreshes every few seconds and its Caller is built anew: the actor
    stays the same object (found as the remembered part's key without comparing fields), and
    each key still has its own."""
    from services.gateway.auth import Caller

    def caller(key: str, role: str) -> Caller:
        return Caller(access_key=key, user_id="u-1", email="a@x.test", role=role,
                      domain="default", rate_limit=10, method="hmac")

    key, other = "AKIA" + "F" * 16, "AKIA" + "G" * 16
    before, after = caller(key, "user"), caller(key, "admin")
    assert before is not after and before.actor is after.actor
    assert before.actor == Actor(access_key=key)
    assert caller(other, "user").actor == Actor(access_key=other)

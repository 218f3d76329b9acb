"""The publisher client writes query envelopes by hand (the gateway's hot read path): what it
writes is the `Query` the service reads, field for field, whatever the caller, proof, positions
and cause; a command is the `Command` model's own JSON."""

from __future__ import annotations

import pytest

from contracts.envelope import Actor, Command, Query
from services.runtime.envelopes import command_envelope, query_envelope

TOKEN = "eyJhbGciOiJFZERTQSJ9." + "a" * 300 + ".sig-_"
CASES = [
    ({"email": "root@baikal.test"}, Actor(access_key="AKIA" + "B" * 16), "r-123", TOKEN,
     {"identity": 12, "rbac": 7}, None),
    ({}, Actor(system="gateway"), None, None, None, None),
    ({"email": "rö\"ot\\@x", "n": 3, "l": [1, None]}, Actor(access_key="AKIA" + "C" * 16,
                                                            user_id="u-1"), "\u2028", "", {},
     None),
    ({"n": 1}, Actor(system="scheduler"), "r-9", TOKEN, {}, "event-\"7\""),
    ({}, Actor(system="scheduler"), None, None, None, "event-8"),
]


@pytest.mark.parametrize(("data", "actor", "correlation_id", "proof", "after", "causation_id"),
                         CASES)
def test_the_written_envelope_is_the_query_model(data: dict[str, object], actor: Actor,
                                                  correlation_id: str | None,
                                                  proof: str | None,
                                                  after: dict[str, int] | None,
                                                  causation_id: str | None) -> None:
    for _ in range(2):  # the second time from the remembered parts
        written = Query.model_validate_json(
            query_envelope(data, actor, correlation_id, proof, after, causation_id))
        assert written == Query(actor=actor, correlation_id=correlation_id, data=data,
                                proof=proof, after=after or {}, causation_id=causation_id)


@pytest.mark.parametrize(("data", "actor", "correlation_id", "proof", "after", "causation_id"),
                         CASES)
def test_a_command_envelope_is_the_command_model(data: dict[str, object], actor: Actor,
                                                  correlation_id: str | None,
                                                  proof: str | None,
                                                  after: dict[str, int] | None,
                                                  causation_id: str | None) -> None:
    written = Command.model_validate_json(command_envelope(
        "c-1", actor, data, proof, after or {}, correlation_id, causation_id))
    assert written == Command(id="c-1", actor=actor, correlation_id=correlation_id,
                              causation_id=causation_id, data=data, proof=proof,
                              after=after or {})


def test_two_callers_never_share_a_remembered_part() -> None:
    one, two = Actor(access_key="AKIA" + "D" * 16), Actor(access_key="AKIA" + "E" * 16)
    first = Query.model_validate_json(query_envelope({}, one, None, "t1"))
    second = Query.model_validate_json(query_envelope({}, two, None, "t2"))
    assert (first.actor, first.proof) == (one, "t1")
    assert (second.actor, second.proof) == (two, "t2")

"""The one publisher client (services/runtime/client.py) against a real nats-server: a request
nobody answers, one answered too late and one on a closed connection each raise `BusError` with
its stable code; an `Error` reply is one too (answered); a reply's positions are merged and sent
as `after` next time; every message carries its actor's proof and the chain it joins.

The service side is a plain subscriber of the real server (identity's user, on identity's
subjects), answering what each test tells it and keeping every envelope it received.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from nats.aio.client import Client
from pydantic import BaseModel

from contracts.envelope import Actor
from services.gateway.bus import api_error
from services.runtime.client import UNTRACKED, BusClient, BusError
from services.runtime.context import for_event, using
from services.runtime.proofs import (
    ProofSigner,
    ProofVerifier,
    new_private_key,
    parse_keys,
    public_key_of,
)
from tests.support.identity import connect_as
from tests.support.natsserver import NatsServer, until_answered

QUERY = "bai.qry.identity.users.list.v1"
COMMAND = "bai.cmd.identity.user.update.v1"
SILENT = "bai.qry.identity.users.get.v1"  # subscribed, never answered
NOBODY = "bai.qry.identity.domains.list.v1"  # nobody subscribes
USER = Actor(access_key="AKIA" + "T" * 16, user_id="u-1")
Answer = Callable[[dict[str, Any]], bytes]


def accepted(data: dict[str, Any], positions: dict[str, int] | None = None) -> bytes:
    reply: dict[str, Any] = {"status": "accepted", "data": data}
    if positions is not None:
        reply["positions"] = positions
    return json.dumps(reply, separators=(",", ":")).encode()


class Service:
    """identity's subjects, answered by `answer` (per subject); every envelope kept."""

    def __init__(self, nc: Client) -> None:
        self.nc = nc
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.answers: dict[str, Answer] = {QUERY: lambda e: accepted({"n": 1}),
                                           COMMAND: lambda e: accepted({}, {"identity": 7})}

    async def start(self) -> None:
        async def heard(msg: Any) -> None:
            envelope = json.loads(msg.data)
            self.received.append((msg.subject, envelope))
            answer = self.answers.get(msg.subject)
            if answer is not None:
                await msg.respond(answer(envelope))

        for subject in (QUERY, COMMAND, SILENT):
            await self.nc.subscribe(subject, cb=heard)
        await self.nc.flush(timeout=5)

    def last(self) -> dict[str, Any]:
        return self.received[-1][1]


@pytest.fixture
async def bus(nats_server: NatsServer) -> AsyncIterator[tuple[Client, Service]]:
    service_nc = await connect_as(nats_server, "identity")
    caller_nc = await connect_as(nats_server, "gateway")
    service = Service(service_nc)
    await service.start()
    await until_answered(caller_nc, QUERY)  # the service's interest reached the server
    service.received.clear()
    yield caller_nc, service
    await caller_nc.close()
    await service_nc.close()


async def test_nobody_answering_is_service_unavailable(bus: tuple[Client, Service]) -> None:
    nc, _ = bus
    client = BusClient(nc, USER, timeout=2, proof="t")
    with pytest.raises(BusError) as raised:
        await client.query(NOBODY)
    exc = raised.value
    assert (exc.code, exc.answered, exc.no_answer) == ("service.unavailable", False, True)
    assert exc.message == "no identity service is answering"
    assert exc.details == {"service": "identity"}
    mapped = api_error(exc)  # the gateway's one mapping
    assert (mapped.code, mapped.status) == ("gateway.service.unavailable", 503)


async def test_no_answer_in_time_is_service_timeout(bus: tuple[Client, Service]) -> None:
    nc, service = bus
    client = BusClient(nc, USER, timeout=0.2, proof="t")
    with pytest.raises(BusError) as raised:
        await client.query_or_raise(SILENT, {})
    assert (raised.value.code, raised.value.no_answer) == ("service.timeout", True)
    assert raised.value.message == "identity did not answer within 0.2s"
    assert service.received[-1][0] == SILENT  # it was sent, and heard
    assert api_error(raised.value).status == 504
    with pytest.raises(BusError) as per_call:  # a call's own timeout
        await BusClient(nc, USER, timeout=30, proof="t").query(SILENT, timeout=0.1)
    assert "within 0.1s" in per_call.value.message


async def test_a_closed_connection_is_service_unavailable(nats_server: NatsServer) -> None:
    nc = await connect_as(nats_server, "gateway")
    await nc.close()
    with pytest.raises(BusError) as raised:
        await BusClient(nc, USER, proof="t").command(COMMAND, {})
    assert (raised.value.code, raised.value.answered) == ("service.unavailable", False)
    assert "ConnectionClosedError" in raised.value.message


async def test_an_error_reply_is_returned_typed_or_raised_answered(
        bus: tuple[Client, Service]) -> None:
    nc, service = bus
    service.answers[QUERY] = lambda e: json.dumps({"status": "error", "error": {
        "code": "identity.user.not_found", "message": "no such user",
        "details": {"email": "x@y"}}}).encode()
    client = BusClient(nc, USER, proof="t")
    reply = await client.query(QUERY, {})
    assert not reply.ok and reply.error is not None
    assert reply.error.code == "identity.user.not_found"
    with pytest.raises(BusError) as raised:
        await client.query_or_raise(QUERY, {})
    exc = raised.value
    assert (exc.code, exc.message, exc.details, exc.answered, exc.no_answer) == (
        "identity.user.not_found", "no such user", {"email": "x@y"}, True, False)
    mapped = api_error(exc)
    assert (mapped.code, mapped.status, mapped.details) == (
        "identity.user.not_found", 404, {"email": "x@y"})


async def test_an_unreadable_reply_is_internal_not_an_answer(bus: tuple[Client, Service]) -> None:
    nc, service = bus
    service.answers[QUERY] = lambda e: b"not json"
    client = BusClient(nc, USER, proof="t")
    for ask in (client.query(QUERY), client.query_or_raise(QUERY)):
        with pytest.raises(BusError) as raised:
            await ask
        assert (raised.value.code, raised.value.answered) == ("internal", False)
    assert api_error(raised.value).code == "gateway.internal"


async def test_a_replys_positions_are_merged_and_sent_as_after(
        bus: tuple[Client, Service]) -> None:
    nc, service = bus
    client = BusClient(nc, USER, proof="t", positions={"rbac": 3})
    await client.query(QUERY)
    assert service.last()["after"] == {"rbac": 3}
    assert (await client.command(COMMAND, {"email": "a@b"})).ok
    assert client.positions == {"rbac": 3, "identity": 7}
    service.answers[COMMAND] = lambda e: accepted({}, {"identity": 5, "rbac": 4})
    await client.command_or_raise(COMMAND, {})
    assert client.positions == {"rbac": 4, "identity": 7}  # the highest of each, never back
    await client.query_or_raise(QUERY)
    assert service.last()["after"] == {"rbac": 4, "identity": 7}
    await client.query(QUERY, after={"identity": 1})  # a call's own positions instead
    assert service.last()["after"] == {"identity": 1}
    untracked = BusClient(nc, USER, proof="t", positions=UNTRACKED)
    await untracked.command(COMMAND, {})
    await untracked.query(QUERY)
    assert service.last()["after"] == {} and untracked.positions == {}


async def test_every_message_carries_its_actors_proof(bus: tuple[Client, Service]) -> None:
    nc, service = bus
    key = new_private_key()
    signer = ProofSigner(key, "stack-test")
    verifier = ProofVerifier(parse_keys(f"scheduler={public_key_of(key)}"), "stack-test")
    system = BusClient(nc, Actor(system="scheduler"), signer=signer)
    await system.command(COMMAND, {})
    await system.query(QUERY)
    for _, envelope in service.received[-2:]:
        assert verifier.verify(envelope["proof"]) == Actor(system="scheduler")
        assert Actor.model_validate(envelope["actor"]) == Actor(system="scheduler")
    await BusClient(nc, USER, proof="user-token").query(QUERY)
    assert service.last()["proof"] == "user-token"
    # One client, the proof of each call's actor (as the gateway sends in each caller's name).
    per_actor = BusClient(nc, proofs=lambda actor: f"proof-of-{actor.access_key}")
    await per_actor.command(COMMAND, {}, actor=USER)
    assert (service.last()["proof"], Actor.model_validate(service.last()["actor"])) == (
        f"proof-of-{USER.access_key}", USER)


async def test_a_request_joins_the_chain_it_is_sent_in(bus: tuple[Client, Service]) -> None:
    nc, service = bus
    client = BusClient(nc, USER, proof="t")
    await client.command(COMMAND, {}, "c-1")
    assert (service.last()["id"], service.last()["correlation_id"],
            service.last().get("causation_id")) == ("c-1", None, None)  # outside: a chain starts
    with using(for_event("x", "event-9", "r-123", USER)):
        await client.command(COMMAND, {})
        assert (service.last()["correlation_id"], service.last().get("causation_id")) == (
            "r-123", "event-9")
        await client.query(QUERY)
        assert (service.last()["correlation_id"], service.last().get("causation_id")) == (
            "r-123", "event-9")
        await client.query(QUERY, correlation_id="r-own")  # given: the caller names it
        assert (service.last()["correlation_id"], service.last().get("causation_id")) == (
            "r-own", None)
    await client.command(COMMAND, {}, "c-2", correlation_id=None, causation_id="placed-1")
    assert (service.last()["correlation_id"], service.last().get("causation_id")) == (
        None, "placed-1")


class Listing(BaseModel):
    n: int


async def test_accepted_data_as_json_or_as_the_reply_model(bus: tuple[Client, Service]) -> None:
    nc, service = bus
    service.answers[QUERY] = lambda e: accepted({"n": 3, "s": "é"})
    spliced = BusClient(nc, USER, proof="t", splice=True)
    decoded = BusClient(nc, USER, proof="t", splice=False)
    assert json.loads(await spliced.query_json(QUERY, {})) == {"n": 3, "s": "é"}
    assert json.loads(await decoded.query_json(QUERY, {})) == {"n": 3, "s": "é"}
    assert (await spliced.query_as(Listing, QUERY)).n == 3
    service.answers[QUERY] = lambda e: accepted({"n": "many"})
    with pytest.raises(BusError) as raised:
        await spliced.query_as(Listing, QUERY)
    assert (raised.value.code, raised.value.answered) == ("internal", False)
    assert "not a Listing" in raised.value.message


async def test_requests_in_flight_together_each_get_their_own_reply(
        bus: tuple[Client, Service]) -> None:
    nc, service = bus
    service.answers[QUERY] = lambda e: accepted({"echo": e["data"]["i"]})
    client = BusClient(nc, USER, proof="t")
    got = await asyncio.wait_for(asyncio.gather(
        *(client.query_or_raise(QUERY, {"i": i}) for i in range(50))), timeout=20)
    assert [g["echo"] for g in got] == list(range(50))

"""Bad input on every rbac subject gets a stable `Error{code}`: never a timeout, never
`rbac.internal`, never an echo of the input; and no malformed message ever grants anything."""

from __future__ import annotations

import json
import random
import re
import uuid
from typing import Any

import pytest

from contracts import rbac as c
from contracts.envelope import Actor, Reply
from contracts.identity import Subjects as IS
from services.runtime.client import BusClient
from tests.support.fuzz import proof_of

S = c.Subjects
ALL_SUBJECTS = sorted({**c.COMMAND_PAYLOADS, **c.QUERY_PAYLOADS})
CODE = re.compile(r"^rbac(\.[a-z][a-z0-9_]*)+$")
OVERSIZE = "S3cr3t-" * 715
UNKNOWN_KEY = "AKIAAAAAAAAAAAAAAAAA"
RID = str(uuid.uuid4())
VALID_DATA: dict[str, dict[str, Any]] = {
    S.ROLE_CREATE: {"name": "fresh", "scopes": [{"scope_type": "domain", "scope_id": "x"}]},
    S.ROLE_UPDATE: {"role_id": RID, "description": "d"},
    S.ROLE_DEACTIVATE: {"role_id": RID},
    S.ROLE_ACTIVATE: {"role_id": RID},
    S.ROLE_PURGE: {"role_id": RID},
    S.ROLE_ADD_PERMISSION: {"role_id": RID, "scope_type": "domain", "scope_id": "x",
                            "entity_type": "session", "operations": ["read"]},
    S.ROLE_REMOVE_PERMISSION: {"role_id": RID, "permission_id": "p"},
    S.ROLE_ASSIGN: {"role_id": RID, "emails": ["a@b.c"]},
    S.ROLE_UNASSIGN: {"role_id": RID, "user_id": "u"},
    S.ROLE_LIST: {},
    S.ROLE_GET: {"role_id": RID},
    S.USER_SEARCH: {"text": "a"},
    S.CHECK: {"user_id": "u", "operation": "read", "entity_type": "session",
              "scope_type": "domain", "scope_id": "x"},
    S.CHECK_BATCH: {"checks": [{"user_id": "u", "operation": "read", "entity_type": "session",
                                "scope_type": "domain", "scope_id": "x"}]},
}


def test_every_subject_has_a_sample() -> None:
    assert set(VALID_DATA) == set(ALL_SUBJECTS)


async def raw(stack, subject: str, body: bytes) -> Reply:
    msg = await stack.nc.request(subject, body, timeout=5)
    reply = Reply.model_validate_json(msg.data)
    assert not reply.ok and CODE.match(reply.error.code), reply
    assert reply.error.code != "rbac.internal"
    assert "S3cr3t" not in msg.data.decode()
    return reply


def envelope(subject: str, data: Any, access_key: str) -> bytes:
    body: dict[str, Any] = {"actor": {"access_key": access_key}, "data": data,
                            "proof": proof_of({"access_key": access_key})}
    if subject in c.COMMAND_PAYLOADS:
        body["id"] = str(uuid.uuid4())
    return json.dumps(body).encode()


@pytest.mark.parametrize("subject", ALL_SUBJECTS)
async def test_bad_requests_get_stable_codes(stack, subject: str) -> None:
    key = stack.creds["access_key"]
    assert (await raw(stack, subject, b"{not json")).error.code == "rbac.request.malformed"
    assert (await raw(stack, subject, b"\xff\xfe")).error.code == "rbac.request.malformed"
    extra = await raw(stack, subject, envelope(subject, {"bogus": 1}, key))
    assert extra.error.code == "rbac.request.invalid"
    long = {k: OVERSIZE if isinstance(v, str) else v for k, v in VALID_DATA[subject].items()}
    if long != VALID_DATA[subject]:
        assert (await raw(stack, subject, envelope(subject, long, key))).error.code == \
            "rbac.request.invalid"
    stranger = await raw(stack, subject, envelope(subject, VALID_DATA[subject], UNKNOWN_KEY))
    assert stranger.error.code == "rbac.auth.unauthenticated"
    as_root = await stack.nc.request(subject, envelope(subject, VALID_DATA[subject], key),
                                     timeout=5)
    reply = Reply.model_validate_json(as_root.data)
    assert reply.ok or (CODE.match(reply.error.code) and reply.error.code != "rbac.internal")


def mutate(rng: random.Random, base: dict[str, Any]) -> dict[str, Any]:
    junk = [None, 0, -1, 1.5, True, "", "x" * 70, [], {}, ["read", "read"], ["write"],
            "DOMAIN", "create", "agent", "delegate-everything", "../", "\u0000", RID]
    data = dict(base)
    for _ in range(rng.randint(1, 3)):
        field = rng.choice([*base, "extra"])
        if rng.random() < 0.2:
            data.pop(field, None)
        else:
            data[field] = rng.choice(junk)
    return data


async def test_fuzzed_permission_commands_never_grant_what_the_catalogue_refuses(stack) -> None:
    root = stack.root
    domains = await root.query_or_raise(IS.DOMAIN_LIST, {})
    domain_id = domains["items"][0]["domain_id"]
    rid = (await root.command_or_raise(S.ROLE_CREATE, {"name": "fuzzed", "scopes": [
        {"scope_type": "domain", "scope_id": domain_id}]}))["role_id"]
    base = {"role_id": rid, "scope_type": "domain", "scope_id": domain_id,
            "entity_type": "agent", "operations": ["read"]}
    rng = random.Random(6)
    client = BusClient(stack.nc, Actor(access_key=stack.creds["access_key"]))
    for _ in range(300):
        reply = await client.command(S.ROLE_ADD_PERMISSION, mutate(rng, base))
        assert reply.ok or (CODE.match(reply.error.code) and reply.error.code != "rbac.internal")
    detail = await root.query_or_raise(S.ROLE_GET, {"role_id": rid})
    for p in detail["permissions"]:
        assert c.is_valid(p["scope_type"], p["entity_type"], p["operation"])
        assert (p["scope_type"], p["scope_id"]) == ("domain", domain_id)

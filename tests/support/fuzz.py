"""Bad-input helpers for identity: subjects, valid samples, checks and hypothesis strategies.

`FuzzStack` runs nats-server, the identity service and two bus connections on an event loop
in a background thread, so synchronous hypothesis tests can send requests to it.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from hypothesis import strategies as st
from nats.aio.client import Client
from pydantic import BaseModel

from contracts.envelope import Actor, Reply
from contracts.identity import COMMAND_PAYLOADS, QUERY_PAYLOADS, Subjects
from contracts.values import UserRole, UserStatus
from services.runtime.host import ServiceHost
from services.runtime.proofs import ProofSigner
from tests.support.identity import (
    bootstrap,
    connect_as,
    start_identity,
    user_payload,
)
from tests.support.natsserver import NatsServer, start_nats

S = Subjects
T = TypeVar("T")

SECRET_SUBJECTS = frozenset({S.KEYPAIR_RESOLVE, S.LOGIN, S.TOKEN_ISSUE})
SIGNER = ProofSigner.from_env()  # the test stack's key (tests/conftest.py)
PAYLOADS: dict[str, type[BaseModel]] = {**COMMAND_PAYLOADS, **QUERY_PAYLOADS}
ALL_SUBJECTS = sorted(PAYLOADS)
UNKNOWN_KEY = "AKIAAAAAAAAAAAAAAAAA"

# One schema-valid `data` per subject (the domain may still refuse it: unknown user, ...).
VALID_DATA: dict[str, dict[str, Any]] = {
    S.BOOTSTRAP: {"email": "boot@example.com", "password": "Passw0rd!"},
    S.DOMAIN_CREATE: {"name": "fuzz-domain"},
    S.PROJECT_CREATE: {"name": "fuzz-project"},
    S.PROJECT_ADD_MEMBER: {"project_id": "fuzz-project", "email": "someone@example.com"},
    S.PROJECT_REMOVE_MEMBER: {"project_id": "fuzz-project", "email": "someone@example.com"},
    S.USER_CREATE: {"email": "someone@example.com", "password": "Passw0rd!",
                    "password_confirm": "Passw0rd!"},
    S.USER_UPDATE: {"email": "someone@example.com", "full_name": "Some One"},
    S.USER_DEACTIVATE: {"email": "someone@example.com"},
    S.USER_ACTIVATE: {"email": "someone@example.com"},
    S.KEYPAIR_ISSUE: {"email": "someone@example.com"},
    S.KEYPAIR_ACTIVATE: {"access_key": UNKNOWN_KEY},
    S.KEYPAIR_DEACTIVATE: {"access_key": UNKNOWN_KEY},
    S.KEYPAIR_ASSIGN_POLICY: {"access_key": UNKNOWN_KEY, "resource_policy": "gold"},
    S.KEYPAIR_SET_RATE_LIMIT: {"access_key": UNKNOWN_KEY, "rate_limit": 100},
    S.USER_GET: {"email": "someone@example.com"},
    S.USER_LIST: {},
    S.KEYPAIR_LIST: {},
    S.DOMAIN_LIST: {},
    S.PROJECT_LIST: {},
    S.KEYPAIR_RESOLVE: {"access_key": UNKNOWN_KEY},
    S.LOGIN: {"email": "someone@example.com", "password": "Passw0rd!"},
    S.TOKEN_ISSUE: {"access_key": UNKNOWN_KEY},
    S.BUS_LOGIN: {"email": "someone@example.com", "password": "Passw0rd!"},
}


def is_command(subject: str) -> bool:
    return subject in COMMAND_PAYLOADS or subject.startswith("bai.cmd.")


def nats_user(subject: str) -> str:
    """Only the gateway may publish the secret-returning queries."""
    return "gateway" if subject in SECRET_SUBJECTS else "admin"


def envelope(subject: str, data: Any, actor: dict[str, Any] | None = None,
             command_id: str | None = None) -> dict[str, Any]:
    """With a proof of `actor` when it is a well-formed one (the gateway's own for the
    secret-returning queries, which only it may ask)."""
    if subject in SECRET_SUBJECTS and isinstance(actor, dict) and "access_key" in actor:
        actor = {"system": "gateway"}
    body: dict[str, Any] = {"actor": actor if actor is not None else {}, "data": data}
    proof = proof_of(actor)
    if proof is not None:
        body["proof"] = proof
    if is_command(subject):
        body["id"] = command_id or str(uuid.uuid4())
    return body


def proof_of(actor: Any) -> str | None:
    try:
        parsed = Actor.model_validate(actor)
    except ValueError:
        return None
    if SIGNER is None or (parsed.access_key is None and parsed.system is None):
        return None
    return SIGNER.proof_for(parsed)


def encode(body: Any) -> bytes:
    return json.dumps(body).encode()


def parse_reply(raw: bytes) -> Reply:
    return Reply.model_validate_json(raw)


def stable_error(raw: bytes, service: str = "identity") -> str:
    """The reply is an `Error` with a stable, non-internal code of `service` (the service
    name, then dotted lower-case words, e.g. identity.user.email_taken); returns it."""
    reply = parse_reply(raw)
    assert not reply.ok, f"expected an error reply, got {raw[:300]!r}"
    assert reply.error is not None
    code = reply.error.code
    assert code != f"{service}.internal", f"internal error: {raw[:500]!r}"
    assert re.match(rf"^{service}(\.[a-z][a-z0-9_]*)+$", code), f"unstable code {code!r}"
    return code


def envelope_cases(base: dict[str, Any], command: bool) -> list[tuple[str, bytes]]:
    """Envelopes that are not the one the subject needs, around a valid one (`base`)."""
    cases: list[tuple[str, Any]] = [
        ("array", []), ("string", "text"), ("number", 42), ("null", None), ("bool", True),
        ("empty object", {}), ("no actor", {k: v for k, v in base.items() if k != "actor"}),
        ("extra key", base | {"extra": 1}),
        ("correlation int", base | {"correlation_id": 5}),
        ("correlation long", base | {"correlation_id": "c" * 129}),
    ]
    value: Any
    for value in ("root", [], None, 7, {"access_key": 5}, {"access_key": "A" * 21},
                  {"who": "x"}, {"user_id": ["u"]}):
        cases.append((f"actor={value!r}", base | {"actor": value}))
    for value in ([], "x", 5, None, True):
        cases.append((f"data={value!r}", base | {"data": value}))
    if command:
        cases.append(("no id", {k: v for k, v in base.items() if k != "id"}))
        for value in (5, "", "x" * 129, None, ["a"], {"id": 1}):
            cases.append((f"id={str(value)[:20]!r}", base | {"id": value}))
    else:
        cases.append(("query with id", base | {"id": "x"}))
    return [(label, encode(body)) for label, body in cases]


def missing_field_cases(model: type[BaseModel], valid_data: dict[str, Any],
                        base: dict[str, Any]) -> list[tuple[str, bytes, str]]:
    """(label, body, the field the error must name) for each required field left out of a
    valid envelope `base` whose data is `valid_data`."""
    required = [name for name, f in model.model_fields.items() if f.is_required()]
    cases = []
    if required:
        cases.append(("empty data", encode(base | {"data": {}}), required[0]))
        cases.append(("no data", encode({k: v for k, v in base.items() if k != "data"}),
                      required[0]))
    for name in required:
        data = {k: v for k, v in valid_data.items() if k != name}
        cases.append((f"without {name}", encode(base | {"data": data}), name))
        cases.append((f"{name}=null", encode(base | {"data": data | {name: None}}), name))
    return cases


def check_reply(subject: str, raw: bytes) -> Reply:
    """Any reply: parses, no internal error, no secret where none belongs."""
    reply = parse_reply(raw)
    if not reply.ok:
        stable_error(raw)
    assert b"$argon2" not in raw, "a password hash left the service"
    if reply.ok and subject not in (S.USER_CREATE, S.KEYPAIR_ISSUE, *SECRET_SUBJECTS):
        assert "secret_key" not in keys_of(reply.data), f"{subject} replied with a secret key"
    return reply


def keys_of(value: Any) -> set[str]:
    """Every dict key anywhere inside a JSON value."""
    if isinstance(value, dict):
        return set(value).union(*(keys_of(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(keys_of(v) for v in value))
    return set()


# ---- a service on a background event loop ------------------------------------------------


class LoopThread:
    """An event loop in a daemon thread; `run` waits for a coroutine from sync code."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="fuzz-loop",
                                        daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


@dataclass
class Pools:
    """What fuzzing created so far: lets random payloads hit existing entities."""

    emails: list[str] = field(default_factory=list)
    access_keys: list[str] = field(default_factory=list)
    user_ids: list[str] = field(default_factory=list)
    project_ids: list[str] = field(default_factory=list)
    project_names: list[str] = field(default_factory=list)
    domains: list[str] = field(default_factory=lambda: ["default"])


@dataclass
class FuzzStack:
    directory: Path
    cipher_key: str
    loop: LoopThread = field(default_factory=LoopThread)
    server: NatsServer | None = None
    host: ServiceHost | None = None
    conns: dict[str, Client] = field(default_factory=dict)
    root: dict[str, Any] = field(default_factory=dict)
    pools: Pools = field(default_factory=Pools)
    created_users: set[str] = field(default_factory=set)
    sent: dict[str, int] = field(default_factory=dict)

    def start(self) -> FuzzStack:
        self.server = start_nats(self.directory / "nats")
        self.loop.run(self._start())
        self.seed()
        return self

    async def _start(self) -> None:
        await self._start_service()
        for user in ("admin", "gateway"):
            self.conns[user] = await connect_as(self.server, user)  # type: ignore[arg-type]
        self.root = await bootstrap(self.conns["admin"])

    def seed(self) -> None:
        """A domain, a project and a few users, so random payloads can hit real entities."""
        for subject, data in [
            (S.DOMAIN_CREATE, {"name": "fuzz-domain"}),
            (S.PROJECT_CREATE, {"name": "fuzz-project"}),
            *[(S.USER_CREATE, user_payload(f"-seed{n}")) for n in range(3)],
            (S.KEYPAIR_ISSUE, {"email": "user-seed0@example.com"}),
        ]:
            reply = self.ask(subject, data)
            assert reply.ok, reply
            self.remember(subject, reply)

    async def _start_service(self) -> None:
        assert self.server is not None
        self.host = await start_identity(self.server, self.directory / "data", self.cipher_key)

    def restart_service(self) -> None:
        assert self.host is not None
        self.loop.run(self.host.stop())
        self.loop.run(self._start_service())

    @property
    def root_actor(self) -> dict[str, Any]:
        return {"access_key": self.root["access_key"]}

    def send(self, subject: str, body: bytes, timeout: float = 5.0) -> bytes:
        """Request/reply as the subject's NATS user; a timeout raises."""
        nc = self.conns[nats_user(subject)]
        msg = self.loop.run(nc.request(subject, body, timeout=timeout), timeout=timeout + 5)
        self.sent[subject] = self.sent.get(subject, 0) + 1
        return msg.data

    def ask(self, subject: str, data: dict[str, Any],
            actor: dict[str, Any] | None = None) -> Reply:
        return parse_reply(self.send(subject, encode(envelope(subject, data,
                                                              actor or self.root_actor))))

    def remember(self, subject: str, reply: Reply) -> None:
        """Feed what an accepted command created into the pools."""
        data = reply.data or {}
        if subject == S.USER_CREATE:
            self.created_users.add(data["user_id"])
            self.pools.user_ids.append(data["user_id"])
            self.pools.emails.append(data["email"])
        if subject in (S.USER_CREATE, S.KEYPAIR_ISSUE):
            self.pools.access_keys.append(data["access_key"])
        if subject == S.PROJECT_CREATE:
            self.pools.project_ids.append(data["project_id"])
            self.pools.project_names.append(data["name"])
        if subject == S.DOMAIN_CREATE:
            self.pools.domains.append(data["name"])

    def stop(self) -> None:
        try:
            for nc in self.conns.values():
                self.loop.run(nc.close())
            if self.host is not None:
                self.loop.run(self.host.stop())
        finally:
            self.loop.close()
            if self.server is not None:
                self.server.stop()


# ---- hypothesis strategies ---------------------------------------------------------------
# Built once per subject (building strategies is slow); the pools are read at draw time.

JSON_SCALARS = (st.none() | st.booleans() | st.integers()
                | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40))
# Two levels of nesting, written out: st.recursive costs several times more per draw.
_KEYS = st.text(max_size=12)
_FLAT = st.lists(JSON_SCALARS, max_size=4) | st.dictionaries(_KEYS, JSON_SCALARS, max_size=4)
JSON = (JSON_SCALARS | _FLAT | st.lists(JSON_SCALARS | _FLAT, max_size=3)
        | st.dictionaries(_KEYS, JSON_SCALARS | _FLAT, max_size=3))
PASSWORDS = st.sampled_from(["Passw0rd!", "S3cure#pass", "short1!", "NoDigits!!", "", " ",
                             "a" * 63 + "1!", "Pässw0rd!x"])
GOOD_PASSWORDS = st.sampled_from(["Passw0rd!", "S3cure#pass"])
SLUGS = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,70}\Z")
TEXTS = st.text(max_size=80) | st.sampled_from(["", " ", "x" * 65, "x" * 501, "x" * 1025])
NUMBERS = st.integers(0, 10**9)


@st.composite
def pooled(draw: st.DrawFn, items: list[str], fallback: st.SearchStrategy[Any]) -> Any:
    """An existing entity's value half of the time (when there is one), else `fallback`.

    Draws the same choices whatever the pool holds, so hypothesis sees a stable strategy."""
    use_pool, index, other = draw(st.booleans()), draw(st.integers(0, 2**16)), draw(fallback)
    return items[index % len(items)] if items and use_pool else other


FRESH_EMAILS = st.builds(
    lambda n, host, pad: pad.format(f"fuzz{n}@{host}"), NUMBERS,
    st.sampled_from(["example.com", "Example.COM", "ex-ample.org", "x", "-bad.com"]),
    st.sampled_from(["{}", " {} ", "{}\n", "{}.", "<{}>"]))


def field_values(pools: Pools) -> dict[str, st.SearchStrategy[Any]]:
    """Plausible (valid or nearly valid) values per field name."""
    emails = pooled(pools.emails, FRESH_EMAILS | st.emails() | TEXTS)
    projects = pooled(pools.project_ids, pooled(pools.project_names, SLUGS | TEXTS))
    return {
        "email": emails,
        "password": PASSWORDS | TEXTS,
        "password_confirm": PASSWORDS | TEXTS,
        "username": SLUGS | TEXTS,
        "full_name": TEXTS,
        "description": TEXTS,
        "name": SLUGS | TEXTS,
        "role": st.sampled_from([*UserRole, "emperor", "ADMIN"]),
        "status": st.sampled_from([*UserStatus, "deleted"]),
        "domain": pooled(pools.domains, SLUGS | TEXTS),
        "projects": st.lists(projects, max_size=4),
        "project_id": projects,
        "resource_policy": st.sampled_from(["default", "gold", "", "bad policy"]) | SLUGS,
        "need_password_change": st.booleans(),
        "is_active": st.none() | st.booleans(),
        "access_key": pooled(pools.access_keys,
                             st.from_regex(r"\AAKIA[A-Z2-7]{16}\Z") | TEXTS),
        "rate_limit": st.integers(-10, 2_000_000),
        "user_id": pooled(pools.user_ids, st.uuids().map(str) | TEXTS),
        "email_contains": TEXTS,
        "username_contains": TEXTS,
        "sort": st.sampled_from(["email", "username", "created_at", "updated_at", "role",
                                 "access_key", "resource_policy", "nope"]),
        "order": st.sampled_from(["asc", "desc", "up"]),
        "offset": st.integers(-5, 2_000_000),
        "limit": st.integers(-5, 2_000),
    }


def near_valid(subject: str, pools: Pools) -> st.SearchStrategy[dict[str, Any]]:
    """The subject's valid sample, pointed at something that exists (or fresh names)."""
    base = VALID_DATA[subject]
    parts: dict[str, st.SearchStrategy[Any]] = {}
    if subject in (S.USER_CREATE, S.BOOTSTRAP):
        parts["email"] = NUMBERS.map(lambda n: f"fuzz{n}@example.com")
    elif "email" in base:
        parts["email"] = pooled(pools.emails, FRESH_EMAILS)
    if "access_key" in base:
        parts["access_key"] = pooled(pools.access_keys, st.just(UNKNOWN_KEY))
    if "project_id" in base:
        parts["project_id"] = pooled(pools.project_ids, st.just("fuzz-project"))
    if subject in (S.DOMAIN_CREATE, S.PROJECT_CREATE):
        parts["name"] = NUMBERS.map(lambda n: f"fz{n}")
    fields = st.fixed_dictionaries(parts)
    if "password" not in base:
        return fields

    def with_password(found: dict[str, Any], password: str) -> dict[str, Any]:
        confirm = {"password_confirm": password} if "password_confirm" in base else {}
        return found | {"password": password} | confirm

    return st.builds(with_password, fields, GOOD_PASSWORDS)


def fuzz_data(subject: str, pools: Pools) -> st.SearchStrategy[dict[str, Any]]:
    """`data`: a random subset of the model's fields (rarely a foreign one) with
    plausible-or-random values, or a near-valid payload with up to two fields changed."""
    plausible = field_values(pools)
    mixed = {name: s | s | JSON for name, s in plausible.items()}
    names = list(PAYLOADS[subject].model_fields)
    chosen = st.lists(st.sampled_from(names), unique=True) if names else st.just([])
    valid = near_valid(subject, pools)

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        keys = draw(chosen)
        data: dict[str, Any] = {}
        values = mixed
        if draw(st.booleans()):
            data = VALID_DATA[subject] | draw(valid)
            keys, values = keys[: draw(st.integers(0, 2))], plausible
        for key in keys:
            data[key] = draw(values.get(key, JSON))
        if draw(st.integers(0, 9)) == 0:
            data[draw(st.text(max_size=12))] = draw(JSON)
        return data

    return build()


def actors(root: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Mostly the superadmin; sometimes nobody, an unknown key, the bootstrap system actor
    or a random actor."""
    others: st.SearchStrategy[dict[str, Any]] = st.one_of(
        st.just({}), st.just({"access_key": UNKNOWN_KEY}), st.just({"system": "unknown"}),
        st.just({"system": "bootstrap"}),
        st.dictionaries(st.sampled_from(["access_key", "user_id", "system"]), JSON, max_size=3))
    return st.builds(lambda pick, other: root if pick else other,
                     st.integers(0, 3).map(bool), others)


def bodies(subject: str, stack: FuzzStack) -> st.SearchStrategy[bytes]:
    """Whole request bodies: mostly a valid envelope around fuzzed data, sometimes random
    data, random JSON or random bytes."""
    data = fuzz_data(subject, stack.pools)
    actor = actors(stack.root_actor)
    raw = encode(envelope(subject, VALID_DATA[subject], stack.root_actor))
    in_envelope = st.builds(lambda d, a: encode(envelope(subject, d, a)), data, actor)
    random_data = st.builds(lambda d, a: encode(envelope(subject, d, a)),
                            st.dictionaries(st.text(max_size=12), JSON, max_size=6), actor)
    keys = st.sampled_from(["id", "actor", "data", "correlation_id", "extra"])
    random_json = (JSON | st.dictionaries(keys, JSON, max_size=5)).map(encode)
    garbage = st.binary(max_size=64) | st.integers(0, len(raw) - 1).map(lambda cut: raw[:cut])

    @st.composite
    def build(draw: st.DrawFn) -> bytes:
        mode = draw(st.integers(0, 9))
        if mode <= 6:
            return draw(in_envelope)
        return draw((random_data, random_json, garbage)[mode - 7])

    return build()

"""Bad input on every identity subject gets a stable `Error` reply: never a timeout, never
`identity.internal`, never stored state. Real nats-server, real service.

Part 1 sends hand-written bad requests per subject (malformed JSON, wrong envelope types,
missing fields, wrong field types, oversize fields). Part 2 sends ≥1,000 hypothesis-generated
payloads per subject to one long-lived service and then checks its state is intact.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from eventsourcing.cryptography import AESCipher
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nats.aio.client import Client

from contracts.identity import Subjects as S
from tests.support.fuzz import (
    ALL_SUBJECTS,
    PAYLOADS,
    SECRET_SUBJECTS,
    VALID_DATA,
    FuzzStack,
    bodies,
    check_reply,
    encode,
    envelope,
    is_command,
    missing_field_cases,
    nats_user,
    parse_reply,
    stable_error,
)
from tests.support.fuzz import envelope_cases as shared_envelope_cases
from tests.support.identity import (
    SUPERADMIN_EMAIL,
    SUPERADMIN_PASSWORD,
    bootstrap,
    connect_as,
    start_identity,
)
from tests.support.natsserver import start_nats

MALFORMED = {"identity.request.malformed", "identity.request.invalid"}
INVALID = "identity.request.invalid"
OVERSIZE = "S3cr3t-" * 715  # 5005 characters; must never be echoed back
EXAMPLES_PER_SUBJECT = 1000

Case = tuple[str, bytes]


def _short(subject: str) -> str:
    return subject.removeprefix("bai.").removesuffix(".v1")


# ---- part 1: hand-written bad requests ----------------------------------------------------


@dataclass
class Bus:
    conns: dict[str, Client]
    root: dict[str, Any]

    @property
    def actor(self) -> dict[str, Any]:
        return {"access_key": self.root["access_key"]}

    async def send(self, subject: str, body: bytes) -> bytes:
        msg = await self.conns[nats_user(subject)].request(subject, body, timeout=5)
        return msg.data


@pytest.fixture(scope="module")
async def bus(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Bus]:
    server = start_nats(tmp_path_factory.mktemp("nats"))
    host = await start_identity(server, tmp_path_factory.mktemp("data"),
                                AESCipher.create_key(32))
    conns = {user: await connect_as(server, user) for user in ("admin", "gateway")}
    root = await bootstrap(conns["admin"])
    yield Bus(conns, root)
    for nc in conns.values():
        await nc.close()
    await host.stop()
    server.stop()


def _valid(bus: Bus, subject: str, data: Any = None, **top: Any) -> dict[str, Any]:
    body = envelope(subject, VALID_DATA[subject] if data is None else data, bus.actor)
    return body | top


def malformed_cases(bus: Bus, subject: str) -> list[Case]:
    return [("not json", b"{not json"), ("empty", b""), ("binary", b"\xff\xfe\x00\x81"),
            ("truncated", encode(_valid(bus, subject))[:-3]), ("single quotes", b"{'a': 1}"),
            ("trailing comma", b'{"actor": {}, "data": {},}'),
            ("lone surrogate", b'{"actor": {}, "data": {"email": "\\ud800"}}')]


def envelope_cases(bus: Bus, subject: str) -> list[Case]:
    return shared_envelope_cases(_valid(bus, subject), is_command(subject))


def wrong_type_cases(bus: Bus, subject: str) -> list[tuple[str, bytes, str]]:
    cases = []
    for name in PAYLOADS[subject].model_fields:
        for value in ({"k": 1}, [{"k": 1}], 12.5):
            data = VALID_DATA[subject] | {name: value}
            cases.append((f"{name}={value!r}", encode(_valid(bus, subject, data)), name))
    data = VALID_DATA[subject] | {"no_such_field": "x"}
    cases.append(("unknown field", encode(_valid(bus, subject, data)), "no_such_field"))
    return cases


def oversize_cases(bus: Bus, subject: str) -> list[tuple[str, bytes, str]]:
    cases = []
    for name, info in PAYLOADS[subject].model_fields.items():
        is_list = "list" in str(info.annotation)
        value: Any = [OVERSIZE] if is_list else OVERSIZE
        cases.append((f"{name} 5000 chars", encode(_valid(bus, subject, VALID_DATA[subject]
                                                          | {name: value})), name))
        if is_list:
            many = ["p"] * 5000
            cases.append((f"{name} 5000 items", encode(_valid(bus, subject, VALID_DATA[subject]
                                                              | {name: many})), name))
    huge = VALID_DATA[subject] | {"no_such_field": "h" * 900_000}
    cases.append(("900 KB message", encode(_valid(bus, subject, huge)), "no_such_field"))
    return cases


def _named(raw: bytes, field: str) -> bool:
    reply = parse_reply(raw)
    assert reply.error is not None
    fields = [e.get("field", "") for e in reply.error.details.get("errors", [])]
    return any(f == field or f.startswith(f"{field}.") for f in fields)


async def _run(bus: Bus, subject: str, cases: list[Any], allowed: set[str],
               name_field: bool = False) -> None:
    """Send every case; collect every deviation, then fail once with all of them."""
    failures = []
    for case in cases:
        label, body = case[0], case[1]
        raw = await bus.send(subject, body)  # a timeout fails the test
        try:
            code = stable_error(raw)
            assert code in allowed, f"code {code}"
            assert OVERSIZE[:14].encode() not in raw, "input echoed in the reply"
            if name_field:
                assert _named(raw, case[2]), f"error does not name {case[2]!r}"
        except AssertionError as exc:
            failures.append(f"{label}: {exc} :: {raw[:300]!r}")
    assert not failures, f"{subject}:\n" + "\n".join(failures)


def test_valid_samples_cover_every_subject_and_are_valid() -> None:
    assert set(VALID_DATA) == set(PAYLOADS)
    for subject, model in PAYLOADS.items():
        model.model_validate(VALID_DATA[subject])


def test_secret_subjects_go_through_the_gateway_user() -> None:
    gateway_only = {S.TOKEN_ISSUE, S.KEYPAIR_RESOLVE, S.LOGIN}
    assert {s for s in ALL_SUBJECTS if nats_user(s) == "gateway"} == gateway_only
    assert SECRET_SUBJECTS == gateway_only


@pytest.mark.parametrize("subject", ALL_SUBJECTS, ids=_short)
async def test_malformed_json_is_refused(bus: Bus, subject: str) -> None:
    await _run(bus, subject, malformed_cases(bus, subject), MALFORMED)


@pytest.mark.parametrize("subject", ALL_SUBJECTS, ids=_short)
async def test_wrong_envelope_types_are_refused(bus: Bus, subject: str) -> None:
    await _run(bus, subject, envelope_cases(bus, subject), {INVALID})


@pytest.mark.parametrize("subject", ALL_SUBJECTS, ids=_short)
async def test_missing_fields_are_refused(bus: Bus, subject: str) -> None:
    cases = missing_field_cases(PAYLOADS[subject], VALID_DATA[subject], _valid(bus, subject))
    if cases:
        await _run(bus, subject, cases, {INVALID}, name_field=True)
    else:  # every field optional: empty data is valid, but must not break anything
        for body in (_valid(bus, subject, {}), {k: v for k, v in _valid(bus, subject).items()
                                                if k != "data"}):
            raw = await bus.send(subject, encode(body))
            check_reply(subject, raw)


@pytest.mark.parametrize("subject", ALL_SUBJECTS, ids=_short)
async def test_wrong_field_types_are_refused(bus: Bus, subject: str) -> None:
    await _run(bus, subject, wrong_type_cases(bus, subject), {INVALID}, name_field=True)


@pytest.mark.parametrize("subject", ALL_SUBJECTS, ids=_short)
async def test_oversize_fields_are_refused(bus: Bus, subject: str) -> None:
    await _run(bus, subject, oversize_cases(bus, subject), {INVALID}, name_field=True)


async def test_malformed_json_is_told_apart_from_invalid_json(bus: Bus) -> None:
    raw = await bus.send(S.USER_CREATE, b"{not json")
    assert stable_error(raw) == "identity.request.malformed"


async def test_nothing_was_stored_by_refused_requests(bus: Bus) -> None:
    listed = parse_reply(await bus.send(S.USER_LIST, encode(_valid(bus, S.USER_LIST, {
        "status": None}))))
    assert listed.ok and listed.data is not None
    assert [u["email"] for u in listed.data["items"]] == [SUPERADMIN_EMAIL]


# ---- part 2: hypothesis, ≥1,000 random payloads per subject --------------------------------


@pytest.fixture(scope="module")
def fuzz(tmp_path_factory: pytest.TempPathFactory) -> Any:
    stack = FuzzStack(tmp_path_factory.mktemp("fuzz"), AESCipher.create_key(32)).start()
    yield stack
    stack.stop()


@pytest.mark.parametrize("subject", ALL_SUBJECTS, ids=_short)
def test_random_payloads_get_stable_replies(fuzz: FuzzStack, subject: str) -> None:
    before = fuzz.sent.get(subject, 0)
    strategy = bodies(subject, fuzz)

    @settings(max_examples=EXAMPLES_PER_SUBJECT, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.filter_too_much,
                                     HealthCheck.large_base_example])
    @given(st.data())
    def run(data: st.DataObject) -> None:
        body = data.draw(strategy, label="body")
        raw = fuzz.send(subject, body)  # a timeout fails the example
        reply = check_reply(subject, raw)
        if reply.ok:
            fuzz.remember(subject, reply)

    run()
    assert fuzz.sent[subject] - before >= EXAMPLES_PER_SUBJECT


def _all_users(fuzz: FuzzStack) -> list[dict[str, Any]]:
    users: list[dict[str, Any]] = []
    while True:
        reply = fuzz.ask(S.USER_LIST, {"status": None, "offset": len(users), "limit": 1000})
        assert reply.ok and reply.data is not None, reply
        users += reply.data["items"]
        if len(users) >= reply.data["total"]:
            return users


def _assert_intact(fuzz: FuzzStack) -> None:
    gateway = {"system": "gateway"}  # the secret queries are the gateway's alone
    login = fuzz.ask(S.LOGIN, {"email": SUPERADMIN_EMAIL, "password": SUPERADMIN_PASSWORD},
                     gateway)
    assert login.ok and login.data is not None, login
    assert login.data["secret_key"] == fuzz.root["secret_key"]
    resolved = fuzz.ask(S.KEYPAIR_RESOLVE, {"access_key": fuzz.root["access_key"]}, gateway)
    assert resolved.ok and resolved.data is not None, resolved
    assert resolved.data["secret_key"] == fuzz.root["secret_key"]
    assert resolved.data["role"] == "superadmin" and resolved.data["user_status"] == "active"
    # Exactly the users whose create was accepted exist: none lost, none from refusals.
    ids = {u["user_id"] for u in _all_users(fuzz)}
    assert ids == fuzz.created_users | {fuzz.root["user_id"]}
    for user_id in list(fuzz.created_users)[:50]:
        assert fuzz.ask(S.USER_GET, {"user_id": user_id}).ok


def test_state_is_intact_after_fuzzing(fuzz: FuzzStack) -> None:
    """Runs after the fuzzing above (file order); also holds when only a subset ran."""
    _assert_intact(fuzz)
    fuzz.restart_service()  # the store, not only the in-memory view, agrees
    _assert_intact(fuzz)


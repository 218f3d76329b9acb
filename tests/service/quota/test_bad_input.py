"""Bad input on every quota subject gets a stable `Error{code}`: never a timeout, never
`quota.internal`, never stored state. Real nats-server, quota and identity in-process.

Part 1 sends hand-written bad requests per subject (malformed JSON, wrong envelope and field
types, missing and oversize fields). Part 2 sends ≥1,000 hypothesis-generated keypair-policy
payloads to create/update and then checks every stored policy is within the ranges of
`services/quota/domain/fields.py`.

Both parts talk to the services through an event loop in a background thread, so the tests
(including hypothesis's) are plain synchronous functions.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TypeVar

import pytest
from eventsourcing.cryptography import AESCipher
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nats.aio.client import Client

from contracts.envelope import Reply
from contracts.quota import COMMAND_PAYLOADS, QUERY_PAYLOADS, Subjects
from services.quota.domain import fields
from services.runtime.host import ServiceHost
from tests.support.fuzz import LoopThread, encode, missing_field_cases, parse_reply, proof_of
from tests.support.fuzz import envelope_cases as shared_envelope_cases
from tests.support.fuzz import stable_error as service_stable_error
from tests.support.identity import bootstrap, connect_as, start_identity
from tests.support.natsserver import NatsServer, start_nats
from tests.support.quota import start_quota

S = Subjects
T = TypeVar("T")
PAYLOADS = {**COMMAND_PAYLOADS, **QUERY_PAYLOADS}
ALL_SUBJECTS = sorted(PAYLOADS)
INTERNAL = "quota.internal"
MALFORMED = {"quota.request.malformed", "quota.request.invalid"}
INVALID = "quota.request.invalid"
OVERSIZE = "S3cr3t-" * 715  # 5005 characters; must never be echoed back
OVERSIZE_KEY = "K" * 5000  # dict keys must not be echoed whole in error paths
UNKNOWN_KEY = "AKIAAAAAAAAAAAAAAAAA"
EXAMPLES = 1000
GIB = 1024**3

VALID_DATA: dict[str, dict[str, Any]] = {
    S.KEYPAIR_POLICY_CREATE: {"name": "fresh", "max_concurrent_sessions": 2},
    S.KEYPAIR_POLICY_UPDATE: {"name": "default", "max_concurrent_sessions": 0},
    S.KEYPAIR_POLICY_DELETE: {"name": "ghost"},
    S.USER_POLICY_CREATE: {"name": "fresh", "max_vfolder_count": 2},
    S.USER_POLICY_UPDATE: {"name": "default", "max_vfolder_count": 0},
    S.USER_POLICY_DELETE: {"name": "ghost"},
    S.PROJECT_POLICY_CREATE: {"name": "fresh", "max_network_count": 2},
    S.PROJECT_POLICY_UPDATE: {"name": "default", "max_network_count": 0},
    S.PROJECT_POLICY_DELETE: {"name": "ghost"},
    S.KEYPAIR_POLICY_GET: {"name": "default"},
    S.KEYPAIR_POLICY_LIST: {},
    S.USER_POLICY_GET: {"name": "default"},
    S.USER_POLICY_LIST: {},
    S.PROJECT_POLICY_GET: {"name": "default"},
    S.PROJECT_POLICY_LIST: {},
    S.EFFECTIVE_LIMITS: {"access_key": UNKNOWN_KEY},
}
# Numeric policy fields: the schema lets any JSON scalar through, the domain refuses it
# with a `quota.policy.*` code naming the field.
SCALAR_FIELDS = {name for rules in fields.SCALAR_RULES.values() for name in rules}


def _short(subject: str) -> str:
    return subject.removeprefix("bai.").removesuffix(".v1")


def kind_of(subject: str) -> str:
    return subject.split(".")[3].split("-")[0]


# ---- a quota + identity stack on a background event loop -------------------------------


class Stack:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.cipher_key = AESCipher.create_key(32)
        self.loop = LoopThread()
        self.server: NatsServer = start_nats(directory / "nats")
        self.quota: ServiceHost | None = None
        self.identity: ServiceHost | None = None
        self.nc: Client | None = None
        self.root: dict[str, Any] = {}
        self.sent = 0
        try:
            self.loop.run(self._start())
        except BaseException:
            self.stop()
            raise

    async def _start(self) -> None:
        self.quota = await start_quota(self.server, self.directory / "quota", self.cipher_key)
        self.identity = await start_identity(self.server, self.directory / "identity",
                                             self.cipher_key)
        self.nc = await connect_as(self.server, "admin")
        self.root = await bootstrap(self.nc)
        reply = await self._ask(S.KEYPAIR_POLICY_LIST, {})  # quota knows the superadmin
        assert reply.ok, reply

    def ask(self, subject: str, data: dict[str, Any]) -> Reply:
        return self.loop.run(self._ask(subject, data))

    async def _ask(self, subject: str, data: dict[str, Any]) -> Reply:
        """A query as the superadmin; waits while quota has not yet learned that actor."""
        for _ in range(200):
            assert self.nc is not None
            msg = await self.nc.request(subject, encode(envelope(subject, data, self.actor)),
                                        timeout=5)
            reply = parse_reply(msg.data)
            if reply.ok or reply.error is None or \
                    reply.error.code != "quota.auth.unauthenticated":
                return reply
            await asyncio.sleep(0.05)
        return reply

    @property
    def actor(self) -> dict[str, Any]:
        return {"access_key": self.root["access_key"]}

    def send(self, subject: str, body: bytes, timeout: float = 5.0) -> bytes:
        """One request; a timeout raises (and fails the test)."""
        assert self.nc is not None
        msg = self.loop.run(self.nc.request(subject, body, timeout=timeout), timeout + 5)
        self.sent += 1
        return msg.data

    def restart_quota(self) -> None:
        assert self.quota is not None
        self.loop.run(self.quota.stop())
        self.quota = self.loop.run(start_quota(self.server, self.directory / "quota",
                                               self.cipher_key))

    def stop(self) -> None:
        try:
            if self.nc is not None:
                self.loop.run(self.nc.close())
            for host in (self.identity, self.quota):
                if host is not None:
                    self.loop.run(host.stop())
        finally:
            self.loop.close()
            self.server.stop()


def envelope(subject: str, data: Any, actor: Any, command_id: str | None = None
             ) -> dict[str, Any]:
    body: dict[str, Any] = {"actor": actor, "data": data, "proof": proof_of(actor)}
    if subject in COMMAND_PAYLOADS:
        body["id"] = command_id or str(uuid.uuid4())
    return body


def stable_error(raw: bytes) -> str:
    return service_stable_error(raw, service="quota")


def check_reply(raw: bytes) -> Reply:
    reply = parse_reply(raw)
    if not reply.ok:
        stable_error(raw)
    return reply


# ---- part 1: hand-written bad requests ----------------------------------------------------


@pytest.fixture(scope="module")
def bus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = Stack(tmp_path_factory.mktemp("quota-bad-input"))
    yield stack
    stack.stop()


def _valid(bus: Stack, subject: str, data: Any = None, **top: Any) -> dict[str, Any]:
    body = envelope(subject, VALID_DATA[subject] if data is None else data, bus.actor)
    return body | top


def malformed_cases(bus: Stack, subject: str) -> list[tuple[str, bytes]]:
    return [("not json", b"{not json"), ("empty", b""), ("binary", b"\xff\xfe\x00\x81"),
            ("truncated", encode(_valid(bus, subject))[:-3]), ("single quotes", b"{'a': 1}"),
            ("trailing comma", b'{"actor": {}, "data": {},}'),
            ("lone surrogate", b'{"actor": {}, "data": {"name": "\\ud800"}}'),
            ("nul", b"\x00"), ("only whitespace", b"   \n")]


def envelope_cases(bus: Stack, subject: str) -> list[tuple[str, bytes]]:
    return shared_envelope_cases(_valid(bus, subject), subject in COMMAND_PAYLOADS)


def wrong_type_cases(bus: Stack, subject: str) -> list[tuple[str, bytes, str]]:
    """Values no field's schema accepts (every field: scalar, string, dict or list)."""
    cases = []
    for name in PAYLOADS[subject].model_fields:
        for value in ({"k": [1]}, [{"k": 1}], {"k": {"k": 1}}):
            data = VALID_DATA[subject] | {name: value}
            cases.append((f"{name}={value!r}", encode(_valid(bus, subject, data)), name))
    data = VALID_DATA[subject] | {"no_such_field": "x"}
    cases.append(("unknown field", encode(_valid(bus, subject, data)), "no_such_field"))
    return cases


def domain_type_cases(bus: Stack, subject: str) -> list[tuple[str, bytes, str]]:
    """Numeric fields get JSON scalars of the wrong kind: the domain names the field."""
    cases = []
    model_fields = PAYLOADS[subject].model_fields
    for name in sorted(SCALAR_FIELDS & set(model_fields)):
        for value in ("ten", "", "1,5", "0x10", 12.0005, -3, 10**12, "NaN", "-Infinity", "1e400"):
            data = VALID_DATA[subject] | {name: value}
            cases.append((f"{name}={value!r}", encode(_valid(bus, subject, data)), name))
    if "total_resource_slots" in model_fields:
        for slots, field in (({"cpu": "two"}, "total_resource_slots.cpu"),
                             ({"mem": 1025}, "total_resource_slots.mem"),
                             ({"cuda.device": 65}, "total_resource_slots.cuda.device"),
                             ({"cuda.shares": "0.15"}, "total_resource_slots.cuda.shares"),
                             ({"tpu": 1}, "total_resource_slots.tpu"),
                             ({"cpu": -1}, "total_resource_slots.cpu")):
            data = VALID_DATA[subject] | {"total_resource_slots": slots}
            cases.append((f"slots={slots!r}", encode(_valid(bus, subject, data)), field))
        hosts = {"local": ["upload-file", "fly"]}
        data = VALID_DATA[subject] | {"allowed_vfolder_hosts": hosts}
        cases.append(("bad vfolder permission", encode(_valid(bus, subject, data)),
                      "allowed_vfolder_hosts.local"))
    return cases


def oversize_cases(bus: Stack, subject: str) -> list[tuple[str, bytes, str]]:
    cases = []
    base = VALID_DATA[subject]
    model_fields = PAYLOADS[subject].model_fields
    for name in model_fields:
        if name in SCALAR_FIELDS:
            continue  # unbounded JSON scalars: see oversize_number_cases
        value: Any = OVERSIZE
        if name == "total_resource_slots":
            value = {OVERSIZE_KEY: 1}
        elif name == "allowed_vfolder_hosts":
            value = {OVERSIZE_KEY: ["upload-file"]}
        elif name in ("offset", "limit"):
            value = 10**30
        cases.append((f"{name} oversize", encode(_valid(bus, subject, base | {name: value})),
                      name))
    if "total_resource_slots" in model_fields:
        many = {f"s{n}": 1 for n in range(17)}
        cases.append(("17 slots", encode(_valid(bus, subject, base | {
            "total_resource_slots": many})), "total_resource_slots"))
        hosts = {f"h{n}": [] for n in range(65)}
        cases.append(("65 hosts", encode(_valid(bus, subject, base | {
            "allowed_vfolder_hosts": hosts})), "allowed_vfolder_hosts"))
        long_perm = {"h": ["p" * 65]}
        cases.append(("65-char permission", encode(_valid(bus, subject, base | {
            "allowed_vfolder_hosts": long_perm})), "allowed_vfolder_hosts"))
    huge = base | {"no_such_field": "h" * 900_000}
    cases.append(("900 KB message", encode(_valid(bus, subject, huge)), "no_such_field"))
    return cases


def oversize_number_cases(bus: Stack, subject: str) -> list[tuple[str, bytes, str]]:
    cases = []
    model_fields = PAYLOADS[subject].model_fields
    for name in sorted(SCALAR_FIELDS & set(model_fields)):
        # 4000 digits parse as an int; 5000 exceed the JSON parser's limit (no field named)
        for label, raw, named in (("4000-digit int", "9" * 4000, name),
                                  ("5000-digit int", "9" * 5000, None)):
            body = encode(_valid(bus, subject, VALID_DATA[subject] | {name: "@N@"}))
            body = body.replace(b'"@N@"', raw.encode())  # a bare JSON number
            cases.append((f"{name} {label}", body, named))
        for label, value in (("5000-char number string", "9" * 5000),
                             ("900 KB number string", "1" * 900_000),
                             ("huge exponent", "1e999999999999"),
                             ("tiny exponent", "1e-999999999999"),
                             ("oversize text", OVERSIZE)):
            data = VALID_DATA[subject] | {name: value}
            cases.append((f"{name} {label}", encode(_valid(bus, subject, data)), name))
    return cases


def _names(raw: bytes, field: str) -> bool:
    reply = parse_reply(raw)
    assert reply.error is not None
    details = reply.error.details
    named = [e.get("field", "") for e in details.get("errors", [])]
    named.append(str(details.get("field", "")))
    return any(f == field or f.startswith(f"{field}.") for f in named)


def _run(bus: Stack, subject: str, cases: list[Any], allowed: set[str] | re.Pattern[str],
         name_field: bool = False) -> None:
    """Send every case; collect every deviation, then fail once with all of them."""
    failures = []
    for case in cases:
        label, body = case[0], case[1]
        raw = bus.send(subject, body)  # a timeout fails the test
        try:
            code = stable_error(raw)
            ok = allowed.match(code) if isinstance(allowed, re.Pattern) else code in allowed
            assert ok, f"code {code}"
            assert OVERSIZE[:14].encode() not in raw, "input echoed in the reply"
            assert len(raw) < 20_000 or OVERSIZE_KEY.encode() in body, \
                f"reply of {len(raw)} bytes"
            if name_field and case[2] is not None:
                assert _names(raw, case[2]), f"error does not name {case[2]!r}"
        except AssertionError as exc:
            failures.append(f"{label}: {exc} :: {raw[:300]!r}")
    assert not failures, f"{subject}:\n" + "\n".join(failures)


DOMAIN_CODES = re.compile(r"^quota\.(policy\.[a-z_]+|request\.invalid)$")
# A number too long for the JSON parser makes the whole message unreadable: malformed.
NUMBER_CODES = re.compile(r"^quota\.(policy\.[a-z_]+|request\.invalid|request\.malformed)$")


def test_valid_samples_cover_every_subject_and_are_valid() -> None:
    assert set(VALID_DATA) == set(PAYLOADS)
    for subject, model in PAYLOADS.items():
        model.model_validate(VALID_DATA[subject])


def test_valid_samples_get_replies(bus: Stack) -> None:
    """The baseline: the valid sample is answered (the domain may still refuse it)."""
    for subject in ALL_SUBJECTS:
        check_reply(bus.send(subject, encode(_valid(bus, subject))))


@pytest.mark.parametrize("subject", ALL_SUBJECTS, ids=_short)
def test_malformed_json_is_refused(bus: Stack, subject: str) -> None:
    _run(bus, subject, malformed_cases(bus, subject), MALFORMED)


@pytest.mark.parametrize("subject", ALL_SUBJECTS, ids=_short)
def test_wrong_envelope_types_are_refused(bus: Stack, subject: str) -> None:
    _run(bus, subject, envelope_cases(bus, subject), {INVALID})


@pytest.mark.parametrize("subject", ALL_SUBJECTS, ids=_short)
def test_missing_fields_are_refused(bus: Stack, subject: str) -> None:
    cases = missing_field_cases(PAYLOADS[subject], VALID_DATA[subject], _valid(bus, subject))
    if cases:
        _run(bus, subject, cases, {INVALID}, name_field=True)
    else:  # every field optional: empty data is valid, and must be answered
        for body in (_valid(bus, subject, {}),
                     {k: v for k, v in _valid(bus, subject).items() if k != "data"}):
            check_reply(bus.send(subject, encode(body)))


@pytest.mark.parametrize("subject", ALL_SUBJECTS, ids=_short)
def test_wrong_field_types_are_refused(bus: Stack, subject: str) -> None:
    _run(bus, subject, wrong_type_cases(bus, subject), {INVALID}, name_field=True)


@pytest.mark.parametrize("subject", [s for s in ALL_SUBJECTS
                                     if SCALAR_FIELDS & set(PAYLOADS[s].model_fields)],
                         ids=_short)
def test_wrong_numbers_are_refused_naming_the_field(bus: Stack, subject: str) -> None:
    _run(bus, subject, domain_type_cases(bus, subject), DOMAIN_CODES, name_field=True)


@pytest.mark.parametrize("subject", ALL_SUBJECTS, ids=_short)
def test_oversize_fields_are_refused(bus: Stack, subject: str) -> None:
    _run(bus, subject, oversize_cases(bus, subject), {INVALID}, name_field=True)


@pytest.mark.parametrize("subject", [s for s in ALL_SUBJECTS
                                     if SCALAR_FIELDS & set(PAYLOADS[s].model_fields)],
                         ids=_short)
def test_oversize_numbers_are_refused(bus: Stack, subject: str) -> None:
    _run(bus, subject, oversize_number_cases(bus, subject), NUMBER_CODES, name_field=True)


@pytest.mark.parametrize("field", ["total_resource_slots", "allowed_vfolder_hosts",
                                   "default_for_unspecified"])
@pytest.mark.parametrize("subject", [S.KEYPAIR_POLICY_CREATE, S.KEYPAIR_POLICY_UPDATE],
                         ids=_short)
def test_explicit_null_for_a_structured_field_is_answered_and_stores_no_junk(
        bus: Stack, subject: str, field: str) -> None:
    name = "default" if subject == S.KEYPAIR_POLICY_UPDATE else f"null-{field}"
    raw = bus.send(subject, encode(_valid(bus, subject, {"name": name, field: None})))
    reply = check_reply(raw)
    got = bus.ask(S.KEYPAIR_POLICY_GET, {"name": name})
    if reply.ok:
        assert_in_range(got.data["policy"])
    if subject == S.KEYPAIR_POLICY_CREATE and got.ok:
        delete = bus.send(S.KEYPAIR_POLICY_DELETE, encode(_valid(
            bus, S.KEYPAIR_POLICY_DELETE, {"name": name})))
        assert parse_reply(delete).ok


@pytest.mark.parametrize("value", [True, False])
def test_booleans_for_numeric_fields_are_refused(bus: Stack, value: bool) -> None:
    name = f"booleans-{value}".lower()
    created = bus.send(S.KEYPAIR_POLICY_CREATE, encode(_valid(bus, S.KEYPAIR_POLICY_CREATE,
                                                              {"name": name})))
    assert parse_reply(created).ok
    try:
        for data, field in (({"name": name, "max_concurrent_sessions": value},
                             "max_concurrent_sessions"),
                            ({"name": name, "total_resource_slots": {"cpu": value}},
                             "total_resource_slots.cpu")):
            raw = bus.send(S.KEYPAIR_POLICY_UPDATE, encode(_valid(
                bus, S.KEYPAIR_POLICY_UPDATE, data)))
            assert stable_error(raw) in ("quota.policy.not_a_number", INVALID)
            assert _names(raw, field)
    finally:
        deleted = bus.send(S.KEYPAIR_POLICY_DELETE, encode(_valid(
            bus, S.KEYPAIR_POLICY_DELETE, {"name": name})))
        assert parse_reply(deleted).ok


def test_oversize_dict_keys_are_not_echoed(bus: Stack) -> None:
    for data in ({"name": "default", "total_resource_slots": {OVERSIZE: 1}},
                 {"name": "default", "allowed_vfolder_hosts": {OVERSIZE: ["upload-file"]}}):
        raw = bus.send(S.KEYPAIR_POLICY_UPDATE, encode(_valid(bus, S.KEYPAIR_POLICY_UPDATE,
                                                              data)))
        assert stable_error(raw) == INVALID
        assert OVERSIZE[:14].encode() not in raw, "dict key echoed in the reply"


def test_an_error_reply_is_never_larger_than_the_bus_allows(bus: Stack) -> None:
    import nats.errors

    data = {"name": "default", "allowed_vfolder_hosts": {"h" * 100_000: ["p" * 65] * 100}}
    body = encode(_valid(bus, S.KEYPAIR_POLICY_UPDATE, data))
    assert len(body) < 120_000
    try:
        raw = bus.send(S.KEYPAIR_POLICY_UPDATE, body, timeout=3)
    except nats.errors.TimeoutError:
        raise AssertionError("no reply: the error reply could not be sent") from None
    assert stable_error(raw) == INVALID
    assert len(raw) < 64_000


def test_refused_requests_stored_nothing(bus: Stack) -> None:
    """Runs after the cases above (file order): only the bootstrapped defaults exist."""
    for subject, kind in ((S.KEYPAIR_POLICY_LIST, "keypair"), (S.USER_POLICY_LIST, "user"),
                          (S.PROJECT_POLICY_LIST, "project")):
        listed = bus.ask(subject, {"limit": 1000})
        assert listed.ok, listed
        names = {row["name"] for row in listed.data["items"]}
        allowed = {"default", "fresh"}  # `fresh`: the valid sample's create
        assert names <= allowed and "default" in names, names
        for row in listed.data["items"]:
            if kind == "keypair":
                assert_in_range(row["policy"])
            assert row["references"] >= 0
    default = bus.ask(S.KEYPAIR_POLICY_GET, {"name": "default"}).data["policy"]
    # the valid update sample sets max_concurrent_sessions 0 = unlimited; nothing else moved
    assert default == fields.unlimited_keypair_policy()


# ---- range checks against the domain rules --------------------------------------------------


def _in_rule(value: Any, rule: fields.Rule, where: str) -> None:
    if value == fields.UNLIMITED:
        return
    number = Decimal(str(value))
    assert number.is_finite(), where
    unit = rule.unit_bytes or 1
    low = rule.minimum * unit
    high = rule.maximum * unit
    assert low <= number <= high, f"{where}={value!r} outside {low}..{high}"
    if rule.unit_bytes:
        assert isinstance(value, int) or str(value).isdigit(), f"{where}={value!r} not bytes"
    else:
        assert number % rule.step == 0, f"{where}={value!r} off step {rule.step}"
    if rule.zero_is_unlimited:
        assert number != 0, f"{where}: 0 must be stored as 'unlimited'"


def assert_in_range(policy: dict[str, Any], kind: str = "keypair") -> None:
    """Every field of a stored policy is within its `fields.py` rule, in canonical form."""
    assert set(policy) == set(fields.defaults(kind)), sorted(policy)
    for name, rule in fields.SCALAR_RULES[kind].items():
        value = policy[name]
        assert value == fields.UNLIMITED or (isinstance(value, int)
                                             and not isinstance(value, bool)), (name, value)
        _in_rule(value, rule, name)
    if kind != "keypair":
        return
    slots = policy["total_resource_slots"]
    assert isinstance(slots, dict) and set(slots) <= set(fields.SLOT_RULES), slots
    for name, value in slots.items():
        assert isinstance(value, str), (name, value)
        if value != fields.UNLIMITED:
            try:
                number = Decimal(value)
            except InvalidOperation:
                raise AssertionError(f"slot {name}={value!r} is not a number") from None
            assert format(number.normalize(), "f") == value or name == "mem", \
                f"slot {name}={value!r} not canonical"
            assert not value.startswith("-"), f"slot {name}={value!r}"
        _in_rule(value, fields.SLOT_RULES[name], f"total_resource_slots.{name}")
        if name == "mem" and value != fields.UNLIMITED:
            assert int(value) <= 1024 * GIB
    assert policy["default_for_unspecified"] in ("limited", "unlimited")
    hosts = policy["allowed_vfolder_hosts"]
    assert isinstance(hosts, dict)
    for host, permissions in hosts.items():
        assert host and len(host) <= 128
        assert permissions == sorted(set(permissions))
        assert set(permissions) <= fields.VFOLDER_HOST_PERMISSIONS


# ---- part 2: hypothesis, ≥1,000 random keypair-policy payloads ------------------------------


@pytest.fixture(scope="module")
def fuzz(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = Stack(tmp_path_factory.mktemp("quota-fuzz"))
    yield stack
    stack.stop()


JSON_SCALARS = (st.none() | st.booleans() | st.integers()
                | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20))
JUNK = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                               max_size=3),
    max_leaves=8,
)


def numbers(maximum: int, step: str = "1") -> st.SearchStrategy[Any]:
    """In range (as int, string or float), at and just past the edges, negative, off-step,
    huge, NaN/Infinity, and non-numeric text; all JSON scalars the schema lets through."""
    top = Decimal(maximum)
    steps = Decimal(step)
    in_range = st.integers(0, int(top / steps)).map(lambda n: n * steps)
    valid = st.one_of(st.integers(0, maximum), st.integers(0, maximum).map(str),
                      in_range.map(str), in_range.map(float),
                      st.sampled_from([0, "0", "unlimited", maximum, str(maximum)]))
    hostile = st.one_of(
        st.sampled_from([-0.0, "-0", str(top + steps), maximum + 1, "UNLIMITED",
                         " unlimited ", None, True, False, "", " ", "NaN", "nan", "sNaN",
                         "Infinity", "-Infinity", float("nan"), float("inf"), float("-inf"),
                         "1e400", 1e308, 5e-324, "1e-999999999", "1e999999999", "0x10",
                         "1_000", "٣", "1,5", "0E-99", "-0E+3"]),
        st.integers(max_value=-1), st.integers(min_value=maximum + 1),
        st.integers(10**15, 10**40), st.integers(1, 4000).map(lambda n: "9" * n),
        st.floats(allow_nan=True, allow_infinity=True),
        st.decimals(allow_nan=True, allow_infinity=True).map(str),
        st.text(max_size=20),
    )
    return valid | valid | hostile


SLOT_VALUES = {"cpu": numbers(512, "0.01"), "mem": numbers(1024, "0.001"),
               "cuda.device": numbers(64), "cuda.shares": numbers(256, "0.1")}
SCALAR_VALUES = {name: numbers(int(rule.maximum), str(rule.step))
                 for name, rule in fields.SCALAR_RULES["keypair"].items()}
SLOT_NAMES = st.sampled_from([*fields.SLOT_RULES, *fields.SLOT_RULES, "tpu", "CPU", "",
                              "mem "])
PERMISSIONS = st.sampled_from(sorted(fields.VFOLDER_HOST_PERMISSIONS)) | st.text(max_size=10)
HOSTS = st.sampled_from(["local", "nfs:vol1", "", "x" * 130]) | st.text(max_size=8)
FRESH_NAMES = st.integers(0, 10**6).map(lambda n: f"fz-{n}")
JUNK_NAMES = st.sampled_from(["", " ", "-x", "a b", "x" * 65, "x" * 1025, "ü", None, 5]) | JUNK


@st.composite
def payloads(draw: st.DrawFn, known: list[str]) -> tuple[str, dict[str, Any]]:
    """(subject, data): create or update with a random subset of the policy's fields.

    Three in ten payloads also carry junk the schema refuses (nested values, bad names,
    unknown keys); the rest reach the domain's range checks."""
    junk = draw(st.integers(0, 9)) >= 7
    create = draw(st.booleans())
    subject = S.KEYPAIR_POLICY_CREATE if create else S.KEYPAIR_POLICY_UPDATE
    pick, index = draw(st.integers(0, 9)), draw(st.integers(0, 2**16))
    if junk and pick < 3:
        name: Any = draw(JUNK_NAMES)
    elif create and pick < 8 or not known:
        name = draw(FRESH_NAMES)
    else:
        name = known[index % len(known)]
    data: dict[str, Any] = {"name": name}
    value = (lambda s: s | JUNK) if junk else (lambda s: s)
    for field in draw(st.lists(st.sampled_from(sorted(SCALAR_VALUES)), unique=True,
                               max_size=4)):
        data[field] = draw(value(SCALAR_VALUES[field]))
    if draw(st.booleans()):
        names = draw(st.lists(SLOT_NAMES, max_size=4, unique=True))
        data["total_resource_slots"] = {n: draw(value(SLOT_VALUES.get(n, numbers(10))))
                                        for n in names}
    if draw(st.integers(0, 3)) == 0:
        choices = ["limited", "unlimited", None]
        data["default_for_unspecified"] = draw(
            value(st.sampled_from(choices + ["Limited", "", 0] if junk else choices)))
    if draw(st.integers(0, 3)) == 0:
        data["allowed_vfolder_hosts"] = draw(value(st.dictionaries(
            HOSTS, st.lists(PERMISSIONS, max_size=4), max_size=3)))
    if draw(st.integers(0, 19)) == 0:
        data["new_name"] = draw(st.sampled_from([name, "other", None]))
    if junk and draw(st.integers(0, 4)) == 0:
        data[draw(st.text(max_size=8))] = draw(JUNK)
    return subject, data


def to_json(data: Any) -> bytes:
    """JSON with NaN/Infinity tokens allowed (a hostile client may send them)."""
    return json.dumps(data, allow_nan=True).encode()


def test_random_keypair_policy_payloads_never_crash_and_store_only_in_range(
        fuzz: Stack) -> None:
    known: list[str] = ["default"]
    expected: dict[str, dict[str, Any]] = {}
    outcomes: dict[str, int] = {}

    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.data())
    def run(data: st.DataObject) -> None:
        subject, payload = data.draw(payloads(known), label="payload")
        body = {"id": str(uuid.uuid4()), "actor": fuzz.actor, "data": payload,
                "proof": proof_of(fuzz.actor)}
        raw = fuzz.send(subject, to_json(body))  # a timeout fails the example
        reply = check_reply(raw)
        outcome = "accepted" if reply.ok else reply.error.code  # type: ignore[union-attr]
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        if reply.ok:
            assert reply.data is not None
            assert_in_range(reply.data["policy"])
            expected[reply.data["name"]] = reply.data["policy"]
            if reply.data["name"] not in known:
                known.append(reply.data["name"])

    run()
    assert sum(outcomes.values()) >= EXAMPLES, outcomes
    # the mix exercised both paths: some accepted, many refused for a range
    assert outcomes.get("accepted", 0) >= 50, outcomes
    assert outcomes.get("quota.policy.out_of_range", 0) >= 50, outcomes
    assert INTERNAL not in outcomes

    stored = _stored(fuzz)
    assert set(stored) == set(expected) | {"default"}, set(stored) ^ set(expected)
    for name, policy in stored.items():
        assert_in_range(policy)
        got = fuzz.ask(S.KEYPAIR_POLICY_GET, {"name": name})
        assert got.ok and got.data["policy"] == policy
        if name in expected:
            assert policy == expected[name], name  # the last accepted reply is what's stored

    fuzz.restart_quota()  # the event store, not only the in-memory view, agrees
    assert _stored(fuzz) == stored


def _stored(stack: Stack) -> dict[str, dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    while True:
        reply = stack.ask(S.KEYPAIR_POLICY_LIST, {"offset": len(rows), "limit": 1000})
        assert reply.ok and reply.data is not None, reply
        rows += reply.data["items"]
        if len(rows) >= reply.data["total"]:
            return {row["name"]: row["policy"] for row in rows}

"""Identity security over a real nats-server: authentication, subject permissions, secrets
kept out of the event store, the logs, the replies and the published events."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError

from contracts import subjects
from contracts.envelope import Actor, Query
from contracts.identity import Subjects as S
from services.runtime.client import BusClient
from services.runtime.host import ServiceHost
from tests.support.identity import (
    SUPERADMIN_EMAIL,
    SUPERADMIN_PASSWORD,
    bootstrap,
    connect_as,
    start_identity,
    user_payload,
)
from tests.support.natsserver import NatsServer, start_nats

EMAIL = "Secret.Person@Example.com"
PASSWORD = "Kn0wn-Passw0rd!qz"
NEW_PASSWORD = "N3w-Passw0rd!qz"
REFUSED_PASSWORDS = ("M1smatch-One!qz", "M1smatch-Two!qz", "Wr0ng-Guess!qz")
HASH_MARKER = b"$argon2id$"
SECRET_SUBJECTS = (S.KEYPAIR_RESOLVE, S.LOGIN)


# ---- helpers ------------------------------------------------------------------------------


async def raw_connect(server: NatsServer, user: str | None = None,
                      password: str | None = None,
                      errors: list[Exception] | None = None) -> Client:
    """A bare nats-py connection (no retries) whose asynchronous errors are recorded."""
    sink = errors if errors is not None else []

    async def on_error(exc: Exception) -> None:
        sink.append(exc)

    options: dict[str, Any] = {"servers": [server.url], "allow_reconnect": False,
                               "connect_timeout": 2, "error_cb": on_error}
    if user is not None:
        options |= {"user": user, "password": password or ""}
    return await nats.connect(**options)


def violations(errors: list[Exception], subject: str) -> list[str]:
    """nats-py hands 'permissions violation for publish to "<subject>"' (lower-cased) to the
    error callback."""
    return [str(e) for e in errors if "permissions violation" in str(e).lower()
            and f'"{subject.lower()}"' in str(e).lower()]


async def settle(nc: Client, seconds: float = 0.3) -> None:
    await nc.flush(timeout=2)
    await asyncio.sleep(seconds)


async def wait_for(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)


def found(needles: dict[str, bytes], haystack: bytes) -> list[str]:
    return [name for name, needle in needles.items() if needle in haystack]


@dataclass
class Stack:
    host: ServiceHost
    admin: Client
    client: BusClient
    root: dict[str, Any]
    data_dir: Path
    stopped: bool = False


@pytest.fixture
async def stack(nats_server: NatsServer, tmp_path: Path,
                cipher_key: str) -> AsyncIterator[Stack]:
    data_dir = tmp_path / "data"
    host = await start_identity(nats_server, data_dir, cipher_key)
    admin = await connect_as(nats_server, "admin")
    root = await bootstrap(admin)
    stack_ = Stack(host, admin, BusClient(admin, Actor(access_key=root["access_key"])), root,
                   data_dir)
    yield stack_
    await admin.close()
    if not stack_.stopped:
        await host.stop()


async def stream_messages(nc: Client, service: str = "identity") -> list[tuple[bytes, bytes]]:
    """(data, headers as JSON) of every message on the service's event stream."""
    js = nc.jetstream()
    info = await js.stream_info(subjects.stream(service))
    out = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        msg = await js.get_msg(subjects.stream(service), seq=seq)
        out.append((msg.data or b"", json.dumps(msg.headers or {}).encode()))
    return out


# ---- authentication ---------------------------------------------------------------------


async def test_connection_without_credentials_is_refused(nats_server: NatsServer) -> None:
    errors: list[Exception] = []
    with pytest.raises(NatsError) as refused:
        await raw_connect(nats_server, errors=errors)
    assert "authorization violation" in str(refused.value).lower()


@pytest.mark.parametrize(("user", "password_of"), [
    ("identity", None), ("admin", "gateway"), ("gateway", "admin"), ("nobody", "admin")])
async def test_connection_with_a_wrong_password_is_refused(nats_server: NatsServer, user: str,
                                                           password_of: str | None) -> None:
    password = nats_server.passwords[password_of] if password_of else "wrong-password"
    with pytest.raises(NatsError) as refused:
        await raw_connect(nats_server, user, password)
    assert "authorization violation" in str(refused.value).lower()
    if user in nats_server.passwords:  # the right password does get in
        nc = await raw_connect(nats_server, user, nats_server.passwords[user])
        assert nc.is_connected
        await nc.close()


# ---- subject permissions ------------------------------------------------------------------

FOREIGN_SUBJECTS = [
    "bai.cmd.quota.policy.create.v1",
    "bai.evt.quota.policy.updated.v1",
    "bai.evt.rbac.role.created.v1",
    "bai.cmd.scheduler.session.create.v1",
    "bai.hb.agent.node-1",
    S.USER_CREATE,  # a service answers its commands; it never issues them
    S.LOGIN,
]


async def test_identity_user_cannot_publish_to_other_services_subjects(tmp_path: Path) -> None:
    # No bus user may hear others' traffic; a test-only wiretap user on a server of this
    # test's own records what reached the server.
    nats_server = start_nats(tmp_path / "nats", wiretap=True)
    observer = await raw_connect(nats_server, "wiretap", nats_server.passwords["wiretap"])
    seen: list[str] = []

    async def record(msg: Any) -> None:
        seen.append(msg.subject)

    await observer.subscribe("bai.>", cb=record)
    await observer.flush()
    errors: list[Exception] = []
    identity = await raw_connect(nats_server, "identity", nats_server.passwords["identity"],
                                 errors)
    for subject in [*FOREIGN_SUBJECTS, "$JS.API.STREAM.DELETE.BAI_EVT_IDENTITY",
                    "$JS.API.STREAM.CREATE.BAI_EVT_QUOTA"]:
        await identity.publish(subject, b'{"forged": true}')
    own = "bai.evt.identity.probe.sent.v1"
    await identity.publish(own, b'{"own": true}')
    await settle(identity)
    await settle(observer)

    for subject in FOREIGN_SUBJECTS:
        assert violations(errors, subject), f"publishing to {subject} was not refused"
        assert subject not in seen, f"{subject} was delivered"
    for subject in ("$JS.API.STREAM.DELETE.BAI_EVT_IDENTITY",
                    "$JS.API.STREAM.CREATE.BAI_EVT_QUOTA"):
        assert violations(errors, subject), f"publishing to {subject} was not refused"
    assert not violations(errors, own), "the service may publish its own events"
    assert own in seen
    assert identity.is_connected  # a violation is reported, not a disconnect
    await identity.close()
    await observer.close()
    nats_server.stop()


@pytest.mark.parametrize(("user", "subject"), [
    ("identity", "bai.cmd.quota.>"),
    ("identity", "bai.evt.>"),
    ("gateway", S.LOGIN),  # would see every password sent to log in
    ("gateway", "bai.cmd.identity.>"),
])
async def test_principals_cannot_subscribe_beyond_their_subjects(
        nats_server: NatsServer, user: str, subject: str) -> None:
    errors: list[Exception] = []
    nc = await raw_connect(nats_server, user, nats_server.passwords[user], errors)
    await nc.subscribe(subject)
    await settle(nc)
    assert [e for e in errors if "permissions violation for subscription" in str(e).lower()
            and subject.lower() in str(e).lower()], errors
    await nc.close()


async def test_admin_is_denied_secret_subjects_while_the_gateway_is_answered(
        stack: Stack, nats_server: NatsServer) -> None:
    errors: list[Exception] = []
    admin = await raw_connect(nats_server, "admin", nats_server.passwords["admin"], errors)
    asks = {
        S.KEYPAIR_RESOLVE: {"access_key": stack.root["access_key"]},
        S.LOGIN: {"email": SUPERADMIN_EMAIL, "password": SUPERADMIN_PASSWORD},
    }
    actor = Actor(access_key=stack.root["access_key"])
    for subject, data in asks.items():
        body = Query(actor=actor, data=data).model_dump_json().encode()
        with pytest.raises((NatsTimeoutError, NoRespondersError)):
            await admin.request(subject, body, timeout=1)
        assert violations(errors, subject), f"admin's {subject} was not refused by NATS"
    registry = stack.host.metrics.registry
    for subject in asks:  # the requests never reached the service
        for outcome in ("accepted", "refused", "invalid", "error"):
            assert not registry.get_sample_value(
                "bai_requests_total", {"subject": subject, "outcome": outcome})
    await admin.close()

    gateway = await connect_as(nats_server, "gateway")
    as_gateway = BusClient(gateway, Actor(system="gateway"))
    login = await as_gateway.query_or_raise(S.LOGIN, asks[S.LOGIN])
    assert login["secret_key"] == stack.root["secret_key"]
    resolved = await as_gateway.query_or_raise(S.KEYPAIR_RESOLVE, asks[S.KEYPAIR_RESOLVE])
    assert resolved["secret_key"] == stack.root["secret_key"]
    await gateway.close()


@pytest.mark.parametrize("sniffer", ["admin", "quota"])
async def test_no_other_principal_can_read_login_traffic(
        stack: Stack, nats_server: NatsServer, sniffer: str) -> None:
    spy = await connect_as(nats_server, sniffer)
    overheard: list[bytes] = []

    async def record(msg: Any) -> None:
        overheard.append(msg.data)

    for pattern in ("_INBOX.>", S.LOGIN):
        try:
            await spy.subscribe(pattern, cb=record)
        except NatsError:
            pass
    await settle(spy)
    gateway = await connect_as(nats_server, "gateway")
    await BusClient(gateway, Actor(system="gateway")).query_or_raise(
        S.LOGIN, {"email": SUPERADMIN_EMAIL, "password": SUPERADMIN_PASSWORD})
    await settle(spy)
    leaked = found({"password": SUPERADMIN_PASSWORD.encode(),
                    "secret key": stack.root["secret_key"].encode()}, b"".join(overheard))
    await gateway.close()
    await spy.close()
    assert not leaked, f"{sniffer} overheard: {leaked}"


# ---- secrets at rest, in logs, replies and events -----------------------------------------


async def test_event_store_files_hold_no_credentials_nor_emails(stack: Stack) -> None:
    created = await stack.client.command_or_raise(S.USER_CREATE, user_payload(
        "x", email=EMAIL, password=PASSWORD, password_confirm=PASSWORD))
    issued = await stack.client.command_or_raise(S.KEYPAIR_ISSUE, {"email": EMAIL})
    needles = {
        "password": PASSWORD.encode(),
        "superadmin password": SUPERADMIN_PASSWORD.encode(),
        "argon2 hash": HASH_MARKER,
        "secret key": created["secret_key"].encode(),
        "issued secret key": issued["secret_key"].encode(),
        "superadmin secret key": stack.root["secret_key"].encode(),
        "email": EMAIL.encode(),
        "normalised email": EMAIL.lower().encode(),
        "superadmin email": SUPERADMIN_EMAIL.encode(),
    }
    store = stack.data_dir / "stores" / "identity.sqlite"

    def read_store() -> dict[str, bytes]:
        files = [store, *(store.with_name(store.name + s) for s in ("-wal", "-shm", "-journal"))]
        return {p.name: p.read_bytes() for p in files if p.exists()}

    contents = read_store()
    assert contents[store.name], "the store file is empty"
    total = b"".join(contents.values())
    assert b"User" in total and len(total) > 4096, "the events are not in these files"
    for name, data in contents.items():
        assert not found(needles, data), f"{name} leaks {found(needles, data)}"

    await stack.host.stop()  # closes the store: the WAL is checkpointed into the main file
    stack.stopped = True
    for name, data in read_store().items():
        assert not found(needles, data), f"{name} leaks {found(needles, data)} after close"
    for path in stack.data_dir.rglob("*"):  # nothing else under the data dir either
        if path.is_file():
            assert not found(needles, path.read_bytes()), f"{path} leaks"


async def test_no_secret_in_logs_replies_or_published_events(
        nats_server: NatsServer, tmp_path: Path, cipher_key: str,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    host = await start_identity(nats_server, tmp_path / "data", cipher_key)
    admin = await connect_as(nats_server, "admin")
    gateway = await connect_as(nats_server, "gateway")
    try:
        root = await bootstrap(admin)
        client = BusClient(admin, Actor(access_key=root["access_key"]))
        as_gateway = BusClient(gateway, Actor(system="gateway"))
        created = await client.command_or_raise(S.USER_CREATE, user_payload(
            "s", email=EMAIL, password=PASSWORD, password_confirm=PASSWORD))
        login = await as_gateway.query_or_raise(S.LOGIN, {"email": EMAIL, "password": PASSWORD})
        assert login["secret_key"] == created["secret_key"]
        replies = await _refused_flow(client, as_gateway)
        await client.command_or_raise(S.USER_UPDATE, {
            "email": EMAIL, "password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD})

        async def published() -> bool:
            types = {json.loads(data)["type"] for data, _ in await stream_messages(admin)}
            return {"UserCreated", "KeypairIssued", "PasswordChanged"} <= types

        await wait_for(published)
        events = await stream_messages(admin)
    finally:
        await gateway.close()
        await admin.close()
        await host.stop()

    secrets = {
        "password": PASSWORD.encode(), "new password": NEW_PASSWORD.encode(),
        **{f"refused password {n}": p.encode() for n, p in enumerate(REFUSED_PASSWORDS)},
        "superadmin password": SUPERADMIN_PASSWORD.encode(),
        "secret key": created["secret_key"].encode(),
        "superadmin secret key": root["secret_key"].encode(),
    }
    for raw in replies:
        assert not found(secrets, raw), f"a refusal echoes {found(secrets, raw)}: {raw!r}"

    assert any(r.name.startswith("services.") for r in caplog.records), "no service logs seen"
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    for record in caplog.records:
        text = formatter.format(record).encode()
        leaked = found(secrets | {"argon2 hash": HASH_MARKER}, text)
        assert not leaked, f"log record leaks {leaked}: {text[:300]!r}"

    for data, headers in events:
        leaked = found(secrets | {"argon2 hash": HASH_MARKER, "hash field": b"password_hash",
                                  "secret field": b"secret_key"}, data + headers)
        assert not leaked, f"published event leaks {leaked}: {data[:300]!r}"

    server_log = (nats_server.directory / "nats.log").read_bytes()
    assert not found(secrets, server_log), "nats-server logged a secret"


async def _refused_flow(client: BusClient, as_gateway: BusClient) -> list[bytes]:
    """Refused requests carrying passwords; returns their raw replies."""
    mismatch_a, mismatch_b, wrong = REFUSED_PASSWORDS
    replies: list[bytes] = []
    nc = client.nc
    for subject, data, code in [
        (S.USER_CREATE, user_payload("m", password=mismatch_a, password_confirm=mismatch_b),
         "identity.user.password_confirmation_mismatch"),
        (S.USER_UPDATE, {"email": EMAIL, "password": mismatch_a, "password_confirm": mismatch_b},
         "identity.user.password_confirmation_mismatch"),
        (S.USER_CREATE, user_payload("o", password=mismatch_a * 80, password_confirm=1),
         "identity.request.invalid"),
    ]:
        body = json.dumps({"id": f"refused-{len(replies)}", "actor": client.actor.model_dump(),
                           "proof": client.current_proof(),
                           "data": data}).encode()
        raw = (await nc.request(subject, body, timeout=5)).data
        assert json.loads(raw)["error"]["code"] == code, raw
        replies.append(raw)
    query = Query(actor=as_gateway.actor, data={"email": EMAIL, "password": wrong},
                  proof=as_gateway.current_proof())
    raw = (await as_gateway.nc.request(S.LOGIN, query.model_dump_json().encode(),
                                       timeout=5)).data
    assert json.loads(raw)["error"]["code"] == "identity.auth.invalid_credentials", raw
    return [*replies, raw]

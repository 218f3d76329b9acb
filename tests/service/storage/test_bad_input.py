"""Bad input on every storage subject gets a stable `Error{code}`: never a timeout, never
`storage.internal`, never an echo of the input; fuzzed folder commands never leave a
directory outside a host root nor a folder without one."""

from __future__ import annotations

import json
import random
import uuid
from pathlib import Path
from typing import Any

import pytest

from contracts import storage as c
from contracts.envelope import Actor, Reply
from contracts.principals import SCHEDULER_QUERIES
from services.runtime.client import BusClient
from tests.support.fuzz import envelope, envelope_cases, stable_error
from tests.support.identity import bootstrap, connect_as, start_identity
from tests.support.quota import start_quota
from tests.support.rbac import start_rbac
from tests.support.storage import seed_world, start_storage

S = c.Subjects
ALL_SUBJECTS = sorted({**c.COMMAND_PAYLOADS, **c.QUERY_PAYLOADS})
OVERSIZE = "S3cr3t-" * 715
UNKNOWN_KEY = "AKIAAAAAAAAAAAAAAAAA"
IID = str(uuid.uuid4())
VALID_DATA: dict[str, dict[str, Any]] = {
    S.FOLDER_CREATE: {"name": "fresh"},
    S.FOLDER_RENAME: {"folder": "notes", "new_name": "other"},
    S.FOLDER_UPDATE_PERMISSION: {"folder": "notes", "permission": "ro"},
    S.FOLDER_SHARE: {"folder": "notes", "email": "b@example.com", "permission": "ro"},
    S.FOLDER_UNSHARE: {"folder": "notes", "email": "b@example.com"},
    S.FOLDER_TRASH: {"folder": "nothing"},
    S.FOLDER_RESTORE: {"folder": "nothing"},
    S.FOLDER_PURGE: {"folder": "nothing"},
    S.FOLDER_MOUNT: {"folder": "notes", "access_key": UNKNOWN_KEY, "session_id": "s"},
    S.INVITATION_SEND: {"folder": "notes", "emails": ["b@example.com"]},
    S.INVITATION_ACCEPT: {"invitation_id": IID},
    S.INVITATION_REJECT: {"invitation_id": IID},
    S.INVITATION_CANCEL: {"invitation_id": IID},
    S.FOLDER_LIST: {},
    S.FOLDER_GET: {"folder": "notes"},
    S.FOLDER_USAGE: {"folder": "notes"},
    S.INVITATION_LIST: {},
    S.HOST_LIST: {},
    S.FILES_AUTHORIZE: {"folder": "notes", "operation": "list", "path": ""},
    S.FOLDER_ADMIT_MOUNTS: {"access_key": UNKNOWN_KEY, "folders": ["notes"]},
}
SYSTEM_ONLY = (S.FOLDER_MOUNT, S.FOLDER_ADMIT_MOUNTS)  # refused before the actor is looked at


@pytest.fixture
async def stack(nats_server, tmp_path: Path, cipher_key: str):
    hosts = [await start_quota(nats_server, tmp_path / "quota", cipher_key),
             await start_identity(nats_server, tmp_path / "identity", cipher_key),
             await start_rbac(nats_server, tmp_path / "rbac", cipher_key),
             await start_storage(nats_server, tmp_path / "storage", cipher_key)]
    nc = await connect_as(nats_server, "admin")
    root = BusClient(nc, Actor(access_key=(await bootstrap(nc))["access_key"]), timeout=10)
    people = await seed_world(nc, root, hosts)
    # Only the scheduler's NATS user may publish admit-mounts (contracts/principals.py).
    scheduler_nc = await connect_as(nats_server, "scheduler")
    yield people | {"nc": nc, "scheduler_nc": scheduler_nc, "data": tmp_path / "storage"}
    await scheduler_nc.close()
    await nc.close()
    for host in reversed(hosts):
        await host.stop()


def test_every_subject_has_a_sample() -> None:
    assert set(VALID_DATA) == set(ALL_SUBJECTS)


def body(subject: str, data: Any, access_key: str) -> bytes:
    """An envelope with a proof of its actor (tests.support.fuzz.envelope)."""
    return json.dumps(envelope(subject, data, {"access_key": access_key})).encode()


def nc_for(stack, subject: str):
    return stack["scheduler_nc"] if subject in SCHEDULER_QUERIES else stack["nc"]


async def refused(stack, subject: str, raw: bytes) -> str:
    msg = await nc_for(stack, subject).request(subject, raw, timeout=5)
    assert "S3cr3t" not in msg.data.decode()
    return stable_error(msg.data, "storage")


@pytest.mark.parametrize("subject", ALL_SUBJECTS)
async def test_bad_requests_get_stable_codes(stack, subject: str) -> None:
    key = stack["a_key"]
    assert await refused(stack, subject, b"{not json") == "storage.request.malformed"
    assert await refused(stack, subject, b"\xff\xfe") == "storage.request.malformed"
    base = json.loads(body(subject, VALID_DATA[subject], key))
    for _label, raw in envelope_cases(base, subject in c.COMMAND_PAYLOADS):
        await refused(stack, subject, raw)
    extra = await refused(stack, subject, body(subject, {"bogus": 1}, key))
    assert extra == "storage.request.invalid"
    long = {k: OVERSIZE if isinstance(v, str) else v for k, v in VALID_DATA[subject].items()}
    if long != VALID_DATA[subject]:
        assert await refused(stack, subject, body(subject, long, key)) in (
            "storage.request.invalid", "storage.folder.name_invalid")
    if subject not in SYSTEM_ONLY:
        stranger = await refused(stack, subject, body(subject, VALID_DATA[subject],
                                                      UNKNOWN_KEY))
        assert stranger == "storage.auth.unauthenticated"
    as_user = await nc_for(stack, subject).request(subject, body(subject, VALID_DATA[subject], key),
                                        timeout=5)
    if not Reply.model_validate_json(as_user.data).ok:
        stable_error(as_user.data, "storage")


def mutate(rng: random.Random, base: dict[str, Any]) -> dict[str, Any]:
    junk = [None, 0, -1, True, "", ".", "..", "../x", "/abs", "a/b", "x" * 65, "\u0000",
            "group", "user", "ro", "rw", "wd", "research", "local", "elsewhere", [], {}]
    data = dict(base)
    for _ in range(rng.randint(1, 3)):
        field = rng.choice([*base, "extra"])
        data[field] = rng.choice(junk)
    return data


async def test_fuzzed_creations_leave_only_folders_with_directories_inside_the_host(stack):
    rng = random.Random(13)
    base = {"name": "f", "type": "user", "project": "research", "permission": "rw",
            "host": "local", "usage_mode": "general"}
    for n in range(200):
        client = stack["admin"] if n % 2 else stack["a"]
        reply = await client.command(S.FOLDER_CREATE, mutate(rng, base | {"name": f"f{n}"}))
        if not reply.ok:
            assert reply.error is not None and reply.error.code.startswith("storage.")
            assert reply.error.code != "storage.internal"
    root = stack["data"] / "vfolders"
    folders = []
    for who in ("a", "admin"):
        folders += (await stack[who].query_or_raise(S.FOLDER_LIST, {"limit": 1000}))["items"]
    on_disk = {p.name for p in root.iterdir()}
    assert {uuid.UUID(f["folder_id"]).hex for f in folders} == on_disk
    assert all(p.parent == root for p in root.iterdir())

"""SIGKILL of the storage process during 200 concurrent folder creations and during a purge:
after a restart every accepted folder exists once in the store and on disk, no directory is
left that no folder owns, and nothing is half-purged."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from pathlib import Path
from typing import Any

import pytest

from contracts.envelope import Actor
from contracts.storage import Subjects as SS
from services.runtime.client import BusClient, BusError
from tests.support.identity import bootstrap, connect_as, start_identity
from tests.support.process import spawn_service, stop
from tests.support.quota import start_quota
from tests.support.rbac import eventually, start_rbac
from tests.support.storage import seed_world

CREATIONS = 200
PEOPLE = ("a", "b", "outsider", "admin")


@pytest.fixture
async def world(nats_server, tmp_path: Path, cipher_key: str):
    hosts = [await start_quota(nats_server, tmp_path / "quota", cipher_key),
             await start_identity(nats_server, tmp_path / "identity", cipher_key),
             await start_rbac(nats_server, tmp_path / "rbac", cipher_key)]
    data = tmp_path / "storage"
    state: dict[str, Any] = {"proc": spawn_service("storage", nats_server, data, cipher_key)}

    def restart() -> None:
        state["proc"] = spawn_service("storage", nats_server, data, cipher_key)

    nc = await connect_as(nats_server, "admin")
    creds = await bootstrap(nc)
    root = BusClient(nc, Actor(access_key=creds["access_key"]), timeout=10)
    people = await seed_world(nc, root)
    yield people | {"root": root, "data": data, "state": state, "restart": restart}
    stop(state["proc"])
    await nc.close()
    for host in reversed(hosts):
        await host.stop()


def kill(state: dict[str, Any]) -> None:
    os.kill(state["proc"].pid, signal.SIGKILL)
    state["proc"].wait(timeout=10)


async def create(client: BusClient, n: int, command_id: str) -> tuple[str, Any]:
    try:
        reply = await client.command(SS.FOLDER_CREATE, {"name": f"f{n:03d}"},
                                     command_id=command_id)
    except BusError as exc:
        if not exc.no_answer:
            raise
        return command_id, None
    return command_id, reply


async def every_folder(world: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for who in PEOPLE:
        page = await world[who].query_or_raise(SS.FOLDER_LIST, {"limit": 1000})
        rows += [r for r in page["items"] if r["ownership"] == "user"
                 and r["creator"] == f"{who}@example.com"]
    return rows


def directories(world: dict[str, Any]) -> set[str]:
    return {p.name for p in (world["data"] / "vfolders").iterdir()}


async def test_sigkill_during_200_concurrent_creations_loses_and_duplicates_nothing(world):
    ids = {n: str(uuid.uuid4()) for n in range(CREATIONS)}
    tasks = [asyncio.create_task(create(world[PEOPLE[n % 4]], n, ids[n]))
             for n in range(CREATIONS)]
    def accepted_so_far() -> int:
        return sum(1 for t in tasks if t.done() and t.result()[1] is not None
                   and t.result()[1].ok)

    await eventually(lambda: asyncio.sleep(0, accepted_so_far()), lambda n: n >= 20,
                     attempts=800)
    kill(world["state"])
    results = dict(await asyncio.gather(*tasks))
    accepted = {cid: r.data for cid, r in results.items() if r is not None and r.ok}
    answered = [r for r in results.values() if r is not None]
    assert all(r.ok for r in answered), [r.error for r in answered if not r.ok][:3]
    assert 20 <= len(accepted) < CREATIONS
    world["restart"]()

    rows = await eventually(lambda: every_folder(world), lambda r: len(r) >= len(accepted),
                            attempts=400)
    by_id = {r["folder_id"]: r for r in rows}
    assert len(by_id) == len(rows)
    for reply in accepted.values():
        assert reply["folder_id"] in by_id
    assert directories(world) == {uuid.UUID(f).hex for f in by_id}
    # Retrying every command with its id finishes the rest, each folder exactly once (one
    # stream of retries per person: no write conflicts on one person's shelf).
    async def retry(who: int) -> list[tuple[str, Any]]:
        return [await create(world[PEOPLE[who]], n, ids[n])
                for n in range(who, CREATIONS, len(PEOPLE))]

    retried = [r for rs in await asyncio.gather(*(retry(w) for w in range(len(PEOPLE))))
               for r in rs]
    assert all(r is not None and r.ok for _, r in retried), [
        r.error for _, r in retried if r is not None and not r.ok][:3]
    for cid, reply in accepted.items():
        assert dict(retried)[cid].data == reply  # the first reply, not a second folder
    rows = await every_folder(world)
    assert sorted(r["name"] for r in rows) == [f"f{n:03d}" for n in range(CREATIONS)]
    assert directories(world) == {uuid.UUID(r["folder_id"]).hex for r in rows}


async def test_sigkill_during_a_purge_is_finished_at_restart(world):
    made = await world["a"].command_or_raise(SS.FOLDER_CREATE, {"name": "big"})
    folder_dir = world["data"] / "vfolders" / uuid.UUID(made["folder_id"]).hex
    files = 20_000
    for n in range(files):
        (folder_dir / f"{n:05d}").write_bytes(b"x")
    await world["a"].command_or_raise(SS.FOLDER_TRASH, {"folder": "big"})
    purge = asyncio.create_task(world["a"].command(SS.FOLDER_PURGE, {"folder": "big"}))
    for _ in range(2000):  # until the removal is under way
        if not folder_dir.exists() or len(os.listdir(folder_dir)) < files:
            break
        await asyncio.sleep(0.002)
    kill(world["state"])
    await asyncio.gather(purge, return_exceptions=True)
    half = folder_dir.exists()
    world["restart"]()

    got = await world["a"].query(SS.FOLDER_GET, {"folder": "big"})
    assert got.error is not None and got.error.code == "storage.folder.not_found"
    trash = await world["a"].query_or_raise(SS.FOLDER_LIST, {"status": "delete-pending"})
    assert trash["items"] == []
    assert not folder_dir.exists(), f"directory left behind (existed at the kill: {half})"
    again = await world["a"].command_or_raise(SS.FOLDER_CREATE, {"name": "big"})
    assert again["folder_id"] != made["folder_id"]

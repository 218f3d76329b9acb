"""Identity on SQLite and PostgreSQL: state survives restart, nothing is re-published,
and the store holds no plaintext secrets."""

from __future__ import annotations

import asyncio
from pathlib import Path

import psycopg

from contracts import subjects
from contracts.envelope import Actor
from contracts.identity import Subjects as S
from services.runtime.client import BusClient, BusError
from tests.support.identity import bootstrap, connect_as, start_identity, user_payload

KNOWN_PASSWORD = "Kn0wn-Passw0rd!"


def stored_bytes(store: str, data_dir: Path) -> bytes:
    if store == "sqlite":
        files = sorted((data_dir / "stores").glob("identity.sqlite*"))
        return b"".join(f.read_bytes() for f in files)
    from psycopg import sql

    blob = b""
    with psycopg.connect(store, connect_timeout=5) as conn:
        tables = conn.execute(
            "SELECT table_name FROM information_schema.columns "
            "WHERE table_schema = 'identity' AND column_name = 'state'").fetchall()
        for (table,) in tables:
            query = sql.SQL("SELECT state FROM identity.{}").format(sql.Identifier(table))
            blob += b"".join(bytes(row[0]) for row in conn.execute(query).fetchall())
    return blob


async def test_identity_state_survives_restart_on_each_backend(
        nats_server, tmp_path: Path, cipher_key: str, store_dsn: str):
    data = tmp_path / "data"
    host = await start_identity(nats_server, data, cipher_key, store=store_dsn)
    nc = await connect_as(nats_server, "admin")
    creds = await bootstrap(nc)
    client = BusClient(nc, Actor(access_key=creds["access_key"]))
    created = await client.command_or_raise(
        S.USER_CREATE, user_payload(1, password=KNOWN_PASSWORD, password_confirm=KNOWN_PASSWORD))
    await client.command_or_raise(S.USER_UPDATE, {"email": "user1@example.com",
                                                  "full_name": "Renamed"})
    await client.command_or_raise(S.USER_DEACTIVATE, {"email": "user1@example.com"})
    await asyncio.sleep(0.5)
    js = nc.jetstream()
    published = (await js.stream_info(subjects.stream("identity"))).state.messages
    await host.stop()

    host = await start_identity(nats_server, data, cipher_key, store=store_dsn)
    try:
        # Seen rarely in CI: "no responders" on the first request after a restart, although
        # the subscriptions were flushed before start() returned. Retry that one condition
        # (bounded); what the test checks below is unchanged.
        for _ in range(50):
            try:
                user = await client.query_or_raise(S.USER_GET, {"email": "user1@example.com"})
                break
            except BusError as exc:
                if exc.code != "service.unavailable" or exc.answered:
                    raise
                await asyncio.sleep(0.1)
        assert user["full_name"] == "Renamed" and user["status"] == "inactive"
        assert [k["is_active"] for k in user["keypairs"]] == [False]
        await asyncio.sleep(0.5)
        assert (await js.stream_info(subjects.stream("identity"))).state.messages == published
        blob = stored_bytes(store_dsn, data)
        assert blob, "the store must hold the events"
        for secret in (KNOWN_PASSWORD, created["secret_key"], "$argon2id$", "user1@example.com"):
            assert secret.encode() not in blob
    finally:
        await host.stop()
        await nc.close()

"""Shared fixtures: a real nats-server per test, and helpers to run services against it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from eventsourcing.cryptography import AESCipher

from services.runtime.proofs import format_keys, new_private_key, public_key_of
from tests.support.natsserver import NatsServer, start_nats

# One test stack's trust: every component (and identity) signs with one key, trusted under
# every system name the tests use, so in-process services and BusClients prove their actors.
# `baikal up` stacks started by tests get their own per-component keys.
TEST_SIGNING_KEY = new_private_key()
TEST_SIGNERS = ("identity", "gateway", "bootstrap", "scheduler", "operator", "agent")
# Every handler's answer is checked against its spec's reply model (services/runtime/replies.py):
# a reply that does not match answers `internal` and logs why, so a test fails at once.
os.environ.setdefault("BAIKAL_CHECK_REPLIES", "1")
os.environ.setdefault("BAIKAL_STACK_ID", "test-stack")
os.environ.setdefault("BAIKAL_SIGNING_KEY", TEST_SIGNING_KEY)
os.environ.setdefault("BAIKAL_TRUSTED_KEYS", format_keys(
    dict.fromkeys(TEST_SIGNERS, public_key_of(os.environ["BAIKAL_SIGNING_KEY"]))))


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    server = start_nats(tmp_path / "nats")
    yield server
    server.stop()


@pytest.fixture
def cipher_key() -> str:
    return AESCipher.create_key(32)


def postgres_dsn() -> str | None:
    return os.environ.get("BAIKAL_TEST_POSTGRES_DSN")




@pytest.fixture(params=["sqlite", "postgres"])
def store_dsn(request: pytest.FixtureRequest) -> Iterator[str]:
    """'sqlite', or a fresh PostgreSQL database (dropped afterwards)."""
    if request.param == "sqlite":
        yield "sqlite"
        return
    base = postgres_dsn()
    if base is None:
        pytest.skip("PostgreSQL not available: set BAIKAL_TEST_POSTGRES_DSN "
                    "(.ci/run starts one with deploy/ci/start-postgres.sh)")
    import uuid
    from urllib.parse import urlparse, urlunparse

    import psycopg

    name = f"baikal_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield urlunparse(urlparse(base)._replace(path=f"/{name}"))
    with psycopg.connect(base, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

"""Shared fixtures: a real nats-server per test, and helpers to run services against it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from eventsourcing.cryptography import AESCipher

from tests.support.natsserver import NatsServer, start_nats


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



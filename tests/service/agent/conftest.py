"""Fixtures for the agent's service tests: a Docker engine (or a loud skip), a label prefix of
this test's own whose containers are force-removed afterwards, an operator connection."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.agent import docker_available, remove_labelled, unique_label_prefix
from tests.support.identity import connect_as


@pytest.fixture
async def docker_engine() -> None:
    reason = await docker_available()
    if reason is not None:
        pytest.skip(f"Docker needed: {reason}")


@pytest.fixture
async def label_prefix(docker_engine: None) -> AsyncIterator[str]:
    prefix = unique_label_prefix()
    yield prefix
    await remove_labelled(prefix)


@pytest.fixture
async def admin(nats_server):
    nc = await connect_as(nats_server, "admin")
    yield nc
    await nc.close()

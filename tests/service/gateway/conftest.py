"""A gateway stack (nats-server, identity, quota, gateway) per test module."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.gateway import GatewayStack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayStack]:
    running = GatewayStack(tmp_path_factory.mktemp("gateway")).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def root(stack: GatewayStack) -> Iterator[httpx.Client]:
    """Signed as the bootstrapped superadmin."""
    with stack.client() as client:
        yield client

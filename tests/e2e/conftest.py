"""e2e fixtures: a Docker engine (or a loud skip) and a label prefix cleaned up afterwards."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.agent import docker_available, remove_labelled, unique_label_prefix


@pytest.fixture
async def docker_labels() -> AsyncIterator[str]:
    reason = await docker_available()
    if reason is not None:
        pytest.skip(f"Docker needed: {reason}")
    prefix = unique_label_prefix()
    yield prefix
    await remove_labelled(prefix)

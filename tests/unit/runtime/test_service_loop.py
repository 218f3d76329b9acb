"""A service process's event loop (`host.run_service`): uvloop unless BAIKAL_UVLOOP=false."""

from __future__ import annotations

import asyncio

import pytest
import uvloop  # noqa: F401 - a declared dependency (off Windows): no skip

from services.runtime.host import run_service
from services.runtime.settings import ServiceSettings


@pytest.mark.parametrize(("setting", "expected"), [("true", "uvloop"), ("false", "asyncio")])
def test_a_service_runs_on_uvloop_unless_it_is_switched_off(
        monkeypatch: pytest.MonkeyPatch, setting: str, expected: str) -> None:
    monkeypatch.setenv("BAIKAL_UVLOOP", setting)
    seen: list[str] = []

    async def main() -> None:
        seen.append(type(asyncio.get_running_loop()).__module__.split(".")[0])

    run_service(main(), ServiceSettings())
    assert seen == [expected]

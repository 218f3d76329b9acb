"""A gateway stack (nats-server, identity, quota, rbac, gateway) per test module, and the
`baikal` command against it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from services.cli.main import app
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


@pytest.fixture
def baikal(stack: GatewayStack, monkeypatch: pytest.MonkeyPatch,
           tmp_path: Path) -> Callable[..., str]:
    """Runs `baikal ARGS...` signed as the superadmin; returns its output, checks its exit."""
    monkeypatch.setenv("BAIKAL_ENDPOINT", stack.url)
    monkeypatch.setenv("BAIKAL_ACCESS_KEY", stack.root["access_key"])
    monkeypatch.setenv("BAIKAL_SECRET_KEY", stack.root["secret_key"])
    monkeypatch.setenv("BAIKAL_CONFIG", str(tmp_path / "absent.toml"))
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def run(*args: str, code: int = 0, input: str | None = None) -> str:
        result = runner.invoke(app, list(args), input=input)
        assert result.exit_code == code, (args, result.output, result.exception)
        return result.output

    return run

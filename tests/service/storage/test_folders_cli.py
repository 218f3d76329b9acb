"""The seed's walk-through with the `baikal` command against a real gateway: an admin creates a
Read-Only group folder for User B's project; User B lists it (R) without any invitation; files
go up and down with `baikal folder`."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from services.cli.main import app
from tests.support.gateway import GatewayStack, eventually
from tests.support.storage import knows

PASSWORD = "Passw0rd!"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayStack]:
    running = GatewayStack(tmp_path_factory.mktemp("storage-cli")).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def keys(stack: GatewayStack) -> dict[str, dict[str, Any]]:
    with stack.client() as root:
        pid = root.post("/projects", json={"name": "team-b"}).json()["project_id"]
        made = {}
        for name, role, projects in (("admin", "admin", []), ("b", "user", [pid])):
            answer = root.post("/users", json={
                "email": f"{name}@example.com", "password": PASSWORD,
                "password_confirm": PASSWORD, "role": role, "projects": projects})
            assert answer.status_code == 201, answer.text
            made[name] = answer.json()
    for who in ("admin", "b"):  # storage's guard has their grants (nothing is created)
        with stack.client(made[who]["access_key"], made[who]["secret_key"]) as client:
            eventually(lambda c=client: c.post("/folders", json={"name": "."}),
                       lambda r: r.status_code == 400, attempts=400)
    eventually(lambda: knows(stack.hosts, "b@example.com"), bool, attempts=400)
    return made


@pytest.fixture
def baikal_as(stack: GatewayStack, keys: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
              tmp_path: Path) -> Callable[..., str]:
    monkeypatch.setenv("BAIKAL_ENDPOINT", stack.url)
    monkeypatch.setenv("BAIKAL_CONFIG", str(tmp_path / "absent.toml"))
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def run(who: str, *args: str, code: int = 0) -> str:
        monkeypatch.setenv("BAIKAL_ACCESS_KEY", keys[who]["access_key"])
        monkeypatch.setenv("BAIKAL_SECRET_KEY", keys[who]["secret_key"])
        result = runner.invoke(app, list(args))
        assert result.exit_code == code, (args, result.output, result.exception)
        return result.output

    return run


def test_seed_walkthrough_with_the_cli(baikal_as, tmp_path):
    baikal_as("admin", "admin", "folder", "create", "team-data", "--group", "team-b",
              "--permission", "ro")
    table = baikal_as("b", "admin", "folder", "list")
    [line] = [row for row in table.splitlines() if "team-data" in row]
    assert " R " in f"{line} " and "group" in line
    assert json.loads(baikal_as("b", "admin", "folder", "invitations", "--json"))["items"] == []
    refused = baikal_as("b", "admin", "folder", "create", "x", "--group", "team-b", code=1)
    assert "storage.folder.group_forbidden" in refused


def test_upload_download_and_ls_with_the_cli(baikal_as, tmp_path):
    baikal_as("b", "admin", "folder", "create", "mine")
    source = tmp_path / "data.bin"
    source.write_bytes(b"0123456789" * 200_000)
    baikal_as("b", "folder", "upload", "mine", str(source), "copy.bin", "--quiet")
    listed = json.loads(baikal_as("b", "folder", "ls", "mine", "--json"))
    assert [(i["name"], i["size"]) for i in listed["items"]] == [("copy.bin", 2_000_000)]
    baikal_as("b", "folder", "download", "mine", "copy.bin", str(tmp_path / "back.bin"),
              "--quiet")
    assert (tmp_path / "back.bin").read_bytes() == source.read_bytes()
    escape = baikal_as("b", "folder", "download", "mine", "../x", code=1)
    assert "storage.path.escape" in escape


@pytest.mark.parametrize("raw", ["true", "false"])
def test_a_large_file_goes_up_and_down_alike_with_the_raw_download_on_and_off(
        baikal_as, tmp_path, monkeypatch, raw):
    """`baikal folder download` reads past httpx's first piece straight from the socket
    (BAIKAL_CLI_RAW_DOWNLOAD, services/cli/folder.py `_receive_rest`); off, every piece
    comes through httpx. Both give the same file, large (more than any socket buffer) or
    small (the whole body in httpx's first piece)."""
    from services.cli import folder

    read_raw: list[int] = []
    real = folder._receive_rest
    monkeypatch.setattr(folder, "_receive_rest", lambda sock, out, left, received: (
        read_raw.append(left), real(sock, out, left, received)))
    monkeypatch.setenv("BAIKAL_CLI_RAW_DOWNLOAD", raw)
    baikal_as("b", "admin", "folder", "create", f"raw-{raw}")
    for name, size in (("big.bin", 20 * 1024 * 1024 + 7), ("small.bin", 10)):
        source = tmp_path / name
        source.write_bytes(os.urandom(size))
        baikal_as("b", "folder", "upload", f"raw-{raw}", str(source), "--quiet")
        back = tmp_path / f"back-{name}"
        baikal_as("b", "folder", "download", f"raw-{raw}", name, str(back), "--quiet")
        assert back.read_bytes() == source.read_bytes()
        assert not (tmp_path / f"back-{name}.part").exists()
    if raw == "true":
        assert len(read_raw) == 2 and 0 < read_raw[0] <= 20 * 1024 * 1024 + 7
        assert read_raw[1] == 0  # the small body came whole in httpx's first piece
    else:
        assert read_raw == []

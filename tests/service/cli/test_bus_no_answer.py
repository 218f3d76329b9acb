"""`baikal login` and `baikal bus ...` send with the runtime's one publisher client: when no
service answers (a real nats-server, nothing subscribed), they say so with the stable code and
exit non-zero, instead of a traceback."""

from __future__ import annotations

import json
import time
from pathlib import Path

from typer.testing import CliRunner

from contracts.identity import Subjects as IS
from services.cli.main import app
from tests.support.natsserver import NatsServer


def test_no_service_answering_is_said_with_its_code(nats_server: NatsServer,
                                                     tmp_path: Path) -> None:
    data_dir = tmp_path / "cli"
    data_dir.mkdir()
    (data_dir / "stack.json").write_text(json.dumps({"nats_port": nats_server.port}))
    (data_dir / "secrets.json").write_text(json.dumps(
        {"nats": {"admin": nats_server.passwords["admin"]}}))
    runner = CliRunner()

    def baikal(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, [*args, "--data-dir", str(data_dir)])
        assert result.exception is None or isinstance(result.exception, SystemExit), \
            result.exception
        return result.exit_code, " ".join(result.output.split())

    code, said = baikal("login", "--email", "a@b.c", "--password", "p")
    assert code == 3
    assert "service.unavailable: no identity service is answering" in said
    (data_dir / "bus-session.json").write_text(json.dumps({
        "token": "t", "access_key": "AKIA" + "Q" * 16, "user_id": "u-1",
        "expires_at": time.time() + 600, "positions": {}}))
    code, said = baikal("bus", "query", IS.USER_LIST, "{}")
    assert code == 1
    assert "service.unavailable: no identity service is answering" in said

"""`baikal up` serves the gateway; `baikal admin`, `export`, `info` and `status` work against it
with nothing but the data dir (superadmin.json and the gateway's run file)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import httpx
import pytest

from tests.support.up import baikal, running_up


@pytest.mark.timeout(180)
def test_up_serves_the_gateway_and_the_admin_cli_uses_it(tmp_path: Path) -> None:
    with running_up(tmp_path / "stack") as up:
        url, data = up.url, up.data
        assert httpx.get(f"{url}/").json()["version"] == "v8.20240915"
        run = json.loads((data / "run" / "gateway-0.json").read_text())
        assert url.endswith(f":{run['http_port']}")

        def admin(*args: str, code: int = 0) -> str:
            return baikal("admin", "--data-dir", str(data), *args, cwd=tmp_path,
                          code=code)

        created = json.loads(admin("user", "create", "e2e@example.com", "--password",
                                   "Passw0rd!", "--json"))
        assert created["email"] == "e2e@example.com"
        assert "e2e@example.com" in admin("user", "list")
        assert json.loads(admin("user", "deactivate", "e2e@example.com", "--json"))[
            "status"] == "inactive"
        out = baikal("export", "--data-dir", str(data), "users", "-o",
                     str(tmp_path / "users.csv"), cwd=tmp_path)
        assert "rows" in out
        with open(tmp_path / "users.csv", newline="") as handle:
            rows = {r["email"]: r for r in csv.DictReader(handle)}
        assert rows["e2e@example.com"]["is_active"] == "false"
        info = json.loads(baikal("info", "--data-dir", str(data), "--json",
                                 cwd=tmp_path))
        services = {s["service"]: s for s in info["services"]}
        assert services["identity"]["status"] == "ok" and services["identity"]["store"]
        assert services["gateway"]["status"] == "ok"
        status = baikal("status", "--data-dir", str(data), "--json", cwd=tmp_path)
        assert "gateway" in {row["service"] for row in json.loads(status)}

"""`baikal admin ...`, `baikal export ...` and `baikal info` against a running gateway."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from tests.support.gateway import GatewayStack

PASSWORD = "Passw0rd!"


def test_user_lifecycle_from_the_command_line(baikal) -> None:
    created = json.loads(baikal("admin", "user", "create", "cli@example.com", "--password",
                                PASSWORD, "--full-name", "Cli User", "--json"))
    assert created["email"] == "cli@example.com" and created["secret_key"]
    table = baikal("admin", "user", "list", "--email", "cli@")
    assert "cli@example.com" in table and "Cli User" in table and "1-1 of 1" in table
    shown = json.loads(baikal("admin", "user", "show", "cli@example.com", "--json"))
    assert shown["keypairs"][0]["access_key"] == created["access_key"]
    assert "Cli User" in baikal("admin", "user", "show", "cli@example.com")

    updated = json.loads(baikal("admin", "user", "update", "cli@example.com", "--description",
                                "from the CLI", "--json"))
    assert updated["user_id"] == created["user_id"]
    off = json.loads(baikal("admin", "user", "deactivate", "cli@example.com", "--json"))
    assert off["status"] == "inactive"
    keys = json.loads(baikal("admin", "keypair", "list", "--status", "inactive", "--email",
                             "cli@", "--json"))
    assert [k["access_key"] for k in keys["items"]] == [created["access_key"]]
    assert "active" in baikal("admin", "user", "activate", "cli@example.com")
    assert json.loads(baikal("admin", "keypair", "activate", created["access_key"],
                             "--json"))["is_active"] is True


def test_refusals_are_one_line_with_an_exit_code(baikal, monkeypatch) -> None:
    baikal("admin", "user", "create", "dup@example.com", "--password", PASSWORD)
    output = baikal("admin", "user", "create", "dup@example.com", "--password", PASSWORD,
                    code=1)
    assert output.strip().splitlines() == [
        "error: identity.user.email_taken (409): a user with this email exists"]
    weak = baikal("admin", "user", "create", "weak@example.com", "--password", "weak", code=1)
    assert "identity.user.password_too_weak (400): password needs" in weak
    schema = baikal("admin", "user", "create", "role@example.com", "--password", PASSWORD,
                    "--role", "emperor", code=1)
    assert "gateway.request.invalid (422)" in schema and "[body.role:" in schema
    monkeypatch.setenv("BAIKAL_SECRET_KEY", "wrong")
    denied = baikal("admin", "user", "list", code=3)
    assert "gateway.auth.signature_mismatch (401)" in denied
    monkeypatch.setenv("BAIKAL_ENDPOINT", "http://127.0.0.1:9")
    assert "cannot reach the gateway" in baikal("admin", "user", "list", code=4)
    monkeypatch.delenv("BAIKAL_ACCESS_KEY")
    assert "no access_key" in baikal("admin", "--data-dir", "nowhere", "user", "list", code=3)


def test_credentials_from_the_config_file_and_the_data_dir(stack: GatewayStack, baikal,
                                                           monkeypatch, tmp_path: Path) -> None:
    for name in ("BAIKAL_ENDPOINT", "BAIKAL_ACCESS_KEY", "BAIKAL_SECRET_KEY"):
        monkeypatch.delenv(name)
    config = tmp_path / "config.toml"
    config.write_text(f'endpoint = "{stack.url}"\naccess_key = "{stack.root["access_key"]}"\n'
                      f'secret_key = "{stack.root["secret_key"]}"\n')
    monkeypatch.setenv("BAIKAL_CONFIG", str(config))
    assert "root@baikal.test" in baikal("admin", "user", "list")
    monkeypatch.setenv("BAIKAL_CONFIG", str(tmp_path / "absent.toml"))
    data = tmp_path / "stack"
    (data / "run").mkdir(parents=True)
    (data / "superadmin.json").write_text(json.dumps(stack.root))
    (data / "run" / "gateway-0.json").write_text(json.dumps(
        {"service": "gateway", "http_host": "127.0.0.1", "http_port": stack.port}))
    assert "root@baikal.test" in baikal("admin", "--data-dir", str(data), "user", "list")


def test_policies_from_the_command_line(baikal) -> None:
    created = json.loads(baikal("admin", "policy", "create", "cli-policy", "--cpu", "4",
                                "--mem", "8", "--set", "max_session_lifetime=3600", "--json"))
    assert created["policy"]["total_resource_slots"]["cpu"] == "4"
    assert created["policy"]["max_session_lifetime"] == 3600
    assert "cli-policy" in baikal("admin", "policy", "list")
    baikal("admin", "policy", "update", "cli-policy", "--cuda-shares", "0.5")
    shown = json.loads(baikal("admin", "policy", "show", "cli-policy", "--json"))
    assert shown["policy"]["total_resource_slots"]["cuda.shares"] == "0.5"
    bad = baikal("admin", "policy", "create", "cli-bad", "--cpu", "513", code=1)
    assert "quota.policy.out_of_range" in bad
    assert json.loads(baikal("admin", "policy", "delete", "cli-policy", "--json"))["deleted"]
    user_tier = baikal("admin", "policy", "list", "--tier", "user")
    assert "default" in user_tier


def test_exports_write_csv_files(baikal, tmp_path: Path) -> None:
    baikal("admin", "user", "create", "exported@example.com", "--password", PASSWORD)
    out = baikal("export", "users", "-o", str(tmp_path / "people.csv"))
    assert "→" in out and "people.csv" in out
    with open(tmp_path / "people.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert "exported@example.com" in {r["email"] for r in rows}
    assert f"{len(rows)} rows" in out
    baikal("admin", "export", "keypairs")  # default name, in the working directory
    assert len(list(tmp_path.glob("keypairs_*.csv"))) == 1
    baikal("export", "policies", "-o", str(tmp_path / "policies.csv"))
    refused = baikal("export", "users", "-o", str(tmp_path / "bad name.csv"), code=1)
    assert "gateway.export.filename_invalid" in refused
    assert "no scheduler service is answering" in baikal("export", "sessions", code=4)


def test_info_shows_license_and_services_and_session_list_needs_the_scheduler(baikal) -> None:
    info = json.loads(baikal("info", "--json"))
    assert info["license"] == "Apache-2.0"
    table = baikal("admin", "info")
    assert "identity" in table and "quota" in table and "Apache-2.0" in table
    assert "scheduler" in baikal("admin", "session", "list", code=4)

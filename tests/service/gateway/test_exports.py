"""CSV exports stream rows that match the data (paging through the list queries) and obey the
file-name rules."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from tests.support.gateway import GatewayStack, eventually, new_user


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayStack]:
    # Pages of two rows, so every export pages through its list query.
    running = GatewayStack(tmp_path_factory.mktemp("exports"), scheduler=True,
                           export_page_size=2).start()
    yield running
    running.stop()


def rows(answer: httpx.Response) -> list[dict[str, str]]:
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(answer.text)))


@pytest.fixture(scope="module")
def people(root: httpx.Client) -> list[str]:
    project = root.post("/projects", json={"name": "lab"}).json()["project_id"]
    emails = []
    for n, extra in enumerate([
        {"description": 'commas, "quotes"\nand a newline', "projects": [project]},
        {"full_name": "Ünïcode Näme", "role": "admin"},
        {"status": "inactive"},
        {"description": "=cmd|' /C calc'!A0"},  # a formula stays text in a spreadsheet
        {},
    ]):
        answer = root.post("/users", json=new_user(f"csv{n}", **extra))
        assert answer.status_code == 201, answer.text
        emails.append(answer.json()["email"])
    return emails


def test_users_export_rows_match_the_users_active_and_inactive(root: httpx.Client,
                                                               people: list[str]) -> None:
    exported = rows(root.get("/exports/users"))
    listed = root.get("/users", params={"status": "all", "limit": 1000}).json()["items"]
    assert len(exported) == len(listed) == int(root.get("/exports/users").headers[
        "x-total-count"])
    assert list(exported[0]) == ["email", "username", "full_name", "description", "is_active",
                                 "domain", "role", "projects"]
    by_email = {r["email"]: r for r in exported}
    for user in listed:
        row = by_email[user["email"]]
        description = user["description"]
        if description.startswith("="):
            description = "'" + description
        assert row == {"email": user["email"], "username": user["username"],
                       "full_name": user["full_name"], "description": description,
                       "is_active": "true" if user["status"] == "active" else "false",
                       "domain": user["domain"], "role": user["role"],
                       "projects": "lab" if user["projects"] else ""}
    assert by_email["usercsv2@example.com"]["is_active"] == "false"
    active = rows(root.get("/exports/users", params={"status": "active"}))
    assert "usercsv2@example.com" not in {r["email"] for r in active}
    inactive = rows(root.get("/exports/users", params={"status": "inactive"}))
    assert [r["email"] for r in inactive] == ["usercsv2@example.com"]


def test_keypairs_export_matches_the_keypairs_and_their_policy(root: httpx.Client,
                                                               people: list[str]) -> None:
    root.post("/resource-policies/keypair", json={
        "name": "csv-policy", "total_resource_slots": {"cpu": "2", "mem": "4"}})
    created = root.post("/users", json=new_user("csvkey")).json()
    eventually(lambda: root.put(f"/keypairs/{created['access_key']}/resource-policy",
                                json={"resource_policy": "csv-policy"}),
               lambda a: a.status_code == 200)
    exported = rows(root.get("/exports/keypairs"))
    listed = root.get("/keypairs", params={"status": "all", "limit": 1000}).json()["items"]
    assert sorted(r["access_key"] for r in exported) == sorted(k["access_key"] for k in listed)
    for keypair in listed:
        row = next(r for r in exported if r["access_key"] == keypair["access_key"])
        assert (row["user_id"], row["is_active"], row["resource_policy"], row["rate_limit"]) == (
            keypair["email"], str(keypair["is_active"]).lower(), keypair["resource_policy"],
            str(keypair["rate_limit"]))
        assert "secret" not in json.dumps(row).lower()
    mine = next(r for r in exported if r["access_key"] == created["access_key"])
    assert (mine["total_resource_slots.cpu"], mine["total_resource_slots.mem"]) == (
        "2", str(4 * 1024**3))


def test_resource_policy_export_of_each_tier(root: httpx.Client) -> None:
    root.post("/resource-policies/keypair", json={
        "name": "gardener", "total_resource_slots": {"cpu": "8", "cuda.shares": "1.5"},
        "max_concurrent_sessions": 3, "idle_timeout": 600})
    keypair = {r["name"]: r for r in rows(root.get("/exports/resource-policies"))}
    assert {"default", "gardener"} <= set(keypair)
    assert keypair["gardener"]["total_resource_slots.cpu"] == "8"
    assert keypair["gardener"]["total_resource_slots.cuda.shares"] == "1.5"
    assert keypair["gardener"]["max_concurrent_sessions"] == "3"
    assert keypair["gardener"]["idle_timeout"] == "600"
    assert keypair["default"]["default_for_unspecified"] == "unlimited"
    user_tier = rows(root.get("/exports/resource-policies", params={"tier": "user"}))
    assert [r["name"] for r in user_tier] == ["default"]
    assert "max_concurrent_logins" in user_tier[0]


def test_sessions_export_has_the_reference_columns(stack: GatewayStack,
                                                   root: httpx.Client) -> None:
    empty = rows(root.get("/exports/sessions"))
    assert empty == []
    header = root.get("/exports/sessions").text.splitlines()[0].split(",")
    assert header == ["id", "name", "image", "cluster_mode", "user_email", "status",
                      "status_info", "access_key", "cpu_slot", "mem_slot", "cuda_device",
                      "cuda_shares", "created_at", "terminated_at"]
    requested = root.post("/sessions", json={
        "name": "nb", "image": "cr.example.org/stable/python:3.11",
        "slots": {"cpu": 1, "mem": str(2 * 1024**3)}})
    assert requested.status_code == 201, requested.text
    exported = eventually(lambda: rows(root.get("/exports/sessions")), lambda r: len(r) == 1)[0]
    assert exported["id"] == requested.json()["session_id"]
    assert (exported["name"], exported["image"], exported["cluster_mode"]) == (
        "nb", "python:3.11", "single-node")
    assert exported["user_email"] == stack.root["email"]
    assert exported["access_key"] == stack.root["access_key"]
    assert (exported["cpu_slot"], exported["mem_slot"], exported["cuda_device"]) == (
        "1", "2.00", "0")
    assert exported["status"] == "PENDING" and exported["created_at"].startswith("20")


def test_default_file_name_is_list_date_time(root: httpx.Client) -> None:
    disposition = root.get("/exports/users").headers["content-disposition"]
    name = re.search(r'filename="([^"]+)"', disposition).group(1)
    assert re.fullmatch(r"users_\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2}\.csv", name)
    assert name[6:16] == datetime.now(UTC).strftime("%Y-%m-%d")


@pytest.mark.parametrize(("requested", "served"), [
    ("credentials", "credentials.csv"),
    ("my-list_v2.csv", "my-list_v2.csv"),
    ("a" * 255, "a" * 255 + ".csv"),
])
def test_file_names_within_the_rules_are_used(root: httpx.Client, requested: str,
                                              served: str) -> None:
    answer = root.get("/exports/keypairs", params={"filename": requested})
    assert answer.status_code == 200
    assert answer.headers["content-disposition"] == f'attachment; filename="{served}"'


@pytest.mark.parametrize("requested", [
    "a" * 256, "has space", "../etc/passwd", "semi;colon", "quote\"", "ünïcode", "tab\t"])
def test_file_names_breaking_the_rules_are_refused_with_400(root: httpx.Client,
                                                            requested: str) -> None:
    for path in ("/exports/users", "/exports/keypairs", "/exports/resource-policies",
                 "/exports/sessions"):
        answer = root.get(path, params={"filename": requested})
        assert answer.status_code == 400, (path, answer.text)
        assert answer.json()["error"]["code"] == "gateway.export.filename_invalid"


def test_exports_are_for_admins(stack: GatewayStack, root: httpx.Client) -> None:
    creds = root.post("/users", json=new_user("csvplain")).json()
    with stack.client(creds["access_key"], creds["secret_key"]) as user:
        answer = user.get("/exports/users")
    assert (answer.status_code, answer.json()["error"]["code"]) == (403,
                                                                     "gateway.auth.forbidden")

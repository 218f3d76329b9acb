"""The seed's user management over HTTP: create (each validation failure), update, deactivate,
reactivate, and the keypairs' state through it all."""

from __future__ import annotations

import httpx
import pytest

from tests.support.gateway import GatewayStack, new_user


def error_code(answer: httpx.Response) -> str:
    return answer.json()["error"]["code"]


@pytest.mark.parametrize(("overrides", "status", "code", "field"), [
    ({"email": ""}, 400, "identity.user.email_empty", "email"),
    ({"email": "a" * 60 + "@x.io"}, 400, "identity.user.email_too_long", "email"),
    ({"email": "not-an-email"}, 400, "identity.user.email_invalid", "email"),
    ({"username": "u" * 65}, 400, "identity.user.username_too_long", "username"),
    ({"username": "two words"}, 400, "identity.user.username_invalid", "username"),
    ({"full_name": "f" * 65}, 400, "identity.user.full_name_too_long", "full_name"),
    ({"description": "d" * 501}, 400, "identity.user.description_too_long", "description"),
    # the seed's three password failures: no inputs, no confirmation, non-matching values
    ({"password": None, "password_confirm": None}, 400, "identity.user.password_empty",
     "password"),
    ({"password_confirm": None}, 400, "identity.user.password_confirmation_missing",
     "password_confirm"),
    ({"password_confirm": "Passw0rd?"}, 400, "identity.user.password_confirmation_mismatch",
     "password_confirm"),
    ({"password": "Sh0rt!", "password_confirm": "Sh0rt!"}, 400,
     "identity.user.password_too_weak", "password"),
    ({"password": "NoDigits!!", "password_confirm": "NoDigits!!"}, 400,
     "identity.user.password_too_weak", "password"),
    ({"domain": "nowhere"}, 404, "identity.domain.not_found", "domain"),
    ({"resource_policy": "no-such-policy"}, 400, "identity.policy.unknown", "resource_policy"),
])
def test_create_refuses_each_invalid_field_with_its_code(
        root: httpx.Client, overrides: dict, status: int, code: str, field: str) -> None:
    answer = root.post("/users", json=new_user("invalid", **overrides))
    assert answer.status_code == status, answer.text
    body = answer.json()["error"]
    assert body["code"] == code
    assert body["details"]["field"] == field
    assert "Passw0rd" not in answer.text  # values are never echoed


def test_create_refuses_a_body_that_breaks_the_schema_with_422_and_field_paths(
        root: httpx.Client) -> None:
    answer = root.post("/users", json={"email": "x@example.com", "role": "emperor",
                                       "password": "Passw0rd!"})
    assert answer.status_code == 422
    body = answer.json()["error"]
    assert body["code"] == "gateway.request.invalid"
    assert body["details"]["errors"][0]["field"] == "body.role"
    assert "Passw0rd!" not in answer.text


def test_taken_email_and_username_conflict_with_409(root: httpx.Client) -> None:
    assert root.post("/users", json=new_user("taken", username="taken")).status_code == 201
    again = root.post("/users", json=new_user("taken", username="other"))
    assert (again.status_code, error_code(again)) == (409, "identity.user.email_taken")
    same_name = root.post("/users", json=new_user("taken2", username="taken"))
    assert (same_name.status_code, error_code(same_name)) == (409,
                                                               "identity.user.username_taken")


def test_walkthrough_create_update_deactivate_reactivate(stack: GatewayStack,
                                                         root: httpx.Client) -> None:
    created = root.post("/users", json=new_user("walk", description="seed user"))
    assert created.status_code == 201, created.text
    creds = created.json()
    assert creds["email"] == "userwalk@example.com" and creds["username"] == "userwalk"
    assert creds["access_key"].startswith("AKIA") and len(creds["secret_key"]) == 40

    active = root.get("/users", params={"status": "active", "email_contains": "userwalk"})
    assert [u["email"] for u in active.json()["items"]] == ["userwalk@example.com"]
    shown = root.get("/users/userwalk@example.com").json()
    assert shown["description"] == "seed user" and shown["domain"] == "default"
    assert [(k["access_key"], k["is_active"]) for k in shown["keypairs"]] == [
        (creds["access_key"], True)]

    with stack.client(creds["access_key"], creds["secret_key"]) as user:
        assert user.get("/auth/whoami").json()["email"] == "userwalk@example.com"
        refused = user.post("/users", json=new_user("byuser"))
        assert (refused.status_code, error_code(refused)) == (403, "identity.auth.forbidden")

        # update: names, flags and password with the same policy; never the email
        changed = root.patch("/users/userwalk@example.com", json={
            "full_name": "Walker", "username": "walker", "need_password_change": True})
        assert changed.status_code == 200, changed.text
        assert changed.json()["username"] == "walker"
        assert changed.json()["need_password_change"] is True
        weak = root.patch("/users/userwalk@example.com",
                          json={"password": "weak", "password_confirm": "weak"})
        assert error_code(weak) == "identity.user.password_too_weak"
        no_email_change = root.patch("/users/userwalk@example.com",
                                     json={"email": "new@example.com"})
        assert no_email_change.status_code == 422

        # deactivate: Inactive tab, keypairs off, the API and login refused at once
        off = root.post("/users/userwalk@example.com/deactivate")
        assert off.status_code == 200 and off.json()["status"] == "inactive"
        inactive = root.get("/users", params={"status": "inactive"}).json()["items"]
        assert "userwalk@example.com" in [u["email"] for u in inactive]
        assert "userwalk@example.com" not in [
            u["email"] for u in root.get("/users").json()["items"]]
        assert root.get("/users/userwalk@example.com").json()["keypairs"][0]["is_active"] is False
        denied = user.get("/auth/whoami")
        assert (denied.status_code, error_code(denied)) == (401, "gateway.auth.inactive_key")
        login = stack.client(signed=False).post("/auth/login", json={
            "email": "userwalk@example.com", "password": "Passw0rd!"})
        assert (login.status_code, error_code(login)) == (401,
                                                          "identity.auth.invalid_credentials")

        # reactivate: the user is back, its keypair stays off until an admin re-enables it
        on = root.post("/users/userwalk@example.com/activate")
        assert on.json()["status"] == "active"
        assert root.get("/users/userwalk@example.com").json()["keypairs"][0]["is_active"] is False
        assert user.get("/auth/whoami").status_code == 401
        no_key = stack.client(signed=False).post("/auth/login", json={
            "email": "userwalk@example.com", "password": "Passw0rd!"})
        assert (no_key.status_code, error_code(no_key)) == (403, "identity.auth.no_active_keypair")

        enabled = root.post(f"/keypairs/{creds['access_key']}/activate")
        assert enabled.status_code == 200 and enabled.json()["is_active"] is True
        assert user.get("/auth/whoami").status_code == 200


def test_keypairs_issue_list_policy_rate_limit_and_limits(root: httpx.Client) -> None:
    creds = root.post("/users", json=new_user("keys")).json()
    issued = root.post("/keypairs", json={"email": "userkeys@example.com", "rate_limit": 500})
    assert issued.status_code == 201
    second = issued.json()["access_key"]
    listed = root.get("/keypairs", params={"email_contains": "userkeys", "status": "all"})
    rows = {k["access_key"]: k for k in listed.json()["items"]}
    assert set(rows) == {creds["access_key"], second}
    assert rows[second]["rate_limit"] == 500 and rows[second]["is_default"] is False

    unknown = root.put(f"/keypairs/{second}/resource-policy", json={"resource_policy": "nope"})
    assert (unknown.status_code, error_code(unknown)) == (400, "identity.policy.unknown")
    assert root.put(f"/keypairs/{second}/rate-limit", json={"rate_limit": 0}).status_code == 422
    limited = root.put(f"/keypairs/{second}/rate-limit", json={"rate_limit": 1000})
    assert limited.json()["rate_limit"] == 1000
    off = root.post(f"/keypairs/{second}/deactivate")
    assert off.json()["is_active"] is False
    inactive = root.get("/keypairs", params={"status": "inactive", "email_contains": "userkeys"})
    assert [k["access_key"] for k in inactive.json()["items"]] == [second]
    missing = root.post("/keypairs/AKIAAAAAAAAAAAAAAAAA/activate")
    assert (missing.status_code, error_code(missing)) == (404, "identity.keypair.not_found")


def test_domains_projects_and_membership(root: httpx.Client) -> None:
    assert root.post("/domains", json={"name": "research"}).status_code == 201
    assert error_code(root.post("/domains", json={"name": "research"})) == (
        "identity.domain.name_taken")
    project = root.post("/projects", json={"domain": "research", "name": "vision"})
    assert project.status_code == 201, project.text
    project_id = project.json()["project_id"]
    root.post("/users", json=new_user("member", domain="research"))
    added = root.post(f"/projects/{project_id}/members", json={"email": "usermember@example.com"})
    assert added.status_code == 200 and added.json()["members"] == 1
    user = root.get("/users/usermember@example.com").json()
    assert [p["name"] for p in user["projects"]] == ["vision"]
    listed = root.get("/projects", params={"domain": "research"}).json()["items"]
    assert [p["name"] for p in listed] == ["vision"]
    removed = root.delete(f"/projects/{project_id}/members/usermember@example.com")
    assert removed.json()["members"] == 0
    other = root.post(f"/projects/{project_id}/members", json={"email": "root@baikal.test"})
    assert (other.status_code, error_code(other)) == (400, "identity.project.other_domain")

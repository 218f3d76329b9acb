"""Roles over real HTTP: a custom role with scopes, permissions, assignment by email, the list's
filters, permission checks, purge refused then allowed; and the same from `baikal admin role`."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.support.gateway import GatewayStack, eventually, new_user


def ok(answer: httpx.Response, status: int = 200) -> Any:
    assert answer.status_code == status, answer.text
    return answer.json()


def refused(answer: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert (answer.status_code, answer.json()["error"]["code"]) == (status, code), answer.text
    return answer.json()["error"]


def scopes_of(root: httpx.Client, project: str) -> tuple[str, str]:
    """(default domain id, a new project's id), once rbac has learnt both from identity."""
    project_id = ok(root.post("/projects", json={"name": project}), 201)["project_id"]
    domains = ok(root.get("/domains"))["items"]
    domain_id = next(d["domain_id"] for d in domains if d["name"] == "default")
    eventually(lambda: root.get("/roles", params={"source": "system", "limit": 1000}),
               lambda r: any(project_id[:8] in row["name"] for row in r.json()["items"]))
    return domain_id, project_id


def user_known_to_rbac(root: httpx.Client, email: str) -> dict[str, Any]:
    found = eventually(lambda: root.get("/rbac/users", params={"text": email}),
                       lambda r: r.status_code == 200 and r.json()["total"] == 1)
    return found.json()["items"][0]


def test_a_custom_role_is_created_granted_assigned_checked_and_purged_over_http(
        stack: GatewayStack, root: httpx.Client) -> None:
    domain_id, project_id = scopes_of(root, "serving")
    created_user = ok(root.post("/users", json=new_user("r1")), 201)
    user = user_known_to_rbac(root, "userr1@example.com")
    assert user["user_id"] == created_user["user_id"]

    role = ok(root.post("/roles", json={
        "name": "model-serving", "description": "serves models",
        "scopes": [{"scope_type": "domain", "scope_id": domain_id},
                   {"scope_type": "project", "scope_id": project_id}]}), 201)
    rid = role["role_id"]
    assert (role["source"], role["status"], len(role["scopes"])) == ("custom", "active", 2)
    refused(root.post("/roles", json={"name": "Model-Serving", "scopes": role["scopes"]}),
            409, "rbac.role.name_taken")
    refused(root.post("/roles", json={"name": "no-scope"}), 400, "rbac.role.scope_required")
    renamed = ok(root.patch(f"/roles/{rid}", json={"description": "serves models well"}))
    assert renamed["changed"] == ["description"]

    granted = ok(root.post(f"/roles/{rid}/permissions", json={
        "scope_type": "domain", "scope_id": domain_id, "entity_type": "session",
        "operations": ["read", "update"]}), 201)
    assert len(granted["permission_ids"]) == 2 and granted["permissions"] == 2
    refused(root.post(f"/roles/{rid}/permissions", json={
        "scope_type": "domain", "scope_id": domain_id, "entity_type": "session",
        "operations": ["read"]}), 409, "rbac.permission.exists")
    refused(root.post(f"/roles/{rid}/permissions", json={
        "scope_type": "domain", "scope_id": domain_id, "entity_type": "agent",
        "operations": ["create"]}), 400, "rbac.permission.operation_invalid")
    refused(root.post(f"/roles/{rid}/permissions", json={
        "scope_type": "user", "scope_id": user["user_id"], "entity_type": "vfolder",
        "operations": ["read"]}), 400, "rbac.permission.scope_not_in_role")
    refused(root.post(f"/roles/{rid}/permissions", json={
        "scope_type": "domain", "scope_id": domain_id, "entity_type": "session",
        "operations": ["fly"]}), 422, "gateway.request.invalid")

    assigned = ok(root.post(f"/roles/{rid}/assignments",
                            json={"emails": ["userr1@example.com"]}))
    assert assigned["assigned"] == [user["user_id"]] and assigned["assignments"] == 1
    refused(root.post(f"/roles/{rid}/assignments", json={"user_ids": [user["user_id"]]}),
            409, "rbac.assignment.exists")
    refused(root.post(f"/roles/{rid}/assignments", json={"emails": ["nobody@example.com"]}),
            404, "rbac.user.not_found")

    detail = ok(root.get(f"/roles/{rid}"))
    assert {(s["scope_type"], s["target"]) for s in detail["scopes"]} == {
        ("domain", "default"), ("project", "serving")}
    assert sorted(p["operation"] for p in detail["permissions"]) == ["read", "update"]
    assert [a["email"] for a in detail["assignments"]] == ["userr1@example.com"]
    only_project = ok(root.get(f"/roles/{rid}", params={"scope_type": "project"}))
    assert [s["scope_id"] for s in only_project["scopes"]] == [project_id]

    question = {"user_id": user["user_id"], "operation": "update", "entity_type": "session",
                "scope_type": "project", "scope_id": project_id}  # a domain grant covers it
    assert ok(root.post("/permissions/check", json=question))["allowed"] is True
    batch = ok(root.post("/permissions/check-batch", json={"checks": [
        question, question | {"operation": "hard-delete"}]}))
    assert batch["allowed"] == [True, False]
    with stack.client(created_user["access_key"], created_user["secret_key"]) as as_user:
        assert ok(as_user.post("/permissions/check", json=question))["allowed"] is True
        refused(as_user.post("/permissions/check", json=question | {
            "user_id": stack.root["user_id"]}), 403, "rbac.auth.forbidden")
        refused(as_user.post("/roles", json={"name": "mine", "scopes": role["scopes"]}),
                403, "rbac.auth.forbidden")
        refused(as_user.get("/roles"), 403, "rbac.auth.forbidden")

    refused(root.delete(f"/roles/{rid}"), 409, "rbac.role.active")
    ok(root.post(f"/roles/{rid}/deactivate"))
    assert ok(root.post("/permissions/check", json=question))["allowed"] is False
    refused(root.post(f"/roles/{rid}/assignments", json={"emails": ["admin@example.com"]}),
            409, "rbac.role.inactive")
    error = refused(root.delete(f"/roles/{rid}"), 409, "rbac.role.not_empty")
    assert error["details"] == {"assignments": 1, "permissions": 2}
    ok(root.delete(f"/roles/{rid}/assignments/userr1@example.com"))
    refused(root.delete(f"/roles/{rid}/assignments/{user['user_id']}"), 404,
            "rbac.assignment.not_found")
    for permission in detail["permissions"]:
        ok(root.delete(f"/roles/{rid}/permissions/{permission['permission_id']}"))
    assert ok(root.delete(f"/roles/{rid}"))["purged"] is True
    refused(root.get(f"/roles/{rid}"), 404, "rbac.role.not_found")
    refused(root.post(f"/roles/{rid}/activate"), 404, "rbac.role.not_found")


def test_list_filters_status_source_and_sort(root: httpx.Client) -> None:
    domain_id, project_id = scopes_of(root, "listing")
    scopes = [{"scope_type": "domain", "scope_id": domain_id},
              {"scope_type": "project", "scope_id": project_id}]
    ids = {name: ok(root.post("/roles", json={"name": name, "scopes": scopes}), 201)["role_id"]
           for name in ("ops-b", "ops-a", "ops-c")}
    listed = ok(root.get("/roles", params={"name_contains": "OPS-"}))
    assert [r["name"] for r in listed["items"]] == ["ops-a", "ops-b", "ops-c"]
    first = listed["items"][0]
    assert (first["scope_type"], first["scope_id"], first["more_scopes"]) == (
        "domain", domain_id, 1)
    newest = ok(root.get("/roles", params={"name_contains": "ops-", "sort": "created_at",
                                           "order": "desc"}))
    assert [r["name"] for r in newest["items"]] == ["ops-c", "ops-a", "ops-b"]
    ok(root.post(f"/roles/{ids['ops-a']}/deactivate"))
    active = ok(root.get("/roles", params={"name_contains": "ops-"}))
    inactive = ok(root.get("/roles", params={"status": "inactive", "name_contains": "ops-"}))
    assert [r["name"] for r in active["items"]] == ["ops-b", "ops-c"]
    assert [r["name"] for r in inactive["items"]] == ["ops-a"]
    ok(root.post(f"/roles/{ids['ops-a']}/activate"))
    system = ok(root.get("/roles", params={"source": "system", "limit": 1000}))
    assert "domain-default-admin" in {r["name"] for r in system["items"]}
    assert all(r["source"] == "system" for r in system["items"])
    page = ok(root.get("/roles", params={"source": "custom", "name_contains": "ops-",
                                         "limit": 1, "offset": 1}))
    assert (page["total"], [r["name"] for r in page["items"]]) == (3, ["ops-b"])
    refused(root.get("/roles", params={"source": "alien"}), 422, "gateway.request.invalid")
    refused(root.patch(f"/roles/{system['items'][0]['role_id']}", json={"name": "renamed"}),
            409, "rbac.role.system_immutable")


def test_roles_from_the_command_line(root: httpx.Client, baikal) -> None:
    domain_id, project_id = scopes_of(root, "cli-roles")
    ok(root.post("/users", json=new_user("cli-r")), 201)
    user_known_to_rbac(root, "usercli-r@example.com")
    role = json.loads(baikal("admin", "role", "create", "cli-role", "--description", "from cli",
                             "--scope", f"domain:{domain_id}", "--scope",
                             f"project:{project_id}", "--json"))
    rid = role["role_id"]
    assert "cli-role" in baikal("admin", "role", "list", "--name", "cli-")
    granted = json.loads(baikal("admin", "role", "grant", rid, "--scope", f"domain:{domain_id}",
                                "--entity", "session", "--op", "read", "--op", "update",
                                "--json"))
    assert len(granted["permission_ids"]) == 2
    baikal("admin", "role", "assign", rid, "usercli-r@example.com")
    shown = baikal("admin", "role", "show", rid)
    assert "usercli-r@example.com" in shown and "session" in shown and "cli-roles" in shown
    updated = json.loads(baikal("admin", "role", "update", rid, "--name", "cli-role-2",
                                "--json"))
    assert updated["name"] == "cli-role-2"
    output = baikal("admin", "role", "purge", rid, code=1)
    assert "rbac.role.active (409)" in output
    baikal("admin", "role", "deactivate", rid)
    assert "cli-role-2" in baikal("admin", "role", "list", "--status", "inactive")
    baikal("admin", "role", "unassign", rid, "usercli-r@example.com")
    detail = json.loads(baikal("admin", "role", "show", rid, "--json"))
    for permission in detail["permissions"]:
        baikal("admin", "role", "revoke", rid, permission["permission_id"])
    assert json.loads(baikal("admin", "role", "purge", rid, "--json"))["purged"] is True
    baikal("admin", "role", "activate", rid, code=1)

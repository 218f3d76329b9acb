"""The seed's RBAC walk-through over a real nats-server: roles, permissions, assignments,
status and purge, the list's filters and sorts, checks, and the events on BAI_EVT_RBAC."""

from __future__ import annotations

import asyncio
import json
import time

from contracts import subjects
from contracts.identity import Subjects as IS
from contracts.rbac import Subjects as RS
from tests.support.identity import connect_as
from tests.support.rbac import eventually


async def project_and_domain(stack, name: str = "my-project") -> tuple[str, str]:
    project = await stack.root.command_or_raise(IS.PROJECT_CREATE, {"name": name})
    domains = await stack.root.query_or_raise(IS.DOMAIN_LIST, {})
    domain_id = next(d for d in domains["items"] if d["name"] == "default")["domain_id"]
    await eventually(lambda: stack.root.query(RS.ROLE_LIST, {"name_contains": "member"}),
                     lambda r: r.ok and any(project["project_id"].startswith(i["name"][8:16])
                                            for i in r.data["items"]))
    return project["project_id"], domain_id


def collector(received: list[dict]):
    async def collect(msg) -> None:
        received.append(json.loads(msg.data))

    return collect


async def test_seed_walkthrough_a_role_goes_from_creation_through_grants_and_assignments_to_purge(
        stack, nats_server) -> None:
    root = stack.root
    listener = await connect_as(nats_server, "admin")
    received: list[dict] = []
    # The operator hears published events (core NATS); it cannot create consumers.
    await listener.subscribe(subjects.events_of("rbac"), cb=collector(received))
    await listener.flush()
    project_id, domain_id = await project_and_domain(stack)
    one, two = await stack.user(1), await stack.user(2)

    role = await root.command_or_raise(RS.ROLE_CREATE, {
        "name": "model-serving", "description": "serves models",
        "scopes": [{"scope_type": "project", "scope_id": project_id},
                   {"scope_type": "user", "scope_id": one["user_id"]},
                   {"scope_type": "domain", "scope_id": domain_id}]})
    rid = role["role_id"]
    edited = await root.command_or_raise(RS.ROLE_UPDATE, {"role_id": rid,
                                                          "description": "serves models well"})
    assert edited["changed"] == ["description"]
    system = (await root.query_or_raise(RS.ROLE_LIST, {"source": "system",
                                                       "name_contains": "domain-default"}))
    refused = await root.command(RS.ROLE_UPDATE, {"role_id": system["items"][0]["role_id"],
                                                  "name": "renamed"})
    assert refused.error.code == "rbac.role.system_immutable"

    for scope_type, scope_id, entity, ops in [
            ("project", project_id, "vfolder", ["create"]),
            ("domain", domain_id, "session", ["read"]),
            ("domain", domain_id, "endpoint", ["create", "read", "update"]),
            ("domain", domain_id, "image", ["soft-delete"])]:
        await root.command_or_raise(RS.ROLE_ADD_PERMISSION, {
            "role_id": rid, "scope_type": scope_type, "scope_id": scope_id,
            "entity_type": entity, "operations": ops})
    refused = await root.command(RS.ROLE_ADD_PERMISSION, {
        "role_id": rid, "scope_type": "user", "scope_id": two["user_id"],
        "entity_type": "vfolder", "operations": ["read"]})
    assert refused.error.code == "rbac.permission.scope_not_in_role"

    found = [(await root.query_or_raise(RS.USER_SEARCH, {"text": email}))["items"][0]
             for email in ("user1@example.com", "user2@example.com")]
    await root.command_or_raise(RS.ROLE_ASSIGN, {"role_id": rid,
                                                 "user_ids": [u["user_id"] for u in found]})
    detail = await root.query_or_raise(RS.ROLE_GET, {"role_id": rid, "scope_type": "project"})
    assert detail["scopes"] == [{"scope_type": "project", "scope_id": project_id,
                                 "target": "my-project"}]
    assert len(detail["permissions"]) == 6
    assert {a["email"] for a in detail["assignments"]} == {"user1@example.com",
                                                           "user2@example.com"}
    assert detail["description"] == "serves models well" and detail["status"] == "active"

    assert (await root.command(RS.ROLE_PURGE, {"role_id": rid})).error.code == "rbac.role.active"
    await root.command_or_raise(RS.ROLE_DEACTIVATE, {"role_id": rid})
    refused = await root.command(RS.ROLE_PURGE, {"role_id": rid})
    assert refused.error.code == "rbac.role.not_empty"
    assert refused.error.details == {"assignments": 2, "permissions": 6}
    for user in (one, two):
        await root.command_or_raise(RS.ROLE_UNASSIGN, {"role_id": rid,
                                                       "user_id": user["user_id"]})
    for permission in detail["permissions"]:
        await root.command_or_raise(RS.ROLE_REMOVE_PERMISSION, {
            "role_id": rid, "permission_id": permission["permission_id"]})
    assert (await root.command_or_raise(RS.ROLE_PURGE, {"role_id": rid}))["purged"] is True
    gone = await root.query(RS.ROLE_GET, {"role_id": rid})
    assert gone.error.code == "rbac.role.not_found"
    again = await root.command(RS.ROLE_ACTIVATE, {"role_id": rid})
    assert again.error.code == "rbac.role.not_found"

    types = await eventually(lambda: asyncio.sleep(0, [e["type"] for e in received
                                                         if e["aggregate_id"] == rid]),
                             lambda t: "RolePurged" in t)
    assert types[:2] == ["RoleCreated", "RoleUpdated"]
    assert types.count("PermissionAdded") == 6 and types.count("PermissionRemoved") == 6
    assert types.count("RoleAssigned") == 2 and types.count("RoleUnassigned") == 2
    assert types.count("RoleDeactivated") == 1 and types[-1] == "RolePurged"
    await listener.close()


async def test_list_toggles_searches_filters_and_sorts(stack) -> None:
    root = stack.root
    project_id, domain_id = await project_and_domain(stack)
    scope = [{"scope_type": "domain", "scope_id": domain_id},
             {"scope_type": "project", "scope_id": project_id}]
    for name in ("ops-b", "ops-a", "ops-c"):
        await root.command_or_raise(RS.ROLE_CREATE, {"name": name, "scopes": scope})
    listed = await root.query_or_raise(RS.ROLE_LIST, {"name_contains": "OPS-"})
    assert [r["name"] for r in listed["items"]] == ["ops-a", "ops-b", "ops-c"]
    row = listed["items"][0]
    assert (row["scope_type"], row["scope_id"], row["more_scopes"]) == ("domain", domain_id, 1)
    assert row["source"] == "custom" and row["created_at"] <= row["updated_at"]
    newest = await root.query_or_raise(RS.ROLE_LIST, {"name_contains": "ops-", "sort":
                                                      "created_at", "order": "desc"})
    assert [r["name"] for r in newest["items"]] == ["ops-c", "ops-a", "ops-b"]
    await root.command_or_raise(RS.ROLE_UPDATE, {"role_id": row["role_id"], "description": "x"})
    touched = await root.query_or_raise(RS.ROLE_LIST, {"name_contains": "ops-",
                                                       "sort": "updated_at", "order": "desc"})
    assert touched["items"][0]["name"] == "ops-a"
    await root.command_or_raise(RS.ROLE_DEACTIVATE, {"role_id": row["role_id"]})
    active = await root.query_or_raise(RS.ROLE_LIST, {"name_contains": "ops-"})  # default
    inactive = await root.query_or_raise(RS.ROLE_LIST, {"status": "inactive"})
    assert [r["name"] for r in active["items"]] == ["ops-b", "ops-c"]
    assert [r["name"] for r in inactive["items"]] == ["ops-a"]
    system = await root.query_or_raise(RS.ROLE_LIST, {"source": "system", "limit": 100})
    assert {"domain-default-admin", f"project-{project_id[:8]}-member"} <= {
        r["name"] for r in system["items"]}
    assert all(r["source"] == "system" for r in system["items"])
    custom = await root.query_or_raise(RS.ROLE_LIST, {"source": "custom", "limit": 1,
                                                      "offset": 1})
    assert custom["total"] == 2 and [r["name"] for r in custom["items"]] == ["ops-c"]


async def test_a_check_follows_the_granting_roles_status(stack) -> None:
    root = stack.root
    _, domain_id = await project_and_domain(stack)
    user = await stack.user(5)
    as_user = stack.as_user(user)
    rid = (await root.command_or_raise(RS.ROLE_CREATE, {"name": "image-cleaners", "scopes": [
        {"scope_type": "domain", "scope_id": domain_id}]}))["role_id"]
    await root.command_or_raise(RS.ROLE_ADD_PERMISSION, {
        "role_id": rid, "scope_type": "domain", "scope_id": domain_id, "entity_type": "image",
        "operations": ["soft-delete"]})
    question = {"user_id": user["user_id"], "operation": "soft-delete", "entity_type": "image",
                "scope_type": "domain", "scope_id": domain_id}
    assert (await root.query_or_raise(RS.CHECK, question))["allowed"] is False
    await root.command_or_raise(RS.ROLE_ASSIGN, {"role_id": rid, "emails": ["user5@example.com"]})
    assert (await root.query_or_raise(RS.CHECK, question))["allowed"] is True
    mine = await eventually(lambda: as_user.query(RS.CHECK, question),
                            lambda r: r.ok or r.error.code != "rbac.auth.unauthenticated")
    assert mine.data["allowed"] is True  # a user may ask about themselves
    other = await as_user.query(RS.CHECK, {**question, "user_id": stack.creds["user_id"]})
    assert other.error.code == "rbac.auth.forbidden"
    refused = await as_user.command(RS.ROLE_DEACTIVATE, {"role_id": rid})
    assert refused.error.code == "rbac.auth.forbidden"

    started = time.perf_counter()
    await root.command_or_raise(RS.ROLE_DEACTIVATE, {"role_id": rid})
    assert (await root.query_or_raise(RS.CHECK, question))["allowed"] is False
    assert time.perf_counter() - started < 1.0
    batch = await root.query_or_raise(RS.CHECK_BATCH, {"checks": [
        question, {**question, "user_id": stack.creds["user_id"]}]})
    assert batch["allowed"] == [False, True]  # the superadmin bypasses
    await root.command_or_raise(RS.ROLE_ACTIVATE, {"role_id": rid})
    assert (await root.query_or_raise(RS.CHECK, question))["allowed"] is True

"""Folders: creation rules, visibility without invitation, limits, host permissions."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts import storage as c
from contracts.envelope import Actor
from services.runtime.errors import CodedError
from tests.unit.storage.harness import ADMIN, ALICE, BOB, EVE, PROJECT, ROOT, Harness, new_id


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


def refused(code: str, call, *args, **kwargs) -> CodedError:  # type: ignore[no-untyped-def]
    with pytest.raises(CodedError) as caught:
        call(*args, **kwargs)
    assert caught.value.code == f"storage.{code}", caught.value.code
    return caught.value


def test_seed_walkthrough_members_see_a_read_only_group_folder_without_invitation(h):
    made = h.group("shared-data", permission="ro")
    assert made["ownership"] == "group" and made["owner_id"] == PROJECT
    assert h.directory_of(made).is_dir()
    row = h.listed(BOB)["shared-data"]
    assert (row["permission"], row["permission_label"]) == ("ro", "R")
    assert row["is_owner"] is False
    assert h.queries.list_invitations(Actor(access_key=BOB),
                                      c.ListInvitations())["items"] == []


def test_a_non_member_neither_lists_nor_reads_a_group_folder(h):
    h.group("shared-data")
    assert "shared-data" not in h.listed(EVE)
    refused("folder.not_found", h.queries.get_folder, Actor(access_key=EVE), "shared-data")


def test_admins_see_their_domains_group_folders_as_owners_and_superadmins_all(h):
    h.group("shared-data")
    assert h.listed(ADMIN)["shared-data"]["permission_label"] == "RWD"
    assert h.listed(ROOT)["shared-data"]["is_owner"] is True


def test_membership_changes_apply_to_the_next_request(h):
    h.group("shared-data")
    h.join("bob", joined=False)
    assert "shared-data" not in h.listed(BOB)
    h.join("eve")
    assert h.listed(EVE)["shared-data"]["permission"] == "ro"


def test_only_admins_create_group_folders(h):
    refused("folder.group_forbidden", h.group, "mine", key=ALICE)
    refused("project.not_found", h.create, ADMIN, "x", type="group", project="nope")
    refused("folder.project_required", h.create, ADMIN, "x", type="group")


def test_a_cluster_may_disallow_group_folders_with_the_reference_message(tmp_path):
    h = Harness(tmp_path, types="user")
    error = refused("folder.type_not_allowed", h.group, "shared")
    assert error.message == "group-owned vfolder is not allowed in this cluster"
    assert h.create(ALICE, "mine")["ownership"] == "user"


def test_user_folders_are_owned_with_wd_and_invisible_to_others(h):
    made = h.create(ALICE, "notes")
    assert made["permission"] == "wd" and made["owner_id"] == "alice"
    assert h.listed(ALICE)["notes"]["permission_label"] == "RWD"
    assert "notes" not in h.listed(BOB)


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "a b", "x" * 65, ".bashrc", ".ssh",
                                  "semi;colon", "nul\x00"])
def test_bad_folder_names_are_refused(h, name):
    with pytest.raises(CodedError) as caught:
        h.create(ALICE, name)
    assert caught.value.code in ("storage.folder.name_invalid", "storage.folder.name_reserved")


def test_names_are_unique_per_owner_and_among_accessible_folders(h):
    h.create(ALICE, "notes")
    refused("folder.name_taken", h.create, ALICE, "notes")
    assert h.create(BOB, "notes")["owner_id"] == "bob"
    h.group("shared-data")
    refused("folder.name_taken", h.create, BOB, "shared-data")
    refused("folder.dot_group", h.group, ".hidden")


def test_the_same_command_id_creates_one_folder(h):
    first = h.create(ALICE, "notes", command_id="cmd-1")
    again = h.create(ALICE, "notes", command_id="cmd-1")
    assert first == again and len(h.listed(ALICE)) == 1


def test_a_missing_host_and_a_missing_default_host_are_refused(tmp_path):
    h = Harness(tmp_path, hosts=f"fast={tmp_path / 'fast'}")
    error = refused("host.not_configured", h.create, ALICE, "notes")
    assert error.message == ("You must specify the vfolder host because the default host "
                             "is not configured.")
    refused("host.not_found", h.create, ALICE, "notes", host="slow")


def test_max_vfolder_count_counts_the_trash_and_purge_frees_a_place(h):
    h.policy("user", "default", event="PolicyUpdated", max_vfolder_count=2)
    h.create(ALICE, "one")
    h.create(ALICE, "two")
    h.app.trash_folder(new_id(), Actor(access_key=ALICE), "two")
    error = refused("folder.count_exceeded", h.create, ALICE, "three")
    assert error.message == "You cannot create more vfolders."
    h.app.purge_folder(new_id(), Actor(access_key=ALICE), "two")
    assert h.create(ALICE, "three")["name"] == "three"


def test_project_policy_limits_group_folders(h):
    h.policy("project", "default", event="PolicyUpdated", max_vfolder_count=1)
    h.group("a")
    refused("folder.count_exceeded", h.group, "b")
    assert h.create(ALICE, "own")  # the user's own folders follow the user policy


def test_rename_and_permission_update_are_the_owners(h):
    h.group("shared-data")
    refused("folder.forbidden", h.app.rename_folder, new_id(), Actor(access_key=BOB),
            c.RenameFolder(folder="shared-data", new_name="mine"))
    h.app.rename_folder(new_id(), Actor(access_key=ADMIN),
                        c.RenameFolder(folder="shared-data", new_name="datasets"))
    h.app.update_permission(new_id(), Actor(access_key=ADMIN),
                            c.UpdateFolderPermission(folder="datasets", permission="rw"))
    assert h.listed(BOB)["datasets"]["permission_label"] == "RW"
    h.group("shared-data")  # the old name is free again


def test_a_per_user_override_changes_one_members_permission_on_a_group_folder(h):
    h.group("shared-data", permission="ro")
    h.join("eve")
    h.app.share_folder(new_id(), Actor(access_key=ADMIN), c.ShareFolder(
        folder="shared-data", email="bob@example.com", permission="wd"))
    assert h.listed(BOB)["shared-data"]["permission"] == "wd"
    assert h.listed(EVE)["shared-data"]["permission"] == "ro"
    h.app.unshare_folder(new_id(), Actor(access_key=ADMIN), c.UnshareFolder(
        folder="shared-data", email="bob@example.com"))
    assert h.listed(BOB)["shared-data"]["permission"] == "ro"


def test_a_host_missing_from_allowed_vfolder_hosts_is_refused_for_each_operation(tmp_path):
    h = Harness(tmp_path, hosts=f"local={tmp_path / 'l'},extra={tmp_path / 'e'}",
                default="local", domain_hosts=["local"])
    actor = Actor(access_key=ALICE)
    refused("host.not_allowed", h.create, ALICE, "x", host="extra")
    everything = sorted(str(op) for op in c.HostOperation)
    h.policy("keypair", "default", event="PolicyUpdated",
             allowed_vfolder_hosts={"extra": everything})
    made = h.create(ALICE, "x", host="extra")
    h.invite(ALICE, "x", "bob@example.com")
    h.policy("keypair", "default", event="PolicyUpdated",
             allowed_vfolder_hosts={"extra": ["create-vfolder"]})
    calls = {
        "modify-vfolder": lambda: h.app.rename_folder(new_id(), actor, c.RenameFolder(
            folder="x", new_name="y")),
        "invite-others": lambda: h.invite(ALICE, "x", "eve@example.com"),
        "set-user-specific-permission": lambda: h.app.share_folder(new_id(), actor,
            c.ShareFolder(folder="x", email="bob@example.com", permission="ro")),
        "upload-file": lambda: h.queries.authorize_files(actor, c.AuthorizeFiles(
            folder="x", operation="upload", path="a.txt")),
        "download-file": lambda: h.queries.authorize_files(actor, c.AuthorizeFiles(
            folder="x", operation="download", path="a.txt")),
        "delete-vfolder": lambda: h.app.trash_folder(new_id(), actor, "x"),
    }
    for operation, call in calls.items():
        error = refused("host.not_allowed", call)
        assert error.details["operation"] == operation
    assert h.directory_of(made).is_dir()


def grant(h: Harness, role: str, source: str = "custom", scope: str = PROJECT,
          entity: str = "vfolder", operation: str = "create") -> None:
    g = h.app.group_grants
    g.apply({"type": "RoleCreated", "data": {
        "role_id": role, "name": role, "description": "", "source": source, "status": "active",
        "scopes": [], "created_at": "2026-12-02T00:00:00Z"}})
    g.apply({"type": "PermissionAdded", "data": {
        "role_id": role, "permission_id": f"{role}-p", "scope_type": "project",
        "scope_id": scope, "entity_type": entity, "operation": operation}})
    g.apply({"type": "RoleAssigned", "data": {"role_id": role, "user_id": "alice"}})


def test_a_custom_role_granting_vfolder_create_at_the_project_lets_a_user_create_group_folders(
        h):
    grant(h, "system-member", source="system")  # members' own role: not enough
    grant(h, "reads-only", operation="read")
    grant(h, "other-project", scope="p-elsewhere")
    refused("folder.group_forbidden", h.group, "team", key=ALICE)
    grant(h, "folder-makers")
    assert h.group("team", key=ALICE)["ownership"] == "group"
    h.app.group_grants.apply({"type": "RoleDeactivated",
                             "data": {"role_id": "folder-makers", "name": "folder-makers"}})
    refused("folder.group_forbidden", h.group, "team-2", key=ALICE)

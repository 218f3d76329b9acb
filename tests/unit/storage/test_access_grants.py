"""What storage answers the gateway (file access) and the scheduler (mounts): permission,
host permission and the resolved paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts import storage as c
from contracts.envelope import Actor
from services.runtime.errors import CodedError
from tests.unit.storage.harness import ALICE, BOB, EVE, Harness

SCHEDULER = Actor(system="scheduler")


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


def files(h: Harness, key: str, folder: str, operation: str, path: str = "",
          target: str | None = None) -> dict:
    return h.queries.authorize_files(Actor(access_key=key), c.AuthorizeFiles(
        folder=folder, operation=operation, path=path, target=target))


def mount(h: Harness, key: str, folder: str, actor: Actor = SCHEDULER) -> dict:
    return h.queries.authorize_mount(actor, c.AuthorizeMount(folder=folder, access_key=key))


def test_a_read_only_member_may_read_but_not_write_files(h):
    made = h.group("shared-data", permission="ro")
    granted = files(h, BOB, "shared-data", "download", "a/b.txt")
    assert granted["path"] == str((h.directory_of(made) / "a" / "b.txt").resolve())
    for operation in ("upload", "mkdir", "rename", "delete"):
        with pytest.raises(CodedError) as caught:
            files(h, BOB, "shared-data", operation, "x", target="y")
        assert caught.value.code == "storage.folder.forbidden"


def test_the_folder_itself_cannot_be_moved_or_deleted_as_a_file(h):
    h.create(ALICE, "notes")
    with pytest.raises(CodedError) as caught:
        files(h, ALICE, "notes", "delete", "")
    assert caught.value.code == "storage.path.root"


def test_a_trashed_folder_gives_no_file_access(h):
    h.create(ALICE, "notes")
    h.app.trash_folder("t1", Actor(access_key=ALICE), "notes")
    with pytest.raises(CodedError) as caught:
        files(h, ALICE, "notes", "list")
    assert caught.value.code == "storage.folder.not_found"


def test_mounts_answer_the_owners_permission_read_only_for_ro(h):
    made = h.group("shared-data", permission="ro")
    answer = mount(h, BOB, "shared-data")
    assert (answer["permission"], answer["read_only"]) == ("ro", True)
    assert answer["path"] == str(h.directory_of(made).resolve())
    h.create(ALICE, "notes")
    assert mount(h, ALICE, "notes")["read_only"] is False


def test_a_non_member_cannot_mount_and_only_the_scheduler_may_ask(h):
    h.group("shared-data")
    with pytest.raises(CodedError) as caught:
        mount(h, EVE, "shared-data")
    assert caught.value.code == "storage.folder.not_found"
    with pytest.raises(CodedError) as caught:
        mount(h, BOB, "shared-data", actor=Actor(system="agent"))
    assert caught.value.code == "auth.forbidden"


def test_mounting_needs_mount_in_session_on_the_host(tmp_path):
    h = Harness(tmp_path, domain_hosts=[])
    h.policy("keypair", "default", event="PolicyUpdated",
             allowed_vfolder_hosts={"local": ["create-vfolder"]})
    h.create(ALICE, "notes")
    with pytest.raises(CodedError) as caught:
        mount(h, ALICE, "notes")
    assert caught.value.details["operation"] == "mount-in-session"

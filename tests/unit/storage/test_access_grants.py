"""What storage answers the gateway (file access) and the scheduler (mounts): permission,
host permission and the resolved paths."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from eventsourcing.persistence import Tracking

from contracts import storage as c
from contracts.envelope import Actor, Event
from services.runtime.errors import CodedError
from tests.unit.storage.harness import ALICE, BOB, EVE, Harness, new_id

SCHEDULER = Actor(system="scheduler")


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


def files(h: Harness, key: str, folder: str, operation: str, path: str = "",
          target: str | None = None) -> dict:
    return h.queries.authorize_files(Actor(access_key=key), c.AuthorizeFiles(
        folder=folder, operation=operation, path=path, target=target))


def mount(h: Harness, key: str, folder: str, actor: Actor = SCHEDULER,
          session: str = "s-1") -> dict:
    return h.app.mount_folder(f"mount:{session}:{folder}", actor, c.MountFolder(
        folder=folder, access_key=key, session_id=session))


def session_ended(h: Harness, session: str, type_name: str = "SessionTerminated") -> None:
    h.positions.setdefault("scheduler", 0)
    h.positions["scheduler"] += 1
    envelope = Event(id=new_id(), type=type_name, source="scheduler", aggregate_id=session,
                     sequence=9, occurred_at=datetime.now(UTC), data={"session_id": session})
    h.app.on_scheduler_event(envelope, Tracking(application_name="BAI_EVT_SCHEDULER",
                                                notification_id=h.positions["scheduler"]))


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


def test_a_non_member_cannot_mount(h):
    h.group("shared-data")
    with pytest.raises(CodedError) as caught:
        mount(h, EVE, "shared-data")
    assert caught.value.code == "storage.folder.not_found"


def test_a_mounted_folder_cannot_go_to_the_trash_until_its_session_ends(h):
    h.create(ALICE, "notes")
    mount(h, ALICE, "notes", session="s-1")
    again = mount(h, ALICE, "notes", session="s-1")  # the scheduler retrying: same reply
    assert again["read_only"] is False
    alice = Actor(access_key=ALICE)
    with pytest.raises(CodedError) as caught:
        h.app.trash_folder(new_id(), alice, "notes")
    assert caught.value.code == "storage.folder.mounted"
    session_ended(h, "s-other")
    session_ended(h, "s-1", "SessionErrored")
    assert h.app.trash_folder(new_id(), alice, "notes")["status"] == "delete-pending"


def test_mounting_needs_mount_in_session_on_the_host(tmp_path):
    h = Harness(tmp_path, domain_hosts=[])
    h.policy("keypair", "default", event="PolicyUpdated",
             allowed_vfolder_hosts={"local": ["create-vfolder"]})
    h.create(ALICE, "notes")
    with pytest.raises(CodedError) as caught:
        mount(h, ALICE, "notes")
    assert caught.value.details["operation"] == "mount-in-session"


def test_uploads_get_the_room_left_under_the_folder_and_scope_limits(h):
    made = h.create(ALICE, "notes")
    (h.directory_of(made) / "old.bin").write_bytes(b"x" * 300)
    assert files(h, ALICE, "notes", "upload", "new.bin")["max_bytes"] is None  # unlimited
    h.policy("user", "default", event="PolicyUpdated", max_quota_scope_size="1000")
    other = h.create(ALICE, "other")
    (h.directory_of(other) / "f").write_bytes(b"y" * 200)
    assert files(h, ALICE, "notes", "upload", "new.bin")["max_bytes"] == 500
    assert files(h, ALICE, "notes", "upload", "old.bin")["max_bytes"] == 800  # replaced
    h.policy("keypair", "default", event="PolicyUpdated", max_vfolder_size="350")
    assert files(h, ALICE, "notes", "upload", "new.bin")["max_bytes"] == 50
    assert h.queries.usage(Actor(access_key=ALICE), "notes")["bytes"] == 300


def test_admission_answers_each_folders_path_and_mode_and_holds_nothing(h):
    from services.storage.admission import admit_mounts

    made = h.group("shared-data", permission="ro")
    h.create(BOB, "mine")
    answer = admit_mounts(h.app, c.AdmitMounts(access_key=BOB,
                                               folders=["shared-data", "mine"]))
    assert [(m["name"], m["read_only"]) for m in answer["mounts"]] == [
        ("shared-data", True), ("mine", False)]
    assert answer["mounts"][0]["path"] == str(h.directory_of(made).resolve())
    with pytest.raises(CodedError) as caught:
        admit_mounts(h.app, c.AdmitMounts(access_key=EVE, folders=["shared-data"]))
    assert caught.value.code == "storage.folder.not_found"
    # Nothing is held: the folder goes to the trash (a mounted one is refused), and is then
    # no longer admitted.
    h.app.trash_folder("t1", Actor(access_key=BOB), "mine")
    with pytest.raises(CodedError) as caught:
        admit_mounts(h.app, c.AdmitMounts(access_key=BOB, folders=["mine"]))
    assert caught.value.code == "storage.folder.not_found"

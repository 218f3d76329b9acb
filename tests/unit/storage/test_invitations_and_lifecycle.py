"""Invitations (pending → accepted / rejected / canceled), grants, the trash, purge, and what a
restart finishes (an interrupted purge, an orphan directory)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from contracts import storage as c
from contracts.envelope import Actor
from services.runtime.errors import CodedError
from services.storage.domain.model import folder_id
from tests.unit.storage.harness import ADMIN, ALICE, BOB, EVE, Harness, new_id


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


def refused(code: str, call, *args, **kwargs) -> CodedError:  # type: ignore[no-untyped-def]
    with pytest.raises(CodedError) as caught:
        call(*args, **kwargs)
    assert caught.value.code == f"storage.{code}", caught.value.code
    return caught.value


def received(h: Harness, key: str) -> list[dict]:
    return h.queries.list_invitations(Actor(access_key=key), c.ListInvitations())["items"]


def test_an_accepted_invitation_grants_its_permission_and_the_owner_can_change_or_revoke_it(h):
    h.create(ALICE, "notes")
    sent = h.invite(ALICE, "notes", "bob@example.com", permission="ro")
    [pending] = received(h, BOB)
    assert pending["state"] == "pending" and pending["inviter"] == "alice@example.com"
    assert "notes" not in h.listed(BOB)
    h.answer(BOB, sent["bob@example.com"], "accepted")
    assert h.listed(BOB)["notes"]["permission_label"] == "R"
    h.app.share_folder(new_id(), Actor(access_key=ALICE), c.ShareFolder(
        folder="notes", email="bob@example.com", permission="rw"))
    assert h.listed(BOB)["notes"]["permission_label"] == "RW"
    h.app.unshare_folder(new_id(), Actor(access_key=ALICE), c.UnshareFolder(
        folder="notes", email="bob@example.com"))
    assert "notes" not in h.listed(BOB)


def test_the_invitee_rejects_and_the_inviter_cancels(h):
    h.create(ALICE, "notes")
    first = h.invite(ALICE, "notes", "bob@example.com")["bob@example.com"]
    refused("invitation.not_yours", h.answer, EVE, first, "accepted")
    refused("invitation.not_yours", h.answer, ALICE, first, "accepted")
    assert h.answer(BOB, first, "rejected")["state"] == "rejected"
    refused("invitation.not_pending", h.answer, BOB, first, "accepted")
    second = h.invite(ALICE, "notes", "bob@example.com")["bob@example.com"]
    refused("invitation.not_yours", h.answer, BOB, second, "canceled")
    assert h.answer(ALICE, second, "canceled")["state"] == "canceled"
    assert "notes" not in h.listed(BOB)
    states = [i["state"] for i in h.queries.list_invitations(
        Actor(access_key=ALICE), c.ListInvitations(direction="sent"))["items"]]
    assert states == ["rejected", "canceled"]


def test_duplicate_grants_dot_folders_group_folders_and_strangers_are_refused(h):
    h.create(ALICE, "notes")
    sent = h.invite(ALICE, "notes", "bob@example.com")
    refused("invitation.pending", h.invite, ALICE, "notes", "bob@example.com")
    h.answer(BOB, sent["bob@example.com"], "accepted")
    refused("invitation.grant_exists", h.invite, ALICE, "notes", "bob@example.com")
    refused("user.not_found", h.invite, ALICE, "notes", "nobody@example.com")
    refused("invitation.self", h.invite, ALICE, "notes", "alice@example.com")
    h.create(ALICE, ".secrets")
    refused("invitation.dot_folder", h.invite, ALICE, ".secrets", "bob@example.com")
    h.group("shared-data")
    refused("invitation.group_folder", h.invite, ADMIN, "shared-data", "eve@example.com")
    refused("folder.forbidden", h.invite, BOB, "notes", "eve@example.com")


def test_trash_restore_and_delete_forever_remove_the_directory(h):
    made = h.create(ALICE, "notes")
    directory = h.directory_of(made)
    (directory / "file.txt").write_text("hello")
    alice = Actor(access_key=ALICE)
    refused("folder.not_in_trash", h.app.purge_folder, new_id(), alice, "notes")
    h.app.trash_folder(new_id(), alice, "notes")
    assert "notes" not in h.listed(ALICE)
    assert "notes" in h.listed(ALICE, status="delete-pending")
    h.app.restore_folder(new_id(), alice, "notes")
    assert (directory / "file.txt").read_text() == "hello"
    h.app.trash_folder(new_id(), alice, "notes")
    reply = h.app.purge_folder(new_id(), alice, "notes")
    assert reply["status"] == "delete-complete" and not directory.exists()
    assert h.listed(ALICE, status="delete-pending") == {}
    assert h.create(ALICE, "notes")["name"] == "notes"


def test_a_purge_interrupted_after_it_started_is_finished_at_the_next_start(tmp_path):
    store = tmp_path / "store.sqlite"
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(store)}
    h = Harness(tmp_path, env=env)
    made = h.create(ALICE, "notes")
    directory = h.directory_of(made)
    (directory / "sub").mkdir()
    (directory / "sub" / "f").write_text("x")
    h.app.trash_folder(new_id(), Actor(access_key=ALICE), "notes")
    folder = h.app.find(folder_id_from(made))
    folder.begin_purge()
    h.app.save(folder)  # the process dies here: before the directory is removed
    (directory / "sub" / "f").unlink()  # ... or half-way through removing it
    h.app.close()
    again = h.start()
    assert again.recover()["purges"] == 1
    assert not directory.exists()
    assert again.find(folder_id_from(made)).status == "delete-complete"
    h.app = again
    assert h.create(ALICE, "notes")  # the name was released


def test_a_directory_made_by_a_creation_that_never_committed_is_removed_at_start(h):
    orphan = h.hosts.directory("local", uuid.uuid4().hex)
    orphan.mkdir()
    kept = h.directory_of(h.create(ALICE, "notes"))
    assert h.app.recover()["orphans"] == 1
    assert not orphan.exists() and kept.is_dir()


def folder_id_from(reply: dict) -> uuid.UUID:
    found = uuid.UUID(reply["folder_id"])
    assert found != folder_id("")  # ids come from the command, not the name
    return found

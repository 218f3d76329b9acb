"""The in-memory replicas every permission decision reads fold what the contracts publish.

The runtime's replicas (the actor directory of identity, the grant replica of rbac) read events
by type name and plain keys: the runtime imports no service's contract (DESIGN §1,
test_import_boundaries). So this test holds them to the contracts instead: fed every golden
event sample of their producer, they read only keys that event's contract model declares,
and they fold what they should. The service-level replicas (storage's folder grants, the
scheduler's policy book) parse the contract models themselves: every sample must parse.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from contracts import identity, quota, rbac
from services.runtime.actors import ActorDirectory, Principal
from services.runtime.permissions import GrantReplica, PermissionGuard
from services.scheduler.views import PolicyBook
from services.storage.roles import GroupFolderGrants

GOLDEN = Path(__file__).parent / "golden"


class ReadKeys(dict[str, Any]):
    """A dict that records which keys were read."""

    def __init__(self, data: dict[str, Any], read: set[str]) -> None:
        super().__init__(data)
        self.read = read

    def __getitem__(self, key: str) -> Any:
        self.read.add(key)
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)

    def __contains__(self, key: object) -> bool:
        self.read.add(str(key))
        return super().__contains__(key)


def samples(producer: str) -> list[dict[str, Any]]:
    found = [json.loads(p.read_text()) for p in sorted(GOLDEN.glob(f"{producer}.*.v1.json"))
             if p.name.split(".")[1][:1].isupper() and not p.name.endswith(".reply.json")]
    assert found, f"no golden event samples of {producer}"
    return found


def keys_read(apply: Any, events: list[dict[str, Any]]) -> dict[str, set[str]]:
    """Each event twice (the first teaches the ids the second one finds), keys read by type."""
    read: dict[str, set[str]] = {}
    for _ in range(2):
        for event in events:
            keys = read.setdefault(event["type"], set())
            apply({"type": event["type"], "data": ReadKeys(event["data"], keys)})
    return read


def undeclared(read: dict[str, set[str]],
               types: dict[str, tuple[str, str, type[Any]]]) -> dict[str, set[str]]:
    return {name: keys - set(types[name][2].model_fields)
            for name, keys in read.items() if keys - set(types[name][2].model_fields)}


def test_the_actor_directory_reads_only_fields_identitys_contract_declares() -> None:
    directory = ActorDirectory()
    directory.guarding(PermissionGuard(lambda actor: Principal("", "", "user", "", True)))
    events = samples("identity")
    assert {e["type"] for e in events} >= {"UserCreated", "KeypairIssued", "UserRoleChanged",
                                           "MemberAdded", "UserUpdated"}
    read = keys_read(directory.apply, events)
    assert undeclared(read, identity.EVENT_TYPES) == {}
    assert read["UserCreated"] >= {"user_id", "email", "role", "domain", "status"}
    key = next(e["data"]["access_key"] for e in events if e["type"] == "KeypairIssued")
    assert directory.keypair(key) is not None


def test_the_grant_replica_reads_only_fields_rbacs_contract_declares() -> None:
    guard = PermissionGuard(lambda actor: Principal("", "", "user", "", True))
    replica = GrantReplica(guard)
    read = keys_read(replica.apply, samples("rbac"))
    assert undeclared(read, rbac.EVENT_TYPES) == {}
    assert read["PermissionAdded"] >= {"role_id", "permission_id", "scope_type", "scope_id",
                                       "entity_type", "operation"}


def test_the_checker_catches_a_key_the_contract_does_not_declare() -> None:
    read = {"UserCreated": {"user_id", "no_such_field"}}
    assert undeclared(read, identity.EVENT_TYPES) == {"UserCreated": {"no_such_field"}}


@pytest.mark.parametrize(("replica", "contract", "producer"), [
    (GroupFolderGrants, rbac, "rbac"), (PolicyBook, quota, "quota")],
    ids=["folder-grants", "policy-book"])
def test_service_replicas_parse_every_golden_event_of_their_producer(
        replica: Any, contract: Any, producer: str) -> None:
    folded = replica()
    for event in samples(producer):
        parsed = contract.typed_event_of(event["type"], event["data"])
        assert isinstance(parsed, contract.EVENT_TYPES[event["type"]][2]), event["type"]
        folded.apply({"type": event["type"], "data": event["data"]})


def test_the_policy_book_keeps_the_keypair_policies_quota_announced() -> None:
    book = PolicyBook()
    created = next(e for e in samples("quota") if e["type"] == "PolicyCreated")
    data = {**created["data"], "kind": "keypair"}
    book.apply({"type": "PolicyCreated", "data": data})
    assert book.policies[data["name"]] == data["policy"]
    book.apply({"type": "PolicyDeleted", "data": {"kind": "keypair", "name": data["name"]}})
    assert data["name"] not in book.policies
    assert quota.typed_event_of("NoSuchEvent", {}) is None

"""Identity's uniqueness indexes (one aggregate per email, per username: a second claim of
the same id fails at commit), the bootstrap marker and the catalogs of quota's policy names.
Re-exported by `model.py`, whose module path their events stored before 2026-12-02 name."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import event

from services.runtime.ids import stable_id
from services.runtime.traced import Aggregate


def username_index_id(username: str) -> UUID:
    return stable_id("username", username.lower())


def email_index_id(email: str) -> UUID:
    return stable_id("email", email.lower())


class EmailIndex(Aggregate):
    """Owns one email address; its deterministic id makes the address globally unique."""

    @event("Claimed")
    def __init__(self, email: str, user_id: str) -> None:
        self.email = email
        self.user_id = user_id

    @staticmethod
    def create_id(email: str, user_id: str) -> UUID:
        return email_index_id(email)


class UsernameIndex(Aggregate):
    """Owns one username; released on rename so the name can be taken again."""

    @event("Claimed")
    def __init__(self, username: str, user_id: str) -> None:
        self.username = username
        self.user_id: str | None = user_id

    @staticmethod
    def create_id(username: str, user_id: str) -> UUID:
        return username_index_id(username)

    @event("Reclaimed")
    def reclaim(self, user_id: str) -> None:
        self.user_id = user_id

    @event("Released")
    def release(self) -> None:
        self.user_id = None


class Bootstrapped(Aggregate):
    """Exists once the first superadmin was created; bootstrap is refused afterwards."""

    @event("Done")
    def __init__(self, user_id: str) -> None:
        self.user_id = user_id

    @staticmethod
    def create_id(user_id: str) -> UUID:
        return BOOTSTRAPPED_ID


BOOTSTRAPPED_ID = stable_id("identity-bootstrapped")


class PolicyCatalog(Aggregate):
    """Names of one tier's resource policies, as quota announced them."""

    @event("Started")
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.names: list[str] = []

    @staticmethod
    def create_id(kind: str) -> UUID:
        return stable_id("policy-catalog", kind)

    def learn(self, name: str, known: bool) -> bool:
        """Quota announced `name` created (known) or deleted; False when already so."""
        if (name in self.names) == known:
            return False
        if known:
            self.add(name)
        else:
            self.remove(name)
        return True

    @event("Added")
    def add(self, name: str) -> None:
        self.names.append(name)

    @event("Removed")
    def remove(self, name: str) -> None:
        self.names.remove(name)

"""Identity aggregates: Domain, Project, User, Keypair and the uniqueness indexes.

Command methods (`rename`, `change_role`, `deactivate`, ...) check the aggregate's rules,
raise a coded refusal (`identity.…`) or record one specific past-tense event; the event
methods (`renamed`, `role_changed`, ...) only apply it. `User.Updated` and the topic
`Keypair.RateLimitChanged` are the shapes stored before 2026-12-02, kept loadable."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import event
from eventsourcing.utils import register_topic

from contracts.values import UserRole
from services.identity.domain import rules
from services.identity.domain.credentials import hash_password
from services.identity.domain.errors import refuse
from services.identity.domain.indexes import (
    BOOTSTRAPPED_ID as BOOTSTRAPPED_ID,
)
from services.identity.domain.indexes import (
    Bootstrapped,
    EmailIndex,
    PolicyCatalog,
    UsernameIndex,
)
from services.identity.domain.indexes import email_index_id as email_index_id
from services.identity.domain.indexes import username_index_id as username_index_id
from services.runtime.ids import stable_id
from services.runtime.traced import Aggregate

ADMIN_ROLES = (UserRole.SUPERADMIN, UserRole.ADMIN)


def domain_id(name: str) -> UUID:
    return stable_id("domain", name.lower())


def project_id(domain: str, name: str) -> UUID:
    return stable_id("project", domain.lower(), name.lower())


def keypair_id(access_key: str) -> UUID:
    return stable_id("keypair", access_key)


class Domain(Aggregate):
    @event("Created")
    def __init__(self, name: str, description: str) -> None:
        self.name = name
        self.description = description
        self.is_active = True

    @staticmethod
    def create_id(name: str, description: str) -> UUID:
        return domain_id(name)


class Project(Aggregate):
    @event("Created")
    def __init__(self, domain: str, name: str, description: str, resource_policy: str) -> None:
        self.domain = domain
        self.name = name
        self.description = description
        self.resource_policy = resource_policy
        self.members: list[str] = []

    @staticmethod
    def create_id(domain: str, name: str, description: str, resource_policy: str) -> UUID:
        return project_id(domain, name)

    # ---- commands (refuse, or record a fact; False: nothing to record) ----------------------

    def admit(self, user: User) -> bool:
        """The user joins; a user of another domain is refused."""
        if str(user.id) in self.members:
            return False
        if user.domain != self.domain:
            raise refuse("project.other_domain", "the user belongs to another domain")
        self.add_member(str(user.id))
        return True

    def dismiss(self, user: User) -> bool:
        if str(user.id) not in self.members:
            return False
        self.remove_member(str(user.id))
        return True

    # ---- events ----------------------------------------------------------------------------

    @event("MemberAdded")
    def add_member(self, user_id: str) -> None:
        self.members.append(user_id)

    @event("MemberRemoved")
    def remove_member(self, user_id: str) -> None:
        self.members.remove(user_id)


class User(Aggregate):
    """A user account. Command methods check the account's own rules and record one specific
    fact each; what needs other aggregates (indexes, projects, keypairs) the application
    loads and passes in."""

    @event("Created")
    def __init__(
        self,
        email: str,
        username: str,
        full_name: str,
        description: str,
        password_hash: str,
        role: str,
        status: str,
        domain: str,
        projects: list[str],
        resource_policy: str,
        need_password_change: bool,
    ) -> None:
        self.email = email
        self.username = username
        self.full_name = full_name
        self.description = description
        self.password_hash = password_hash
        self.role = role
        self.status = status
        self.domain = domain
        self.projects = list(projects)
        self.resource_policy = resource_policy
        self.need_password_change = need_password_change
        self.keypairs: list[str] = []

    @property
    def is_active(self) -> bool:
        return self.status == "active"

    # ---- commands (refuse, or record a fact; False: nothing to record) ----------------------

    def refuse_self_demotion(self, actor_user_id: str, role: str | None,
                             status: str | None) -> None:
        """No one deactivates themself or changes their own role."""
        if str(self.id) == actor_user_id and (
                status not in (None, "active") or role not in (None, self.role)):
            raise refuse("user.self_demotion",
                         "you cannot deactivate yourself or change your own role")

    def rename(self, username: str) -> bool:
        """The username index move is the application's (it owns the other index rows)."""
        username = rules.check_username(username)
        if username == self.username:
            return False
        self.renamed(username, self.username)
        return True

    def edit_profile(self, full_name: str | None, description: str | None) -> bool:
        full_name = self.full_name if full_name is None else rules.check_text(
            full_name, "full_name", rules.FULL_NAME_MAX)
        description = self.description if description is None else rules.check_text(
            description, "description", rules.DESCRIPTION_MAX)
        if (full_name, description) == (self.full_name, self.description):
            return False
        self.profile_changed(full_name, description)
        return True

    def change_role(self, role: str) -> bool:
        if role == self.role:
            return False
        self.role_changed(str(role), self.role)
        return True

    def assign_policy(self, resource_policy: str) -> bool:
        """`resource_policy` is one quota announced (the application checks the catalog)."""
        if resource_policy == self.resource_policy:
            return False
        self.policy_assigned(resource_policy, self.resource_policy)
        return True

    def require_password_change(self, required: bool) -> bool:
        if required == self.need_password_change:
            return False
        self.password_change_required(required)
        return True

    def set_password(self, password: str | None, confirm: str | None) -> None:
        self.change_password(hash_password(rules.check_password(password, confirm)))

    def join(self, project: Project) -> bool:
        if str(project.id) in self.projects:
            return False
        self.joined_project(str(project.id))
        return True

    def leave(self, project: Project) -> bool:
        if str(project.id) not in self.projects:
            return False
        self.left_project(str(project.id))
        return True

    def deactivate(self, keypairs: list[Keypair]) -> bool:
        """Deactivation takes every active keypair of the user with it."""
        if not self.is_active:
            return False
        taken = [k.access_key for k in keypairs if k.deactivate("user-deactivated")]
        self.deactivated(taken)
        return True

    def activate(self) -> bool:
        """Keypairs stay as they are (each is re-activated on its own)."""
        if self.is_active:
            return False
        self.activated()
        return True

    def issue_keypair(self, access_key: str, secret_key: str, resource_policy: str,
                      rate_limit: int) -> Keypair:
        """A new keypair of this user; the first one is its default."""
        keypair = Keypair(access_key=access_key, secret_key=secret_key, user_id=str(self.id),
                          email=self.email, is_active=self.is_active,
                          is_admin=self.role in ADMIN_ROLES, is_default=not self.keypairs,
                          resource_policy=resource_policy, rate_limit=rate_limit)
        self.attach_keypair(access_key)
        return keypair

    # ---- events ----------------------------------------------------------------------------

    @event("Renamed")
    def renamed(self, username: str, previous_username: str) -> None:
        self.username = username

    @event("ProfileChanged")
    def profile_changed(self, full_name: str, description: str) -> None:
        self.full_name = full_name
        self.description = description

    @event("RoleChanged")
    def role_changed(self, role: str, previous_role: str) -> None:
        self.role = role

    @event("PolicyAssigned")
    def policy_assigned(self, resource_policy: str, previous_policy: str) -> None:
        self.resource_policy = resource_policy

    @event("PasswordChangeRequired")
    def password_change_required(self, required: bool) -> None:
        self.need_password_change = required

    @event("JoinedProject")
    def joined_project(self, project_id: str) -> None:
        self.projects.append(project_id)

    @event("LeftProject")
    def left_project(self, project_id: str) -> None:
        self.projects.remove(project_id)

    @event("PasswordChanged")
    def change_password(self, password_hash: str) -> None:
        self.password_hash = password_hash

    @event("Deactivated")
    def deactivated(self, deactivated_keypairs: list[str]) -> None:
        self.status = "inactive"

    @event("Activated")
    def activated(self) -> None:
        self.status = "active"

    @event("KeypairAttached")
    def attach_keypair(self, access_key: str) -> None:
        self.keypairs.append(access_key)

    class Updated(Aggregate.Event):
        """Legacy (stored before 2026-12-02): one generic event for every field change,
        `changes` = {field: new value}. Never recorded now; applying it sets the same
        attributes the specific events set, so old stores load unchanged."""

        changes: dict[str, Any]

        def apply(self, aggregate: Aggregate) -> None:
            super().apply(aggregate)  # the base event's own bookkeeping, if any
            for name, value in self.changes.items():
                setattr(aggregate, name, value)


class Keypair(Aggregate):
    @event("Issued")
    def __init__(
        self,
        access_key: str,
        secret_key: str,
        user_id: str,
        email: str,
        is_active: bool,
        is_admin: bool,
        is_default: bool,
        resource_policy: str,
        rate_limit: int,
    ) -> None:
        self.access_key = access_key
        self.secret_key = secret_key
        self.user_id = user_id
        self.email = email
        self.is_active = is_active
        self.is_admin = is_admin
        self.is_default = is_default
        self.resource_policy = resource_policy
        self.rate_limit = rate_limit

    @staticmethod
    def create_id(access_key: str, **_: Any) -> UUID:
        return keypair_id(access_key)

    # ---- commands (refuse, or record a fact; False: nothing to record) ----------------------

    def activate(self, owner: User) -> bool:
        if self.is_active:
            return False
        if not owner.is_active:
            raise refuse("keypair.user_inactive", "activate the user before its keypairs",
                         field="access_key")
        self.activated()
        return True

    def deactivate(self, reason: str) -> bool:
        if not self.is_active:
            return False
        self.deactivated(reason)
        return True

    def assign_policy(self, resource_policy: str) -> bool:
        """`resource_policy` is one quota announced (the application checks the catalog)."""
        if resource_policy == self.resource_policy:
            return False
        self.policy_assigned(resource_policy, self.resource_policy)
        return True

    def set_rate_limit(self, rate_limit: int) -> bool:
        if rate_limit == self.rate_limit:
            return False
        self.rate_limit_set(rate_limit, self.rate_limit)
        return True

    # ---- events ----------------------------------------------------------------------------

    @event("Activated")
    def activated(self) -> None:
        self.is_active = True

    @event("Deactivated")
    def deactivated(self, reason: str) -> None:
        self.is_active = False

    @event("PolicyAssigned")
    def policy_assigned(self, resource_policy: str, previous_policy: str) -> None:
        self.resource_policy = resource_policy

    class RateLimitSet(Aggregate.Event):
        """v2 (2026-12-02): was `RateLimitChanged(rate_limit)`; now also the previous limit
        (None on events stored as v1, which load under this class: see `register_topic`
        below)."""

        class_version = 2
        rate_limit: int
        previous_rate_limit: int | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["previous_rate_limit"] = None

        def apply(self, aggregate: Aggregate) -> None:
            super().apply(aggregate)  # the base event's own bookkeeping, if any
            aggregate.rate_limit = self.rate_limit  # type: ignore[attr-defined]

    def rate_limit_set(self, rate_limit: int, previous_rate_limit: int) -> None:
        self.trigger_event(self.RateLimitSet, rate_limit=rate_limit,
                           previous_rate_limit=previous_rate_limit)


# Events stored under their first names still load (eventsourcing topics are module:qualname).
register_topic(f"{__name__}:Keypair.RateLimitChanged", Keypair.RateLimitSet)


# The uniqueness indexes and the policy catalog live in indexes.py (re-exported here). Their
# events were stored under this module's topics before 2026-12-02; those still resolve.
for _moved in (EmailIndex, UsernameIndex, Bootstrapped, PolicyCatalog):
    register_topic(f"{__name__}:{_moved.__qualname__}", _moved)
    for _name, _value in vars(_moved).items():
        if isinstance(_value, type) and issubclass(_value, Aggregate.Event):
            register_topic(f"{__name__}:{_value.__qualname__}", _value)

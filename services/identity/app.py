"""IdentityApplication: one method per command, each load → call aggregate methods → save.

The rules live in the aggregates (`domain/model.py`: `User.rename`, `Keypair.activate`, ...),
which refuse with a coded error or record one specific event; this module finds the
aggregates a command touches, checks the actor (`domain/access.py`) and the cross-aggregate
rules (uniqueness indexes, known policy names), and saves what changed with the command
record (`ServiceApplication.execute`). Reply shapes are plain functions in `summaries.py`, the
username index moves in `usernames.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Tracking

from contracts import identity as c
from contracts import quota
from contracts.envelope import Actor
from contracts.values import UserRole
from services.identity.domain import access, rules
from services.identity.domain.access import Principal
from services.identity.domain.credentials import (
    hash_password,
    new_access_key,
    new_secret_key,
    verify_password,
)
from services.identity.domain.errors import IdentityError, refuse
from services.identity.domain.model import (
    BOOTSTRAPPED_ID,
    Bootstrapped,
    Domain,
    EmailIndex,
    Keypair,
    PolicyCatalog,
    Project,
    User,
    UsernameIndex,
    domain_id,
    email_index_id,
    keypair_id,
    project_id,
    username_index_id,
)
from services.identity.summaries import credentials, keypair_summary, resolved, user_summary
from services.identity.usernames import default_username, move_username
from services.runtime.store import Decision, ServiceApplication

DEFAULT_RATE_LIMIT = 10_000
BOOTSTRAP_ACTOR = "bootstrap"


class IdentityApplication(ServiceApplication):
    """Domains, projects, users, keypairs and authentication."""

    name = "identity"

    def __init__(self, env: dict[str, str] | None = None,
                 default_keypair_policy: str = "default") -> None:
        super().__init__(env)
        self.default_keypair_policy = default_keypair_policy
        self.actors: Callable[[Actor], Principal] | None = None
        self._user_ids: dict[str, str] = {}  # normalized email -> user id (immutable)

    # ---- domains and projects -------------------------------------------------------------

    def create_domain(self, command_id: str, actor: Actor, p: c.CreateDomain) -> dict[str, Any]:
        def decide() -> Decision:
            access.require_superadmin(self.principal(actor))
            name = rules.check_slug(p.name, "domain")
            if self.find(domain_id(name)) is not None:
                raise refuse("domain.name_taken", "a domain with this name exists", field="name")
            domain = Domain(name=name, description=p.description)
            return Decision([domain], {"domain_id": str(domain.id), "name": name})

        return self.execute(command_id, p.model_dump(), decide)

    def create_project(self, command_id: str, actor: Actor, p: c.CreateProject) -> dict[str, Any]:
        def decide() -> Decision:
            self.principal(actor)
            name = rules.check_slug(p.name, "project")
            domain = self._domain(p.domain).name
            self.require_policy("project", p.resource_policy)
            if self.find(project_id(domain, name)) is not None:
                raise refuse("project.name_taken", "the domain has a project with this name",
                             field="name")
            project = Project(domain=domain, name=name, description=p.description,
                              resource_policy=p.resource_policy)
            return Decision([project], {"project_id": str(project.id), "name": name})

        return self.execute(command_id, p.model_dump(), decide)

    def change_membership(self, command_id: str, actor: Actor, p: c.ProjectMember,
                          add: bool) -> dict[str, Any]:
        def decide() -> Decision:
            project = self._project(p.project_id)
            user = self.user_by_email(p.email)
            if add and project.admit(user):
                user.join(project)
            elif not add and project.dismiss(user):
                user.leave(project)
            return Decision([project, user], {"project_id": str(project.id),
                                              "user_id": str(user.id),
                                              "members": len(project.members)})

        return self.execute(command_id, {"add": add, **p.model_dump()}, decide)

    # ---- users ------------------------------------------------------------------------------

    def bootstrap(self, command_id: str, actor: Actor, p: c.Bootstrap) -> dict[str, Any]:
        def decide() -> Decision:
            if actor.system != BOOTSTRAP_ACTOR:
                raise refuse("auth.forbidden", "bootstrap is for the stack supervisor")
            if self.find(BOOTSTRAPPED_ID) is not None:
                raise refuse("system.already_bootstrapped", "the first superadmin exists")
            aggregates: list[Any] = []
            if self.find(domain_id(p.domain)) is None:
                aggregates.append(Domain(name=rules.check_slug(p.domain, "domain"),
                                         description="default domain"))
            user, keypair, created = self._new_user(c.CreateUser(
                email=p.email, username=p.email.split("@")[0], password=p.password,
                password_confirm=p.password, role=UserRole.SUPERADMIN, domain=p.domain))
            aggregates += [*created, Bootstrapped(user_id=str(user.id))]
            return Decision(aggregates, credentials(user, keypair))

        return self.execute(command_id, {"email": p.email}, decide)

    def create_user(self, command_id: str, actor: Actor, p: c.CreateUser) -> dict[str, Any]:
        def decide() -> Decision:
            access.require_may_grant_role(self.principal(actor), p.role)
            domain = self._domain(p.domain)
            user, keypair, created = self._new_user(p.model_copy(update={"domain": domain.name}))
            return Decision(created, credentials(user, keypair))

        return self.execute(command_id, p.model_dump(mode="json"), decide)

    def update_user(self, command_id: str, actor: Actor, p: c.UpdateUser) -> dict[str, Any]:
        def decide() -> Decision:
            principal = self.principal(actor)
            user = self.user_by_email(p.email)
            access.require_may_manage(principal, user.role)
            if p.role is not None:
                access.require_may_grant_role(principal, p.role)
            user.refuse_self_demotion(principal.user_id, p.role, p.status)
            if p.resource_policy is not None:
                self.require_policy("user", p.resource_policy)
            touched: list[Any] = []
            if p.username is not None and p.username.strip() != user.username:
                touched += move_username(self.find, user, rules.check_username(p.username))
                user.rename(p.username)
            user.edit_profile(p.full_name, p.description)
            if p.role is not None:
                user.change_role(p.role)
            if p.need_password_change is not None:
                user.require_password_change(p.need_password_change)
            if p.resource_policy is not None:
                user.assign_policy(p.resource_policy)
            if p.projects is not None:
                touched += self._replace_projects(user, p.projects)
            if p.password is not None or p.password_confirm is not None:
                user.set_password(p.password, p.password_confirm)
            if p.status is not None and p.status != user.status:
                touched += self._set_status(user, p.status)
            return Decision([user, *touched], user_summary(user))

        return self.execute(command_id, p.model_dump(mode="json"), decide)

    def set_user_status(self, command_id: str, actor: Actor, p: c.UserRef,
                        status: str) -> dict[str, Any]:
        def decide() -> Decision:
            principal = self.principal(actor)
            user = self.user_by_email(p.email)
            access.require_may_manage(principal, user.role)
            if str(user.id) == principal.user_id and status != "active":
                raise refuse("user.self_deactivation", "you cannot deactivate yourself")
            touched = self._set_status(user, status) if user.status != status else []
            return Decision([user, *touched], user_summary(user))

        return self.execute(command_id, {"status": status, **p.model_dump()}, decide)

    # ---- keypairs ---------------------------------------------------------------------------

    def issue_keypair(self, command_id: str, actor: Actor, p: c.IssueKeypair) -> dict[str, Any]:
        def decide() -> Decision:
            principal = self.principal(actor)
            user = self.user_by_email(p.email)
            access.require_may_manage(principal, user.role)
            if p.resource_policy is not None:
                self.require_policy("keypair", p.resource_policy)
            keypair = self._new_keypair(user, p.resource_policy, p.rate_limit)
            return Decision([user, keypair], credentials(user, keypair))

        return self.execute(command_id, p.model_dump(), decide)

    def change_keypair(self, command_id: str, actor: Actor, access_key: str,
                       change: str, value: Any = None) -> dict[str, Any]:
        """activate | deactivate | assign-policy | set-rate-limit on one keypair."""

        def decide() -> Decision:
            principal = self.principal(actor)
            keypair = self.keypair(access_key)
            owner = self.find(UUID(keypair.user_id))
            if owner is None:
                raise refuse("keypair.orphaned", "the keypair's user does not exist")
            access.require_may_manage(principal, owner.role)
            if change == "activate":
                keypair.activate(owner)
            elif change == "deactivate":
                keypair.deactivate("admin-requested")
            elif change == "assign-policy":
                if value != keypair.resource_policy:
                    self.require_policy("keypair", value)
                keypair.assign_policy(value)
            elif change == "set-rate-limit":
                keypair.set_rate_limit(value)
            return Decision([keypair], keypair_summary(keypair))

        data = {"access_key": access_key, "change": change, "value": value}
        return self.execute(command_id, data, decide)

    # ---- authentication (gateway only; NATS permissions guard the subjects) --------------

    def login(self, p: c.Login) -> dict[str, Any]:
        """Same refusal for unknown email, wrong password and inactive user: no enumeration."""
        failure = refuse("auth.invalid_credentials", "email or password is wrong, "
                         "or the account is inactive")
        try:
            user = self.user_by_email(p.email)
        except IdentityError:
            raise failure from None
        if not verify_password(user.password_hash, p.password) or not user.is_active \
                or user.domain != p.domain:
            raise failure
        keypairs = [self.keypair(ak) for ak in user.keypairs]
        active = sorted((k for k in keypairs if k.is_active), key=lambda k: not k.is_default)
        if not active:
            raise refuse("auth.no_active_keypair", "the user has no active keypair")
        return {**credentials(user, active[0]), "domain": user.domain,
                "need_password_change": user.need_password_change}

    def resolve_keypair(self, access_key: str) -> dict[str, Any]:
        keypair = self.find(keypair_id(access_key))
        user = self.find(UUID(keypair.user_id)) if keypair else None
        if keypair is None or user is None:
            raise refuse("keypair.not_found", "unknown access key")
        if not keypair.is_active or not user.is_active:
            raise refuse("keypair.inactive", "the keypair or its user is inactive")
        return resolved(user, keypair)

    # ---- reactions: quota's policy announcements, typed (reactions.py) -------------------

    def on_policy_event(self, event: quota.PolicyEvent | None, tracking: Tracking) -> None:
        """PolicyCreated / PolicyDeleted keep the catalogs of known policy names."""
        touched: list[Any] = []
        if isinstance(event, quota.PolicyCreated | quota.PolicyDeleted):
            catalog = self.find(PolicyCatalog.create_id(event.kind))
            catalog = catalog if catalog is not None else PolicyCatalog(kind=event.kind)
            catalog.learn(event.name, known=isinstance(event, quota.PolicyCreated))
            touched = [catalog]
        self.save_tracked(tracking, *touched)

    # ---- actors and lookups --------------------------------------------------------------

    def principal(self, actor: Actor) -> Principal:
        """Resolve the actor: active keypair of an active user.

        From the read model when one is attached (it is advanced in the saving thread, so it
        is current for this process), else from the store.
        """
        if actor.system is not None:
            # The supervisor's actor is good for `system.bootstrap` only, which checks it
            # itself; anyone allowed on the bus could claim it.
            raise refuse("auth.unauthenticated", "system actors may only bootstrap")
        if self.actors is not None:
            return self.actors(actor)
        keypair = self.find(keypair_id(actor.access_key)) if actor.access_key else None
        if keypair is None:
            raise refuse("auth.unauthenticated", "the actor's access key is unknown")
        user = self.find(UUID(keypair.user_id))
        if not keypair.is_active or user is None or not user.is_active:
            raise refuse("auth.unauthenticated", "the actor's keypair or user is inactive")
        return Principal(str(user.id), user.email, user.role, user.domain)

    def user_by_email(self, email: str) -> User:
        normalized = rules.normalize_email(email)
        user_id = self._user_ids.get(normalized)
        if user_id is None:
            index = self.find(email_index_id(normalized))
            if index is not None:
                # An email never changes owner (no deletion), so the mapping can be kept.
                user_id = self._user_ids.setdefault(normalized, index.user_id)
        user = self.find(UUID(user_id)) if user_id else None
        if user is None:
            raise refuse("user.not_found", "no user has this email", field="email")
        return user

    def keypair(self, access_key: str) -> Keypair:
        keypair = self.find(keypair_id(access_key))
        if keypair is None:
            raise refuse("keypair.not_found", "no keypair has this access key",
                         field="access_key")
        return keypair

    def require_policy(self, kind: str, name: str, field: str = "resource_policy") -> str:
        """Only names quota announced; `default` always exists (quota creates it first)."""
        if name == "default" or (kind == "keypair" and name == self.default_keypair_policy):
            return name
        catalog = self.find(PolicyCatalog.create_id(kind))
        if catalog is None or name not in catalog.names:
            raise refuse("policy.unknown", f"there is no {kind} resource policy '{name}'",
                         field=field, kind=kind)
        return name

    def _domain(self, name: str) -> Domain:
        domain = self.find(domain_id(name))
        if domain is None:
            raise refuse("domain.not_found", f"domain '{name}' does not exist", field="domain")
        return domain

    def _project(self, ref: str, domain: str | None = None) -> Project:
        try:
            project = self.find(UUID(ref))
        except ValueError:
            project = self.find(project_id(domain, ref)) if domain else None
        if not isinstance(project, Project):
            raise refuse("project.not_found", f"project '{ref}' does not exist",
                         field="projects")
        return project

    # ---- the parts of a command that span aggregates -----------------------------------

    def _new_user(self, p: c.CreateUser) -> tuple[User, Keypair, list[Any]]:
        email = rules.normalize_email(p.email)
        username = rules.check_username(p.username or default_username(self.find, email))
        full_name = rules.check_text(p.full_name, "full_name", rules.FULL_NAME_MAX)
        description = rules.check_text(p.description, "description", rules.DESCRIPTION_MAX)
        password = rules.check_password(p.password, p.password_confirm)
        self.require_policy("user", p.resource_policy)
        if self.find(email_index_id(email)) is not None:
            raise refuse("user.email_taken", "a user with this email exists", field="email")
        name_index = self.find(username_index_id(username))
        if name_index is not None and name_index.user_id is not None:
            raise refuse("user.username_taken", "a user with this username exists",
                         field="username")
        projects = list({x.id: x for x in (self._project(ref, p.domain)
                                           for ref in p.projects)}.values())
        user = User(email=email, username=username, full_name=full_name,
                    description=description, password_hash=hash_password(password),
                    role=str(p.role), status=str(p.status), domain=p.domain,
                    projects=[str(x.id) for x in projects], resource_policy=p.resource_policy,
                    need_password_change=p.need_password_change)
        uid = str(user.id)
        if name_index is None:
            name_index = UsernameIndex(username=username, user_id=uid)
        else:
            name_index.reclaim(uid)
        for project in projects:
            project.add_member(uid)
        keypair = self._new_keypair(user)
        return user, keypair, [user, EmailIndex(email=email, user_id=uid), name_index, keypair,
                               *projects]

    def _new_keypair(self, user: User, policy: str | None = None,
                     rate_limit: int | None = None) -> Keypair:
        return user.issue_keypair(new_access_key(), new_secret_key(),
                                  policy or self.default_keypair_policy,
                                  rate_limit or DEFAULT_RATE_LIMIT)

    def _replace_projects(self, user: User, refs: list[str]) -> list[Any]:
        wanted = [str(self._project(ref, user.domain).id) for ref in refs]
        touched = []
        for pid in [*user.projects, *(x for x in wanted if x not in user.projects)]:
            project = self._project(pid)
            if pid in wanted:
                moved = project.admit(user)  # refuses a project of another domain
                user.join(project)
            else:
                moved = project.dismiss(user)
                user.leave(project)
            if moved:
                touched.append(project)
        return touched

    def _set_status(self, user: User, status: str) -> list[Any]:
        """Deactivation takes every keypair with it; activation leaves keypairs as they are."""
        if status == "active":
            user.activate()
            return []
        keypairs = [self.keypair(ak) for ak in user.keypairs]
        user.deactivate(keypairs)
        return [k for k in keypairs if k.pending_events]

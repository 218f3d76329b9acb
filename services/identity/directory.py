"""IdentityBase: actors, lookups, domains, projects and user creation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Tracking

from contracts import identity as c
from contracts.envelope import Actor, Event
from contracts.values import UserRole
from services.identity.domain import access, rules
from services.identity.domain.access import Principal
from services.identity.domain.credentials import (
    hash_password,
    new_access_key,
    new_secret_key,
)
from services.identity.domain.errors import refuse
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
from services.runtime.store import Decision, ServiceApplication

DEFAULT_RATE_LIMIT = 10_000
BOOTSTRAP_ACTOR = "bootstrap"
ADMIN_ROLES = (UserRole.SUPERADMIN, UserRole.ADMIN)


class IdentityBase(ServiceApplication):
    """Actors, lookups, domains, projects and user creation."""

    name = "identity"

    def __init__(self, env: dict[str, str] | None = None,
                 default_keypair_policy: str = "default") -> None:
        super().__init__(env)
        self.default_keypair_policy = default_keypair_policy
        self.actors: Callable[[Actor], Principal] | None = None
        self._user_ids: dict[str, str] = {}  # normalized email -> user id (immutable)

    # ---- actors --------------------------------------------------------------------------

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
            domain = self._require_domain(p.domain).name
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
            uid = str(user.id)
            if add and uid not in project.members:
                if user.domain != project.domain:
                    raise refuse("project.other_domain", "the user belongs to another domain")
                project.add_member(uid)
                user.update({"projects": [*user.projects, str(project.id)]})
            elif not add and uid in project.members:
                project.remove_member(uid)
                user.update({"projects": [x for x in user.projects if x != str(project.id)]})
            return Decision([project, user], {"project_id": str(project.id), "user_id": uid,
                                              "members": len(project.members)})

        return self.execute(command_id, {"add": add, **p.model_dump()}, decide)

    def require_policy(self, kind: str, name: str, field: str = "resource_policy") -> str:
        """Only names quota announced; `default` always exists (quota creates it first)."""
        if name == "default" or (kind == "keypair" and name == self.default_keypair_policy):
            return name
        catalog = self.find(PolicyCatalog.create_id(kind))
        if catalog is None or name not in catalog.names:
            raise refuse("policy.unknown", f"there is no {kind} resource policy '{name}'",
                         field=field, kind=kind)
        return name

    def on_quota_event(self, envelope: Event, tracking: Tracking) -> None:
        """PolicyCreated / PolicyDeleted keep the catalogs of known policy names."""
        data = envelope.data
        touched: list[Any] = []
        if envelope.type in ("PolicyCreated", "PolicyDeleted"):
            catalog = self.find(PolicyCatalog.create_id(data["kind"]))
            if catalog is None:
                catalog = PolicyCatalog(kind=data["kind"])
            known = data["name"] in catalog.names
            if envelope.type == "PolicyCreated" and not known:
                catalog.add(data["name"])
            elif envelope.type == "PolicyDeleted" and known:
                catalog.remove(data["name"])
            touched = [catalog]
        self.save_tracked(tracking, *touched)

    def _require_domain(self, name: str) -> Domain:
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
            return Decision(aggregates, credentials_reply(user, keypair))

        return self.execute(command_id, {"email": p.email}, decide)

    def create_user(self, command_id: str, actor: Actor, p: c.CreateUser) -> dict[str, Any]:
        def decide() -> Decision:
            access.require_may_grant_role(self.principal(actor), p.role)
            domain = self._require_domain(p.domain)
            user, keypair, created = self._new_user(p.model_copy(update={"domain": domain.name}))
            return Decision(created, credentials_reply(user, keypair))

        return self.execute(command_id, p.model_dump(mode="json"), decide)

    def _new_user(self, p: c.CreateUser) -> tuple[User, Keypair, list[Any]]:
        email = rules.normalize_email(p.email)
        username = rules.check_username(p.username or self._default_username(email))
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
        keypair = self._new_keypair(user, is_default=True)
        return user, keypair, [user, EmailIndex(email=email, user_id=uid), name_index, keypair,
                               *projects]

    def _default_username(self, email: str) -> str:
        """The email's local part, or the whole email when that name is taken."""
        local = email.split("@")[0]
        index = self.find(username_index_id(local))
        return email if index is not None and index.user_id is not None else local

    def _new_keypair(self, user: User, is_default: bool, policy: str | None = None,
                     rate_limit: int | None = None) -> Keypair:
        access_key = new_access_key()
        keypair = Keypair(access_key=access_key, secret_key=new_secret_key(),
                          user_id=str(user.id), email=user.email, is_active=user.is_active,
                          is_admin=user.role in ADMIN_ROLES, is_default=is_default,
                          resource_policy=policy or self.default_keypair_policy,
                          rate_limit=rate_limit or DEFAULT_RATE_LIMIT)
        user.attach_keypair(access_key)
        return keypair



def credentials_reply(user: User, keypair: Keypair) -> dict[str, Any]:
    return {"user_id": str(user.id), "email": user.email, "username": user.username,
            "role": user.role, "access_key": keypair.access_key,
            "secret_key": keypair.secret_key}

"""IdentityApplication: one method per command (load → decide → save).

Domains, projects and user creation live in `directory.py`, keypairs and authentication in
`keypairs.py`; this module adds user updates and status changes.
"""

from __future__ import annotations

from typing import Any

from contracts import identity as c
from contracts.envelope import Actor
from services.identity.domain import access, rules
from services.identity.domain.credentials import hash_password
from services.identity.domain.errors import refuse
from services.identity.domain.model import User, UsernameIndex, username_index_id
from services.identity.keypairs import KeypairCommands
from services.runtime.store import Decision


class IdentityApplication(KeypairCommands):
    """Adds user updates, status, keypairs and authentication."""

    name = "identity"

    def update_user(self, command_id: str, actor: Actor, p: c.UpdateUser) -> dict[str, Any]:
        def decide() -> Decision:
            principal = self.principal(actor)
            user = self.user_by_email(p.email)
            access.require_may_manage(principal, user.role)
            if p.role is not None:
                access.require_may_grant_role(principal, p.role)
            if str(user.id) == principal.user_id and (
                    p.status not in (None, "active") or p.role not in (None, user.role)):
                raise refuse("user.self_demotion",
                             "you cannot deactivate yourself or change your own role")
            if p.resource_policy is not None:
                self.require_policy("user", p.resource_policy)
            aggregates: list[Any] = [user, *self._apply_changes(user, p)]
            if p.password is not None or p.password_confirm is not None:
                password = rules.check_password(p.password, p.password_confirm)
                user.change_password(hash_password(password))
            if p.status is not None and p.status != user.status:
                aggregates += self._set_status(user, p.status)
            return Decision(aggregates, _user_summary(user))

        return self.execute(command_id, p.model_dump(mode="json"), decide)

    def _apply_changes(self, user: User, p: c.UpdateUser) -> list[Any]:
        changes: dict[str, Any] = {}
        touched: list[Any] = []
        if p.username is not None and p.username.strip() != user.username:
            username = rules.check_username(p.username)
            touched += self._move_username(user, username)
            changes["username"] = username
        if p.full_name is not None:
            changes["full_name"] = rules.check_text(p.full_name, "full_name",
                                                    rules.FULL_NAME_MAX)
        if p.description is not None:
            changes["description"] = rules.check_text(p.description, "description",
                                                      rules.DESCRIPTION_MAX)
        for name in ("role", "need_password_change", "resource_policy"):
            value = getattr(p, name)
            if value is not None:
                changes[name] = str(value) if name == "role" else value
        if p.projects is not None:
            touched += self._replace_projects(user, p.projects)
            changes["projects"] = list(dict.fromkeys(
                str(self._project(x, user.domain).id) for x in p.projects))
        changes = {k: v for k, v in changes.items() if getattr(user, k) != v}
        if changes:
            user.update(changes)
        return touched

    def _move_username(self, user: User, username: str) -> list[Any]:
        target = self.find(username_index_id(username))
        if target is not None and target.user_id not in (None, str(user.id)):
            raise refuse("user.username_taken", "username is taken by another user",
                         field="username")
        old = self.find(username_index_id(user.username))
        if old is not None and old.id == username_index_id(username):
            return []
        if target is None:
            target = UsernameIndex(username=username, user_id=str(user.id))
        else:
            target.reclaim(str(user.id))
        if old is not None:
            old.release()
        return [target] + ([old] if old is not None else [])

    def _replace_projects(self, user: User, refs: list[str]) -> list[Any]:
        wanted = {str(self._project(ref, user.domain).id) for ref in refs}
        touched = []
        for pid in set(user.projects) | wanted:
            project = self._project(pid)
            if project.domain != user.domain:
                raise refuse("project.other_domain", "the project belongs to another domain")
            if pid in wanted and str(user.id) not in project.members:
                project.add_member(str(user.id))
                touched.append(project)
            elif pid not in wanted and str(user.id) in project.members:
                project.remove_member(str(user.id))
                touched.append(project)
        return touched

    def _set_status(self, user: User, status: str) -> list[Any]:
        """Deactivation takes every keypair with it; activation leaves keypairs as they are."""
        if status == "active":
            user.activate()
            return []
        keypairs = [self.keypair(ak) for ak in user.keypairs]
        active = [k for k in keypairs if k.is_active]
        for keypair in active:
            keypair.deactivate("user-deactivated")
        user.deactivate([k.access_key for k in active])
        return active

    def set_user_status(self, command_id: str, actor: Actor, p: c.UserRef,
                        status: str) -> dict[str, Any]:
        def decide() -> Decision:
            principal = self.principal(actor)
            user = self.user_by_email(p.email)
            access.require_may_manage(principal, user.role)
            if str(user.id) == principal.user_id and status != "active":
                raise refuse("user.self_deactivation", "you cannot deactivate yourself")
            touched = self._set_status(user, status) if user.status != status else []
            return Decision([user, *touched], _user_summary(user))

        return self.execute(command_id, {"status": status, **p.model_dump()}, decide)


def _user_summary(user: User) -> dict[str, Any]:
    return {"user_id": str(user.id), "email": user.email, "username": user.username,
            "full_name": user.full_name, "role": user.role, "status": user.status,
            "domain": user.domain, "projects": list(user.projects),
            "resource_policy": user.resource_policy,
            "need_password_change": user.need_password_change}

"""Identity's replies (contracts/identity.py SPECS name them)."""

from __future__ import annotations

from pydantic import Field

from contracts.replies import Page, ReplyModel
from contracts.values import UserRole, UserStatus


class Credentials(ReplyModel):
    """A new user's (or keypair's) credentials: the only reply that carries the secret."""

    user_id: str
    email: str
    username: str
    role: UserRole
    access_key: str
    secret_key: str


class LoginCredentials(Credentials):
    """`auth.login` (gateway only): the user's active keypair, default first."""

    domain: str
    need_password_change: bool


class ProofToken(ReplyModel):
    """`auth.token` and `auth.bus-login`: an actor proof for the keypair."""

    token: str
    expires_at: int = Field(description="Unix seconds")
    user_id: str
    access_key: str


class UserSummary(ReplyModel):
    """What `user.update`, `user.deactivate` and `user.activate` answer."""

    user_id: str
    email: str
    username: str
    full_name: str
    role: UserRole
    status: UserStatus
    domain: str
    projects: list[str] = Field(description="Project ids")
    resource_policy: str
    need_password_change: bool


class KeypairSummary(ReplyModel):
    """A keypair without its secret (what the keypair commands answer)."""

    access_key: str
    user_id: str
    email: str
    is_active: bool
    is_admin: bool
    is_default: bool
    resource_policy: str
    rate_limit: int


class KeypairRow(KeypairSummary):
    created_at: str


class ResolvedKeypair(KeypairSummary):
    """`keypairs.resolve` (gateway only): the secret to verify a signature, and the owner."""

    secret_key: str
    role: UserRole
    domain: str
    user_status: UserStatus


class ProjectRef(ReplyModel):
    project_id: str
    name: str


class _UserFields(ReplyModel):
    user_id: str
    email: str
    username: str
    full_name: str
    description: str
    role: UserRole
    status: UserStatus
    domain: str
    resource_policy: str
    need_password_change: bool
    created_at: str
    updated_at: str
    password_changed_at: str | None = Field(
        default=None, description="Absent until the password is first changed")


class UserDetail(_UserFields):
    """`users.get`: one user with its projects and the keypairs the caller may read."""

    projects: list[ProjectRef]
    keypairs: list[KeypairRow]


class UserRow(_UserFields):
    projects: list[str] = Field(description="Project ids")


class UserPage(Page):
    items: list[UserRow]


class KeypairPage(Page):
    items: list[KeypairRow]


class DomainRow(ReplyModel):
    domain_id: str
    name: str
    description: str
    created_at: str


class DomainList(ReplyModel):
    items: list[DomainRow]


class CreatedDomain(ReplyModel):
    domain_id: str
    name: str


class ProjectRow(ReplyModel):
    project_id: str
    domain: str
    name: str
    description: str
    resource_policy: str
    members: list[str] = Field(description="User ids")
    created_at: str


class ProjectList(ReplyModel):
    items: list[ProjectRow]


class CreatedProject(ReplyModel):
    project_id: str
    name: str


class Membership(ReplyModel):
    """`project.add-member` and `project.remove-member`: the project's member count after."""

    project_id: str
    user_id: str
    members: int

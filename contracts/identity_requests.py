"""Identity's command and query payloads (re-exported by contracts/identity.py)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from contracts.values import AccessKey, Limit, Offset, PolicyName, SortOrder, UserRole, UserStatus

# Raw text fields are bounded generously here; the domain applies the exact rules with
# their own error codes (too long, empty, invalid) so a caller learns which rule failed.
Text = Annotated[str, StringConstraints(max_length=1024)]
Secret = Annotated[str, StringConstraints(max_length=1024)]


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---- commands -------------------------------------------------------------------------------


class Bootstrap(Payload):
    email: Text
    password: Secret
    domain: Text = "default"


class CreateDomain(Payload):
    name: Text
    description: Annotated[str, StringConstraints(max_length=512)] = ""


class CreateProject(Payload):
    domain: Text = "default"
    name: Text
    description: Annotated[str, StringConstraints(max_length=512)] = ""
    resource_policy: PolicyName = "default"


class ProjectMember(Payload):
    project_id: str = Field(max_length=64)
    email: Text


class CreateUser(Payload):
    email: Text
    username: Text | None = None
    full_name: Text = ""
    description: Text = ""
    password: Secret | None = None
    password_confirm: Secret | None = None
    role: UserRole = UserRole.USER
    status: UserStatus = UserStatus.ACTIVE
    domain: Text = "default"
    projects: list[Annotated[str, StringConstraints(max_length=64)]] = Field(
        default_factory=list, max_length=100
    )
    resource_policy: PolicyName = "default"
    need_password_change: bool = False


class UpdateUser(Payload):
    email: Text
    username: Text | None = None
    full_name: Text | None = None
    description: Text | None = None
    password: Secret | None = None
    password_confirm: Secret | None = None
    status: UserStatus | None = None
    role: UserRole | None = None
    need_password_change: bool | None = None
    resource_policy: PolicyName | None = None
    projects: list[Annotated[str, StringConstraints(max_length=64)]] | None = Field(
        default=None, max_length=100
    )


class UserRef(Payload):
    email: Text


class IssueKeypair(Payload):
    email: Text
    resource_policy: PolicyName | None = None
    rate_limit: Annotated[int, Field(ge=1, le=1_000_000)] | None = None


class KeypairRef(Payload):
    access_key: AccessKey


class AssignKeypairPolicy(Payload):
    access_key: AccessKey
    resource_policy: PolicyName


class SetKeypairRateLimit(Payload):
    access_key: AccessKey
    rate_limit: Annotated[int, Field(ge=1, le=1_000_000)]


# ---- queries --------------------------------------------------------------------------------


class GetUser(Payload):
    email: Text | None = None
    user_id: Annotated[str, StringConstraints(max_length=64)] | None = None


UserSortKey = Literal["email", "username", "created_at", "updated_at", "role"]


class ListUsers(Payload):
    status: UserStatus | None = UserStatus.ACTIVE
    email_contains: Annotated[str, StringConstraints(max_length=64)] = ""
    username_contains: Annotated[str, StringConstraints(max_length=64)] = ""
    domain: Annotated[str, StringConstraints(max_length=64)] | None = None
    sort: UserSortKey = "email"
    order: SortOrder = SortOrder.ASC
    offset: Offset = 0
    limit: Limit = 50


KeypairSortKey = Literal["access_key", "email", "created_at", "resource_policy"]


class ListKeypairs(Payload):
    is_active: bool | None = True
    email_contains: Annotated[str, StringConstraints(max_length=64)] = ""
    sort: KeypairSortKey = "created_at"
    order: SortOrder = SortOrder.ASC
    offset: Offset = 0
    limit: Limit = 50


class ListDomains(Payload):
    pass


class ListProjects(Payload):
    domain: Annotated[str, StringConstraints(max_length=64)] | None = None


class Login(Payload):
    email: Text
    password: Secret
    domain: Text = "default"

"""HTTP request and response models (the OpenAPI document); bodies reuse the contracts."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, create_model

from contracts import identity as ic
from contracts import quota as qc
from contracts import rbac as rc
from contracts.values import UserRole

Status = Literal["active", "inactive", "all"]


def without(model: type[BaseModel], *names: str, name: str) -> type[BaseModel]:
    """A body model: the contract payload minus the fields the URL path carries."""
    fields: dict[str, Any] = {
        key: (info.annotation, info) for key, info in model.model_fields.items()
        if key not in names
    }
    return create_model(name, __config__=ConfigDict(extra="forbid"), **fields)


# ---- request bodies (path-carried fields removed) ----------------------------------------

UserChanges = without(ic.UpdateUser, "email", name="UserChanges")
KeypairPolicyChanges = without(qc.UpdateKeypairPolicy, "name", name="KeypairPolicyChanges")
UserPolicyChanges = without(qc.UpdateUserPolicy, "name", name="UserPolicyChanges")
ProjectPolicyChanges = without(qc.UpdateProjectPolicy, "name", name="ProjectPolicyChanges")
RoleChanges = without(rc.UpdateRole, "role_id", name="RoleChanges")
PermissionGrant = without(rc.AddPermission, "role_id", name="PermissionGrant")
RoleAssignment = without(rc.AssignUsers, "role_id", name="RoleAssignment")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PolicyAssignment(_Body):
    resource_policy: Annotated[str, StringConstraints(min_length=1, max_length=64,
                                                      pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]


class RateLimitChange(_Body):
    rate_limit: Annotated[int, Field(ge=1, le=1_000_000)]


class MemberRef(_Body):
    email: ic.Text


class Termination(_Body):
    reason: Annotated[str, StringConstraints(max_length=64)] = "user-requested"


class LoginBody(_Body):
    email: ic.Text
    password: ic.Secret
    domain: ic.Text = "default"


# ---- responses ----------------------------------------------------------------------------
# What a service answers is its contract's reply model (contracts/replies/): the routes name
# those classes as their response models. Only what the gateway itself composes is here.


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ApiRoot(_Out):
    version: str
    manager: str
    service: str


class LoginUser(_Out):
    """identity's `auth.login` answer without the keypair (contracts.replies.identity)."""

    user_id: str
    email: str
    username: str
    role: UserRole
    domain: str
    need_password_change: bool


class LoginOut(_Out):
    token: str
    token_type: Literal["Bearer"]
    expires_at: int
    access_key: str
    user: LoginUser


class WhoAmI(_Out):
    access_key: str
    user_id: str
    email: str
    role: str
    domain: str
    method: Literal["hmac", "token"]


class StreamItem(_Out):
    sequence: int
    subject: str
    # Any producing service's event envelope, as stored on its stream (older versions too):
    # open-ended on purpose, the page reads the stream, not one contract.
    event: dict[str, Any]


class EventPage(_Out):
    stream: str
    items: list[StreamItem]
    next_sequence: int


class ServiceHealth(_Out):
    instance: str
    service: str
    source: Literal["health", "bus", "self"]
    status: str
    version: str | None = None
    store: str | None = None
    url: str | None = None
    uptime_seconds: float | None = None
    nats_server_version: str | None = None


class NatsInfo(_Out):
    connected: bool
    server_version: str | None = None
    server_name: str | None = None
    cluster: str | None = None
    jetstream: bool | None = None
    url: str | None = None


class EventStores(_Out):
    backends: list[str]
    in_use: list[str]


class Information(_Out):
    name: str
    version: str
    api_version: str
    license: str
    services: list[ServiceHealth]
    nats: NatsInfo
    event_store: EventStores
    elapsed_ms: float

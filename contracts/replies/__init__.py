"""Typed reply models: what each command and query answers in `Accepted.data`.

One module per service (`identity`, `quota`, `rbac`, `scheduler`, `storage`; the agent's are
in contracts/agent.py). Each service's SPECS name these as `reply=`; the gateway's HTTP
response models are these same classes (services/gateway/models.py re-exports them), and
with `BAIKAL_CHECK_REPLIES=1` the dispatcher checks every handler's answer against its
spec's model (services/runtime/replies.py).

Every reply model forbids unknown fields: a field a handler adds without declaring it here
is a contract change, and the check (and the OpenAPI fuzz tests) say so.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ReplyModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Page(ReplyModel):
    """A paged list's counts; `items` is declared by each page model."""

    total: int
    offset: int
    limit: int

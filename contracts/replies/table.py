"""Every request's reply model, by the subject it arrives on (the dispatcher's reply check,
services/runtime/replies.py, asks here: the runtime imports no service's contracts)."""

from __future__ import annotations

import re
from functools import cache

from pydantic import BaseModel

from contracts import agent, identity, quota, rbac, scheduler, storage, subjects

MODULES = (identity, quota, rbac, scheduler, storage, agent)


@cache
def _models() -> tuple[dict[str, type[BaseModel]],
                       tuple[tuple[re.Pattern[str], type[BaseModel]], ...]]:
    """Reply models by concrete subject, and by pattern for directed (per agent) subjects."""
    exact: dict[str, type[BaseModel]] = {}
    directed: list[tuple[re.Pattern[str], type[BaseModel]]] = []
    for module in MODULES:
        for spec in module.SPECS.values():
            if not spec.is_request or spec.reply is None:
                continue
            if spec.directed:
                head, tail = spec.subject.split(subjects.AGENT_ID_PLACEHOLDER, 1)
                directed.append((re.compile(re.escape(head) + r"[^.]+" + re.escape(tail)),
                                 spec.reply))
            else:
                exact[spec.subject] = spec.reply
    return exact, tuple(directed)


def reply_model(subject: str) -> type[BaseModel] | None:
    """The reply model of the request arriving on `subject` (a concrete agent subject too)."""
    exact, directed = _models()
    found = exact.get(subject)
    if found is None:
        found = next((model for pattern, model in directed if pattern.fullmatch(subject)), None)
    return found

"""Replies are checked: with `BAIKAL_CHECK_REPLIES=1` (the test suite sets it) every handler's
answer is validated against its spec's reply model before it is sent.

A reply that does not match is a bug in the handler or in the contract: the dispatcher logs
it and answers `internal` instead (`ReplyMismatch` reaches its process edge), so a test sees
it at once rather than a consumer later. Off (the default), nothing is checked and the cost
is one environment lookup per reply.

The check validates the reply as it travels: the JSON text of the answer, strictly (no
string-to-number coercion), so a model that accepts it describes what a consumer receives.
"""

from __future__ import annotations

import json
import os
from typing import Any

from pydantic import ValidationError

from contracts.replies.table import reply_model

SWITCH = "BAIKAL_CHECK_REPLIES"


class ReplyMismatch(RuntimeError):
    """A handler's answer does not match the reply model its spec declares."""


def enabled() -> bool:
    return os.environ.get(SWITCH, "") == "1"


def check(subject: str, reply: Any) -> None:
    """Raise `ReplyMismatch` when checking is on and `reply` is not its spec's reply model."""
    if not enabled():
        return
    model = reply_model(subject)
    if model is None:
        return  # no spec declares this subject (a test's own); every spec names a reply model
    try:
        model.model_validate_json(json.dumps(reply, default=str), strict=True)
    except ValidationError as exc:
        raise ReplyMismatch(f"{subject}: the reply does not match {model.__name__}: "
                            f"{exc}") from None

"""With BAIKAL_CHECK_REPLIES=1 the dispatcher checks each handler's answer against its spec's
reply model: a mismatch is logged and answered `internal`; off, the answer goes out as is."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest

from contracts import agent, rbac
from services.runtime import replies
from services.runtime.dispatch import Dispatcher
from services.runtime.observability import Metrics
from tests.unit.runtime.test_dispatcher_slots import FakeMsg

CHECK = rbac.Subjects.CHECK  # replies rbac.CheckResult: {"allowed": bool}


async def answer(reply: Any) -> dict[str, Any]:
    d = Dispatcher("rbac", Metrics("rbac-test"))
    # Public (no proof, no permission): what is under test is the reply check.
    d.query(CHECK, rbac.Check, lambda envelope, payload: reply, public=True)
    data = {"user_id": "u1", "operation": "read", "entity_type": "user",
            "scope_type": "user", "scope_id": "u1"}
    msg = FakeMsg(CHECK, json.dumps({"actor": {"system": "t"}, "data": data}).encode())
    await asyncio.wait_for(d._on_message(msg), timeout=2)  # type: ignore[arg-type]
    await asyncio.wait_for(asyncio.gather(*d._tasks), timeout=5)
    found: dict[str, Any] = json.loads(msg.answers[0])
    return found


def test_the_test_suite_runs_with_replies_checked() -> None:
    assert replies.enabled()
    assert replies.reply_model(CHECK) is rbac.SPECS[CHECK].reply


async def test_a_reply_that_matches_its_model_is_sent_as_the_handler_gave_it() -> None:
    assert (await answer({"allowed": True}))["data"] == {"allowed": True}


@pytest.mark.parametrize("reply", [{"allowed": "yes"}, {}, {"allowed": True, "extra": 1}],
                         ids=["wrong type", "missing field", "undeclared field"])
async def test_a_reply_that_does_not_match_is_logged_and_answered_internal(
        reply: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="services.runtime.dispatch"):
        found = await answer(reply)
    assert found["error"]["code"] == "rbac.internal"
    assert "does not match CheckResult" in caplog.text


async def test_with_the_switch_off_a_mismatched_reply_is_not_checked(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(replies.SWITCH, "0")
    assert (await answer({"allowed": "yes"}))["data"] == {"allowed": "yes"}


def test_a_directed_agent_subject_finds_its_reply_model_for_any_agent() -> None:
    assert replies.reply_model(agent.start_subject("n7")) is agent.ContainerState
    assert replies.reply_model("bai.cmd.agent.n7.start-container.v2") is None

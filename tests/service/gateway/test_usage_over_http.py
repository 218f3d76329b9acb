"""RECALCULATE USAGE and the usage view over HTTP and from the command line (no agent here:
nothing to ask, nothing to correct, and the reply says so)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.support.gateway import GatewayStack, eventually, new_user


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayStack]:
    running = GatewayStack(tmp_path_factory.mktemp("usage"), scheduler=True).start()
    yield running
    running.stop()


def test_recalculate_usage_answers_what_it_did_for_a_superadmin(root: httpx.Client) -> None:
    reply = root.post("/resource/recalculate-usage", json={"agent_timeout_seconds": 0.5})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["drifts"] == [] and body["agents_unanswered"] == []
    assert body["summary"]["corrections"] == 0
    again = root.post("/resource/recalculate-usage", headers={"Idempotency-Key": "r-1"})
    same = root.post("/resource/recalculate-usage", headers={"Idempotency-Key": "r-1"})
    assert again.json()["run_id"] == same.json()["run_id"]


def test_the_usage_view_lists_every_kind(root: httpx.Client) -> None:
    reply = root.get("/resource/usage")
    assert reply.status_code == 200, reply.text
    assert set(reply.json()) == {"keypair", "user", "project", "domain", "agent"}
    only = root.get("/resource/usage", params={"kind": "agent"}).json()
    assert set(only) == {"agent"}
    assert root.get("/resource/usage", params={"kind": "planet"}).status_code == 422


def test_the_command_line_prints_a_verdict_and_json(baikal) -> None:
    assert "no drift" in baikal("admin", "recalculate-usage", "--agent-timeout", "0.5")
    result = json.loads(baikal("admin", "recalculate-usage", "--json"))
    assert result["summary"]["drifts"] == 0
    assert "agent" in baikal("admin", "usage")


def test_a_run_s_stages_are_read_back_by_its_idempotency_key(root: httpx.Client) -> None:
    unknown = root.get("/resource/recalculate-usage/never-ran")
    assert unknown.status_code == 200, unknown.text
    assert unknown.json()["known"] is False and unknown.json()["finished"] is False
    posted = root.post("/resource/recalculate-usage", json={"agent_timeout_seconds": 0.5},
                       headers={"Idempotency-Key": "stages-1"})
    assert posted.status_code == 200, posted.text
    status = root.get("/resource/recalculate-usage/stages-1").json()
    assert status["known"] is True and status["finished"] is True
    assert [s["stage"] for s in status["stages"]] == [
        "snapshot", "replay", "agents", "compare", "commit"]
    assert all(s["done"] == s["total"] for s in status["stages"]), status
    agents = next(s for s in status["stages"] if s["stage"] == "agents")
    assert agents["total"] == len(posted.json()["agents_asked"])


def test_the_command_line_shows_each_stage_when_not_on_a_terminal(baikal) -> None:
    out = baikal("admin", "recalculate-usage", "--agent-timeout", "0.5")
    lines = [line for line in out.splitlines() if line.split(":")[0] in (
        "replaying events", "asking agents", "comparing", "committing")]
    assert [line.split(":")[0] for line in lines] == [
        "replaying events", "asking agents", "comparing", "committing"], out
    assert "comparing: 1/1" in lines and "committing: 1/1" in lines
    assert "no drift" in out


def test_a_plain_user_may_neither_recalculate_nor_read_a_run_s_stages(
        stack: GatewayStack, root: httpx.Client) -> None:
    made = root.post("/users", json=new_user("usage-plain"))
    assert made.status_code == 201, made.text
    keys = made.json()
    with stack.client(keys["access_key"], keys["secret_key"]) as plain:
        posted = eventually(lambda: plain.post("/resource/recalculate-usage", json={}),
                            lambda r: r.status_code != 401)
        assert posted.status_code == 403, posted.text
        status = plain.get("/resource/recalculate-usage/stages-1")
        assert status.status_code == 403, status.text

"""One HTTP request's X-Request-ID on every event it causes, across identity, the scheduler
and the agent, each event caused by the command or event before it.

Real nats-server, identity, quota, rbac, storage, scheduler, one agent (process runtime) and
the gateway over HTTP. A test-only wiretap user hears every `bai.>` message: commands on
their subjects (the scheduler's directed ones too) and events as JetStream stores them.

The chain of one request, `POST /users/{email}/deactivate` with `X-Request-ID: r-123`:

    HTTP → identity command (correlation r-123)
      → identity UserDeactivated / KeypairDeactivated   caused by that command
      → scheduler SessionTerminating                     caused by one of those events
      → directed stop command to the agent               caused by SessionTerminating
      → agent ContainerExited                            caused by the stop command
      → scheduler SessionTerminated                      caused by ContainerExited

The session itself was started by an earlier request (`X-Request-ID: r-start`), whose own
chain is checked the same way: SessionRequested → SessionScheduled → start command →
ContainerStarted → SessionStarted.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from nats import connect

from tests.support.gateway import GatewayStack, eventually, new_user

SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]


class Wiretap:
    """Every message on `bai.>` (requests and published events) in arrival order."""

    def __init__(self, stack: GatewayStack) -> None:
        self.stack = stack
        self.messages: list[tuple[str, dict[str, Any]]] = []
        self.nc: Any = None

    async def start(self) -> None:
        assert self.stack.nats is not None
        self.nc = await connect(self.stack.nats.url, user="wiretap",
                                password=self.stack.nats.passwords["wiretap"])

        async def heard(msg: Any) -> None:
            try:
                self.messages.append((msg.subject, json.loads(msg.data)))
            except ValueError:
                pass  # heartbeats and the like are not what this test follows

        await self.nc.subscribe("bai.>", cb=heard)
        await self.nc.flush()

    async def stop(self) -> None:
        await self.nc.close()

    def events(self, correlation: str) -> list[dict[str, Any]]:
        return [m for s, m in self.messages if ".evt." in s
                and m.get("correlation_id") == correlation]

    def commands(self, subject_part: str) -> list[dict[str, Any]]:
        return [m for s, m in self.messages if ".cmd." in s and subject_part in s]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayStack]:
    running = GatewayStack(tmp_path_factory.mktemp("trace"), agent="process",
                           wiretap=True).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def tap(stack: GatewayStack) -> Iterator[Wiretap]:
    wiretap = Wiretap(stack)
    stack.run(wiretap.start())
    yield wiretap
    stack.run(wiretap.stop())


def one(events: list[dict[str, Any]], source: str, type_name: str) -> dict[str, Any]:
    found = [e for e in events if e["source"] == source and e["type"] == type_name]
    assert len(found) == 1, (source, type_name, [(e["source"], e["type"]) for e in events])
    return found[0]


def wait_for(tap: Wiretap, correlation: str, source: str, type_name: str) -> None:
    eventually(lambda: [e for e in tap.events(correlation)
                        if (e["source"], e["type"]) == (source, type_name)],
               bool, attempts=600, delay=0.05)


def test_a_request_id_is_on_every_event_it_causes_in_one_causal_chain(
        stack: GatewayStack, tap: Wiretap) -> None:
    with stack.client() as root:
        person = root.post("/users", json=new_user("traced"))
        assert person.status_code == 201, person.text
        person_data = person.json()
    email = "usertraced@example.com"
    with stack.client(person_data["access_key"], person_data["secret_key"]) as user:
        started = eventually(lambda: user.post("/sessions", headers={"X-Request-ID": "r-start"},
                                               json={"name": "traced", "image": "none",
                                                     "command": SLEEPER,
                                                     "slots": {"cpu": "0.1", "mem": "64m"}}),
                             lambda r: r.status_code == 201, attempts=200, delay=0.1)
        assert started.headers["X-Request-ID"] == "r-start"
        session_id = started.json()["session_id"]
    wait_for(tap, "r-start", "scheduler", "SessionStarted")

    # The session's own chain: request → placement → start command → container → started.
    chain = tap.events("r-start")
    requested = one(chain, "scheduler", "SessionRequested")
    scheduled = one(chain, "scheduler", "SessionScheduled")
    # (re-sent every 5 s until the agent's event arrives: each send is the same command)
    starts = [c for c in tap.commands(".start-container.")
              if c["data"]["session_id"] == session_id]
    container = one(chain, "agent", "ContainerStarted")
    running = one(chain, "scheduler", "SessionStarted")
    assert scheduled["causation_id"] == requested["id"]
    assert starts and all((c["correlation_id"], c["causation_id"]) == ("r-start", scheduled["id"])
                          for c in starts)
    assert container["causation_id"] in {c["id"] for c in starts}
    assert running["causation_id"] == container["id"]
    assert requested["actor"]["access_key"] == person_data["access_key"]

    # One request, three services: its id is the correlation of all that follows from it.
    with stack.client() as root:
        answer = root.post(f"/users/{email}/deactivate", headers={"X-Request-ID": "r-123"})
        assert answer.status_code == 200, answer.text
        assert answer.headers["X-Request-ID"] == "r-123"
    wait_for(tap, "r-123", "scheduler", "SessionTerminated")
    chain = tap.events("r-123")
    identity = [e for e in chain if e["source"] == "identity"]
    assert "UserDeactivated" in {e["type"] for e in identity}
    [command_id] = {e["causation_id"] for e in identity}  # all caused by the one command
    assert command_id and all(e["actor"]["access_key"] == stack.root["access_key"]
                              for e in identity)
    terminating = one(chain, "scheduler", "SessionTerminating")
    assert terminating["causation_id"] in {e["id"] for e in identity}
    assert terminating["actor"] == {"access_key": None, "user_id": None, "system": "scheduler"}
    stops = [c for c in tap.commands(".stop-container.") if c["data"]["session_id"] == session_id]
    assert stops and all((c["correlation_id"], c["causation_id"]) == ("r-123", terminating["id"])
                         for c in stops)
    exited = one(chain, "agent", "ContainerExited")
    assert exited["causation_id"] in {c["id"] for c in stops}
    terminated = one(chain, "scheduler", "SessionTerminated")
    assert terminated["causation_id"] == exited["id"]
    assert {e["source"] for e in chain} == {"identity", "scheduler", "agent"}


def test_an_unusable_request_id_is_refused_before_anything_happens(
        stack: GatewayStack) -> None:
    with stack.client() as root:
        answer = root.get("/users", headers={"X-Request-ID": "x" * 65})
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "gateway.request.id_invalid"
    assert len(answer.headers["X-Request-ID"]) == 32

"""The information page's bus probe goes through the one publisher client (`BusClient.probe`):
no envelope, the page's timeout, and a service that does not answer reported as a row (down or
unresponsive by the client's error codes), never raised into a traceback."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from nats.errors import ConnectionClosedError, NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from contracts.scheduler import Subjects as SchedulerSubjects
from services.gateway.info import _probe
from services.runtime.client import BusClient


class FakeConnection:
    """nats-py's `request`, answering with a refusal or raising what it is given."""

    def __init__(self, failure: Exception | None = None) -> None:
        self.failure = failure
        self.sent: list[tuple[str, bytes, float]] = []

    async def request(self, subject: str, payload: bytes, timeout: float) -> Any:
        self.sent.append((subject, payload, timeout))
        if self.failure is not None:
            raise self.failure
        return SimpleNamespace(data=b'{"status":"error","error":{"code":"request.malformed"}}')


def probe_row(nc: FakeConnection) -> dict[str, Any]:
    client = BusClient(nc, timeout=5.0, proofs=lambda actor: None)  # type: ignore[arg-type]
    gateway = SimpleNamespace(bus=SimpleNamespace(client=client),
                              settings=SimpleNamespace(info_timeout=0.25))
    return asyncio.run(_probe(gateway, "scheduler"))  # type: ignore[arg-type]


def test_a_service_that_answers_the_probe_at_all_is_ok() -> None:
    nc = FakeConnection()
    row = probe_row(nc)
    assert row == {"instance": "scheduler", "service": "scheduler", "source": "bus",
                   "version": None, "store": None, "status": "ok"}
    assert nc.sent == [(SchedulerSubjects.AGENT_LIST, b"{}", 0.25)]  # no envelope, its timeout


@pytest.mark.parametrize(("failure", "status"), [
    (NoRespondersError(), "down"),
    (ConnectionClosedError(), "down"),  # before the client's mapping: a traceback
    (NatsTimeout(), "unresponsive"),
])
def test_a_service_not_answering_the_probe_is_reported_as_a_row(
        failure: Exception, status: str) -> None:
    assert probe_row(FakeConnection(failure))["status"] == status


def test_a_failure_the_client_does_not_map_is_raised_not_hidden() -> None:
    with pytest.raises(ValueError, match="bad subject"):
        probe_row(FakeConnection(ValueError("bad subject")))

"""The Container aggregate through AgentApplication (in-memory store): transitions, the live
view, exit reasons, and the contract events the relay would publish."""

from __future__ import annotations

from decimal import Decimal

import pytest

from contracts import agent as c
from services.agent.app import AgentApplication
from services.agent.domain.errors import AgentError
from services.agent.domain.labels import LabelScheme
from services.agent.domain.model import exit_reason, signalled_exit
from services.agent.domain.slots import Allocation
from services.agent.translate import AgentTranslator
from services.agent.views import ContainerView

MIB = 2**20
ALLOCATION = Allocation(Decimal("0.5"), 64 * MIB, shares=((1, Decimal("0.25")),), cores=(0,))


class Harness:
    def __init__(self) -> None:
        self.app = AgentApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"},
                                    agent_id="node-1")
        self.view = ContainerView(self.app)
        self.view.attach()
        self.translate = AgentTranslator(self.app, "node-1")

    def request(self, session: str = "s-1") -> dict:
        return self.app.request(session, "docker", "img", ["sleep", "1"], "AKIAKEY",
                                ALLOCATION)

    def published(self) -> list[tuple[str, c.BaseModel]]:
        out = []
        for notification in self.app.process_recorder.select_notifications(1, 100):
            translated = self.translate(self.app.mapper.to_domain_event(notification))
            if translated is not None:
                subject, envelope = translated
                model = c.EVENT_TYPES[envelope.type][1]
                out.append((subject, model.model_validate(envelope.data)))
        return out


@pytest.fixture
def h() -> Harness:
    return Harness()


def test_a_container_goes_requested_running_exited(h: Harness):
    assert h.request()["status"] == "requested"
    assert [x.session_id for x in h.view.live()] == ["s-1"]
    started = h.app.record_started("s-1", "cid-1")
    assert started["status"] == "running" and started["container_id"] == "cid-1"
    assert started["slots"] == {"cpu": "0.5", "mem": str(64 * MIB), "cuda.shares": "0.25"}
    exited = h.app.record_exited("s-1", 137, "killed")
    assert (exited["status"], exited["exit_code"], exited["reason"]) == ("exited", 137, "killed")
    assert h.view.live() == [] and h.view.allocations() == []


def test_an_exit_is_recorded_once(h: Harness):
    h.request()
    h.app.record_started("s-1", "cid-1")
    h.app.record_exited("s-1", 0, "exited")
    with pytest.raises(AgentError) as caught:
        h.app.record_exited("s-1", 0, "exited")
    assert caught.value.code == "agent.container.invalid_transition"
    assert len([e for _, e in h.published() if isinstance(e, c.ContainerExited)]) == 1


def test_a_failed_start_releases_the_slots_and_cannot_start_later(h: Harness):
    h.request()
    assert h.app.record_failed("s-1", "image-not-found", "no such image")["status"] == "failed"
    assert h.view.allocations() == []
    with pytest.raises(AgentError):
        h.app.record_started("s-1", "cid-1")


def test_a_stop_is_remembered_so_the_exit_carries_its_reason(h: Harness):
    h.request()
    h.app.record_started("s-1", "cid-1")
    h.app.record_stop_requested("s-1", "idle-timeout")
    assert h.view.get("s-1").stop_reason == "idle-timeout"
    with pytest.raises(AgentError):
        h.app.record_stop_requested("s-2", "user-requested")


def test_a_repeated_command_id_returns_the_first_answer(h: Harness):
    from contracts.envelope import Actor
    from services.agent.app import Origin

    h.request()
    origin = Origin("cmd-1", Actor(system="scheduler"), "corr-1")
    first = h.app.record_started("s-1", "cid-1", origin)
    again = h.app.record_started("s-1", "cid-1", origin)
    assert first == again


def test_published_events_carry_the_allocation(h: Harness):
    h.request()
    h.app.record_started("s-1", "cid-1")
    h.app.record_exited("s-1", None, "lost-while-agent-down", while_agent_down=True)
    (s_subject, started), (e_subject, exited) = h.published()
    assert s_subject == "bai.evt.agent.node-1.container-started.v1"
    assert started.slots == {"cpu": "0.5", "mem": str(64 * MIB), "cuda.shares": "0.25"}
    assert started.gpu_devices == [1] and started.gpu_shares == {"1": "0.25"}
    assert started.access_key == "AKIAKEY" and started.runtime == "docker"
    assert e_subject == "bai.evt.agent.node-1.container-exited.v1"
    assert exited.container_id == "cid-1" and exited.while_agent_down
    assert exited.slots == started.slots and exited.exit_code is None


def test_a_translator_started_after_a_restart_reads_what_it_missed(h: Harness):
    h.request()
    h.app.record_started("s-1", "cid-1")
    fresh = AgentTranslator(h.app, "node-1")
    last = h.app.process_recorder.select_notifications(1, 100)[-1]
    _, envelope = fresh(h.app.mapper.to_domain_event(last))
    assert envelope.data["session_id"] == "s-1" and envelope.data["container_id"] == "cid-1"


def test_an_orphan_is_reported_as_exited_without_ever_running_here(h: Harness):
    h.app.record_orphan("ghost", "docker", "", None, Allocation(Decimal(1), MIB), "cid-9", 143)
    assert h.view.live() == []
    ((subject, event),) = h.published()
    assert isinstance(event, c.ContainerExited)
    assert event.reason == "orphan-removed" and event.exit_code == 143


def test_a_failure_is_published_with_its_reason(h: Harness):
    h.request()
    h.app.record_failed("s-1", "start-failed", "exec: not found")
    ((subject, event),) = h.published()
    assert subject == "bai.evt.agent.node-1.container-failed.v1"
    assert (event.reason, event.detail) == ("start-failed", "exec: not found")


@pytest.mark.parametrize(("stop", "oom", "signalled", "reason"), [
    ("user-requested", True, True, "user-requested"),
    (None, True, True, "oom-killed"),
    (None, False, True, "killed"),
    (None, False, False, "exited"),
])
def test_how_an_exit_is_explained(stop, oom, signalled, reason):
    assert exit_reason(stop_reason=stop, oom_killed=oom, signalled=signalled) == reason


def test_exit_codes_above_128_mean_a_signal():
    assert signalled_exit(137) and signalled_exit(143)
    assert not signalled_exit(0) and not signalled_exit(1) and not signalled_exit(None)


def test_labels_identify_the_agent_and_session_and_cannot_be_overridden():
    scheme = LabelScheme("ai.baikal.", "node-1")
    labels = scheme.labels("s/1", "AKIAKEY", {"cpu": "1"}, [0, 2],
                           {"team": "a", "ai.baikal.session-id": "forged",
                            "ai.baikal.session-name": "notebook"})
    assert labels["ai.baikal.session-id"] == "s/1" and labels["team"] == "a"
    assert labels["ai.baikal.session-name"] == "notebook"
    assert scheme.session_of(labels) == "s/1"
    assert scheme.access_key_of(labels) == "AKIAKEY"
    assert scheme.slots_of(labels) == {"cpu": "1"}
    assert LabelScheme("ai.baikal.", "node-2").session_of(labels) is None
    name = scheme.container_name("s/1 with spaces")
    assert name.startswith("baikal-node-1-s-1-with-spaces-")
    assert name != LabelScheme("other.", "node-1").container_name("s/1 with spaces")

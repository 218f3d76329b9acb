"""The supervisor on an in-memory store with a recording runtime and a fake NVML: what a
container is launched with, idempotent starts, refusals, stops, and restart reconciliation."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from contracts import agent as c
from contracts.envelope import Actor
from services.agent.app import AgentApplication, Origin
from services.agent.domain.errors import AgentError
from services.agent.domain.labels import LabelScheme
from services.agent.gpu import NvmlProbe
from services.agent.metrics import AgentMetrics
from services.agent.mps import MpsControl
from services.agent.runtimes.base import HostResources, LaunchSpec, Observed
from services.agent.runtimes.simulated import SimulatedRuntime
from services.agent.settings import AgentSettings
from services.agent.supervisor import Supervisor
from services.agent.views import ContainerView
from tests.unit.agent.fake_nvml import GIB, FakeNvml, h100s

ORIGIN = Origin("cmd", Actor(system="scheduler"))
LABELS = LabelScheme("ai.baikal.", "node-1")


class RecordingRuntime(SimulatedRuntime):
    """Remembers every launch; `found` is what `list()` reports after a restart."""

    def __init__(self) -> None:
        super().__init__(LABELS)
        self.launched: list[LaunchSpec] = []
        self.adopted: list[str] = []
        self.removed: list[str] = []

    async def resources(self) -> HostResources:
        return HostResources(tuple(range(8)), 32 * GIB)

    async def launch(self, spec: LaunchSpec) -> str:
        self.launched.append(spec)
        if spec.image == "explodes":
            raise RuntimeError("engine bug")
        return await super().launch(spec)

    async def adopt(self, observed: Observed) -> None:
        self.adopted.append(observed.container_id)

    async def remove(self, container_id: str) -> None:
        self.removed.append(container_id)
        await super().remove(container_id)

    def engine_has(self, *found: Observed) -> None:
        self._running = {o.container_id: o for o in found}


def mps_binary(tmp_path: Path) -> Path:
    script = tmp_path / "nvidia-cuda-mps-control"
    script.write_text(f"#!/bin/sh\necho \"$@\" >> {tmp_path}/mps-calls\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


def supervisor(tmp_path: Path, runtime: RecordingRuntime, nvml: FakeNvml,
               app: AgentApplication | None = None, **extra: Any) -> Supervisor:
    settings = AgentSettings(agent_id="node-1", reserved_cpu=0, reserved_mem=0,
                             data_dir=tmp_path, heartbeat_seconds=60, **extra)
    app = app or AgentApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"},
                                  agent_id="node-1")
    view = ContainerView(app)
    view.attach()
    return Supervisor(settings, app, view, runtime, NvmlProbe(nvml),
                      MpsControl(str(mps_binary(tmp_path))),
                      AgentMetrics(CollectorRegistry()), "test")


def start(session: str, **slots: str) -> c.StartContainer:
    return c.StartContainer(session_id=session, image="img", command=["run"],
                            slots={"cpu": "1", "mem": str(GIB), **slots},
                            environ={"CUDA_VISIBLE_DEVICES": "0,1,2,3"}, access_key="AKIAKEY")


@pytest.fixture
async def gpu_node(tmp_path: Path):
    runtime = RecordingRuntime()
    sup = supervisor(tmp_path, runtime, h100s(2))
    await sup.start()
    yield sup, runtime
    await sup.stop()


async def test_the_heartbeat_reports_gpus_found_through_nvml(gpu_node):
    sup, _ = gpu_node
    beat = sup.heartbeat()
    assert beat.capacity == {"cpu": "8", "mem": str(32 * GIB), "cuda.device": "2",
                             "cuda.shares": "2"}
    assert [g.model for g in beat.gpus] == ["NVIDIA H100 80GB HBM3"] * 2
    assert beat.runtime == c.RuntimeKind.SIMULATED


async def test_a_share_runs_as_an_mps_client_with_limits_from_its_share(gpu_node, tmp_path):
    sup, runtime = gpu_node
    state = await sup.start_container(ORIGIN, start("s-1", **{"cuda.shares": "0.25"}))
    assert state["gpu_devices"] == [0] and state["slots"]["cuda.shares"] == "0.25"
    (spec,) = runtime.launched
    assert spec.environ["CUDA_MPS_PINNED_DEVICE_MEM_LIMIT"] == "0=20480M"
    assert spec.environ["CUDA_MPS_ACTIVE_THREAD_PERCENTAGE"] == "25"
    assert spec.environ["CUDA_VISIBLE_DEVICES"] == "0"  # the caller cannot widen it
    assert (tmp_path / "mps-calls").read_text().split() == ["-d"]
    assert spec.labels["ai.baikal.session-id"] == "s-1"
    assert spec.gpu_uuids == ["GPU-00000000-0000-0000-0000-000000000000"]


async def test_a_session_without_gpus_on_a_gpu_node_sees_none(gpu_node):
    sup, runtime = gpu_node
    request = start("s-1")
    request.environ["NVIDIA_VISIBLE_DEVICES"] = "all"
    await sup.start_container(ORIGIN, request)
    (spec,) = runtime.launched
    assert spec.environ["NVIDIA_VISIBLE_DEVICES"] == "void"
    assert spec.environ["CUDA_VISIBLE_DEVICES"] == ""
    assert not any(k.startswith("CUDA_MPS_") for k in spec.environ)


async def test_a_repeated_start_returns_the_existing_container(gpu_node):
    sup, runtime = gpu_node
    first = await sup.start_container(ORIGIN, start("s-1"))
    again = await sup.start_container(Origin("other", ORIGIN.actor), start("s-1", cpu="2"))
    assert again == first and len(runtime.launched) == 1


async def test_a_start_beyond_the_node_is_refused_and_leaves_nothing(gpu_node):
    sup, runtime = gpu_node
    await sup.start_container(ORIGIN, start("s-1", **{"cuda.device": "2"}))
    with pytest.raises(AgentError) as caught:
        await sup.start_container(ORIGIN, start("s-2", **{"cuda.shares": "0.1"}))
    assert caught.value.code == "agent.slots.insufficient"
    assert sup.app.container("s-2") is None and len(runtime.launched) == 1


async def test_an_unexpected_launch_error_releases_the_slots_and_propagates(gpu_node):
    sup, _ = gpu_node
    request = start("s-1", **{"cuda.device": "2"})
    request.image = "explodes"
    with pytest.raises(RuntimeError):
        await sup.start_container(ORIGIN, request)
    assert sup.app.state("s-1")["reason"] == "agent-error"
    assert sup.view.allocations() == []
    assert (await sup.start_container(ORIGIN, start("s-2", **{"cuda.device": "2"})))[
        "status"] == "running"


async def test_a_stop_ends_the_container_with_the_callers_reason(gpu_node):
    sup, runtime = gpu_node
    await sup.start_container(ORIGIN, start("s-1"))
    stopped = await sup.stop_container(ORIGIN, c.StopContainer(session_id="s-1",
                                                              reason="idle-timeout"))
    assert (stopped["status"], stopped["reason"]) == ("exited", "idle-timeout")
    assert await runtime.containers() == [] and sup.view.live() == []
    again = await sup.stop_container(ORIGIN, c.StopContainer(session_id="s-1"))
    assert again == stopped
    never = await sup.stop_container(ORIGIN, c.StopContainer(session_id="never-here"))
    assert never["status"] == "unknown"


async def test_an_access_key_given_as_a_label_is_the_sessions(gpu_node):
    sup, runtime = gpu_node
    request = start("s-1")
    request.access_key = None
    request.labels = {"ai.baikal.access-key": "AKIAOTHER", "ai.baikal.session-name": "nb"}
    await sup.start_container(ORIGIN, request)
    (spec,) = runtime.launched
    assert spec.labels["ai.baikal.access-key"] == "AKIAOTHER"
    assert spec.labels["ai.baikal.session-name"] == "nb"
    assert sup.view.get("s-1").access_key == "AKIAOTHER"


async def test_a_restart_adopts_the_living_and_reports_the_dead_and_the_orphans(tmp_path):
    runtime = RecordingRuntime()
    app = AgentApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, agent_id="node-1")
    first = supervisor(tmp_path, runtime, FakeNvml(), app)
    await first.start()
    alive = await first.start_container(ORIGIN, start("alive"))
    dead = await first.start_container(ORIGIN, start("dead"))
    gone = await first.start_container(ORIGIN, start("gone"))
    app.request("half-started", "simulated", "img", [], None,
                first.view.get("alive").allocation)
    await first.stop()

    labels = LABELS.labels("stray", None, {"cpu": "1", "mem": "1"}, [])
    runtime.engine_has(
        Observed(alive["container_id"], "alive", {}, running=True),
        Observed(dead["container_id"], "dead", {}, running=False, exit_code=137,
                 signalled=True),
        Observed("half", "half-started", {}, running=True),
        Observed("stray-1", "stray", labels, running=True),
    )
    second = supervisor(tmp_path, runtime, FakeNvml(), app)
    await second.start()
    try:
        assert runtime.adopted == [alive["container_id"], "half"]
        assert app.state("alive")["status"] == "running"
        assert app.state("half-started")["container_id"] == "half"
        assert (app.state("dead")["reason"], app.state("dead")["exit_code"]) == ("killed", 137)
        assert app.state("gone")["reason"] == "lost-while-agent-down"
        assert gone["container_id"] not in [o.container_id for o in await runtime.containers()]
        assert app.state("stray")["reason"] == "orphan-removed"
        assert "stray-1" in runtime.removed
        assert sorted(x.session_id for x in second.view.running()) == ["alive", "half-started"]
    finally:
        await second.stop()


async def test_without_reconcile_at_start_the_first_sweep_reports_what_ended_meanwhile(
        tmp_path):
    """BAIKAL_RECONCILE_AT_START=false (RECALCULATE USAGE's chaos tests): the agent starts
    answering with the exit unreported; the first sweep makes the same comparison."""
    runtime = RecordingRuntime()
    app = AgentApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}, agent_id="node-1")
    first = supervisor(tmp_path, runtime, FakeNvml(), app)
    await first.start()
    await first.start_container(ORIGIN, start("gone"))
    await first.stop()
    runtime.engine_has()  # it ended while the agent was down
    second = supervisor(tmp_path, runtime, FakeNvml(), app, reconcile_at_start=False,
                        sweep_seconds=0.2)
    await second.start()
    try:
        assert app.state("gone")["status"] == "running"  # not reported by itself yet
        assert (await second.report_running())["containers"] == []  # but not reported running
        for _ in range(50):
            if app.state("gone")["status"] != "running":
                break
            await asyncio.sleep(0.05)
        assert app.state("gone")["reason"] == "lost-while-agent-down"
    finally:
        await second.stop()


class SlowRuntime(RecordingRuntime):
    """A launch that waits until the test lets it go."""

    def __init__(self) -> None:
        super().__init__()
        self.go = asyncio.Event()

    async def launch(self, spec: LaunchSpec) -> str:
        await asyncio.wait_for(self.go.wait(), timeout=10)
        return await super().launch(spec)


async def test_a_start_past_the_command_timeout_is_refused_and_still_finishes(tmp_path):
    runtime = SlowRuntime()
    sup = supervisor(tmp_path, runtime, h100s(0), command_timeout_seconds=0.2)
    await sup.start()
    try:
        with pytest.raises(AgentError) as refused:
            await sup.answer(sup.start_container(ORIGIN, start("s-slow")))
        assert refused.value.code == "agent.command.timeout"
        runtime.go.set()  # the work went on (shielded): asked again, the container is running
        for _ in range(100):  # bounded: 5 s
            if not sup._working:
                break
            await asyncio.sleep(0.05)
        again = await sup.answer(sup.start_container(ORIGIN, start("s-slow")))
        assert again["status"] == "running" and len(runtime.launched) == 1
    finally:
        await sup.stop()


async def test_a_failure_of_a_command_s_work_reaches_the_handler_that_awaits_it(tmp_path):
    runtime = RecordingRuntime()
    sup = supervisor(tmp_path, runtime, h100s(0))
    await sup.start()
    try:
        explodes = start("s-boom").model_copy(update={"image": "explodes"})
        with pytest.raises(RuntimeError, match="engine bug"):
            await sup.answer(sup.start_container(ORIGIN, explodes))
        assert not sup._working
    finally:
        await sup.stop()

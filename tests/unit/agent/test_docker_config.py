"""What the Docker runtime asks the engine for: limits, network, labels, GPUs, MPS."""

from __future__ import annotations

from decimal import Decimal

from services.agent.domain.labels import LabelScheme
from services.agent.domain.slots import Allocation
from services.agent.runtimes.base import LaunchSpec
from services.agent.runtimes.docker import DockerRuntime

MIB = 2**20


def spec(allocation: Allocation, network: bool = False, uuids: list[str] | None = None,
         command: list[str] | None = None) -> LaunchSpec:
    return LaunchSpec(session_id="s-1", name="baikal-x", image="img",
                      command=["sh", "-c", "true"] if command is None else command,
                      environ={"A": "1"}, labels={"l": "v"}, network=network,
                      allocation=allocation, gpu_uuids=uuids or [])


def runtime() -> DockerRuntime:
    return DockerRuntime(LabelScheme("ai.baikal.", "node-1"), mps_pipe_dir="/run/mps")


def test_cpu_memory_and_network_are_limited():
    config = runtime().config(spec(Allocation(Decimal("0.5"), 64 * MIB)))
    host = config["HostConfig"]
    assert host["NanoCpus"] == 500_000_000
    assert host["Memory"] == host["MemorySwap"] == 64 * MIB
    assert host["NetworkMode"] == "none" and host["Init"] is True
    assert "DeviceRequests" not in host
    assert config["Env"] == ["A=1"] and config["Labels"] == {"l": "v"}
    assert config["Cmd"] == ["sh", "-c", "true"]


def test_a_session_asking_for_a_network_gets_the_configured_one():
    config = runtime().config(spec(Allocation(Decimal(1), MIB), network=True))
    assert config["HostConfig"]["NetworkMode"] == "bridge"


def test_whole_gpus_are_requested_by_uuid():
    allocation = Allocation(Decimal(1), MIB, devices=(0, 2))
    host = runtime().config(spec(allocation, uuids=["GPU-a", "GPU-c"]))["HostConfig"]
    assert host["DeviceRequests"] == [{"Driver": "nvidia", "DeviceIDs": ["GPU-a", "GPU-c"],
                                       "Capabilities": [["gpu"]]}]
    assert "IpcMode" not in host


def test_a_shared_gpu_joins_the_nodes_mps_daemon():
    allocation = Allocation(Decimal(1), MIB, shares=((1, Decimal("0.5")),))
    host = runtime().config(spec(allocation))["HostConfig"]
    assert host["DeviceRequests"][0]["DeviceIDs"] == ["1"]
    assert host["IpcMode"] == "host" and host["Binds"] == ["/run/mps:/run/mps"]


def test_no_command_runs_the_images_default():
    assert "Cmd" not in runtime().config(spec(Allocation(Decimal(1), MIB), command=[]))

"""Agent gauges on the service's Prometheus registry: containers, slots, GPUs."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from contracts.agent import GpuInfo
from services.agent.domain.slots import SlotUse

START_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class AgentMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.running = Gauge("bai_agent_containers_running", "Containers running on this node",
                             registry=registry)
        self.capacity = Gauge("bai_agent_slot_capacity", "Usable capacity per slot",
                              ["slot"], registry=registry).labels
        self.occupied = Gauge("bai_agent_slot_occupied", "Allocated to live containers",
                              ["slot"], registry=registry).labels
        self.gpu_utilisation = Gauge("bai_agent_gpu_utilization_percent", "GPU utilisation",
                                     ["index", "uuid", "model"], registry=registry).labels
        self.gpu_memory_used = Gauge("bai_agent_gpu_memory_used_bytes", "GPU memory in use",
                                     ["index", "uuid"], registry=registry).labels
        self.gpu_memory_total = Gauge("bai_agent_gpu_memory_total_bytes", "GPU memory",
                                      ["index", "uuid"], registry=registry).labels
        self.starts = Counter("bai_agent_container_starts_total", "Start outcomes",
                              ["outcome"], registry=registry).labels
        self.exits = Counter("bai_agent_container_exits_total", "Container exits by reason",
                             ["reason"], registry=registry).labels
        self.start_seconds = Histogram("bai_agent_container_start_seconds",
                                       "From start command to running", buckets=START_BUCKETS,
                                       registry=registry)

    def slots(self, use: SlotUse, running: int) -> None:
        self.running.set(running)
        for slot, value in use.capacity.items():
            self.capacity(slot).set(float(value))
            self.occupied(slot).set(float(use.occupied.get(slot, "0")))

    def gpus(self, gpus: Iterable[GpuInfo]) -> None:
        for gpu in gpus:
            index = str(gpu.index)
            self.gpu_memory_total(index, gpu.uuid).set(gpu.memory_bytes)
            if gpu.memory_used_bytes is not None:
                self.gpu_memory_used(index, gpu.uuid).set(gpu.memory_used_bytes)
            if gpu.utilization_percent is not None:
                self.gpu_utilisation(index, gpu.uuid, gpu.model).set(gpu.utilization_percent)

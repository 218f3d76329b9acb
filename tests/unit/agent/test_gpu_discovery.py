"""NVML discovery against a fake NVML library: what a node reports with and without GPUs."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.agent import gpu
from services.agent.domain.slots import Device, usable_capacity
from services.agent.gpu import NvmlProbe
from tests.unit.agent.fake_nvml import GIB, FakeGpu, FakeNvml, h100s


def capacity_with(gpus, shares_per_device="1"):
    return usable_capacity(Decimal(16), range(16), 128 * GIB, Decimal(1), GIB,
                           [Device(g.index, g.memory_bytes) for g in gpus],
                           Decimal(shares_per_device))


def test_each_gpu_is_reported_with_model_memory_driver_and_use():
    found = NvmlProbe(h100s(2)).discover()
    assert [g.index for g in found] == [0, 1]
    first = found[0]
    assert first.model == "NVIDIA H100 80GB HBM3"
    assert first.memory_bytes == 80 * GIB
    assert first.memory_used_bytes == GIB
    assert first.driver_version == "550.54.15"
    assert first.utilization_percent == 7.0
    assert first.uuid.startswith("GPU-00000000")
    assert found[1].uuid.startswith("GPU-00000001")


def test_gpus_become_device_and_share_slots():
    slots = capacity_with(NvmlProbe(h100s(2)).discover()).slots()
    assert slots["cuda.device"] == "2"
    assert slots["cuda.shares"] == "2"
    assert slots["cpu"] == "15"


def test_shares_per_device_scale_the_share_slot():
    slots = capacity_with(NvmlProbe(h100s(3)).discover(), shares_per_device="2.5").slots()
    assert slots["cuda.shares"] == "7.5"
    assert slots["cuda.device"] == "3"


def test_byte_strings_from_older_bindings_are_decoded():
    nvml = FakeNvml([FakeGpu(name=b"NVIDIA A100-SXM4-40GB")], driver=b"535.104.05")
    (found,) = NvmlProbe(nvml).discover()
    assert found.model == "NVIDIA A100-SXM4-40GB"
    assert found.driver_version == "535.104.05"


def test_a_device_without_utilisation_still_counts():
    (found,) = NvmlProbe(FakeNvml([FakeGpu(utilisation=None)])).discover()
    assert found.utilization_percent is None
    assert found.memory_bytes == 80 * GIB


def test_no_driver_means_no_gpu_slots():
    nvml = FakeNvml([FakeGpu()], init_error="Driver Not Loaded")
    assert NvmlProbe(nvml).discover() == []
    slots = capacity_with([]).slots()
    assert "cuda.device" not in slots and "cuda.shares" not in slots


def test_a_machine_without_gpus_reports_none():
    assert NvmlProbe(FakeNvml([])).discover() == []


def test_without_the_nvml_bindings_the_node_reports_no_gpu(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(gpu, "load_pynvml", lambda: None)
    assert NvmlProbe().discover() == []


def test_sampling_refreshes_use_and_keeps_the_device_list():
    nvml = h100s(1)
    probe = NvmlProbe(nvml)
    known = probe.discover()
    nvml.gpus[0].utilisation, nvml.gpus[0].used = 93, 40 * GIB
    (sampled,) = probe.sample(known)
    assert sampled.utilization_percent == 93.0
    assert sampled.memory_used_bytes == 40 * GIB
    assert sampled.uuid == known[0].uuid
    assert nvml.calls.count("init") == 1  # NVML stays initialised between samples
    probe.close()
    assert nvml.calls[-1] == "shutdown"

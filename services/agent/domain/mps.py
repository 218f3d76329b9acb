"""GPU environment of a container: visible devices and NVIDIA MPS limits from its share."""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal

from services.agent.domain.slots import MIB, Allocation

MEM_LIMIT = "CUDA_MPS_PINNED_DEVICE_MEM_LIMIT"
THREAD_PERCENTAGE = "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE"


def visible_devices(allocation: Allocation, *, renumbered: bool) -> dict[str, str]:
    """CUDA_VISIBLE_DEVICES for the allocated GPUs.

    In a container the engine exposes only the requested devices, renumbered from 0
    (`renumbered=True`); a host process sees every GPU, so it gets the host indices, with
    PCI bus order so CUDA's numbering matches NVML's. No GPU allocated: none visible.
    """
    devices = allocation.gpu_devices
    if renumbered:
        return {"CUDA_VISIBLE_DEVICES": ",".join(str(i) for i in range(len(devices)))}
    return {"CUDA_DEVICE_ORDER": "PCI_BUS_ID",
            "CUDA_VISIBLE_DEVICES": ",".join(str(i) for i in devices)}


def mps_environ(allocation: Allocation, device_memory: Mapping[int, int],
                shares_per_device: Decimal) -> dict[str, str]:
    """MPS client limits for a container holding `cuda.shares`; empty without shares.

    Each shared device's fraction is share / shares_per_device. Pinned memory is limited per
    device (ordinals as the client sees them, i.e. positions in CUDA_VISIBLE_DEVICES) to
    fraction × device memory, in MiB rounded down. The active-thread percentage is one
    value per process, so it is the largest fraction held, rounded up to a whole percent.
    """
    if not allocation.shares:
        return {}
    ordinals = {index: n for n, index in enumerate(allocation.gpu_devices)}
    limits, largest = [], Decimal(0)
    for index, share in allocation.shares:
        fraction = min(Decimal(1), share / shares_per_device)
        largest = max(largest, fraction)
        mib = int(fraction * device_memory[index]) // MIB
        limits.append(f"{ordinals[index]}={mib}M")
    percent = min(100, max(1, math.ceil(largest * 100)))
    return {MEM_LIMIT: ",".join(limits), THREAD_PERCENTAGE: str(percent)}

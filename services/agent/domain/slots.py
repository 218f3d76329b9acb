"""Node capacity and slot allocation: a pure function that never over-allocates the node."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from contracts.values import SLOT_NAMES as SLOT_NAMES
from contracts.values import SlotName
from services.agent.domain.errors import refuse

CPU: str = SlotName.CPU
MEM: str = SlotName.MEM
CUDA_DEVICE: str = SlotName.CUDA_DEVICE
CUDA_SHARES: str = SlotName.CUDA_SHARES
MIB = 2**20
MEM_ALIGN = 16 * MIB  # usable memory is rounded down to this, like the reference agent
CPU_QUANTUM = Decimal("0.01")
ZERO = Decimal(0)


def fmt(value: Decimal | int) -> str:
    """Wire form of a quantity: a plain decimal string without exponent or trailing zeros."""
    text = format(Decimal(value).normalize(), "f")
    return text if text != "-0" else "0"


@dataclass(frozen=True)
class Device:
    index: int
    memory_bytes: int


@dataclass(frozen=True)
class NodeCapacity:
    """What containers may use on this node (host totals minus the reserve)."""

    cpu: Decimal
    mem: int
    cores: tuple[int, ...]
    devices: tuple[Device, ...] = ()
    shares_per_device: Decimal = Decimal(1)
    share_quantum: Decimal = Decimal("0.01")

    def slots(self) -> dict[str, str]:
        slots = {CPU: fmt(self.cpu), MEM: fmt(self.mem)}
        if self.devices:
            slots[CUDA_DEVICE] = fmt(len(self.devices))
            slots[CUDA_SHARES] = fmt(len(self.devices) * self.shares_per_device)
        return slots


def usable_capacity(
    cpu_total: Decimal, cores: Iterable[int], mem_bytes: int, reserved_cpu: Decimal,
    reserved_mem: int, devices: Iterable[Device] = (), shares_per_device: Decimal = Decimal(1),
    share_quantum: Decimal = Decimal("0.01"),
) -> NodeCapacity:
    """Host totals minus the reserve (never below zero); memory aligned down to 16 MiB.
    `cores` are the CPU ids containers may be pinned to."""
    core_list = tuple(sorted(cores))
    cpu = max(ZERO, cpu_total - reserved_cpu)
    mem = max(0, mem_bytes - reserved_mem) // MEM_ALIGN * MEM_ALIGN
    return NodeCapacity(cpu, mem, core_list, tuple(devices), shares_per_device, share_quantum)


@dataclass(frozen=True)
class Request:
    cpu: Decimal
    mem: int
    devices: int = 0
    shares: Decimal = ZERO


@dataclass(frozen=True)
class Allocation:
    """What one container was given: quantities, whole GPUs, GPU shares and pinned cores."""

    cpu: Decimal
    mem: int
    devices: tuple[int, ...] = ()
    shares: tuple[tuple[int, Decimal], ...] = ()  # (device index, cuda.shares on it)
    cores: tuple[int, ...] = ()

    @property
    def gpu_devices(self) -> list[int]:
        return sorted({*self.devices, *(index for index, _ in self.shares)})

    @property
    def total_shares(self) -> Decimal:
        return sum((share for _, share in self.shares), ZERO)

    def slots(self) -> dict[str, str]:
        slots = {CPU: fmt(self.cpu), MEM: fmt(self.mem)}
        if self.devices:
            slots[CUDA_DEVICE] = fmt(len(self.devices))
        if self.shares:
            slots[CUDA_SHARES] = fmt(self.total_shares)
        return slots

    def share_map(self) -> dict[str, str]:
        return {str(index): fmt(share) for index, share in self.shares}

    def to_record(self) -> dict[str, Any]:
        return {"cpu": fmt(self.cpu), "mem": self.mem, "devices": list(self.devices),
                "shares": [[index, fmt(share)] for index, share in self.shares],
                "cores": list(self.cores)}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Allocation:
        return cls(Decimal(record["cpu"]), int(record["mem"]), tuple(record["devices"]),
                   tuple((int(i), Decimal(s)) for i, s in record["shares"]),
                   tuple(record["cores"]))


def _decimal(slot: str, raw: object) -> Decimal:
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        raise refuse("slots.not_a_number", f"{slot} must be a decimal number", slot=slot) from None
    if not value.is_finite() or value < 0:
        raise refuse("slots.invalid", f"{slot} must be a finite number ≥ 0", slot=slot)
    return value


def _multiple(slot: str, value: Decimal, quantum: Decimal) -> None:
    if value % quantum != 0:
        raise refuse("slots.bad_step", f"{slot} must be a multiple of {fmt(quantum)}",
                     slot=slot, step=fmt(quantum))


def parse_request(slots: Mapping[str, object], share_quantum: Decimal) -> Request:
    """Validate requested slots: cpu and mem required, GPUs either whole or shared."""
    unknown = sorted(set(slots) - set(SLOT_NAMES))
    if unknown:
        raise refuse("slots.unknown", f"unknown slot {unknown[0]!r}", slot=unknown[0],
                     known=list(SLOT_NAMES))
    values = {name: _decimal(name, raw) for name, raw in slots.items()}
    cpu, mem = values.get(CPU, ZERO), values.get(MEM, ZERO)
    if cpu <= 0 or mem <= 0:
        raise refuse("slots.invalid", "cpu and mem are required and must be positive",
                     slot=CPU if cpu <= 0 else MEM)
    _multiple(CPU, cpu, CPU_QUANTUM)
    _multiple(MEM, mem, Decimal(1))
    devices, shares = values.get(CUDA_DEVICE, ZERO), values.get(CUDA_SHARES, ZERO)
    _multiple(CUDA_DEVICE, devices, Decimal(1))
    _multiple(CUDA_SHARES, shares, share_quantum)
    if devices and shares:
        raise refuse("slots.exclusive", "ask for cuda.device or cuda.shares, not both",
                     slot=CUDA_SHARES)
    return Request(cpu, int(mem), int(devices), shares)


def occupied(allocations: Iterable[Allocation]) -> dict[str, Decimal]:
    used = {name: ZERO for name in SLOT_NAMES}
    for a in allocations:
        used[CPU] += a.cpu
        used[MEM] += a.mem
        used[CUDA_DEVICE] += len(a.devices)
        used[CUDA_SHARES] += a.total_shares
    return used


def allocate(capacity: NodeCapacity, live: Iterable[Allocation], request: Request) -> Allocation:
    """Place a request on the node next to the live allocations, or refuse saying what is short."""
    live = list(live)
    used = occupied(live)
    _fits(CPU, request.cpu, capacity.cpu - used[CPU])
    _fits(MEM, Decimal(request.mem), Decimal(capacity.mem - int(used[MEM])))
    gpu_load = _gpu_load(capacity, live)
    devices = _whole_devices(capacity, gpu_load, request.devices, CUDA_DEVICE)
    shares = _place_shares(capacity, gpu_load, request.shares)
    cores = pick_cores(capacity.cores, live, request.cpu)
    return Allocation(request.cpu, request.mem, devices, shares, cores)


def _fits(slot: str, requested: Decimal, free: Decimal) -> None:
    if requested > free:
        raise refuse("slots.insufficient", f"not enough {slot} free on this node",
                     slot=slot, requested=fmt(requested), free=fmt(max(free, ZERO)))


def _gpu_load(capacity: NodeCapacity, live: list[Allocation]) -> dict[int, Decimal]:
    """Shares in use per device; a whole-device allocation uses all of its shares."""
    load = {device.index: ZERO for device in capacity.devices}
    for a in live:
        for index in a.devices:
            load[index] = capacity.shares_per_device
        for index, share in a.shares:
            load[index] += share
    return load


def _whole_devices(capacity: NodeCapacity, load: dict[int, Decimal], count: int,
                   slot: str) -> tuple[int, ...]:
    free = [index for index, used in sorted(load.items()) if used == 0]
    if count > len(free):
        raise refuse("slots.insufficient", f"not enough {slot} free on this node", slot=slot,
                     requested=fmt(count), free=fmt(len(free)))
    return tuple(free[:count])


def _place_shares(capacity: NodeCapacity, load: dict[int, Decimal],
                  shares: Decimal) -> tuple[tuple[int, Decimal], ...]:
    """Whole free devices for the integral part, then the best-fitting device for the rest.

    A fraction never straddles two devices: 0.2 + 0.2 on two GPUs is worth less to a program
    than 0.4 on one, and MPS limits are per device.
    """
    if shares == 0:
        return ()
    per_device = capacity.shares_per_device
    whole = int(shares // per_device)
    rest = shares - whole * per_device
    chosen = _whole_devices(capacity, load, whole, CUDA_SHARES)
    placed = [(index, per_device) for index in chosen]
    if rest:
        candidates = sorted((per_device - used, index) for index, used in load.items()
                            if index not in chosen and per_device - used >= rest)
        if not candidates:
            best = max((per_device - used for i, used in load.items() if i not in chosen),
                       default=ZERO)
            raise refuse("slots.insufficient", "no GPU has that share free",
                         slot=CUDA_SHARES, requested=fmt(shares),
                         largest_free_fraction=fmt(best))
        placed.append((candidates[0][1], rest))
    return tuple(sorted(placed))


def pick_cores(cores: tuple[int, ...], live: Iterable[Allocation], cpu: Decimal
               ) -> tuple[int, ...]:
    """ceil(cpu) cores with the least pinned load (ties: lowest id), for CPU affinity."""
    if not cores:
        return ()
    load = {core: ZERO for core in cores}
    for a in live:
        for core in a.cores:
            if core in load:
                load[core] += a.cpu / len(a.cores)
    wanted = min(len(cores), max(1, math.ceil(cpu)))
    ranked = sorted(cores, key=lambda core: (load[core], core))
    return tuple(sorted(ranked[:wanted]))


@dataclass
class SlotUse:
    """Capacity and occupancy per slot, for heartbeats and metrics."""

    capacity: dict[str, str] = field(default_factory=dict)
    occupied: dict[str, str] = field(default_factory=dict)


def slot_use(capacity: NodeCapacity, live: Iterable[Allocation]) -> SlotUse:
    used = occupied(live)
    names = capacity.slots()
    return SlotUse(names, {name: fmt(used[name]) for name in names})

"""GPU environment: visible devices, and MPS limits computed from a session's share."""

from __future__ import annotations

from decimal import Decimal

from services.agent.domain.mps import MEM_LIMIT, THREAD_PERCENTAGE, mps_environ, visible_devices
from services.agent.domain.slots import Allocation

GIB = 2**30
H100 = {0: 80 * GIB, 1: 80 * GIB, 2: 80 * GIB, 3: 80 * GIB}


def shared(*shares: tuple[int, str]) -> Allocation:
    return Allocation(Decimal(1), GIB, shares=tuple((i, Decimal(s)) for i, s in shares))


def test_a_quarter_of_an_h100_pins_a_quarter_of_its_memory_and_threads():
    env = mps_environ(shared((2, "0.25")), H100, Decimal(1))
    assert env == {MEM_LIMIT: "0=20480M", THREAD_PERCENTAGE: "25"}


def test_limits_scale_with_shares_per_device():
    env = mps_environ(shared((0, "1")), H100, Decimal(4))
    assert env == {MEM_LIMIT: "0=20480M", THREAD_PERCENTAGE: "25"}


def test_odd_fractions_round_memory_down_and_threads_up():
    env = mps_environ(shared((0, "0.33")), {0: 40 * GIB}, Decimal(1))
    assert env[MEM_LIMIT] == f"0={int(Decimal('0.33') * 40 * 1024)}M"
    assert env[THREAD_PERCENTAGE] == "33"
    env = mps_environ(shared((0, "0.333")), {0: 40 * GIB}, Decimal(1))
    assert env[THREAD_PERCENTAGE] == "34"


def test_shares_on_several_devices_use_the_clients_ordinals():
    env = mps_environ(shared((1, "1"), (3, "0.5")), H100, Decimal(1))
    assert env[MEM_LIMIT] == "0=81920M,1=40960M"
    assert env[THREAD_PERCENTAGE] == "100"  # one value per process: the largest fraction


def test_no_shares_no_mps():
    assert mps_environ(Allocation(Decimal(1), GIB, devices=(0,)), H100, Decimal(1)) == {}


def test_a_container_sees_its_gpus_numbered_from_zero():
    allocation = Allocation(Decimal(1), GIB, devices=(1, 3))
    assert visible_devices(allocation, renumbered=True) == {"CUDA_VISIBLE_DEVICES": "0,1"}


def test_a_host_process_sees_the_host_indices_in_pci_order():
    allocation = Allocation(Decimal(1), GIB, shares=((2, Decimal("0.5")),))
    assert visible_devices(allocation, renumbered=False) == {
        "CUDA_DEVICE_ORDER": "PCI_BUS_ID", "CUDA_VISIBLE_DEVICES": "2"}


def test_no_gpu_allocated_hides_every_gpu():
    allocation = Allocation(Decimal(1), GIB)
    assert visible_devices(allocation, renumbered=False)["CUDA_VISIBLE_DEVICES"] == ""

"""Slot allocation: quantities, whole GPUs, GPU shares, pinned cores; never over the node."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.agent.domain.errors import AgentError
from services.agent.domain.slots import (
    MIB,
    Allocation,
    Device,
    allocate,
    occupied,
    parse_request,
    pick_cores,
    usable_capacity,
)

GIB = 2**30
Q = Decimal("0.01")


def node(cpu=8, mem=16 * GIB, gpus=0, shares_per_device="1"):
    return usable_capacity(Decimal(cpu), range(cpu), mem, Decimal(0), 0,
                           [Device(i, 80 * GIB) for i in range(gpus)], Decimal(shares_per_device))


def request(**slots):
    return parse_request({k.replace("_", "."): str(v) for k, v in slots.items()}, Q)


def refusal(fn) -> AgentError:
    with pytest.raises(AgentError) as caught:
        fn()
    return caught.value


def test_capacity_is_the_host_minus_the_reserve_with_memory_aligned():
    cap = usable_capacity(Decimal(4), range(4), 8 * GIB + 5 * MIB, Decimal(1), GIB)
    assert cap.slots() == {"cpu": "3", "mem": str(7 * GIB)}


def test_a_reserve_larger_than_the_host_leaves_nothing_rather_than_less_than_nothing():
    cap = usable_capacity(Decimal(1), range(1), GIB // 2, Decimal(2), GIB)
    assert cap.slots() == {"cpu": "0", "mem": "0"}


def test_cpu_and_memory_are_granted_while_they_fit():
    cap = node(cpu=2, mem=GIB)
    first = allocate(cap, [], request(cpu="1.5", mem=GIB // 2))
    assert first.slots() == {"cpu": "1.5", "mem": str(GIB // 2)}
    error = refusal(lambda: allocate(cap, [first], request(cpu="0.75", mem=GIB // 4)))
    assert error.code == "agent.slots.insufficient"
    assert error.details == {"slot": "cpu", "requested": "0.75", "free": "0.5"}
    error = refusal(lambda: allocate(cap, [first], request(cpu="0.5", mem=GIB)))
    assert error.details["slot"] == "mem"


def test_whole_gpus_are_the_lowest_free_devices():
    cap = node(gpus=4)
    a = allocate(cap, [], request(cpu=1, mem=GIB, cuda_device=2))
    b = allocate(cap, [a], request(cpu=1, mem=GIB, cuda_device=1))
    assert a.devices == (0, 1) and b.devices == (2,)
    assert a.slots()["cuda.device"] == "2"
    error = refusal(lambda: allocate(cap, [a, b], request(cpu=1, mem=GIB, cuda_device=2)))
    assert error.details == {"slot": "cuda.device", "requested": "2", "free": "1"}


def test_a_device_holding_shares_is_not_free_for_a_whole_gpu():
    cap = node(gpus=1)
    shared = allocate(cap, [], request(cpu=1, mem=GIB, cuda_shares="0.1"))
    error = refusal(lambda: allocate(cap, [shared], request(cpu=1, mem=GIB, cuda_device=1)))
    assert error.code == "agent.slots.insufficient"


def test_a_fraction_goes_to_the_device_where_it_fits_most_tightly():
    cap = node(gpus=3)
    a = allocate(cap, [], request(cpu=1, mem=GIB, cuda_shares="0.5"))
    b = allocate(cap, [a], request(cpu=1, mem=GIB, cuda_shares="0.7"))
    c = allocate(cap, [a, b], request(cpu=1, mem=GIB, cuda_shares="0.25"))
    assert a.shares == ((0, Decimal("0.5")),)
    assert b.shares == ((1, Decimal("0.7")),)  # 0.5 left on device 0 is too little
    assert c.shares == ((1, Decimal("0.25")),)  # 0.3 left on 1 fits tighter than 0.5 on 0
    assert c.gpu_devices == [1]


def test_a_fraction_never_straddles_two_devices():
    cap = node(gpus=2)
    live = [allocate(cap, [], request(cpu=1, mem=GIB, cuda_shares="0.6"))]
    live.append(allocate(cap, live, request(cpu=1, mem=GIB, cuda_shares="0.6")))
    error = refusal(lambda: allocate(cap, live, request(cpu=1, mem=GIB, cuda_shares="0.5")))
    assert error.details["largest_free_fraction"] == "0.4"


def test_more_than_one_device_of_shares_takes_whole_devices_then_a_fraction():
    cap = node(gpus=3)
    big = allocate(cap, [], request(cpu=1, mem=GIB, cuda_shares="1.5"))
    assert big.shares == ((0, Decimal(1)), (1, Decimal("0.5")))
    assert big.slots()["cuda.shares"] == "1.5"
    assert big.share_map() == {"0": "1", "1": "0.5"}


def test_shares_per_device_sets_what_a_whole_device_is_worth():
    cap = node(gpus=2, shares_per_device="4")
    assert cap.slots()["cuda.shares"] == "8"
    a = allocate(cap, [], request(cpu=1, mem=GIB, cuda_shares="1"))
    assert a.shares == ((0, Decimal(1)),)  # a quarter of device 0


@pytest.mark.parametrize(("slots", "code"), [
    ({"cpu": "1", "mem": "1024", "tpu": "1"}, "agent.slots.unknown"),
    ({"mem": "1024"}, "agent.slots.invalid"),
    ({"cpu": "1"}, "agent.slots.invalid"),
    ({"cpu": "-1", "mem": "1024"}, "agent.slots.invalid"),
    ({"cpu": "one", "mem": "1024"}, "agent.slots.not_a_number"),
    ({"cpu": "NaN", "mem": "1024"}, "agent.slots.invalid"),
    ({"cpu": "0.001", "mem": "1024"}, "agent.slots.bad_step"),
    ({"cpu": "1", "mem": "1024.5"}, "agent.slots.bad_step"),
    ({"cpu": "1", "mem": "1024", "cuda.device": "1.5"}, "agent.slots.bad_step"),
    ({"cpu": "1", "mem": "1024", "cuda.shares": "0.255"}, "agent.slots.bad_step"),
    ({"cpu": "1", "mem": "1024", "cuda.device": "1", "cuda.shares": "0.5"},
     "agent.slots.exclusive"),
])
def test_malformed_requests_are_refused_with_a_code(slots, code):
    assert refusal(lambda: parse_request(slots, Q)).code == code


def test_cores_are_the_least_loaded_ones():
    cores = tuple(range(4))
    first = Allocation(Decimal(2), GIB, cores=(0, 1))
    assert pick_cores(cores, [first], Decimal("1.5")) == (2, 3)
    assert pick_cores(cores, [first], Decimal("0.2")) == (2,)
    assert pick_cores(cores, [], Decimal(9)) == cores  # never more cores than exist


def test_an_allocation_survives_its_stored_form():
    a = Allocation(Decimal("0.5"), 64 * MIB, (1,), ((2, Decimal("0.25")),), (0, 1))
    assert Allocation.from_record(a.to_record()) == a


requests = st.fixed_dictionaries({
    "cpu": st.sampled_from(["0.5", "1", "2", "3.25"]),
    "mem": st.sampled_from([str(GIB // 2), str(GIB), str(3 * GIB)]),
}, optional={
    "cuda.device": st.sampled_from(["1", "2"]),
    "cuda.shares": st.sampled_from(["0.1", "0.25", "0.5", "1", "1.3"]),
})


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(requests, st.booleans()), max_size=40))
def test_no_sequence_of_starts_and_exits_over_allocates_the_node(steps):
    cap = node(cpu=8, mem=8 * GIB, gpus=3)
    live: list[Allocation] = []
    for slots, release_one in steps:
        if release_one and live:
            live.pop(0)
        try:
            live.append(allocate(cap, live, parse_request(slots, Q)))
        except AgentError as exc:
            assert exc.code in ("agent.slots.insufficient", "agent.slots.exclusive")
        used = occupied(live)
        assert used["cpu"] <= cap.cpu and used["mem"] <= cap.mem
        per_device = {d.index: Decimal(0) for d in cap.devices}
        for a in live:
            for index in a.devices:
                per_device[index] += cap.shares_per_device
            for index, share in a.shares:
                per_device[index] += share
        assert all(load <= cap.shares_per_device for load in per_device.values())
        whole = [i for a in live for i in a.devices]
        assert len(whole) == len(set(whole))  # a whole GPU is never given twice

"""Queue ordering and agent selection over plain snapshots."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.scheduler.domain import slots as s
from services.scheduler.domain.placement import AgentRoom, Pending, order, select_agent

D = Decimal


def pending(session_id: str, at: float, access_key: str = "AK1", cpu: int = 1,
            agent: str | None = None) -> Pending:
    return Pending(session_id, access_key, at, {"cpu": D(cpu)}, agent)


def room(agent_id: str, cpu: int, mem: int = 100, gpu: int = 0, shares: str = "0",
         capacity_cpu: int = 32) -> AgentRoom:
    free = {"cpu": D(cpu), "mem": D(mem), "cuda.device": D(gpu), "cuda.shares": D(shares)}
    return AgentRoom(agent_id, free | {"cpu": D(capacity_cpu)}, free)


QUEUE = [pending("b", 2.0), pending("a", 1.0), pending("c", 3.0)]


# ---- order -------------------------------------------------------------------------------


def ids(queue: list[Pending]) -> list[str]:
    return [p.session_id for p in queue]


def test_fifo_is_the_default() -> None:
    assert ids(order(QUEUE, "fifo")) == ["a", "b", "c"]
    assert ids(order(QUEUE, "anything-else")) == ["a", "b", "c"]


def test_lifo_orders_the_newest_request_first() -> None:
    assert ids(order(QUEUE, "lifo")) == ["c", "b", "a"]


def test_drf_lowest_dominant_share_first_then_oldest() -> None:
    queue = [pending("heavy-old", 1.0, "HEAVY"), pending("light-new", 5.0, "LIGHT"),
             pending("idle-newest", 9.0, "IDLE"), pending("light-old", 2.0, "LIGHT")]
    usage = {"HEAVY": {"cpu": D(8)}, "LIGHT": {"mem": D(10)}}
    capacity = {"cpu": D(10), "mem": D(100)}
    assert ids(order(queue, "drf", usage, capacity)) == [
        "idle-newest", "light-old", "light-new", "heavy-old"]


def test_drf_uses_the_dominant_resource() -> None:
    queue = [pending("gpu-user", 1.0, "G"), pending("cpu-user", 2.0, "C")]
    usage = {"G": {"cuda.device": D(3), "cpu": D(1)}, "C": {"cpu": D(5)}}
    capacity = {"cpu": D(10), "cuda.device": D(4)}
    # G: max(0.1, 0.75) = 0.75; C: 0.5
    assert ids(order(queue, "drf", usage, capacity)) == ["cpu-user", "gpu-user"]


def test_drf_without_usage_is_fifo() -> None:
    assert ids(order(QUEUE, "drf")) == ["a", "b", "c"]


def test_every_algorithm_orders_an_empty_queue_as_empty() -> None:
    for algorithm in ("fifo", "lifo", "drf"):
        assert order([], algorithm) == []


# ---- select_agent ----------------------------------------------------------------------


ROOMS = [room("a1", cpu=4), room("a2", cpu=12), room("a3", cpu=8)]


def test_dispersed_picks_the_most_free() -> None:
    assert select_agent({"cpu": D(2)}, ROOMS, "dispersed").agent_id == "a2"


def test_dispersed_compares_scarce_slots_first() -> None:
    rooms = [room("cpu-rich", cpu=64), room("gpu", cpu=2, gpu=1)]
    assert select_agent({"cpu": D(1)}, rooms, "dispersed").agent_id == "gpu"
    rooms = [room("shares", cpu=64, shares="1"), room("device", cpu=2, gpu=1)]
    assert select_agent({"cpu": D(1)}, rooms, "dispersed").agent_id == "device"


def test_concentrated_picks_the_least_free_that_fits() -> None:
    assert select_agent({"cpu": D(2)}, ROOMS, "concentrated").agent_id == "a1"
    assert select_agent({"cpu": D(6)}, ROOMS, "concentrated").agent_id == "a3"
    rooms = [room("gpu", cpu=2, gpu=1), room("cpu-rich", cpu=64)]
    assert select_agent({"cpu": D(1)}, rooms, "concentrated").agent_id == "cpu-rich"


def test_ties_break_by_agent_id() -> None:
    rooms = [room("b", cpu=4), room("a", cpu=4), room("c", cpu=4)]
    assert select_agent({"cpu": D(1)}, rooms, "concentrated").agent_id == "a"
    assert select_agent({"cpu": D(1)}, rooms, "dispersed").agent_id == "c"


def test_round_robin_cycles_through_fitting_agents_by_id() -> None:
    picks = [select_agent({"cpu": D(1)}, ROOMS, "round-robin", cursor).agent_id
             for cursor in range(5)]
    assert picks == ["a1", "a2", "a3", "a1", "a2"]
    # only agents that fit take part
    picks = [select_agent({"cpu": D(6)}, ROOMS, "round-robin", cursor).agent_id
             for cursor in range(3)]
    assert picks == ["a2", "a3", "a2"]


def test_designated_agent_restricts_the_choice() -> None:
    for selector in ("dispersed", "concentrated", "round-robin"):
        assert select_agent({"cpu": D(1)}, ROOMS, selector, 0, "a1").agent_id == "a1"
        assert select_agent({"cpu": D(1)}, ROOMS, selector, 7, "a3").agent_id == "a3"


def test_designated_agent_without_room() -> None:
    assert select_agent({"cpu": D(6)}, ROOMS, "dispersed", designated="a1") is None
    assert select_agent({"cpu": D(1)}, ROOMS, "dispersed", designated="nowhere") is None


@pytest.mark.parametrize("selector", ["dispersed", "concentrated", "round-robin"])
def test_no_agent_is_selected_when_none_has_room_for_the_request(selector: str) -> None:
    assert select_agent({"cpu": D(13)}, ROOMS, selector) is None
    assert select_agent({"cuda.device": D(1)}, ROOMS, selector) is None
    assert select_agent({"cpu": D(1)}, [], selector) is None


def test_an_agent_is_selected_when_the_request_fills_it_exactly() -> None:
    assert select_agent({"cpu": D(12), "mem": D(100)}, ROOMS, "dispersed").agent_id == "a2"


def test_an_agent_with_unlimited_capacity_takes_any_amount_of_that_slot() -> None:
    rooms = [AgentRoom("big", {"cpu": s.INF}, {"cpu": s.INF})]
    assert select_agent({"cpu": D(10**6)}, rooms, "concentrated").agent_id == "big"

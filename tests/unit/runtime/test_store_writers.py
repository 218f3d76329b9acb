"""The aggregate cache with one writer (no read-back) and with several (fast-forward), and
what a stale cache does when another writer saved first: the write conflicts, the touched
aggregates are evicted, and the command decides again from the store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from eventsourcing.cryptography import AESCipher
from eventsourcing.domain import Aggregate, event

from services.runtime.settings import ServiceSettings
from services.runtime.store import Decision, ServiceApplication, stable_id, store_env


class Counter(Aggregate):
    @event("Created")
    def __init__(self, name: str) -> None:
        self.name = name
        self.value = 0

    @staticmethod
    def create_id(name: str) -> Any:
        return stable_id("counter", name)

    @event("Added")
    def add(self, amount: int) -> None:
        self.value += amount


class Counters(ServiceApplication):
    name = "counters"

    def add(self, command_id: str, amount: int) -> dict[str, Any]:
        def decide() -> Decision:
            counter = self.find(stable_id("counter", "c"))
            assert counter is not None
            counter.add(amount)
            return Decision([counter], {"value": counter.value, "version": counter.version})

        return self.execute(command_id, {"amount": amount}, decide)


def app(tmp_path: Path, key: str, single_writer: bool) -> Counters:
    settings = ServiceSettings(service="counters", data_dir=tmp_path, cipher_key=key,
                               single_writer=single_writer)
    return Counters(store_env(settings, "counters"))


@pytest.mark.parametrize("single_writer", [True, False])
def test_a_stale_cache_re_decides_from_the_store(tmp_path: Path, single_writer: bool) -> None:
    key = AESCipher.create_key(32)
    first, second = app(tmp_path, key, single_writer), app(tmp_path, key, single_writer)
    first.save(Counter("c"))
    assert first.add("a", 1) == {"value": 1, "version": 2}  # cached in `first`
    assert second.add("b", 10) == {"value": 11, "version": 3}  # `first` does not know
    # `first` decides on version 2, conflicts (or fast-forwards), and ends on the truth
    assert first.add("c", 100) == {"value": 111, "version": 4}
    assert second.add("b", 10) == {"value": 11, "version": 3}  # a repeat: the first reply
    first.close()
    second.close()


def test_a_single_writer_reads_its_cache_without_the_store(tmp_path: Path) -> None:
    only = app(tmp_path, AESCipher.create_key(32), single_writer=True)
    only.save(Counter("c"))
    only.add("a", 1)
    reads: list[Any] = []
    select = only.recorder.select_events

    def counted(*args: Any, **kwargs: Any) -> Any:
        reads.append(args)
        return select(*args, **kwargs)

    only.recorder.select_events = counted  # type: ignore[method-assign]
    assert only.add("b", 2)["value"] == 3
    assert reads == []
    only.close()


def test_cached_reads_are_copies_deep_enough_to_mutate(tmp_path: Path) -> None:
    from services.runtime.store import copy_aggregate

    original = Counter("c")
    original.tags = ["a", "b"]  # type: ignore[attr-defined]
    original.nested = {"k": ["x"]}  # type: ignore[attr-defined]
    clone = copy_aggregate(original)
    clone.tags.append("c")
    clone.nested["k"].append("y")
    clone.add(5)
    assert (original.tags, original.nested, original.value) == (["a", "b"], {"k": ["x"]}, 0)
    assert (clone.name, clone.id, clone.version) == ("c", original.id, original.version + 1)

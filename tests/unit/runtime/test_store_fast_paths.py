"""The store's fast paths (runtime/fastpaths.py) give what the eventsourcing library's own code
gives: the same aggregates after projecting, copies as independent as `deepcopy`'s, the same
stored events after a save; `BAIKAL_STORE_FAST_PATHS=false` runs the library's code."""

from __future__ import annotations

from copy import deepcopy
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.application import ProcessingEvent
from eventsourcing.cryptography import AESCipher
from eventsourcing.domain import Aggregate, event

from services.runtime import fastpaths
from services.runtime.settings import ServiceSettings
from services.runtime.store import Decision, ServiceApplication, stable_id, store_env


class Tone(StrEnum):
    DARK = "dark"


class Shelf(Aggregate):
    @event("Created")
    def __init__(self, name: str) -> None:
        self.name = name
        self.books: list[str] = []
        self.counts: dict[str, int] = {}
        self.nested: dict[str, list[str]] = {}
        self.price = Decimal("1.50")
        self.at = datetime(2026, 12, 1, tzinfo=UTC)
        self.owner: UUID | None = None

    @staticmethod
    def create_id(name: str) -> Any:
        return stable_id("shelf", name)

    @event("Stocked")
    def stock(self, title: str, tag: str) -> None:
        self.books.append(title)
        self.counts[title] = self.counts.get(title, 0) + 1
        self.nested.setdefault(tag, []).append(title)


def stocked(name: str = "s") -> Shelf:
    shelf = Shelf(name)
    for i in range(5):
        shelf.stock(f"book-{i}", "even" if i % 2 == 0 else "odd")
    return shelf


def test_projecting_unchecked_gives_the_aggregate_the_library_projects() -> None:
    original = stocked()
    events = original.collect_events()
    assert vars(fastpaths.project(None, events)) == vars(original)


def test_the_quick_copy_equals_a_deepcopy_and_shares_nothing_mutable() -> None:
    original = stocked()
    original.owner = uuid4()
    quick, deep = fastpaths.copy_aggregate(original), deepcopy(original)
    assert type(quick) is Shelf and vars(quick) == vars(deep) == vars(original)
    quick.books.append("x")
    quick.counts["x"] = 1
    quick.nested["odd"].append("x")
    assert "x" not in original.books and "x" not in original.counts
    assert "x" not in original.nested["odd"]


def test_the_quick_copy_copies_lists_of_dicts_and_deep_nesting_independently() -> None:
    original = stocked()
    original.history = [{"status": "PENDING", "tags": ["a"]}, {"status": "SCHEDULED"}]
    original.deep = {"a": {"b": {"c": {"d": {"e": ["deepest"]}}}}}  # past copy_plain's depth
    original.odd = {"set": {1, 2}}  # not plain data: deep-copied
    original.colour = [{"tone": Tone.DARK}]  # enum members: kept, as deepcopy keeps them
    quick, deep = fastpaths.copy_aggregate(original), deepcopy(original)
    assert vars(quick) == vars(deep) == vars(original)
    quick.history[0]["status"] = "x"
    quick.history[0]["tags"].append("x")
    quick.deep["a"]["b"]["c"]["d"]["e"].append("x")
    quick.odd["set"].add(3)
    assert original.history[0] == {"status": "PENDING", "tags": ["a"]}
    assert original.deep["a"]["b"]["c"]["d"]["e"] == ["deepest"]
    assert original.odd["set"] == {1, 2}
    assert quick.colour[0]["tone"] is Tone.DARK and quick.colour[0] is not original.colour[0]


def test_collecting_unchecked_gathers_what_the_library_gathers() -> None:
    first, second = stocked("a"), stocked("b")
    mine, theirs = ProcessingEvent[UUID](), ProcessingEvent[UUID]()
    fastpaths.collect(mine, [first, None])
    theirs.collect_events(second, None)
    assert [type(e).__name__ for e in mine.events] == [type(e).__name__ for e in theirs.events]
    assert list(mine.aggregates) == [first.id] and list(theirs.aggregates) == [second.id]


@pytest.mark.parametrize("switch", ["", "false"])
def test_the_switch_reads_from_the_settings(switch: str, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    if switch:
        monkeypatch.setenv("BAIKAL_STORE_FAST_PATHS", switch)
    settings = ServiceSettings(service="shelves", data_dir=tmp_path,
                               cipher_key=AESCipher.create_key(32))
    assert Shelves(store_env(settings, "shelves")).fast_paths is (switch != "false")


class Shelves(ServiceApplication):
    name = "shelves"

    def stock(self, command_id: str, title: str) -> dict[str, Any]:
        def decide() -> Decision:
            shelf = self.find(stable_id("shelf", "s"))
            assert shelf is not None
            shelf.stock(title, "t")
            return Decision([shelf], {"books": list(shelf.books), "version": shelf.version})

        return self.execute(command_id, {"title": title}, decide)


def run_shelves(tmp_path: Path, fast: bool) -> tuple[list[Any], Shelf, list[str]]:
    settings = ServiceSettings(service="shelves", data_dir=tmp_path, store_fast_paths=fast,
                               cipher_key=AESCipher.create_key(32))
    shelves = Shelves(store_env(settings, "shelves"))
    assert shelves.fast_paths is fast
    shelves.save(Shelf("s"))
    replies = [shelves.stock(f"c{i}", f"t{i}") for i in range(4)]
    replies.append(shelves.stock("c1", "t1"))  # a repeat: the first reply, nothing saved
    found = shelves.find(stable_id("shelf", "s"))
    assert found is not None
    found.books.append("changed in the copy only")
    again = shelves.find(stable_id("shelf", "s"))
    assert again is not None and "changed in the copy only" not in again.books
    stored = [type(n).__name__ for n in shelves.notification_log.select(1, 10)]
    shelves.close()
    return replies, again, stored


def test_an_application_stores_and_finds_alike_with_and_without_the_fast_paths(
        tmp_path: Path) -> None:
    fast = run_shelves(tmp_path / "fast", fast=True)
    library = run_shelves(tmp_path / "library", fast=False)
    assert fast[0] == library[0]
    assert fast[0][-1] == fast[0][1]
    assert (fast[1].books, fast[1].version) == (library[1].books, library[1].version)
    assert fast[2] == library[2] and len(fast[2]) == 9  # created + 4 stocked + 4 records

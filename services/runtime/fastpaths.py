"""The event store's fast paths: where Baikal steps around the eventsourcing library's own code.

Each one does what the library does, minus a cost measured on the command path, and each is
switched off with `BAIKAL_STORE_FAST_PATHS=false` (the library's own code then runs;
`tests/unit/runtime/test_store_fast_paths.py` checks both give the same aggregates, copies
and stored events). Nothing else in the runtime reaches into the library's internals.

- `project`: the repository's projector without its per-event runtime-Protocol isinstance
  check, which costs more than applying the event (measured: 16-43% of a command's CPU).
- `copy_aggregate`: a cached aggregate copied container by container where its state is plain
  data (immutable scalars, lists and dicts of them, nested a few levels), instead of `deepcopy`
  with its memo (~20% of an update; a session's history of dicts was still deep-copied).
- `collect`: a save's events gathered from each aggregate directly, without the Protocol
  isinstance checks of `ProcessingEvent.collect_events` (~5% of an update).
"""

from __future__ import annotations

from collections.abc import Iterable
from copy import deepcopy
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

from eventsourcing.application import ProcessingEvent
from eventsourcing.domain import Aggregate

ENV = "FAST_PATHS"  # in the application's env ("y"/"n"), from BAIKAL_STORE_FAST_PATHS


def enabled(env: Any) -> bool:
    """Whether an application with this eventsourcing env takes the fast paths (default)."""
    return str(env.get(ENV, "y")).strip().lower() not in ("n", "no", "false", "0", "off")


def project(aggregate: Any, events: Iterable[Any]) -> Any:
    """The library's projector (`mutate` of each event in turn), unchecked."""
    for domain_event in events:
        aggregate = domain_event.mutate(aggregate)
    return aggregate


_IMMUTABLE = {str, int, float, bool, bytes, type(None), datetime, UUID, Decimal}


def _learn_enum(kind: type) -> bool:
    """Enum members are immutable singletons (a session's statuses): remembered as such."""
    if issubclass(kind, Enum):
        _IMMUTABLE.add(kind)  # one type per enum; a set's add is atomic under the GIL
        return True
    return False


def copy_plain(value: Any, depth: int = 4) -> Any:
    """A copy of plain data (immutable scalars, and lists or dicts of plain data, nested up to
    `depth` levels: a session's history is a list of dicts) without `deepcopy`'s memo;
    anything else, or anything nested deeper, is deep-copied. Plain data holds no shared or
    cyclic references, so the memo has nothing to keep."""
    kind = type(value)
    if kind in _IMMUTABLE or _learn_enum(kind):
        return value
    if depth > 0:
        if kind is list:
            return [item if type(item) in _IMMUTABLE else copy_plain(item, depth - 1)
                    for item in value]
        if kind is dict:
            return {key: item if type(item) in _IMMUTABLE else copy_plain(item, depth - 1)
                    for key, item in value.items()}
    return deepcopy(value)


def copy_aggregate(aggregate: Any) -> Any:
    """A deep copy of a cached aggregate, fast for the usual state (`copy_plain`)."""
    clone = object.__new__(type(aggregate))
    clone.__dict__.update({name: value if type(value) in _IMMUTABLE else copy_plain(value)
                           for name, value in aggregate.__dict__.items()})
    return clone


def collect(processing: ProcessingEvent[UUID], objs: Iterable[Any]) -> None:
    """`processing.collect_events(*objs)`, with aggregates taken without the Protocol checks
    (anything that is not an `Aggregate` still goes the library's way)."""
    for obj in objs:
        if isinstance(obj, Aggregate):
            processing.events.extend(obj.collect_events())
            processing.aggregates[obj.id] = obj
        elif obj is not None:
            processing.collect_events(obj)

"""The base Application of every service: idempotent commands, tracked consumption, and the
position of what a command wrote (`WRITTEN`)."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import IntegrityError, ProcessRecorder, Tracking

from services.runtime import fastpaths
from services.runtime.errors import CodedError, CommandIdReused, ConcurrencyConflict
from services.runtime.ids import stable_id

MAX_ATTEMPTS = 5


class _Written(threading.local):
    """The highest notification id of a published event saved by this thread since `reset`:
    the dispatcher reads it after a command to tell the caller what to wait for."""

    position = 0

    def reset(self) -> None:
        self.position = 0


WRITTEN = _Written()


class CommandRecord(Aggregate):
    """Remembers a command's reply so a repeated command id returns the first result."""

    @event("Recorded")
    def __init__(self, key: str, fingerprint: str, reply: dict[str, Any],
                 meta: dict[str, Any] | None = None):
        self.key = key
        self.fingerprint = fingerprint
        self.reply = reply
        # Records written before events carried their own trace (services/runtime/traced.py)
        # kept the command's actor and correlation here for the relay; nothing reads it now.
        self.meta = meta or {}

    @staticmethod
    def create_id(key: str, fingerprint: str, reply: dict[str, Any],
                  meta: dict[str, Any] | None = None) -> UUID:
        return stable_id("command", key)


@dataclass
class Decision:
    """What a command decided: the changed aggregates and the reply to send."""

    aggregates: list[Aggregate] = field(default_factory=list)
    reply: dict[str, Any] = field(default_factory=dict)


def fingerprint(data: dict[str, Any], key: bytes) -> str:
    """Keyed digest of a command's data: comparable, but no oracle for its secrets."""
    body = json.dumps(data, sort_keys=True, default=str).encode()
    return hmac.new(key, body, hashlib.sha256).hexdigest()


class ServiceApplication(Application[UUID]):
    """A service's event-sourced application, backed by a process recorder."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        super().__init__(env)
        self._saved_listeners: list[Callable[[list[Any]], None]] = []
        self._listeners_lock = threading.Lock()
        self._fingerprint_key = self.env.get("CIPHER_KEY", "").encode() or self.name.encode()
        # Which saved events the relay publishes (set by the host from the translator): a
        # reply's position names the last of those, never an unpublished index record.
        self.publishes: Callable[[Any], bool] = lambda e: not isinstance(
            e, CommandRecord.Recorded)  # type: ignore[attr-defined]
        # Around the library's own code where measured (runtime/fastpaths.py), unless off.
        self.fast_paths = fastpaths.enabled(self.env)

    def close(self, wait_seconds: float = 10.0) -> None:
        """Close once no worker thread is inside the store: closing an SQLite connection
        that another thread is using crashes the process."""
        pool = getattr(getattr(self.factory, "datastore", None), "pool", None)
        deadline = time.monotonic() + wait_seconds
        while (getattr(pool, "num_in_use", 0) or 0) > 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        super().close()

    def construct_recorder(self) -> ProcessRecorder:
        return self.factory.process_recorder()

    @property
    def process_recorder(self) -> ProcessRecorder:
        recorder = self.recorder
        assert isinstance(recorder, ProcessRecorder)
        return recorder

    def on_saved(self, listener: Callable[[list[Any]], None]) -> None:
        """`listener(recordings)` runs in the saving thread after each commit."""
        with self._listeners_lock:
            self._saved_listeners.append(listener)

    def _notify(self, recordings: list[Any]) -> None:
        super()._notify(recordings)
        for listener in list(self._saved_listeners):
            listener(recordings)

    def save(self, *objs: Any, **kwargs: Any) -> list[Any]:
        """As the library's (its events collected by `fastpaths.collect` unless off); then
        `WRITTEN` moves to the last published event saved."""
        if self.fast_paths:
            processing = ProcessingEvent[UUID]()
            fastpaths.collect(processing, objs)
            processing.saved_kwargs.update(kwargs)
            recordings = self._record(processing)
            self._take_snapshots(processing)
            self._notify(recordings)
        else:
            recordings = super().save(*objs, **kwargs)
        for recording in reversed(recordings):
            if self.publishes(recording.domain_event):
                WRITTEN.position = max(WRITTEN.position, recording.notification.id)
                break
        return recordings

    def find(self, aggregate_id: UUID, copy: bool = True) -> Any | None:
        """The aggregate, or None. `copy=False` hands out the cached object itself (no deep
        copy, for large aggregates on hot paths): the caller must `forget` it if its changes
        are not saved."""
        try:
            if not self.fast_paths:  # the library's projector and its deep copy
                return self.repository.get(aggregate_id, deepcopy_from_cache=copy)
            found = self.repository.get(aggregate_id, projector_func=fastpaths.project,
                                        deepcopy_from_cache=False)
        except AggregateNotFoundError:
            return None
        cached = self.repository.cache is not None
        return fastpaths.copy_aggregate(found) if copy and cached else found

    def forget(self, *aggregates: Any) -> None:
        """Drop aggregates from the cache (after a failed save of uncopied ones)."""
        if self.repository.cache is not None:
            for aggregate in aggregates:
                with contextlib.suppress(KeyError):
                    self.repository.cache.get(aggregate.id, evict=True)

    def execute(
        self,
        command_id: str,
        data: dict[str, Any],
        decide: Callable[[], Decision],
    ) -> dict[str, Any]:
        """Run a command once: a repeated id returns the first reply and changes nothing.

        The command record is saved in the same transaction as the effects, and its id is
        derived from the command id, so a repeat cannot commit: it conflicts, and the first
        reply is returned. The record is looked up only when that can matter (a conflict, or
        a refusal that the first execution may have caused), not on every command. Other
        write conflicts (another writer saved first) re-decide from fresh state.
        """
        key = f"{self.name}:{command_id}"
        print_ = fingerprint(data, self._fingerprint_key)
        for _ in range(MAX_ATTEMPTS):
            try:
                decision = decide()
            except CodedError:
                prior = self._prior_reply(key, print_, command_id)
                if prior is not None:
                    return prior
                raise
            record = CommandRecord(key=key, fingerprint=print_, reply=decision.reply)
            try:
                self.save(record, *decision.aggregates)
            except IntegrityError:
                prior = self._prior_reply(key, print_, command_id)
                if prior is not None:
                    return prior
                # Someone else saved one of these first: decide again from the store.
                self.forget(*decision.aggregates)
                continue
            return decision.reply
        raise ConcurrencyConflict("too many concurrent writers; retry the command")

    def _prior_reply(self, key: str, print_: str, command_id: str) -> dict[str, Any] | None:
        prior = self.find(stable_id("command", key))
        if prior is None:
            return None
        if prior.fingerprint != print_:
            raise CommandIdReused("this command id was already used for a different command",
                                  command_id=command_id)
        return dict(prior.reply)

    def save_tracked(self, tracking: Tracking, *aggregates: Aggregate) -> None:
        """Commit a consumed event's effects and the consumer position in one transaction."""
        processing = ProcessingEvent[UUID](tracking=tracking)
        processing.collect_events(*aggregates)
        recordings = self._record(processing)
        self._take_snapshots(processing)
        self._notify(recordings)

    def position(self, upstream: str) -> int:
        return self.process_recorder.max_tracking_id(upstream) or 0

"""Container facts out of the agents' event envelopes as they travel (JSON bytes), for
RECALCULATE USAGE's replay (`recalc.replay`). Pure: no I/O."""

from __future__ import annotations

import json

from services.scheduler.domain.recalc import ENDED, STARTED

Fact = tuple[str, str, str, dict[str, str]]  # (started|ended, agent id, session id, slots)
_KINDS = {b"Started": STARTED, b"Exited": ENDED, b"Failed": ENDED}  # after "Container"
_TYPES = {"ContainerStarted": STARTED, "ContainerExited": ENDED, "ContainerFailed": ENDED}
_NO_SLOTS: dict[str, str] = {}  # an end carries none the fold needs (it is never mutated)
_SLOTS: dict[bytes, dict[str, str]] = {}
_SLOTS_KEPT = 4096


def container_fact(raw: bytes) -> Fact | None:
    """One event envelope as it travels on the agents' stream (JSON) → its container fact,
    None for an event of another type.

    The relay writes compact JSON (pydantic's `model_dump_json`: no spaces, keys in field
    order, `data` last, its `agent_id` then `session_id` first), so the few fields the fold
    needs are sliced out of the bytes instead of decoding the whole envelope (several times
    faster at a million events). Anything else (spacing, an escape, another key order) is
    decoded in full, so the result never depends on the shortcut."""
    at = raw.find(b'"type":"Container')
    data = raw.rfind(b'"data":{"agent_id":"')
    if at < 0 or data < at or raw.find(b"\\", data) >= 0:
        return _decoded(raw)
    kind = _KINDS.get(raw[at + 17:raw.find(b'"', at + 17)])
    if kind is None:
        return None  # compact, of another type
    pieces = raw[data + 20:].split(b'"', 5)  # agent , session_id : session rest
    if len(pieces) != 6 or pieces[2] != b"session_id" or pieces[1] != b"," \
            or pieces[3] != b":":
        return _decoded(raw)
    agent, session, rest = pieces[0], pieces[4], pieces[5]
    if kind is ENDED:
        return ENDED, agent.decode(), session.decode(), _NO_SLOTS
    start = rest.find(b'"slots":{') + 8
    if start < 8:
        return _decoded(raw)
    body = rest[start:rest.find(b"}", start) + 1]
    slots = _SLOTS.get(body)
    if slots is None:  # few distinct sizes: one shared (never mutated) dict per size
        if len(_SLOTS) >= _SLOTS_KEPT:
            _SLOTS.clear()
        slots = _SLOTS[body] = json.loads(body)
    return STARTED, agent.decode(), session.decode(), slots


def _decoded(raw: bytes) -> Fact | None:
    """In full; an unreadable one is no fact (the scheduler's consumer dead-letters it)."""
    try:
        envelope = json.loads(raw)
        kind = _TYPES.get(envelope.get("type"))
        if kind is None:
            return None
        data = envelope["data"]
        slots = dict(data.get("slots") or {}) if kind == STARTED else _NO_SLOTS
        return kind, str(data["agent_id"]), str(data["session_id"]), slots
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


__all__ = ["Fact", "container_fact"]

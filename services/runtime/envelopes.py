"""The bytes of every command and query a publisher sends (`client.BusClient` builds them here).

A command is the `Command` model, serialized by pydantic. A query is written directly: the hot
read path (the gateway's reads, ~6,500/s) skips building a model whose fields are all known
good here (the service validates what it receives); the parts that repeat from one request to
the next (the caller's actor, its token) are encoded once and remembered.
`tests/unit/runtime/test_envelopes.py` checks that what is written is the `Query` model, field
for field, and that a `Command` keeps its fields.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pydantic import TypeAdapter

from contracts.envelope import Actor, Command


def command_envelope(command_id: str, actor: Actor, data: dict[str, Any], proof: str | None,
                     after: dict[str, int], correlation_id: str | None,
                     causation_id: str | None) -> bytes:
    return Command(id=command_id, actor=actor, correlation_id=correlation_id,
                   causation_id=causation_id, data=data, proof=proof,
                   after=after).model_dump_json().encode()


def query_envelope(data: dict[str, Any], actor: Actor, correlation_id: str | None,
                   proof: str | None = None, after: dict[str, int] | None = None,
                   causation_id: str | None = None) -> bytes:
    """The `Query` envelope's JSON (`causation_id` written only when there is one)."""
    if causation_id is None:
        return b'{"actor":%b,"correlation_id":%b,"data":%b,"proof":%b,"after":%b}' % (
            _actor_json(actor), _dumps(correlation_id), _dumps(data), _proof_json(proof),
            _dumps(after or {}))
    return (b'{"actor":%b,"correlation_id":%b,"causation_id":%b,"data":%b,"proof":%b,'
            b'"after":%b}') % (
        _actor_json(actor), _dumps(correlation_id), _dumps(causation_id), _dumps(data),
        _proof_json(proof), _dumps(after or {}))


# pydantic's serializer: json.dumps builds an encoder per call for a dict (~1 µs).
_dumps = TypeAdapter(Any).dump_json
_ENCODED_MAX = 100_000


def _remembered(found: dict[Any, bytes], key: Any, encode: Callable[[], str]) -> bytes:
    value = found.get(key)
    if value is None:
        if len(found) >= _ENCODED_MAX:
            found.clear()
        value = found[key] = encode().encode()
    return value


_ACTORS: dict[Actor, bytes] = {}
_PROOFS: dict[str | None, bytes] = {}


def _actor_json(actor: Actor) -> bytes:
    return _remembered(_ACTORS, actor, lambda: actor.model_dump_json(exclude_none=True))


def _proof_json(proof: str | None) -> bytes:
    return _remembered(_PROOFS, proof, lambda: json.dumps(proof))

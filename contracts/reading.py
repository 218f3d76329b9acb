"""How a consumer reads another service's event data: as the contract's model, tolerantly.

A producer validates what it publishes against its contract strictly (`extra="forbid"`,
services/runtime/relay.py::contract_event), so nothing undescribed leaves a service. A
consumer ignores the fields its contract version does not know (a tolerant reader), so a
producer that adds a field does not break the consumers of the same event version; a field
it needs but lacks is still refused (pydantic's ValidationError: the consumer retries and
then dead-letters the event).
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)


def read_event_data(model: type[M], data: dict[str, Any]) -> M:
    return model.model_validate({k: v for k, v in data.items() if k in model.model_fields})

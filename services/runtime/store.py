"""Where the store's parts used to live, kept so old imports work: the parts are split by job.

- `services.runtime.ids`: `stable_id` (the only one domain code imports);
- `services.runtime.store_factory`: `store_env`, `postgres_env` (the eventsourcing env);
- `services.runtime.application`: `ServiceApplication`, `Decision`, `CommandRecord`,
  `fingerprint`, `WRITTEN`;
- `services.runtime.fastpaths`: the library overrides (`copy_aggregate`, ...).
"""

from __future__ import annotations

from services.runtime.application import (
    MAX_ATTEMPTS,
    WRITTEN,
    CommandRecord,
    Decision,
    ServiceApplication,
    fingerprint,
)
from services.runtime.fastpaths import copy_aggregate
from services.runtime.ids import NAMESPACE, stable_id
from services.runtime.store_factory import ensure_postgres_schema, postgres_env, store_env

__all__ = [
    "MAX_ATTEMPTS", "NAMESPACE", "WRITTEN", "CommandRecord", "Decision", "ServiceApplication",
    "copy_aggregate", "ensure_postgres_schema", "fingerprint", "postgres_env",
    "stable_id", "store_env",
]

"""What storage's handlers are given: the application (commands) and its queries (reads)."""

from __future__ import annotations

from dataclasses import dataclass

from services.storage.app import StorageApplication
from services.storage.queries import StorageQueries


@dataclass(frozen=True)
class StorageDeps:
    app: StorageApplication
    queries: StorageQueries

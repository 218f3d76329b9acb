"""SQLite event store with WAL + synchronous=NORMAL (the embedded default).

In WAL mode, NORMAL does not fsync each commit: a committed transaction survives a crash or
SIGKILL of the process, and the database never corrupts, but the last commits before an OS
crash or power loss may be lost. FULL (BAIKAL_SQLITE_SYNCHRONOUS=FULL) fsyncs every commit,
which on this class of disk caps a service at a few hundred commands per second.
"""

from __future__ import annotations

from typing import Any

from eventsourcing.sqlite import SQLiteConnection, SQLiteConnectionPool, SQLiteFactory

SYNCHRONOUS = "SQLITE_SYNCHRONOUS"
_MODES = ("OFF", "NORMAL", "FULL", "EXTRA")


class TunedSQLiteConnectionPool(SQLiteConnectionPool):
    def __init__(self, *args: Any, synchronous: str = "NORMAL", **kwargs: Any) -> None:
        if synchronous.upper() not in _MODES:
            raise ValueError(f"SQLITE_SYNCHRONOUS must be one of {_MODES}")
        self.synchronous = synchronous.upper()
        super().__init__(*args, **kwargs)

    def _create_connection(self) -> SQLiteConnection:
        connection = super()._create_connection()
        connection._sqlite_conn.execute(f"PRAGMA synchronous={self.synchronous};")
        return connection


class TunedSQLiteFactory(SQLiteFactory):
    def __init__(self, env: Any) -> None:
        super().__init__(env)
        old = self.datastore.pool
        self.datastore.pool = TunedSQLiteConnectionPool(
            db_name=old.db_name, lock_timeout=old.lock_timeout,
            synchronous=self.env.get(SYNCHRONOUS, "NORMAL"),
        )
        old.close()

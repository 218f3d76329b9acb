"""The eventsourcing environment of a service's event store: SQLite file or PostgreSQL schema."""

from __future__ import annotations

from urllib.parse import unquote, urlparse

from services.runtime import fastpaths
from services.runtime.settings import ServiceSettings


def store_env(settings: ServiceSettings, app_name: str) -> dict[str, str]:
    """The eventsourcing environment for one service: SQLite file or PostgreSQL schema."""
    if settings.cipher_key is None:
        raise ValueError("BAIKAL_CIPHER_KEY is required: event stores are encrypted at rest")
    env = {
        "CIPHER_TOPIC": "eventsourcing.cryptography:AESCipher",
        "CIPHER_KEY": settings.cipher_key.get_secret_value(),
        # Reads hand out deep copies, so a command that fails half-way leaves the cache
        # untouched. With several writers, cached aggregates are fast-forwarded from the store
        # on every read (one query for newer events); a single writer's cache is current by
        # construction (saved aggregates replace the cached ones), and a write that conflicts
        # anyway evicts what it touched and decides again from the store (`execute`).
        "AGGREGATE_CACHE_MAXSIZE": str(settings.aggregate_cache_size),
        "AGGREGATE_CACHE_FASTFORWARD": "n" if settings.single_writer else "y",
        fastpaths.ENV: "y" if settings.store_fast_paths else "n",
    }
    if settings.store == "sqlite":
        path = settings.data_dir / "stores" / f"{app_name}.sqlite"
        path.parent.mkdir(parents=True, exist_ok=True)
        env |= {
            "PERSISTENCE_MODULE": "services.runtime.sqlite_store:TunedSQLiteFactory",
            "SQLITE_DBNAME": str(path),
            "SQLITE_LOCK_TIMEOUT": "10",
            "SQLITE_SYNCHRONOUS": settings.sqlite_synchronous,
        }
    elif settings.store.startswith(("postgres://", "postgresql://")):
        env |= postgres_env(settings.store, schema=app_name)
    else:
        raise ValueError(f"unknown store {settings.store!r}: use 'sqlite' or a postgresql:// DSN")
    return env


def postgres_env(dsn: str, schema: str) -> dict[str, str]:
    url = urlparse(dsn)
    ensure_postgres_schema(dsn, schema)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": url.path.lstrip("/"),
        "POSTGRES_HOST": url.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(url.port or 5432),
        "POSTGRES_USER": unquote(url.username or ""),
        "POSTGRES_PASSWORD": unquote(url.password or ""),
        "POSTGRES_SCHEMA": schema,
        "POSTGRES_CONNECT_TIMEOUT": "5",
        "POSTGRES_POOL_SIZE": "8",
        "POSTGRES_LOCK_TIMEOUT": "10",
    }


def ensure_postgres_schema(dsn: str, schema: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(dsn, connect_timeout=5, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))

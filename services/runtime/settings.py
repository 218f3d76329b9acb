"""Settings every service reads from its environment (prefix BAIKAL_)."""

from __future__ import annotations

import logging
import os
import zlib
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.runtime.proofs import ProofSigner, ProofVerifier, parse_keys


def allowed_cpus() -> list[int]:
    """The CPUs this process may run on (empty where the OS cannot say)."""
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BAIKAL_", extra="ignore")

    service: str = "unnamed"
    instance: str = "0"
    nats_url: str = "nats://127.0.0.1:4222"
    nats_user: str | None = None
    nats_password: SecretStr | None = None
    nats_connect_timeout: float = 5.0
    request_timeout: float = 5.0
    # "sqlite" (file per service under data_dir) or a postgresql:// DSN (schema per service).
    store: str = "sqlite"
    data_dir: Path = Path(".baikal")
    cipher_key: SecretStr | None = None
    http_host: str = "127.0.0.1"
    http_port: int = 0
    command_workers: int = Field(default=4, ge=1, le=64)
    max_in_flight: int = Field(default=64, ge=1, le=4096)
    # /health says not-ready when all slots (or one request) are held longer than this.
    dispatch_stuck_seconds: float = Field(default=30.0, gt=0, le=3600)
    sqlite_synchronous: str = "NORMAL"  # FULL fsyncs every commit; see runtime/sqlite_store.py
    aggregate_cache_size: int = Field(default=20_000, ge=0, le=10_000_000)
    # One process writes this service's store (the embedded stack and docker-compose run one
    # instance per service): cached aggregates are then current without a read of the store.
    # Set false to run several instances on one store: every cached read is fast-forwarded.
    single_writer: bool = True
    follow_seconds: float = Field(default=0.05, gt=0, le=60)  # views' catch-up when not
    # The store's fast paths around the eventsourcing library (runtime/fastpaths.py); false
    # runs the library's own projector, deep copy and event collection.
    store_fast_paths: bool = True
    relay_batch: int = Field(default=200, ge=1, le=10_000)
    relay_poll_seconds: float = 1.0
    log_level: str = "INFO"
    # Trust (runtime README, "Who sent this"): the stack's id names the audience of every
    # proof; the public keys trusted to sign them ("identity=<key>,scheduler=<key>,..."); this
    # component's own Ed25519 private key (base64url), for its system proofs.
    stack_id: str = ""
    trusted_keys: str = ""
    signing_key: SecretStr | None = None
    proof_ttl_seconds: int = Field(default=600, ge=30, le=86_400)
    # A request naming positions its replicas have not reached waits this long, then is
    # answered `<svc>.replica.behind` (retryable).
    causal_wait_seconds: float = Field(default=1.0, ge=0, le=30)
    # Queries whose handlers read in-memory state only (`serve.in_memory`) run on the event
    # loop, not in a worker thread (runtime/dispatch.py); false: every message in a thread.
    inline_queries: bool = True
    # gc.freeze() once the dispatcher is subscribed: what start-up loaded is left out of the
    # collector's work, which otherwise walks it in pauses of several ms (runtime/dispatch.py).
    gc_freeze: bool = True
    # The process's event loop: uvloop where installed (a declared dependency off Windows),
    # else asyncio's own; false: asyncio's (`host.run_service`).
    uvloop: bool = True
    # The CPUs this process runs on. A Python service computes in one thread at a time (the
    # GIL), so spreading its threads over cores only adds cross-core GIL hand-offs: measured
    # on 2 cores, identity spent 1.3-1.5 ms of CPU per update unconfined and 0.8 ms on one
    # CPU. "auto": one CPU of those allowed, chosen by service and instance (`baikal up`
    # deals them out in turn); "none": wherever the OS likes; or a list such as "0" or "0,2".
    cpu_affinity: str = "auto"

    def signer(self) -> ProofSigner | None:
        if self.signing_key is None or not self.stack_id:
            return None
        return ProofSigner(self.signing_key.get_secret_value(), self.stack_id,
                           self.proof_ttl_seconds)

    def verifier(self) -> ProofVerifier:
        return ProofVerifier(parse_keys(self.trusted_keys), self.stack_id)

    def apply_cpu_affinity(self) -> set[int] | None:
        """Confine this process (threads started later inherit it); the CPUs, or None."""
        allowed = allowed_cpus()
        if not allowed or self.cpu_affinity in ("", "none"):
            return None
        if self.cpu_affinity == "auto":
            if len(allowed) < 2:
                return None
            key = f"{self.service}-{self.instance}".encode()
            chosen = {allowed[zlib.crc32(key) % len(allowed)]}
        else:
            try:
                chosen = {int(part) for part in self.cpu_affinity.split(",")}
            except ValueError as exc:
                raise ValueError(f"BAIKAL_CPU_AFFINITY {self.cpu_affinity!r}: use auto, none "
                                 "or a comma-separated list of CPU numbers") from exc
            if not chosen <= set(allowed):
                logging.getLogger(__name__).warning(
                    "BAIKAL_CPU_AFFINITY %s is outside the CPUs allowed (%s); not confining",
                    self.cpu_affinity, allowed)
                return None
        os.sched_setaffinity(0, chosen)
        return chosen

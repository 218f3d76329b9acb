"""Provisioning: the operator creates and configures every declared stream, durable and
key-value bucket (contracts/principals.py) before the services start. Idempotent: what
exists is brought to the declared configuration, what is missing is created."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.client import JetStreamContext
from nats.js.errors import NotFoundError

from contracts import principals as model
from contracts import subjects
from services.runtime.bus import connect

log = logging.getLogger(__name__)


def stream_configs(replicas: int = 1) -> list[StreamConfig]:
    configs = [
        StreamConfig(name=spec.name, subjects=list(spec.subjects), storage=StorageType.FILE,
                     duplicate_window=spec.duplicate_window, num_replicas=replicas,
                     allow_direct=True)  # components read by sequence with direct gets
        for spec in model.STREAMS
    ]
    configs += [
        StreamConfig(name=subjects.kv_stream(b.name), subjects=[subjects.kv_keys(b.name)],
                     storage=StorageType.FILE, num_replicas=replicas,
                     max_msgs_per_subject=b.history, max_age=b.ttl_seconds,
                     # the server's own default (2 min, at most the max age), said explicitly
                     # so that re-provisioning finds nothing to change
                     duplicate_window=min(120.0, b.ttl_seconds),
                     discard=DiscardPolicy.NEW, allow_rollup_hdrs=True, deny_delete=True,
                     allow_direct=True)  # what nats.py's create_key_value makes
        for b in model.BUCKETS
    ]
    return configs


def durable_config(durable: model.Durable) -> ConsumerConfig:
    # Pull only (no deliver subject); the owner's position is its ack floor.
    return ConsumerConfig(durable_name=durable.name, filter_subject=durable.filter,
                          deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.EXPLICIT,
                          ack_wait=durable.ack_wait_seconds,
                          max_ack_pending=durable.max_ack_pending)


async def provision(js: JetStreamContext, replicas: int = 1) -> list[str]:
    """Create or update everything declared; returns what was created or changed."""
    changed: list[str] = []
    for config in stream_configs(replicas):
        try:
            info = await js.stream_info(config.name)
        except NotFoundError:
            await js.add_stream(config)
            changed.append(f"stream {config.name} created")
            continue
        if _differs(info.config, config):
            await js.update_stream(config)
            changed.append(f"stream {config.name} updated")
    for durable in model.DURABLES:
        stream = subjects.stream(durable.producer)
        try:
            await js.consumer_info(stream, durable.name)
        except NotFoundError:
            await js.add_consumer(stream, durable_config(durable))
            changed.append(f"durable {stream}/{durable.name} created")
    return changed


def _differs(current: StreamConfig, wanted: StreamConfig) -> bool:
    """Only what the declaration sets counts: the server fills the rest in (a bucket's
    duplicate window defaults from its max age), which is no reason to update."""
    keys = ("subjects", "duplicate_window", "allow_direct", "max_age", "max_msgs_per_subject")
    return any(_norm(getattr(current, k)) != _norm(getattr(wanted, k)) for k in keys
               if getattr(wanted, k) is not None)


def _norm(value: Any) -> Any:
    if isinstance(value, list):
        return sorted(value)
    return value or None


async def provision_at(url: str, password: str, replicas: int = 1,
                       timeout: float = 10.0) -> list[str]:
    """Connect as the provisioner, provision, disconnect."""
    nc = await connect(url, user=model.PROVISIONER, password=password, name="baikal-provision",
                       max_reconnect_attempts=5)
    try:
        return await provision(nc.jetstream(timeout=timeout), replicas)
    finally:
        await nc.close()


def provision_blocking(url: str, password: str, replicas: int = 1) -> list[str]:
    """For synchronous callers (test fixtures), even inside a running event loop."""
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["changed"] = asyncio.run(provision_at(url, password, replicas))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            result["error"] = exc

    thread = threading.Thread(target=run, name="provision")
    thread.start()
    thread.join(timeout=60)
    if "error" in result:
        raise result["error"]
    if "changed" not in result:
        raise TimeoutError("provisioning did not finish within 60 s")
    return list(result["changed"])

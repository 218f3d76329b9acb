"""The replay cache refuses a signature seen before, and hands what it accepted to the other
gateways in batches: when the batch is full at once, else after BATCH_SECONDS (a fake bus)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.gateway import replay
from services.gateway.errors import ApiError
from services.gateway.replay import ReplayCache


class FakeBus:
    is_closed = False

    def __init__(self) -> None:
        self.published: list[tuple[str, bytes]] = []

    async def publish(self, subject: str, payload: bytes) -> None:
        self.published.append((subject, payload))


def attached(cache: ReplayCache) -> FakeBus:
    bus = FakeBus()
    cache.nc, cache.prefix = bus, "$KV.BAIKAL_REPLAY."  # type: ignore[assignment]
    return bus


def test_a_signature_is_accepted_once_and_old_dates_are_refused() -> None:
    cache = ReplayCache(max_entries=1_000)
    now = datetime.now(UTC)
    cache.check("sig-1", now)
    with pytest.raises(ApiError) as refused:
        cache.check("sig-1", now)
    assert refused.value.code == "gateway.auth.replayed"
    with pytest.raises(ApiError):
        cache.check("sig-2", now - timedelta(hours=1))  # before this cache's horizon


def test_accepted_signatures_go_out_in_one_batch_after_the_interval() -> None:
    async def run() -> list[Any]:
        cache = ReplayCache(max_entries=1_000)
        bus = attached(cache)
        now = datetime.now(UTC)
        for i in range(3):
            cache.check(f"sig-{i}", now)
        assert bus.published == []  # nothing awaited on the request's path
        await asyncio.sleep(replay.BATCH_SECONDS * 5)
        return bus.published

    published = asyncio.run(run())
    assert len(published) == 1
    subject, payload = published[0]
    assert subject.startswith("$KV.BAIKAL_REPLAY.") and len(payload.split(b",")) == 3
    assert b"sig-" not in payload  # digests, never the signatures themselves


def test_a_full_batch_goes_out_at_once_and_the_next_starts_empty(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(replay, "BATCH_MAX", 4)

    async def run() -> list[Any]:
        cache = ReplayCache(max_entries=1_000)
        bus = attached(cache)
        now = datetime.now(UTC)
        for i in range(9):
            cache.check(f"sig-{i}", now)
        await asyncio.sleep(0)  # the full batches' tasks run
        await asyncio.sleep(0)
        full = [len(p.split(b",")) for _, p in bus.published]
        await asyncio.sleep(replay.BATCH_SECONDS * 5)  # the ninth, after the interval
        return [full, [len(p.split(b",")) for _, p in bus.published]]

    full, everything = asyncio.run(run())
    assert full == [4, 4]
    assert everything == [4, 4, 1]

"""The gateway's process-wide parts: bus connection, authenticator, limiter, metrics."""

from __future__ import annotations

import asyncio
import logging
import time

from nats.aio.client import Client

from contracts.identity import Subjects as IdentitySubjects
from services.gateway.auth import GATEWAY_ACTOR, Authenticator, KeypairDirectory
from services.gateway.bus import Bus
from services.gateway.metrics import HttpMetrics
from services.gateway.proofs import TokenCache
from services.gateway.ratelimit import SlidingWindow
from services.gateway.replay import ReplayCache
from services.gateway.settings import GatewaySettings
from services.gateway.tokens import TokenIssuer
from services.runtime.bus import connect

log = logging.getLogger(__name__)


class Gateway:
    def __init__(self, settings: GatewaySettings, nc: Client | None = None) -> None:
        self.settings = settings
        self.metrics = HttpMetrics(settings.service)
        self.started_at = time.time()
        key = settings.token_key.get_secret_value().encode() if settings.token_key else None
        if key is None:
            log.warning("BAIKAL_TOKEN_KEY is unset: login tokens are valid only in this process")
        self.tokens = TokenIssuer(key, settings.token_ttl_seconds)
        self.limiter = SlidingWindow(settings.rate_limit_window_seconds)
        self._own_connection = nc is None
        self.nc = nc
        self._bus: Bus | None = None
        self._auth: Authenticator | None = None

    @property
    def started(self) -> bool:
        return self._bus is not None

    def positions_header(self) -> bytes:
        """X-Baikal-Positions for a response: the positions seen (empty before the start)."""
        bus = self._bus
        return bus.positions.header if bus is not None else b""

    @property
    def bus(self) -> Bus:
        assert self._bus is not None, "the gateway has not started"
        return self._bus

    @property
    def auth(self) -> Authenticator:
        assert self._auth is not None, "the gateway has not started"
        return self._auth

    async def start(self) -> None:
        s = self.settings
        if self.nc is None:
            self.nc = await connect(
                s.nats_url, user=s.nats_user,
                password=s.nats_password.get_secret_value() if s.nats_password else None,
                name=f"{s.service}-{s.instance}", connect_timeout=s.nats_connect_timeout,
                no_echo=True)  # its own replay batches are not sent back to it
        bus = self._bus = Bus(self.nc, s.request_timeout, s.signer(), s.gateway_reply_splice)
        if bus.signer is None:
            log.warning("BAIKAL_SIGNING_KEY or BAIKAL_STACK_ID is unset: the gateway cannot "
                        "prove its own queries, and no caller can be authenticated")
        bus.tokens = TokenCache(lambda access_key: bus.query(
            IdentitySubjects.TOKEN_ISSUE, {"access_key": access_key}, GATEWAY_ACTOR))
        replay = ReplayCache(s.replay_max_entries)
        await replay.attach(self.nc, s.replay_bucket, s.request_timeout)
        keys = KeypairDirectory(bus, s.auth_cache_seconds, s.unknown_key_cache_seconds)
        self._auth = Authenticator(keys, self.tokens, self.limiter, self.metrics,
                                   s.clock_skew_seconds, bus.tokens, replay,
                                   s.gateway_legacy_signing)

    async def stop(self) -> None:
        if self._own_connection and self.nc is not None and not self.nc.is_closed:
            await asyncio.wait_for(self.nc.drain(), timeout=10)

    @property
    def connected(self) -> bool:
        return bool(self.nc is not None and self.nc.is_connected)

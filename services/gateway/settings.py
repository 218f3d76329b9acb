"""Gateway settings from the environment (prefix BAIKAL_), on top of every service's."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from services.runtime.settings import ServiceSettings


class GatewaySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="BAIKAL_", extra="ignore")

    service: str = "gateway"
    nats_user: str | None = "gateway"
    http_port: int = 8090  # the API, /health and /metrics share it
    # Keypairs resolved from identity are reused this long, so a deactivation bites within it.
    auth_cache_seconds: float = Field(default=5.0, ge=0, le=300)
    unknown_key_cache_seconds: float = Field(default=1.0, ge=0, le=60)
    clock_skew_seconds: int = Field(default=900, ge=1, le=86_400)
    rate_limit_window_seconds: int = Field(default=900, ge=1, le=86_400)
    # Signs login tokens; several gateway instances must share it. Unset: random per process.
    token_key: SecretStr | None = None
    token_ttl_seconds: int = Field(default=900, ge=30, le=86_400)
    # For /info: "identity=http://identity:9100,quota=http://quota:9100"; else run files.
    service_urls: str = ""
    info_timeout: float = Field(default=1.0, gt=0, le=30)
    export_page_size: int = Field(default=500, ge=1, le=1000)
    export_max_rows: int = Field(default=100_000, ge=1, le=10_000_000)
    http_backlog: int = Field(default=2048, ge=64, le=65_535)
    # Signing: the Backend.AI SDK's legacy scheme (empty body signed) unless switched off;
    # signatures are remembered (replay cache) in memory and in the KV bucket, if provisioned.
    gateway_legacy_signing: bool = True
    replay_bucket: str = "BAIKAL_REPLAY"
    replay_max_entries: int = Field(default=200_000, ge=1_000, le=10_000_000)
    # Fast paths of the read path, each measured in bench/README.md ("gateway fast paths")
    # and each route tested both ways: query routes served in front of FastAPI (direct.py),
    # and an accepted reply's `data` passed through as it came (bus.py, ACCEPTED_PREFIX).
    # False serves every request through FastAPI / decodes and re-encodes every reply.
    gateway_direct_reads: bool = True
    gateway_reply_splice: bool = True
    # TLS: both set → HTTPS (uvicorn's ssl options).
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    # File downloads with os.sendfile (services/gateway/sendfile.py; plain HTTP only), and
    # uploads with os.splice from the socket (bodyfile.py; needs gateway_zero_copy too).
    gateway_zero_copy: bool = True
    gateway_zero_copy_upload: bool = True

    def service_url_map(self) -> dict[str, str]:
        pairs = (item.split("=", 1) for item in self.service_urls.split(",") if "=" in item)
        return {name.strip(): url.strip().rstrip("/") for name, url in pairs}

"""Agent settings (environment, prefix BAIKAL_), on top of every service's settings."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from services.runtime.settings import ServiceSettings

GIB = 2**30
_AGENT_ID = re.compile(r"^[a-z][a-z0-9-]{0,62}$")


class AgentSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="BAIKAL_", extra="ignore")

    service: str = "agent"
    agent_id: str = "local"
    # Not confined by default: sessions run as local processes would inherit the agent's CPU.
    cpu_affinity: str = "none"
    runtime: Literal["auto", "docker", "process", "simulated"] = "auto"
    docker_host: str | None = None  # None: DOCKER_HOST, then the default socket
    reserved_cpu: Decimal = Field(default=Decimal(1), ge=0)
    reserved_mem: int = Field(default=GIB, ge=0)
    capacity_cpu: Decimal | None = Field(default=None, gt=0)  # overrides discovery
    capacity_mem: int | None = Field(default=None, gt=0)
    cuda_shares_per_device: Decimal = Field(default=Decimal("1.0"), gt=0, le=100)
    cuda_share_quantum: Decimal = Field(default=Decimal("0.01"), gt=0, le=1)
    heartbeat_seconds: float = Field(default=20.0, gt=0)
    sweep_seconds: float | None = Field(default=None, gt=0)  # None: the heartbeat interval
    # False: the store/engine comparison at start waits for the first sweep (SWEEP_SECONDS),
    # so what ended while the agent was down stays unreported until then (RECALCULATE USAGE's
    # chaos tests; production keeps the default).
    reconcile_at_start: bool = True
    label_prefix: str = "ai.baikal."
    # The stack's id (`baikal up` keeps it in stack.json): in container labels and names.
    stack_id: str = Field(default="", pattern=r"^([a-z0-9][a-z0-9-]{0,31})?$")
    stop_grace_seconds: float = Field(default=10.0, ge=0, le=300)
    command_timeout_seconds: float = Field(default=60.0, gt=0)
    network_mode: str = "bridge"  # Docker network for sessions that ask for one
    docker_init: bool = True
    keep_exited: bool = False
    process_cgroups: bool = True
    process_inherit_env: str = "PATH,LANG,LC_ALL,TZ,LD_LIBRARY_PATH"  # agent env a process keeps
    # Process-runtime sessions (bubblewrap sandbox): the user they run as when the agent is
    # root, and more read-only paths they may see (comma-separated, e.g. a Python install).
    process_session_uid: int = Field(default=65534, ge=1)
    process_session_gid: int = Field(default=65534, ge=1)
    process_sandbox_ro_paths: str = ""
    mps_control: str = "nvidia-cuda-mps-control"
    mps_pipe_dir: str | None = None
    mps_log_dir: str | None = None
    trusted_systems: str = "scheduler,operator"  # actor.system values allowed to command

    @field_validator("agent_id")
    @classmethod
    def _agent_id(cls, value: str) -> str:
        if not _AGENT_ID.match(value):
            raise ValueError("agent_id: lower-case letters, digits and '-', starting with a "
                             "letter, at most 63 characters")
        return value

    @model_validator(mode="after")
    def _per_agent_defaults(self) -> AgentSettings:
        if self.nats_user is None:
            self.nats_user = f"agent-{self.agent_id}"
        return self

    @property
    def trusted(self) -> frozenset[str]:
        return frozenset(s.strip() for s in self.trusted_systems.split(",") if s.strip())

    @property
    def inherited_env(self) -> tuple[str, ...]:
        return tuple(s.strip() for s in self.process_inherit_env.split(",") if s.strip())

    @property
    def sandbox_ro_paths(self) -> tuple[str, ...]:
        return tuple(s.strip() for s in self.process_sandbox_ro_paths.split(",") if s.strip())

    @property
    def sweep_interval(self) -> float:
        return self.sweep_seconds or self.heartbeat_seconds

    @property
    def store_name(self) -> str:
        """One store per agent id (a file, or a PostgreSQL schema)."""
        return f"agent_{self.agent_id.replace('-', '_')}"

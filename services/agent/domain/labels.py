"""Labels that tie an engine's container to this agent and its session; container names."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

AGENT_ID = "agent-id"
SESSION_ID = "session-id"
ACCESS_KEY = "access-key"
SLOTS = "slots"
GPU_DEVICES = "gpu-devices"
OURS = (AGENT_ID, SESSION_ID, ACCESS_KEY, SLOTS, GPU_DEVICES)
_UNSAFE = re.compile(r"[^a-zA-Z0-9_.-]+")


@dataclass(frozen=True)
class LabelScheme:
    """`<prefix><stack id>.agent-id`, `<prefix><stack id>.session-id`, ...: the stack's id
    (random at its first start) and the configurable prefix keep stacks (and test runs)
    sharing one engine from seeing, adopting or removing each other's containers."""

    prefix: str
    agent_id: str
    stack_id: str = ""  # empty: no stack id (tests that pick a unique prefix instead)

    def key(self, name: str) -> str:
        stack = f"{self.stack_id}." if self.stack_id else ""
        return f"{self.prefix}{stack}{name}"

    @property
    def scope(self) -> str:
        """Names this agent's bookkeeping outside the engine (cgroups, process state)."""
        stack = f"{self.stack_id}-" if self.stack_id else ""
        return f"baikal-{stack}{self.agent_id}"

    @property
    def agent_filter(self) -> str:
        """The engine filter `label=<key>=<value>` selecting this agent's containers."""
        return f"{self.key(AGENT_ID)}={self.agent_id}"

    def labels(self, session_id: str, access_key: str | None, slots: Mapping[str, str],
               gpu_devices: list[int], extra: Mapping[str, str] | None = None
               ) -> dict[str, str]:
        """The caller's extra labels may not set ours (a session cannot pose as another)."""
        ours = {
            self.key(AGENT_ID): self.agent_id,
            self.key(SESSION_ID): session_id,
            self.key(SLOTS): json.dumps(dict(slots), sort_keys=True),
            self.key(GPU_DEVICES): ",".join(str(i) for i in gpu_devices),
        }
        if access_key:
            ours[self.key(ACCESS_KEY)] = access_key
        reserved = {self.key(name) for name in OURS}
        extra = {k: v for k, v in (extra or {}).items() if k not in reserved}
        return {**extra, **ours}

    def session_of(self, labels: Mapping[str, str]) -> str | None:
        if labels.get(self.key(AGENT_ID)) != self.agent_id:
            return None
        return labels.get(self.key(SESSION_ID))

    def access_key_of(self, labels: Mapping[str, str]) -> str | None:
        return labels.get(self.key(ACCESS_KEY))

    def slots_of(self, labels: Mapping[str, str]) -> dict[str, str]:
        try:
            slots = json.loads(labels.get(self.key(SLOTS), "{}"))
        except ValueError:
            return {}
        return {str(k): str(v) for k, v in slots.items()} if isinstance(slots, dict) else {}

    def container_name(self, session_id: str) -> str:
        """Engine-safe, unique per (prefix, agent, session): a second create for the same
        session collides on the name instead of running twice."""
        digest = hashlib.sha256(
            f"{self.prefix}\x1f{self.stack_id}\x1f{self.agent_id}\x1f{session_id}".encode()
        ).hexdigest()[:10]
        safe = _UNSAFE.sub("-", session_id).strip("-.")[:40]
        return f"{self.scope}-{safe}-{digest}" if safe else f"{self.scope}-{digest}"

"""nats-server configuration for the embedded stack: one user per component, least privilege."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from contracts import subjects
from contracts.identity import Subjects as IdentitySubjects
from contracts.values import SERVICE_NAMES
from services.runtime.bus import inbox_prefix

# Subjects that return secrets: only the gateway may ask.
SECRET_QUERIES = [IdentitySubjects.KEYPAIR_RESOLVE, IdentitySubjects.LOGIN]
CONSUMER_API = [
    "$JS.API.INFO",
    "$JS.API.STREAM.INFO.*",
    "$JS.API.STREAM.MSG.GET.*",
    "$JS.API.CONSUMER.CREATE.>",
    "$JS.API.CONSUMER.DURABLE.CREATE.>",
    "$JS.API.CONSUMER.INFO.>",
    "$JS.API.CONSUMER.MSG.NEXT.>",
    "$JS.ACK.>",
    "$JS.FC.>",
]


@dataclass
class Principal:
    user: str
    password: str
    publish: list[str]
    subscribe: list[str]
    deny_publish: list[str] = field(default_factory=list)

    def block(self) -> dict[str, object]:
        publish: dict[str, list[str]] = {"allow": self.publish}
        if self.deny_publish:
            publish["deny"] = self.deny_publish
        return {
            "user": self.user,
            "password": self.password,
            "permissions": {
                "publish": publish,
                "subscribe": {"allow": self.subscribe},
                "allow_responses": True,
            },
        }


def service_principal(service: str, password: str) -> Principal:
    """A service publishes only its own events and answers only its own subjects."""
    stream = subjects.stream(service)
    return Principal(
        user=service,
        password=password,
        publish=[subjects.events_of(service), f"$JS.API.STREAM.CREATE.{stream}",
                 f"$JS.API.STREAM.UPDATE.{stream}", *CONSUMER_API],
        subscribe=[subjects.commands_of(service), subjects.queries_of(service),
                   f"{inbox_prefix(service)}.>"],
    )


# What some services may do beyond their own subjects.
EXTRA_PUBLISH = {"scheduler": [subjects.commands_of("agent"),
                               subjects.command("storage", "folder", "mount")]}
EXTRA_SUBSCRIBE = {"scheduler": [subjects.AGENT_HEARTBEATS]}
AGENT_IDS = ("local",)


def agent_principal(agent_id: str, password: str) -> Principal:
    """An agent publishes only its own events and heartbeat, and hears only its own commands."""
    stream = subjects.stream("agent")
    return Principal(
        user=f"agent-{agent_id}",
        password=password,
        publish=[subjects.events_of_agent(agent_id), subjects.heartbeat(agent_id),
                 f"$JS.API.STREAM.CREATE.{stream}", f"$JS.API.STREAM.UPDATE.{stream}",
                 *CONSUMER_API],
        subscribe=[subjects.directed_commands_of(agent_id),
                   f"{inbox_prefix(f'agent-{agent_id}')}.>"],
    )


def principals(passwords: dict[str, str]) -> list[Principal]:
    result = []
    for service in SERVICE_NAMES:
        if service in ("gateway", "agent"):
            continue
        principal = service_principal(service, passwords[service])
        principal.publish += EXTRA_PUBLISH.get(service, [])
        principal.subscribe += EXTRA_SUBSCRIBE.get(service, [])
        result.append(principal)
    result += [agent_principal(a, passwords[f"agent-{a}"]) for a in AGENT_IDS]
    result.append(Principal("gateway", passwords["gateway"],
                            publish=[subjects.ALL_COMMANDS, subjects.ALL_QUERIES,
                                     *CONSUMER_API],
                            subscribe=[f"{inbox_prefix('gateway')}.>"]))
    # The operator: tools, `baikal events tail`, tests. Never sees secrets: it may not ask
    # the secret-returning queries, and it reads only its own inbox (events arrive through
    # JetStream consumers delivering there) and heartbeats, never other users' traffic.
    result.append(Principal("admin", passwords["admin"],
                            publish=[subjects.EVERYTHING, "$JS.API.>", "$JS.ACK.>",
                                     "$JS.FC.>"],
                            subscribe=[f"{inbox_prefix('admin')}.>", subjects.ALL_HEARTBEATS],
                            deny_publish=SECRET_QUERIES))
    return result


def new_passwords() -> dict[str, str]:
    names = [*SERVICE_NAMES, "admin", *(f"agent-{a}" for a in AGENT_IDS)]
    return {name: secrets.token_urlsafe(24) for name in names}


def render(port: int, monitor_port: int, store_dir: Path, passwords: dict[str, str],
           server_name: str = "baikal", extra: list[Principal] | None = None) -> str:
    """`extra`: more principals, e.g. a benchmark's baseline responder."""
    everyone = [*principals(passwords), *(extra or [])]
    users = json.dumps([p.block() for p in everyone], indent=2)
    return (
        f"server_name: {json.dumps(server_name)}\n"
        f"listen: \"127.0.0.1:{port}\"\n"
        f"http: \"127.0.0.1:{monitor_port}\"\n"
        "max_payload: 1048576\n"
        f"jetstream {{\n  store_dir: {json.dumps(str(store_dir))}\n"
        "  max_memory_store: 268435456\n  max_file_store: 10737418240\n}\n"
        f"authorization {{\n  users: {users}\n}}\n"
    )

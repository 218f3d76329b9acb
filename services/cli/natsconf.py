"""nats-server configuration for a stack, rendered from the permission model in
contracts/principals.py (one user per component and per registered agent)."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from contracts import principals as model
from contracts.principals import Principal
from contracts.values import SERVICE_NAMES


def block(principal: Principal, password: str) -> dict[str, object]:
    publish: dict[str, list[str]] = {"allow": list(principal.publish)}
    if principal.deny_publish:
        publish["deny"] = list(principal.deny_publish)
    subscribe: dict[str, list[str]] = {"allow": list(principal.subscribe)}
    if principal.deny_subscribe:
        subscribe["deny"] = list(principal.deny_subscribe)
    return {
        "user": principal.user,
        "password": password,
        "permissions": {
            "publish": publish,
            "subscribe": subscribe,
            # Answer requests received (the reply subject), once, within a minute.
            "allow_responses": {"max": 1, "expires": "1m"},
        },
    }


def agent_ids(passwords: dict[str, str]) -> list[str]:
    """The registered agents: those with a password (`baikal agent add` adds one)."""
    return sorted(k[len(model.AGENT_PREFIX):] for k in passwords
                  if k.startswith(model.AGENT_PREFIX))


def principals(passwords: dict[str, str]) -> list[Principal]:
    return model.principals(agent_ids(passwords))


def new_passwords(agents: tuple[str, ...] = ("local",)) -> dict[str, str]:
    names = [*SERVICE_NAMES, model.OPERATOR, model.PROVISIONER,
             *(model.agent_user(a) for a in agents)]
    return {name: secrets.token_urlsafe(24) for name in names}


def render(port: int, monitor_port: int, store_dir: Path, passwords: dict[str, str],
           server_name: str = "baikal", extra: list[tuple[Principal, str]] | None = None,
           pid_file: Path | None = None) -> str:
    """`extra`: more (principal, password) pairs, e.g. a benchmark's baseline responder;
    `pid_file`: where nats-server writes its pid (`baikal agent add` signals it to reload)."""
    everyone = [(p, passwords[p.user]) for p in principals(passwords)] + list(extra or [])
    users = json.dumps([block(p, password) for p, password in everyone], indent=2)
    return (
        f"server_name: {json.dumps(server_name)}\n"
        f"listen: \"127.0.0.1:{port}\"\n"
        f"http: \"127.0.0.1:{monitor_port}\"\n"
        "max_payload: 1048576\n"
        + (f"pid_file: {json.dumps(str(pid_file))}\n" if pid_file else "")
        + f"jetstream {{\n  store_dir: {json.dumps(str(store_dir))}\n"
        "  max_memory_store: 268435456\n  max_file_store: 10737418240\n}\n"
        f"authorization {{\n  users: {users}\n}}\n"
    )

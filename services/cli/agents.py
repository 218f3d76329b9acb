"""`baikal agent add`: register a node agent, i.e. give it its own NATS user.

The user is rendered from the same permission model as every other (contracts/principals.py:
its own events, heartbeat, directed commands and inbox, nothing else); a running nats-server
reloads its configuration on SIGHUP, so the new node can connect at once.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
from pathlib import Path
from typing import Any

from contracts import principals as model
from services.cli.natsconf import render
from services.cli.stack import StackLayout, write_private

AGENT_ID = re.compile(r"^[a-z][a-z0-9-]{0,31}$")  # a subject token (contracts/subjects.py)


class AgentRegistrationError(Exception):
    pass


def write_nats_conf(layout: StackLayout, config: dict[str, Any],
                    secrets_: dict[str, Any]) -> None:
    layout.nats_pid.parent.mkdir(parents=True, exist_ok=True)
    write_private(layout.nats_conf, render(config["nats_port"], config["monitor_port"],
                                           layout.root / "nats" / "jetstream",
                                           secrets_["nats"], pid_file=layout.nats_pid))


def reload_nats(layout: StackLayout) -> bool:
    """Ask a running nats-server to reload its configuration; False when none runs."""
    try:
        pid = int(layout.nats_pid.read_text().strip())
        os.kill(pid, signal.SIGHUP)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return False
    return True


def add_agent(layout: StackLayout, agent_id: str) -> tuple[Path, dict[str, Any], bool]:
    """Register `agent_id`: a new NATS user, its credentials file (0600), the server told.
    Returns (credentials file, credentials, whether a running server reloaded)."""
    if not AGENT_ID.match(agent_id):
        raise AgentRegistrationError(
            f"invalid agent id {agent_id!r}: lowercase letters, digits and '-', "
            "starting with a letter, at most 32 characters")
    if not layout.config.exists():
        raise AgentRegistrationError(f"no stack in {layout.root}: run `baikal up` first")
    config = json.loads(layout.config.read_text())
    secrets_ = layout.load_secrets()
    user = model.agent_user(agent_id)
    if user in secrets_["nats"]:
        raise AgentRegistrationError(f"agent {agent_id!r} is already registered")
    secrets_["nats"][user] = secrets.token_urlsafe(24)
    write_private(layout.secrets, json.dumps(secrets_, indent=2))
    write_nats_conf(layout, config, secrets_)
    creds = {"agent_id": agent_id, "stack_id": config.get("stack_id"),
             "nats_url": f"nats://127.0.0.1:{config['nats_port']}", "nats_user": user,
             "nats_password": secrets_["nats"][user]}
    path = layout.agents / f"{agent_id}.json"
    write_private(path, json.dumps(creds, indent=2))
    return path, creds, reload_nats(layout)

"""The only place where subject, stream and durable consumer names are built."""

from __future__ import annotations

import re

PREFIX = "bai"
_TOKEN = re.compile(r"^[a-z][a-z0-9-]*$")


def _check(*tokens: str) -> None:
    for token in tokens:
        if not _TOKEN.match(token):
            raise ValueError(f"invalid subject token: {token!r}")


def command(service: str, aggregate: str, verb: str, version: int = 1) -> str:
    _check(service, aggregate, verb)
    return f"{PREFIX}.cmd.{service}.{aggregate}.{verb}.v{version}"


def directed_command(agent_id: str, verb: str, version: int = 1) -> str:
    _check(agent_id, verb)
    return f"{PREFIX}.cmd.agent.{agent_id}.{verb}.v{version}"


def query(service: str, view: str, name: str, version: int = 1) -> str:
    _check(service, view, name)
    return f"{PREFIX}.qry.{service}.{view}.{name}.v{version}"


def event(service: str, aggregate: str, name: str, version: int = 1) -> str:
    _check(service, aggregate, name)
    return f"{PREFIX}.evt.{service}.{aggregate}.{name}.v{version}"


def heartbeat(agent_id: str) -> str:
    _check(agent_id)
    return f"{PREFIX}.hb.agent.{agent_id}"


def service_of(subject: str) -> str:
    """The service a command, query or event subject belongs to (its third token); the
    subject itself when it has no such token."""
    parts = subject.split(".")
    return parts[2] if len(parts) > 2 else subject


def commands_of(service: str) -> str:
    _check(service)
    return f"{PREFIX}.cmd.{service}.>"


def queries_of(service: str) -> str:
    _check(service)
    return f"{PREFIX}.qry.{service}.>"


def events_of(service: str) -> str:
    _check(service)
    return f"{PREFIX}.evt.{service}.>"


ALL_EVENTS = f"{PREFIX}.evt.>"
ALL_COMMANDS = f"{PREFIX}.cmd.>"
ALL_QUERIES = f"{PREFIX}.qry.>"
ALL_HEARTBEATS = f"{PREFIX}.hb.>"
AGENT_HEARTBEATS = f"{PREFIX}.hb.agent.*"
EVERYTHING = f"{PREFIX}.>"


def directed_commands_of(agent_id: str) -> str:
    """Every directed command to one agent."""
    return f"{PREFIX}.cmd.agent.{agent_id}.>"


def events_of_agent(agent_id: str) -> str:
    """One agent's events inside the shared agent stream."""
    return f"{PREFIX}.evt.agent.{agent_id}.>"


def stream(service: str) -> str:
    _check(service)
    return f"BAI_EVT_{service.upper()}"


def durable(consumer: str, producer: str, purpose: str = "main") -> str:
    _check(consumer, producer, purpose)
    return f"{consumer}__{producer}__{purpose}"


def inbox(user: str) -> str:
    """The reply-inbox prefix of one bus user: only that user may subscribe under it."""
    return f"_INBOX_{user}"


def kv_stream(bucket: str) -> str:
    """The stream behind a JetStream key-value bucket."""
    return f"KV_{bucket}"


# The gateway's replay cache, shared by its instances (services/gateway/replay.py).
REPLAY_BUCKET = "BAIKAL_REPLAY"


def kv_keys(bucket: str) -> str:
    """Every key of a KV bucket, as subjects (what writing to it publishes on)."""
    return f"$KV.{bucket}.>"


# JetStream API subjects, for permissions only (the client library builds the requests).
JS_API = "$JS.API"


def js_api(*tokens: str) -> str:
    return ".".join((JS_API, *tokens))


def js_acks(stream_name: str, durable_name: str) -> str:
    return f"$JS.ACK.{stream_name}.{durable_name}.>"


AGENT_ID_PLACEHOLDER = "{agent_id}"


def directed_command_template(verb: str, version: int = 1) -> str:
    """A directed command's subject for every agent: `{agent_id}` stands for the agent's id
    (`str.format(agent_id=...)` gives the concrete subject)."""
    _check(verb)
    return f"{PREFIX}.cmd.agent.{AGENT_ID_PLACEHOLDER}.{verb}.v{version}"


def agent_event_template(name: str, version: int = 1) -> str:
    """An agent event's subject for every agent, with the `{agent_id}` placeholder."""
    _check(name)
    return f"{PREFIX}.evt.agent.{AGENT_ID_PLACEHOLDER}.{name}.v{version}"


def for_agent(template: str, agent_id: str) -> str:
    """A per-agent subject template with its `{agent_id}` filled in (the id checked)."""
    _check(agent_id)
    return template.replace(AGENT_ID_PLACEHOLDER, agent_id)

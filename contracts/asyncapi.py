"""The AsyncAPI 3.0 document of every bus subject, built from the specs (contracts/specs.py).

Channels are subjects (directed ones with the `{agent_id}` parameter); each request channel
has one `receive` operation (the owning service receives it) whose reply goes to the
requester's inbox; each event channel one `send` operation (the service publishes it on
JetStream). Message payloads are the envelopes (contracts/envelope.py) with `data` set to the
spec's payload JSON schema (pydantic); a reply is `Accepted` (with the reply model, or the
documented generic object, as `data`) or `Error`. The permission a request needs and the
error codes it can answer are in each operation's description and in `x-baikal-needs` and
`x-baikal-errors`.

`document()` is what the gateway serves at `/asyncapi.json` and `baikal bus docs` prints.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from contracts import agent, identity, quota, rbac, scheduler, storage
from contracts.envelope import Accepted, Command, Error, Event, Query
from contracts.specs import COMMON_ERRORS, GENERIC_REPLY, Kind, MessageSpec

MODULES = (identity, quota, rbac, scheduler, storage, agent)
SCHEMAS = "#/components/schemas/"
TITLE = "Baikal bus"
BUS_VERSION = "2"  # 2: causation_id on commands and queries; events carry their own trace

ENVELOPE = """\
Every request is a JSON envelope around its payload (`data`), sent as a NATS request (the reply
comes to the requester's inbox):

- `id` (commands only): the idempotency key; the same id is answered the same, once done.
- `actor`: who asks (`access_key` and `user_id` of a user, or `system` for a component);
  believed only with `proof`.
- `proof`: an Ed25519 token signed by identity (a user, from `auth.bus-login` or the gateway)
  or a component's system proof; the receiving service replaces `actor` with the proven one.
- `after`: `{"<service>": <position>}`, a causal token: the service first waits (bounded) until
  its replicas have applied these positions (the `positions` of earlier replies).
- `correlation_id`: the chain the request belongs to (the gateway uses the HTTP request's
  `X-Request-ID`); every event the request causes, in any service, carries it.
- `causation_id`: the command or event that caused this request (None when it starts a
  chain); an event's `causation_id` is the id of the command or event that caused it.

Replies: `{"status": "accepted", "data": {...}, "positions": {...}}` or
`{"status": "error", "error": {"code": "<service>.<code>", "message": ..., "details": ...}}`.
Events are published on JetStream (stream `BAI_EVT_<SERVICE>`) in the `Event` envelope, with
`type`, `source`, `aggregate_id`, `sequence`, `occurred_at`, `correlation_id`, `causation_id`,
`actor` and `data`; `actor`, `correlation_id` and `causation_id` are stored with the event
when it is written (events stored before bus version 2 publish them as null).

Bus version 2 (additive): `causation_id` on commands and queries; events written since carry
their own trace instead of the relay's reconstruction from the command record.
"""


def all_specs() -> list[MessageSpec]:
    return [spec for module in MODULES for spec in module.SPECS.values()]


def key(subject: str) -> str:
    """The channel, operation and message key of a subject (AsyncAPI 3.0 ids allow
    `[A-Za-z0-9_-]`): `bai.cmd.identity.user.update.v1` → `bai_cmd_identity_user_update_v1`."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", subject.replace("{", "").replace("}", ""))


def reply_key(subject: str) -> str:
    return f"{key(subject)}_reply"


def _describe_needs(spec: MessageSpec) -> str:
    if spec.public:
        return "no proof asked (public)"
    needs = spec.needs
    assert needs is not None
    if needs.system_only:
        who = ", ".join(sorted(needs.systems)) or "any trusted system"
        return f"system actors only ({who}): {needs.entity_type}:{needs.operation}"
    if needs.any_user:
        return f"any active user ({needs.entity_type}:{needs.operation})"
    if needs.scope_type is None:
        return f"superadmins only (system-wide {needs.entity_type}:{needs.operation})"
    where = ("each row at its own" if needs.filters_rows
             else f"the {needs.target} named by `{'` or `'.join(needs.fields())}` at its"
             if needs.fields() else "the actor's own")
    return f"{needs.entity_type}:{needs.operation} granted at {where} {needs.scope_type} scope"


def _needs_extension(spec: MessageSpec) -> dict[str, Any] | None:
    if spec.needs is None:
        return None
    n = spec.needs
    return {"entity_type": str(n.entity_type), "operation": str(n.operation),
            "scope_type": str(n.scope_type) if n.scope_type else None,
            "target": str(n.target) if n.target else None, "fields": list(n.fields()),
            "system_only": n.system_only, "systems": sorted(n.systems), "any_user": n.any_user}


Mode = Literal["validation", "serialization"]


@cache
def _schemas() -> tuple[dict[tuple[type[BaseModel], Mode], dict[str, Any]], dict[str, Any]]:
    models: list[tuple[type[BaseModel], Mode]] = [
        (Command, "validation"), (Query, "validation"), (Event, "serialization"),
        (Accepted, "serialization"), (Error, "serialization")]
    for spec in all_specs():
        models.append((spec.payload, "validation" if spec.is_request else "serialization"))
        if spec.reply is not None:
            models.append((spec.reply, "serialization"))
    unique = list(dict.fromkeys(models))
    refs, defs = models_json_schema(unique, ref_template=SCHEMAS + "{model}")
    by_model: dict[tuple[type[BaseModel], Mode], dict[str, Any]] = {
        (model, mode): schema for (model, mode), schema in refs.items()
        if isinstance(model, type) and issubclass(model, BaseModel)}
    return by_model, defs.get("$defs", {})


def _ref(model: type[BaseModel], mode: Mode) -> dict[str, Any]:
    return dict(_schemas()[0][(model, mode)])


def _enveloped(envelope: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    return {"allOf": [envelope, {"type": "object", "properties": {"data": data}}]}


def _request(spec: MessageSpec, channel: str, doc: dict[str, Any]) -> None:
    envelope = _ref(Command if spec.is_command else Query, "validation")
    payload = _ref(spec.payload, "validation")
    reply = (_ref(spec.reply, "serialization") if spec.reply is not None
             else {"type": "object", "description": GENERIC_REPLY})
    messages = doc["components"]["messages"]
    rk = reply_key(spec.subject)
    messages[channel] = {
        "name": channel, "title": spec.payload.__name__, "summary": spec.summary,
        "contentType": "application/json", "payload": _enveloped(envelope, payload)}
    messages[rk] = {
        "name": rk, "summary": f"Accepted reply to {spec.subject}",
        "contentType": "application/json",
        "payload": _enveloped(_ref(Accepted, "serialization"), reply)}
    errors = spec.all_errors()
    description = (f"{spec.summary}\n\nNeeds: {_describe_needs(spec)}.\n\nError codes "
                   f"(`{spec.service}.<code>`): {', '.join(errors)}.")
    doc["channels"][rk] = {
        "address": None, "description": f"The requester's inbox for {spec.subject}.",
        "messages": {"accepted": {"$ref": f"#/components/messages/{rk}"},
                     "error": {"$ref": "#/components/messages/Error"}}}
    doc["operations"][channel] = {
        "action": "receive", "channel": {"$ref": f"#/channels/{channel}"},
        "title": f"{spec.kind} {spec.subject}", "summary": spec.summary,
        "description": description,
        "messages": [{"$ref": f"#/channels/{channel}/messages/request"}],
        "reply": {"address": {"location": "$message.header#/reply_to",
                              "description": "the requester's NATS inbox"},
                  "channel": {"$ref": f"#/channels/{rk}"},
                  "messages": [{"$ref": f"#/channels/{rk}/messages/accepted"},
                               {"$ref": f"#/channels/{rk}/messages/error"}]},
        "x-baikal-kind": str(spec.kind), "x-baikal-needs": _needs_extension(spec),
        "x-baikal-errors": [f"{spec.service}.{code}" for code in errors],
        "x-baikal-public": spec.public}


def _event(spec: MessageSpec, channel: str, doc: dict[str, Any]) -> None:
    doc["components"]["messages"][channel] = {
        "name": spec.event_type, "title": spec.event_type, "summary": spec.summary,
        "contentType": "application/json",
        "payload": _enveloped(_ref(Event, "serialization"),
                              _ref(spec.payload, "serialization"))}
    doc["operations"][channel] = {
        "action": "send", "channel": {"$ref": f"#/channels/{channel}"},
        "title": f"event {spec.event_type}", "summary": spec.summary,
        "description": f"{spec.summary} Published by {spec.service} on JetStream.",
        "messages": [{"$ref": f"#/channels/{channel}/messages/event"}],
        "x-baikal-kind": str(spec.kind)}


def build(specs: Iterable[MessageSpec] | None = None) -> dict[str, Any]:
    """The AsyncAPI 3.0 document (a JSON-ready dict) of `specs`, every service's by default."""
    doc: dict[str, Any] = {
        "asyncapi": "3.0.0",
        "info": {"title": TITLE, "version": BUS_VERSION, "description": ENVELOPE},
        "defaultContentType": "application/json",
        "servers": {"nats": {"host": "127.0.0.1:4222", "protocol": "nats",
                             "description": "the stack's NATS server (`baikal bus env`)"}},
        "channels": {}, "operations": {},
        "components": {"schemas": {}, "messages": {
            "Error": {"name": "Error", "summary": "A refusal or failure; the code is stable.",
                      "contentType": "application/json",
                      "payload": _ref(Error, "serialization")}}},
        "x-baikal-common-errors": list(COMMON_ERRORS),
    }
    for spec in all_specs() if specs is None else specs:
        channel = key(spec.subject)
        entry: dict[str, Any] = {
            "address": spec.subject, "title": spec.subject, "summary": spec.summary,
            "messages": {("event" if spec.kind is Kind.EVENT else "request"):
                         {"$ref": f"#/components/messages/{channel}"}}}
        if spec.directed:
            entry["parameters"] = {"agent_id": {"description": "the agent's id (e.g. n1)"}}
        doc["channels"][channel] = entry
        (_event if spec.kind is Kind.EVENT else _request)(spec, channel, doc)
    doc["components"]["schemas"] = dict(sorted(_schemas()[1].items()))
    return doc


@cache
def document_json() -> str:
    """The whole document as JSON text (computed once)."""
    return json.dumps(build(), indent=2, sort_keys=False)


def document() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(document_json())
    return loaded


def html_page(doc: dict[str, Any]) -> str:
    """A plain page listing every channel with its payload schema (no external assets)."""
    esc = html.escape
    rows = []
    for channel, entry in doc["channels"].items():
        if entry["address"] is None:
            continue
        operation = doc["operations"][channel]
        message_ref = next(iter(entry["messages"].values()))["$ref"].rsplit("/", 1)[1]
        payload = doc["components"]["messages"][message_ref]["payload"]["allOf"][1]
        data = payload["properties"]["data"]
        schema = doc["components"]["schemas"].get(data.get("$ref", "").rsplit("/", 1)[-1], data)
        rows.append(
            f'<section id="{esc(channel)}"><h2><code>{esc(entry["address"])}</code></h2>'
            f'<p><b>{esc(operation["x-baikal-kind"])}</b>: {esc(entry["summary"])}</p>'
            f'<pre class="d">{esc(operation["description"])}</pre>'
            f"<details><summary>payload schema</summary><pre>"
            f"{esc(json.dumps(schema, indent=2))}</pre></details></section>")
    index = "".join(f'<li><a href="#{esc(c)}">{esc(e["address"])}</a></li>'
                    for c, e in doc["channels"].items() if e["address"] is not None)
    return ("<!doctype html><html><head><meta charset=\"utf-8\"><title>"
            f"{esc(doc['info']['title'])} (AsyncAPI)</title><style>body{{font-family:sans-serif;"
            "max-width:60em;margin:auto}}pre{{background:#f4f4f4;padding:.5em;overflow:auto;"
            "white-space:pre-wrap}}</style></head><body>"
            f"<h1>{esc(doc['info']['title'])}</h1><p>AsyncAPI {esc(doc['asyncapi'])}: "
            '<a href="/asyncapi.json">asyncapi.json</a></p>'
            f"<pre>{esc(doc['info']['description'])}</pre><ul>{index}</ul>"
            f"{''.join(rows)}</body></html>")

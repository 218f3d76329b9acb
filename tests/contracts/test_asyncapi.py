"""The AsyncAPI document is built from the specs: a channel and an operation for every spec,
every `$ref` resolves, payloads are the pydantic schemas, and requests name their needs and
error codes."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from contracts import asyncapi, identity
from contracts.specs import Kind
from services.cli.main import app
from tests.contracts.samples import ALL_SPECS

DOC = asyncapi.document()


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str):
                yield v
            else:
                yield from refs(v)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def resolve(ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = DOC
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"{ref} does not resolve ({part})"
        node = node[part]
    return node


def test_the_document_is_asyncapi_3_with_info_servers_channels_operations_components() -> None:
    assert DOC["asyncapi"] == "3.0.0"
    assert {"title", "version", "description"} <= set(DOC["info"])
    for field in ("`id`", "`actor`", "`proof`", "`after`", "`correlation_id`"):
        assert field in DOC["info"]["description"], field  # the envelope, documented once
    assert DOC["servers"]["nats"]["protocol"] == "nats"
    assert {"schemas", "messages"} <= set(DOC["components"])
    json.dumps(DOC)  # JSON all through


@pytest.mark.parametrize("subject", sorted(ALL_SPECS))
def test_every_spec_has_a_channel_on_its_subject_and_an_operation(subject: str) -> None:
    spec = ALL_SPECS[subject]
    channel = DOC["channels"][asyncapi.key(subject)]
    assert channel["address"] == subject
    operation = DOC["operations"][asyncapi.key(subject)]
    assert resolve(operation["channel"]["$ref"]) is channel
    assert operation["action"] == ("send" if spec.kind is Kind.EVENT else "receive")
    if spec.directed:
        assert set(channel["parameters"]) == {"agent_id"}
    if spec.is_request:
        assert operation["x-baikal-errors"] == [f"{spec.service}.{c}" for c in spec.all_errors()]
        assert "Needs:" in operation["description"]
        reply = operation["reply"]
        assert resolve(reply["channel"]["$ref"])["address"] is None  # the requester's inbox
        assert len(reply["messages"]) == 2


def test_every_id_is_a_valid_asyncapi_3_key() -> None:
    for section in (DOC["channels"], DOC["operations"], DOC["components"]["messages"],
                    DOC["components"]["schemas"]):
        for name in section:
            assert re.fullmatch(r"[A-Za-z0-9_.-]+", name), name
    for name in (*DOC["channels"], *DOC["operations"]):
        assert re.fullmatch(r"[A-Za-z0-9_-]+", name), name


def test_every_ref_in_the_document_resolves() -> None:
    found = list(refs(DOC))
    assert len(found) > 300
    for ref in found:
        resolve(ref)


def test_every_operation_message_is_one_of_its_channels_messages() -> None:
    for name, operation in DOC["operations"].items():
        channel = resolve(operation["channel"]["$ref"])
        for message in operation["messages"]:
            assert message["$ref"].startswith(f"#/channels/{name}/messages/")
            assert resolve(message["$ref"]) in channel["messages"].values()


def test_a_message_payload_is_the_envelope_with_the_payload_model_as_data() -> None:
    key = asyncapi.key(identity.Subjects.USER_UPDATE)
    payload = DOC["components"]["messages"][key]["payload"]
    envelope, data = payload["allOf"]
    assert resolve(envelope["$ref"])["title"] == "Command"
    schema = resolve(data["properties"]["data"]["$ref"])
    assert set(schema["properties"]) == set(identity.UpdateUser.model_fields)
    assert schema["additionalProperties"] is False


@pytest.mark.parametrize("subject", sorted(s for s, spec in ALL_SPECS.items() if spec.is_request))
def test_every_request_reply_shows_its_typed_reply_schema(subject: str) -> None:
    spec = ALL_SPECS[subject]
    assert spec.reply is not None, f"{subject} declares no reply model"
    message = DOC["components"]["messages"][asyncapi.reply_key(subject)]
    envelope, data = message["payload"]["allOf"]
    assert resolve(envelope["$ref"])["title"] == "Accepted"
    schema = resolve(data["properties"]["data"]["$ref"])
    assert schema["title"] == spec.reply.__name__
    assert set(schema["properties"]) == set(spec.reply.model_fields)
    assert schema["additionalProperties"] is False  # a reply's fields are all declared


def test_a_request_without_a_reply_model_is_described_as_the_generic_object() -> None:
    spec = identity.SPECS[identity.Subjects.USER_GET]
    untyped = asyncapi.build([replace(spec, reply=None)])
    message = untyped["components"]["messages"][asyncapi.reply_key(spec.subject)]
    assert "no typed reply" in message["payload"]["allOf"][1]["properties"]["data"][
        "description"]


def test_the_docs_page_lists_every_channel_without_external_assets() -> None:
    page = asyncapi.html_page(DOC)
    for subject in ALL_SPECS:
        assert f"<code>{subject}</code>" in page
    assert "http://" not in page and "https://" not in page and "<script" not in page


def test_baikal_bus_docs_prints_and_writes_the_document(tmp_path: Path) -> None:
    runner = CliRunner()
    printed = runner.invoke(app, ["bus", "docs"])
    assert printed.exit_code == 0, printed.output
    assert json.loads(printed.output) == DOC
    out = tmp_path / "asyncapi.json"
    written = runner.invoke(app, ["bus", "docs", "-o", str(out)])
    assert written.exit_code == 0, written.output
    assert json.loads(out.read_text()) == DOC

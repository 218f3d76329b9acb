"""Golden samples: every message version has a JSON sample that round-trips unchanged.

A sample is written once and then frozen: a model change that alters the wire format of an
existing version fails here, and a new message without a sample fails the coverage tests.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from contracts import agent, identity, scheduler
from contracts.envelope import Accepted, Command, Error, Event, Query, Reply
from contracts.specs import Kind
from tests.contracts.samples import ALL_SPECS, golden_name

GOLDEN = Path(__file__).parent / "golden"

REPLIES: dict[str, type[BaseModel]] = {
    "reply.Accepted.v1.json": Accepted,
    "reply.Error.v1.json": Error,
}


def event_file(type_name: str, version: int = 1) -> str:
    return f"{identity.SERVICE}.{type_name}.v{version}.json"


def subject_file(subject: str) -> str:
    return f"{subject}.json"


# RECALCULATE USAGE's messages (scheduler and agent), frozen like identity's.
RECALC: dict[str, tuple[type[BaseModel], type[BaseModel] | None]] = {
    subject_file(scheduler.Subjects.USAGE_RECALCULATE): (Command, scheduler.RecalculateUsage),
    subject_file(scheduler.Subjects.USAGE_LIST): (Query, scheduler.ListUsage),
    "scheduler.UsageDriftDetected.v1.json": (Event, scheduler.UsageDriftDetected),
    "scheduler.UsageRecalculated.v1.json": (Event, scheduler.UsageRecalculated),
    "agent.report-running.v1.json": (Query, agent.ReportRunning),
}


def expected_files() -> dict[str, tuple[type[BaseModel], type[BaseModel] | None]]:
    """File name -> (envelope model, payload model validating the envelope's `data`)."""
    files: dict[str, tuple[type[BaseModel], type[BaseModel] | None]] = {}
    for type_name, (_, _, data_model) in identity.EVENT_TYPES.items():
        files[event_file(type_name)] = (Event, data_model)
    for subject, payload in identity.COMMAND_PAYLOADS.items():
        files[subject_file(subject)] = (Command, payload)
    for subject, payload in identity.QUERY_PAYLOADS.items():
        files[subject_file(subject)] = (Query, payload)
    for name, model in REPLIES.items():
        files[name] = (model, None)
    # every other service's messages, from the specs (tests/contracts/make_golden.py)
    for spec in ALL_SPECS.values():
        envelope = (Event if spec.kind is Kind.EVENT else Command if spec.is_command else Query)
        files.setdefault(golden_name(spec), (envelope, spec.payload))
    return files | RECALC


EXPECTED = expected_files()


def load(name: str) -> dict[str, Any]:
    raw = json.loads((GOLDEN / name).read_text(encoding="utf-8"))
    assert isinstance(raw, dict)
    return raw


@pytest.mark.parametrize("type_name", sorted(identity.EVENT_TYPES))
def test_every_event_type_has_a_golden_sample(type_name: str) -> None:
    assert (GOLDEN / event_file(type_name)).is_file(), f"add golden/{event_file(type_name)}"


@pytest.mark.parametrize("subject", sorted(identity.COMMAND_PAYLOADS))
def test_every_command_subject_has_a_golden_sample(subject: str) -> None:
    assert (GOLDEN / subject_file(subject)).is_file(), f"add golden/{subject_file(subject)}"


@pytest.mark.parametrize("subject", sorted(identity.QUERY_PAYLOADS))
def test_every_query_subject_has_a_golden_sample(subject: str) -> None:
    assert (GOLDEN / subject_file(subject)).is_file(), f"add golden/{subject_file(subject)}"


def test_every_command_subject_has_a_payload_model() -> None:
    commands = {v for k, v in vars(identity.Subjects).items() if ".cmd." in str(v) and k.isupper()}
    queries = {v for k, v in vars(identity.Subjects).items() if ".qry." in str(v) and k.isupper()}
    assert commands == set(identity.COMMAND_PAYLOADS)
    assert queries == set(identity.QUERY_PAYLOADS)


@pytest.mark.parametrize("name", sorted(RECALC))
def test_every_recalculation_message_has_a_golden_sample(name: str) -> None:
    assert (GOLDEN / name).is_file(), f"add golden/{name}"


def test_no_orphan_golden_files() -> None:
    present = {p.name for p in GOLDEN.glob("*.json")}
    assert present - set(EXPECTED) == set(), "golden samples for unknown messages"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_golden_sample_round_trips(name: str) -> None:
    envelope_model, payload_model = EXPECTED[name]
    raw = load(name)
    envelope = envelope_model.model_validate(raw)
    assert envelope.model_dump(mode="json") == raw
    # and through JSON text, as it travels on the bus
    again = envelope_model.model_validate_json(envelope.model_dump_json())
    assert again.model_dump(mode="json") == raw
    if payload_model is not None:
        data = raw["data"]
        assert payload_model.model_validate(data).model_dump(mode="json") == data


@pytest.mark.parametrize("type_name", sorted(identity.EVENT_TYPES))
def test_event_sample_names_its_type_version_and_source(type_name: str) -> None:
    raw = load(event_file(type_name))
    assert raw["type"] == type_name
    assert raw["version"] == 1
    assert raw["source"] == identity.SERVICE


@pytest.mark.parametrize("name", sorted(REPLIES))
def test_reply_samples_parse_as_generic_reply(name: str) -> None:
    raw = load(name)
    reply = Reply.model_validate(raw)
    assert reply.ok == (REPLIES[name] is Accepted)
    assert reply.model_dump(mode="json", exclude_none=True) == raw


@pytest.mark.parametrize("type_name", sorted(identity.EVENT_TYPES))
def test_event_data_rejects_unknown_fields(type_name: str) -> None:
    data_model = identity.EVENT_TYPES[type_name][2]
    data = {**load(event_file(type_name))["data"], "unexpected": 1}
    with pytest.raises(ValueError, match="unexpected"):
        data_model.model_validate(data)


def test_published_events_carry_no_secrets() -> None:
    for type_name, (_, _, data_model) in identity.EVENT_TYPES.items():
        fields = set(data_model.model_fields)
        assert not fields & {"password", "password_hash", "secret_key"}, type_name

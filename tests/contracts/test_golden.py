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

from contracts import agent, identity, scheduler, storage
from contracts.envelope import Accepted, Command, Error, Event, Query, Reply
from contracts.specs import Kind
from tests.contracts.samples import (
    ALL_SPECS,
    golden_name,
    reply_golden_name,
)

GOLDEN = Path(__file__).parent / "golden"

REPLIES: dict[str, type[BaseModel]] = {
    "reply.Accepted.v1.json": Accepted,
    "reply.Error.v1.json": Error,
}


# Services whose messages have golden samples.
MODULES = (identity, storage)
EVENTS = [(m, t) for m in MODULES for t in m.EVENT_TYPES]
COMMANDS = sorted(s for m in MODULES for s in m.COMMAND_PAYLOADS)
QUERIES = sorted(s for m in MODULES for s in m.QUERY_PAYLOADS)


def event_file(type_name: str, version: int = 1, module: object = identity) -> str:
    return f"{module.SERVICE}.{type_name}.v{version}.json"  # type: ignore[attr-defined]


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
    for module in MODULES:
        for type_name, (_, _, data_model) in module.EVENT_TYPES.items():
            files[event_file(type_name, module=module)] = (Event, data_model)
        for subject, payload in module.COMMAND_PAYLOADS.items():
            files[subject_file(subject)] = (Command, payload)
        for subject, payload in module.QUERY_PAYLOADS.items():
            files[subject_file(subject)] = (Query, payload)
    for name, model in REPLIES.items():
        files[name] = (model, None)
    # every other service's messages, from the specs (tests/contracts/make_golden.py)
    for spec in ALL_SPECS.values():
        envelope = (Event if spec.kind is Kind.EVENT else Command if spec.is_command else Query)
        files.setdefault(golden_name(spec), (envelope, spec.payload))
        if spec.is_request and spec.reply is not None:  # its reply (Accepted, typed data)
            files[reply_golden_name(spec)] = (Accepted, spec.reply)
    return files | RECALC


EXPECTED = expected_files()


def load(name: str) -> dict[str, Any]:
    raw = json.loads((GOLDEN / name).read_text(encoding="utf-8"))
    assert isinstance(raw, dict)
    return raw


@pytest.mark.parametrize(("module", "type_name"), EVENTS, ids=[t for _, t in EVENTS])
def test_every_event_type_has_a_golden_sample(module: object, type_name: str) -> None:
    name = event_file(type_name, module=module)
    assert (GOLDEN / name).is_file(), f"add golden/{name}"


@pytest.mark.parametrize("subject", COMMANDS)
def test_every_command_subject_has_a_golden_sample(subject: str) -> None:
    assert (GOLDEN / subject_file(subject)).is_file(), f"add golden/{subject_file(subject)}"


@pytest.mark.parametrize("subject", QUERIES)
def test_every_query_subject_has_a_golden_sample(subject: str) -> None:
    assert (GOLDEN / subject_file(subject)).is_file(), f"add golden/{subject_file(subject)}"


@pytest.mark.parametrize("module", MODULES, ids=[m.SERVICE for m in MODULES])
def test_every_command_subject_has_a_payload_model(module: object) -> None:
    subjects_ = vars(module.Subjects).items()  # type: ignore[attr-defined]
    commands = {v for k, v in subjects_ if ".cmd." in str(v) and k.isupper()}
    queries = {v for k, v in subjects_ if ".qry." in str(v) and k.isupper()}
    assert commands == set(module.COMMAND_PAYLOADS)  # type: ignore[attr-defined]
    assert queries == set(module.QUERY_PAYLOADS)  # type: ignore[attr-defined]


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
    # a query's reply carries no `positions` at all (the dispatcher leaves it out)
    absent_none = envelope_model is Accepted
    assert envelope.model_dump(mode="json", exclude_none=absent_none) == raw
    # and through JSON text, as it travels on the bus
    again = envelope_model.model_validate_json(envelope.model_dump_json())
    assert again.model_dump(mode="json", exclude_none=absent_none) == raw
    if payload_model is not None:
        data = raw["data"]
        assert payload_model.model_validate(data).model_dump(mode="json") == data


@pytest.mark.parametrize(("module", "type_name"), EVENTS, ids=[t for _, t in EVENTS])
def test_event_sample_names_its_type_version_and_source(module: object, type_name: str) -> None:
    raw = load(event_file(type_name, module=module))
    assert raw["type"] == type_name
    assert raw["version"] == 1
    assert raw["source"] == module.SERVICE  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", sorted(REPLIES))
def test_reply_samples_parse_as_generic_reply(name: str) -> None:
    raw = load(name)
    reply = Reply.model_validate(raw)
    assert reply.ok == (REPLIES[name] is Accepted)
    assert reply.model_dump(mode="json", exclude_none=True) == raw


@pytest.mark.parametrize(("module", "type_name"), EVENTS, ids=[t for _, t in EVENTS])
def test_event_data_rejects_unknown_fields(module: object, type_name: str) -> None:
    data_model = module.EVENT_TYPES[type_name][2]  # type: ignore[attr-defined]
    data = {**load(event_file(type_name, module=module))["data"], "unexpected": 1}
    with pytest.raises(ValueError, match="unexpected"):
        data_model.model_validate(data)


def test_published_events_carry_no_secrets() -> None:
    for type_name, (_, _, data_model) in [i for m in MODULES for i in m.EVENT_TYPES.items()]:
        fields = set(data_model.model_fields)
        assert not fields & {"password", "password_hash", "secret_key"}, type_name

"""Each message is declared once: every subject a service serves comes from a spec, and every
spec has a handler, a payload model, a sample and, for a request, a typed reply model with a
golden reply that it accepts."""

from __future__ import annotations

import inspect
import json
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest.mock import MagicMock

import pytest
from pydantic import BaseModel

from contracts import agent, identity, quota, rbac, scheduler, specs, storage
from contracts.envelope import Accepted
from contracts.permissions import Needs
from contracts.specs import Kind, MessageSpec
from services.agent.handlers import HANDLERS as AGENT
from services.identity.handlers import HANDLERS as IDENTITY
from services.quota.handlers import HANDLERS as QUOTA
from services.rbac.handlers import HANDLERS as RBAC
from services.runtime.context import MessageContext
from services.runtime.serve import UnservedSpecs, serve, table
from services.scheduler.handlers import HANDLERS as SCHEDULER
from services.storage.handlers import HANDLERS as STORAGE
from tests.contracts.samples import ALL_SPECS, MODULES, golden_name, reply_golden_name

GOLDEN = Path(__file__).parent / "golden"
RAISED = re.compile(r'refuse\(\s*"([a-z_]+\.[a-z_.]+)"')
AGENT_ID = "n1"


@dataclass
class RecordingDispatcher:
    """Records what `serve(...)` subscribes, as the runtime's Dispatcher would route it."""

    routes: dict[str, tuple[Kind, type[BaseModel], Any, Needs | None, bool]] = field(
        default_factory=dict)

    def command(self, subject: str, payload: type[BaseModel], handler: Any,
                needs: Needs) -> None:
        assert subject not in self.routes, f"{subject} registered twice"
        self.routes[subject] = (Kind.COMMAND, payload, handler, needs, False)

    def query(self, subject: str, payload: type[BaseModel], handler: Any,
              needs: Needs | None = None, public: bool = False, inline: bool = False) -> None:
        assert subject not in self.routes, f"{subject} registered twice"
        assert not (inline and public), f"{subject}: the bus login checks a password in a thread"
        self.routes[subject] = (Kind.QUERY, payload, handler, needs, public)


# Each service's handler table, as its composition root (services/<svc>/main.py) serves it.
TABLES: dict[str, dict[str, Any]] = {"identity": IDENTITY, "quota": QUOTA, "rbac": RBAC,
                                     "scheduler": SCHEDULER, "storage": STORAGE,
                                     "agent": AGENT}


def served() -> dict[str, dict[str, tuple[Kind, type[BaseModel], Any, Needs | None, bool]]]:
    """Each service's registered routes, per service (no NATS, no stores: a mock for the
    dependencies, which registration does not call)."""
    found = {}
    for module in MODULES:
        dispatcher = RecordingDispatcher()
        serve(dispatcher, module.SPECS, TABLES[module.SERVICE], MagicMock(), agent_id=AGENT_ID)
        found[module.SERVICE] = dispatcher.routes
    return found


SERVED = served()
REQUESTS = {s: spec for s, spec in ALL_SPECS.items() if spec.is_request}


def concrete(spec: MessageSpec) -> str:
    return spec.subject_for(AGENT_ID)


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.SERVICE)
def test_every_subject_a_service_serves_comes_from_one_of_its_specs(module: Any) -> None:
    declared = {concrete(spec) for spec in module.SPECS.values() if spec.is_request}
    assert set(SERVED[module.SERVICE]) == declared


@pytest.mark.parametrize("subject", sorted(REQUESTS))
def test_every_request_spec_is_served_as_declared(subject: str) -> None:
    spec = REQUESTS[subject]
    kind, payload, handler, needs, public = SERVED[spec.service][concrete(spec)]
    assert callable(handler)
    assert kind is (Kind.COMMAND if spec.is_command else Kind.QUERY)
    assert payload is spec.payload
    assert needs == spec.needs
    assert public == spec.public


@pytest.mark.parametrize("subject", sorted(ALL_SPECS))
def test_every_spec_has_a_payload_a_summary_and_every_request_a_typed_reply(subject: str) -> None:
    spec = ALL_SPECS[subject]
    assert issubclass(spec.payload, BaseModel)
    assert spec.summary.strip() and "\n" not in spec.summary
    if spec.is_request:
        # no request is left with the generic reply (specs.GENERIC_REPLY)
        assert spec.reply is not None, f"{subject} declares no reply model"
        assert issubclass(spec.reply, BaseModel)
        # every field declared: a handler's undeclared field is a contract change
        assert spec.reply.model_config.get("extra") == "forbid", spec.reply.__name__
        assert set(specs.COMMON_ERRORS[:3]) & set(spec.all_errors())
    else:
        assert spec.reply is None and spec.needs is None and spec.all_errors() == ()


@pytest.mark.parametrize("subject", sorted(REQUESTS))
def test_every_request_has_a_golden_reply_that_its_reply_model_accepts(subject: str) -> None:
    spec = REQUESTS[subject]
    assert spec.reply is not None, f"{subject} declares no reply model"
    path = GOLDEN / reply_golden_name(spec)
    assert path.is_file(), f"run python -m tests.contracts.make_golden ({path.name})"
    reply = Accepted.model_validate_json(path.read_text(encoding="utf-8"))
    assert (reply.positions is not None) == spec.is_command  # a command names what it wrote
    # as on the bus: the JSON text, strictly, as the dispatcher's reply check reads it
    typed = spec.reply.model_validate_json(json.dumps(reply.data), strict=True)
    assert typed.model_dump(mode="json", exclude_unset=True) == reply.data


@pytest.mark.parametrize("subject", sorted(ALL_SPECS))
def test_every_spec_has_a_golden_sample_that_its_payload_model_accepts(subject: str) -> None:
    spec = ALL_SPECS[subject]
    path = GOLDEN / golden_name(spec)
    assert path.is_file(), f"run python -m tests.contracts.make_golden ({path.name})"
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    assert spec.payload.model_validate(data).model_dump(mode="json") == data


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.SERVICE)
def test_the_payload_and_need_tables_are_views_of_the_specs(module: Any) -> None:
    if module is agent:
        assert agent.command_needs(AGENT_ID) == {
            concrete(s): s.needs for s in module.SPECS.values() if s.is_command}
        return
    commands = {s: spec for s, spec in module.SPECS.items() if spec.kind is Kind.COMMAND}
    queries = {s: spec for s, spec in module.SPECS.items() if spec.kind is Kind.QUERY}
    assert module.COMMAND_PAYLOADS == {s: spec.payload for s, spec in commands.items()}
    assert module.QUERY_PAYLOADS == {s: spec.payload for s, spec in queries.items()}
    assert module.COMMAND_NEEDS == {s: spec.needs for s, spec in commands.items()}
    assert module.QUERY_NEEDS == {s: spec.needs for s, spec in queries.items() if spec.needs}


@pytest.mark.parametrize("module", [identity, quota, rbac, scheduler, storage],
                         ids=lambda m: m.SERVICE)
def test_every_subjects_constant_names_a_spec(module: Any) -> None:
    constants = {v for k, v in vars(module.Subjects).items() if k.isupper()}
    assert constants == {s for s, spec in module.SPECS.items() if spec.is_request}


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.SERVICE)
def test_every_published_event_type_has_a_spec_on_its_subject(module: Any) -> None:
    events = specs.events(module.SPECS)
    assert set(events) == set(module.EVENT_TYPES)
    for type_name, spec in events.items():
        if module is agent:
            assert spec.subject_for(AGENT_ID) == agent.event_subject(AGENT_ID, type_name)
        else:
            assert spec.subject == module.event_subject(type_name)
            assert spec.payload is module.EVENT_TYPES[type_name][2]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.SERVICE)
def test_every_stable_code_a_service_raises_is_declared_by_one_of_its_specs(module: Any) -> None:
    root = Path(__file__).resolve().parents[2] / "services" / module.SERVICE
    raised: set[str] = set()
    for path in root.rglob("*.py"):
        raised |= set(RAISED.findall(path.read_text(encoding="utf-8")))
    assert raised, "the pattern finds the service's refusals"
    declared = set(specs.COMMON_ERRORS) | {c for s in module.SPECS.values() for c in s.errors}
    assert raised - declared == set()


def test_a_request_without_a_need_must_be_public_and_an_event_has_no_need() -> None:
    with pytest.raises(ValueError, match="need"):
        specs.query(identity.Subjects.USER_GET, identity.GetUser, None, "no need")
    with pytest.raises(ValueError, match="agent_id"):
        specs.directed(identity.Subjects.USER_GET, Kind.DIRECTED_QUERY, identity.GetUser,
                       identity.QUERY_NEEDS[identity.Subjects.USER_GET], "not per agent")
    with pytest.raises(ValueError, match="twice"):
        specs.index([*identity.SPECS.values(), identity.SPECS[identity.Subjects.USER_GET]])


def test_a_directed_subject_is_filled_with_a_checked_agent_id() -> None:
    assert agent.START.subject_for("n2") == "bai.cmd.agent.n2.start-container.v1"
    with pytest.raises(ValueError, match="invalid subject token"):
        agent.START.subject_for("n2.>")


def _requests(module: Any) -> list[str]:
    return [s for s, spec in module.SPECS.items() if spec.is_request]


def test_a_handler_table_missing_one_spec_is_refused_at_start_up() -> None:
    handlers = dict(IDENTITY)
    del handlers[identity.Subjects.USER_UPDATE]
    with pytest.raises(UnservedSpecs, match="user.update"):
        serve(RecordingDispatcher(), identity.SPECS, handlers, MagicMock())


def test_a_handler_without_a_request_spec_is_refused_at_start_up() -> None:
    event = next(s for s, spec in identity.SPECS.items() if not spec.is_request)
    for extra in ("bai.cmd.identity.user.rename.v1", event):
        with pytest.raises(UnservedSpecs, match="without a request spec"):
            serve(RecordingDispatcher(), identity.SPECS, IDENTITY | {extra: print},
                  MagicMock())


def test_two_tables_that_handle_one_subject_are_refused() -> None:
    with pytest.raises(UnservedSpecs, match="two handlers"):
        table(IDENTITY, {identity.Subjects.USER_GET: print})


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.SERVICE)
def test_every_table_is_keyed_by_request_specs_with_plain_module_level_functions(
        module: Any) -> None:
    handlers = TABLES[module.SERVICE]
    assert sorted(handlers) == sorted(_requests(module))
    for subject, handler in handlers.items():
        assert handler.__name__ != "<lambda>" and "." not in handler.__qualname__, subject
        assert handler.__module__.startswith(f"services.{module.SERVICE}.handlers"), subject


@pytest.mark.parametrize("subject", sorted(REQUESTS))
def test_every_handler_takes_deps_the_context_and_its_specs_payload_model(subject: str) -> None:
    spec = REQUESTS[subject]
    handler = TABLES[spec.service][subject]
    hints = typing.get_type_hints(handler)
    params = list(inspect.signature(handler).parameters)
    assert len(params) == 3, f"{handler.__name__}(deps, ctx, payload)"
    assert hints[params[1]] is MessageContext
    assert hints[params[2]] is spec.payload, f"{handler.__name__} is wired to another message"

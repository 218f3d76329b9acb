"""Subjects: distinct, shaped as DESIGN §2 says, and never swallowed by an event stream."""

from __future__ import annotations

import re

import pytest

from contracts import identity, subjects
from contracts.values import SERVICE_NAMES

SEGMENT = r"[a-z][a-z0-9-]*"
COMMAND = re.compile(rf"^bai\.cmd\.(?P<svc>{SEGMENT})\.{SEGMENT}\.{SEGMENT}\.v[1-9][0-9]*$")
QUERY = re.compile(rf"^bai\.qry\.(?P<svc>{SEGMENT})\.{SEGMENT}\.{SEGMENT}\.v[1-9][0-9]*$")
EVENT = re.compile(rf"^bai\.evt\.(?P<svc>{SEGMENT})\.{SEGMENT}\.{SEGMENT}\.v[1-9][0-9]*$")


def nats_matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: `*` is one token, a final `>` is one or more tokens."""
    p_tokens, s_tokens = pattern.split("."), subject.split(".")
    for i, part in enumerate(p_tokens):
        if part == ">":
            return i == len(p_tokens) - 1 and len(s_tokens) > i
        if i >= len(s_tokens) or (part != "*" and part != s_tokens[i]):
            return False
    return len(p_tokens) == len(s_tokens)


def identity_subjects() -> dict[str, str]:
    return {k: v for k, v in vars(identity.Subjects).items() if k.isupper() and isinstance(v, str)}


def command_subjects() -> list[str]:
    return [s for s in identity_subjects().values() if s.startswith("bai.cmd.")]


def query_subjects() -> list[str]:
    return [s for s in identity_subjects().values() if s.startswith("bai.qry.")]


def event_subjects() -> list[str]:
    return [identity.event_subject(name) for name in identity.EVENT_TYPES]


def test_matcher_follows_nats_rules() -> None:
    assert nats_matches("bai.evt.identity.>", "bai.evt.identity.user.created.v1")
    assert not nats_matches("bai.evt.identity.>", "bai.evt.identity")
    assert nats_matches("bai.*.identity.>", "bai.cmd.identity.user.create.v1")
    assert not nats_matches("bai.evt.*", "bai.evt.identity.user")
    assert nats_matches("bai.hb.agent.*", "bai.hb.agent.n1")


def test_identity_subjects_are_distinct() -> None:
    values = list(identity_subjects().values())
    assert len(values) == len(set(values))
    events = event_subjects()
    assert len(events) == len(set(events))
    assert not set(values) & set(events)


def test_every_identity_subject_is_a_command_or_query() -> None:
    assert set(identity_subjects().values()) == set(command_subjects()) | set(query_subjects())


@pytest.mark.parametrize("subject", command_subjects())
def test_every_command_subject_has_the_shape_design_gives_it(subject: str) -> None:
    match = COMMAND.match(subject)
    assert match is not None, subject
    assert match["svc"] == identity.SERVICE


@pytest.mark.parametrize("subject", query_subjects())
def test_every_query_subject_has_the_shape_design_gives_it(subject: str) -> None:
    match = QUERY.match(subject)
    assert match is not None, subject
    assert match["svc"] == identity.SERVICE


@pytest.mark.parametrize("subject", event_subjects())
def test_event_subject_shape_and_stream(subject: str) -> None:
    match = EVENT.match(subject)
    assert match is not None, subject
    assert match["svc"] == identity.SERVICE
    assert nats_matches(subjects.events_of(identity.SERVICE), subject)
    assert nats_matches(subjects.ALL_EVENTS, subject)


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_streams_never_capture_requests(service: str) -> None:
    stream_subject = subjects.events_of(service)
    requests = command_subjects() + query_subjects()
    assert not [s for s in requests if nats_matches(stream_subject, s)]
    assert not [s for s in requests if nats_matches(subjects.ALL_EVENTS, s)]
    for kind in (subjects.commands_of(service), subjects.queries_of(service)):
        assert not [s for s in event_subjects() if nats_matches(kind, s)]
    assert not nats_matches(stream_subject, subjects.directed_command("node-1", "start"))
    assert not nats_matches(stream_subject, subjects.heartbeat("node-1"))


def test_builders_refuse_bad_tokens() -> None:
    for bad in ("", "User", "a.b", "a*", ">", "1x"):
        with pytest.raises(ValueError, match="invalid subject token"):
            subjects.command("identity", bad, "create")


def test_stream_and_durable_names() -> None:
    assert subjects.stream("identity") == "BAI_EVT_IDENTITY"
    assert len({subjects.stream(s) for s in SERVICE_NAMES}) == len(SERVICE_NAMES)
    assert subjects.durable("rbac", "identity") == "rbac__identity__main"


@pytest.mark.parametrize("service", ["identity", "quota", "rbac", "storage", "scheduler"])
def test_service_of_reads_back_the_builders(service: str) -> None:
    for subject in (subjects.command(service, "a", "b"), subjects.query(service, "v", "n"),
                    subjects.event(service, "a", "e")):
        assert subjects.service_of(subject) == service
    assert subjects.service_of("nonsense") == "nonsense"

"""One declaration per message: `MessageSpec`.

Each contract module (identity, quota, rbac, scheduler, storage, agent) declares its messages
once, in `SPECS`: the subject, the kind, the payload model, the reply model, the permission it
needs, the error codes it can answer and a one-line summary. The tables the services and the
gateway read (`COMMAND_PAYLOADS`, `QUERY_PAYLOADS`, `COMMAND_NEEDS`, `QUERY_NEEDS`) are views of
it (`payloads`, `needs`); the golden samples, the contract tests and the AsyncAPI document
(`contracts/asyncapi.py`) enumerate it.

Replies: a command or query answers `Accepted` (`{"status": "accepted", "data": {...},
"positions": {...}}`) or `Error` (contracts/envelope.py); `data` is the spec's `reply` model
(contracts/replies/, the agent's in contracts/agent.py). Every request names one (the contract
tests refuse a request without); with `BAIKAL_CHECK_REPLIES=1` the dispatcher checks each
answer against it (services/runtime/replies.py). `GENERIC_REPLY` only describes, in the
AsyncAPI document, a request declared without one.

Error codes: the reply's `error.code` is `<service>.<code>`; `errors` lists the codes the
owning service raises for this message, `COMMON_ERRORS` those every request can get.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel

from contracts import subjects
from contracts.permissions import Needs


class Kind(StrEnum):
    COMMAND = "command"  # Command envelope, changes state, `id` is the idempotency key
    QUERY = "query"  # Query envelope, reads a view
    EVENT = "event"  # Event envelope on JetStream, no reply
    DIRECTED_COMMAND = "directed-command"  # Command envelope to one agent ({agent_id})
    DIRECTED_QUERY = "directed-query"  # Query envelope to one agent ({agent_id})


REQUESTS = (Kind.COMMAND, Kind.QUERY, Kind.DIRECTED_COMMAND, Kind.DIRECTED_QUERY)
COMMANDS = (Kind.COMMAND, Kind.DIRECTED_COMMAND)
QUERIES = (Kind.QUERY, Kind.DIRECTED_QUERY)

GENERIC_REPLY = ("a JSON object: the handler's answer (its fields are described in the owning "
                 "service's README); no typed reply model is declared for this message yet")

# What any request can be answered, before or around its handler (services/runtime/dispatch.py,
# proofs.py, permissions.py); each is prefixed by the service like the others.
COMMON_ERRORS: tuple[str, ...] = (
    "request.malformed", "request.invalid", "auth.token_missing", "auth.token_invalid",
    "auth.token_expired", "auth.token_foreign", "auth.inactive", "auth.forbidden",
    "replica.behind", "internal",
)
PUBLIC_ERRORS: tuple[str, ...] = ("request.malformed", "request.invalid", "internal")


@dataclass(frozen=True)
class MessageSpec:
    subject: str  # directed messages: with the `{agent_id}` placeholder
    kind: Kind
    payload: type[BaseModel]  # commands/queries: the envelope's `data`; events: the event data
    summary: str
    reply: type[BaseModel] | None = None  # every request names one (tests/contracts)
    needs: Needs | None = None  # events: none; public queries: none
    errors: tuple[str, ...] = ()
    public: bool = False  # no proof asked (the bus login that hands one out)
    event_type: str | None = None  # events: the envelope's `type`

    def __post_init__(self) -> None:
        if self.kind is Kind.EVENT:
            if self.needs is not None or self.reply is not None or self.event_type is None:
                raise ValueError(f"{self.subject}: an event names its type, no need, no reply")
        elif (self.needs is None) != self.public:
            raise ValueError(f"{self.subject}: a request declares a need unless it is public")
        directed = self.kind in (Kind.DIRECTED_COMMAND, Kind.DIRECTED_QUERY)
        if directed and not self.directed:
            raise ValueError(f"{self.subject}: a directed subject carries {{agent_id}}")
        if self.kind in (Kind.COMMAND, Kind.QUERY) and self.directed:
            raise ValueError(f"{self.subject}: only directed messages carry {{agent_id}}")

    @property
    def service(self) -> str:
        return subjects.service_of(self.subject)

    @property
    def is_request(self) -> bool:
        return self.kind in REQUESTS

    @property
    def is_command(self) -> bool:
        return self.kind in COMMANDS

    @property
    def directed(self) -> bool:
        """Per agent: the subject has the `{agent_id}` placeholder (agent commands, events)."""
        return subjects.AGENT_ID_PLACEHOLDER in self.subject

    def subject_for(self, agent_id: str) -> str:
        """The concrete subject of a directed message (the subject itself otherwise)."""
        return subjects.for_agent(self.subject, agent_id) if self.directed else self.subject

    def all_errors(self) -> tuple[str, ...]:
        """Every code the reply may carry (without the service prefix); none for events."""
        if not self.is_request:
            return ()
        common = PUBLIC_ERRORS if self.public else COMMON_ERRORS
        return tuple(dict.fromkeys((*common, *self.errors)))


def command(subject: str, payload: type[BaseModel], needs: Needs, summary: str,
            errors: Iterable[str] = (), reply: type[BaseModel] | None = None) -> MessageSpec:
    return MessageSpec(subject, Kind.COMMAND, payload, summary, reply, needs, tuple(errors))


def query(subject: str, payload: type[BaseModel], needs: Needs | None, summary: str,
          errors: Iterable[str] = (), reply: type[BaseModel] | None = None,
          public: bool = False) -> MessageSpec:
    return MessageSpec(subject, Kind.QUERY, payload, summary, reply, needs, tuple(errors),
                       public)


def directed(subject: str, kind: Kind, payload: type[BaseModel], needs: Needs, summary: str,
             errors: Iterable[str] = (), reply: type[BaseModel] | None = None) -> MessageSpec:
    return MessageSpec(subject, kind, payload, summary, reply, needs, tuple(errors))


def event(subject: str, type_name: str, payload: type[BaseModel], summary: str) -> MessageSpec:
    return MessageSpec(subject, Kind.EVENT, payload, summary, event_type=type_name)


def index(specs: Iterable[MessageSpec]) -> dict[str, MessageSpec]:
    """Specs by subject; a subject declared twice is refused."""
    found: dict[str, MessageSpec] = {}
    for spec in specs:
        if spec.subject in found:
            raise ValueError(f"{spec.subject} is declared twice")
        found[spec.subject] = spec
    return found


def payloads(specs: dict[str, MessageSpec], kinds: tuple[Kind, ...]
             ) -> dict[str, type[BaseModel]]:
    return {s: spec.payload for s, spec in specs.items() if spec.kind in kinds}


def needs(specs: dict[str, MessageSpec], kinds: tuple[Kind, ...]) -> dict[str, Needs]:
    return {s: spec.needs for s, spec in specs.items()
            if spec.kind in kinds and spec.needs is not None}


def events(specs: dict[str, MessageSpec]) -> dict[str, MessageSpec]:
    """Event specs by type name."""
    return {spec.event_type: spec for spec in specs.values() if spec.event_type is not None}

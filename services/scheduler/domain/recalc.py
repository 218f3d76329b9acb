"""RECALCULATE USAGE, the pure part: replay container facts, compare them and the agents'
reports with the ledgers and session states, and plan the corrections. No I/O.

Truth, per session, in this order: what an answering agent reports (running or starting);
for an agent that did not answer, what is tracked now (reported, never guessed). The plan
names every reservation to change with its cause; `drifts` sums them per subject and slot.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from services.scheduler.domain import slots as s
from services.scheduler.domain.model import (
    PENDING,
    PREPARING,
    RUNNING,
    SCHEDULED,
    TERMINATING,
)

HOLDING = (SCHEDULED, PREPARING, RUNNING, TERMINATING)
STARTED, ENDED = "started", "ended"
Ledgers = Mapping[tuple[str, str], Mapping[str, Mapping[str, str]]]

# Causes, as UsageDriftDetected.cause says them.
EXIT_EVENT_MISSING = "exit-event-missing"          # started, gone, no exit ever arrived
EXIT_NOT_APPLIED = "exit-not-applied"              # the exit arrived, the session holds on
CONTAINER_GONE = "container-gone"                  # gone, and no start ever arrived either
RUNNING_WITHOUT_SESSION = "running-without-session"  # our labels, session ended or unknown
RESERVATION_MISSING = "reservation-missing"        # runs, but the ledger lacks it
RESERVATION_WRONG = "reservation-wrong"            # runs, the ledger holds other slots
ENDED_BUT_RESERVED = "ended-but-reserved"          # the session ended, the ledger holds on
UNKNOWN_SESSION = "unknown-session"                # the ledger names no session we have


@dataclass(frozen=True)
class SessionFact:
    """A session as the scheduler's view had it before the agents were asked."""

    session_id: str
    version: int
    status: str
    agent_id: str | None
    access_key: str
    user_id: str
    project: str | None
    domain: str | None
    slots: dict[str, str]  # what placement reserves: per container × cluster size


@dataclass(frozen=True)
class Seen:
    """One container an agent reported (running, or recorded and starting)."""

    session_id: str
    state: str  # running | starting
    slots: dict[str, str]
    container_id: str | None = None


@dataclass
class Replayed:
    """Container facts folded per agent: what the events imply runs there now."""

    open: dict[str, dict[str, dict[str, str]]] = field(default_factory=dict)
    ended: dict[str, set[str]] = field(default_factory=dict)
    events: int = 0

    def occupancy(self, agent_id: str) -> s.Slots:
        total: s.Slots = {}
        for slots in self.open.get(agent_id, {}).values():
            total = s.add(total, s.from_wire(slots))
        return total


def replay(events: Iterable[tuple[str, str, str, dict[str, str]] | None],
           into: Replayed | None = None) -> Replayed:
    """(kind started|ended, agent id, session id, slots) in stream order → per-agent state,
    continuing `into` (a fold of the events before these) when given; None (not a container
    event: `map(container_fact, ...)`) is skipped.

    A redelivered start after its end does not reopen it (ends are final per session)."""
    out = into if into is not None else Replayed()
    open_, ended = out.open, out.ended
    count = out.events
    for event in events:
        if event is None:
            continue
        kind, agent, session, slots = event
        count += 1
        if kind == STARTED:
            gone = ended.get(agent)
            if gone is None or session not in gone:
                sessions = open_.get(agent)
                if sessions is None:
                    sessions = open_[agent] = {}
                sessions[session] = slots
        else:
            sessions = open_.get(agent)
            if sessions is not None:
                sessions.pop(session, None)
            gone = ended.get(agent)
            if gone is None:
                gone = ended[agent] = set()
            gone.add(session)
    out.events = count
    return out


@dataclass(frozen=True)
class Correction:
    ledger: tuple[str, str]
    session_id: str
    tracked: dict[str, str] | None
    actual: dict[str, str] | None
    cause: str


@dataclass(frozen=True)
class EndSession:
    session_id: str
    version: int
    reason: str
    cause: str


@dataclass(frozen=True)
class Orphan:
    agent_id: str
    session_id: str
    container_id: str | None
    slots: dict[str, str]
    cause: str


@dataclass(frozen=True)
class Drift:
    subject: str
    slot: str
    tracked: str
    actual: str
    cause: str


@dataclass
class Plan:
    corrections: list[Correction] = field(default_factory=list)
    ends: list[EndSession] = field(default_factory=list)
    orphans: list[Orphan] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.corrections or self.ends)


def plan(facts: Mapping[str, SessionFact], ledgers: Ledgers,
         reports: Mapping[str, Mapping[str, Seen] | None], replayed: Replayed,
         stopped: frozenset[tuple[str, str]] = frozenset()) -> Plan:
    """`reports`: agent id → what it runs, None when it did not answer; agents absent from
    `reports` were not asked (LOST): their sessions are left as tracked, like the silent.
    `stopped`: (agent, session) orphans this run has already stopped."""
    out = Plan()
    expected: dict[tuple[str, str], dict[str, dict[str, str]]] = {}
    causes: dict[str, str] = {}
    untouchable = {a for a, r in reports.items() if r is None}
    untouchable |= {f.agent_id for f in facts.values() if f.agent_id and f.agent_id not in reports}
    frozen: set[str] = set()  # sessions on silent agents: their reservations stay as they are
    for fact in facts.values():
        if fact.status not in HOLDING or not fact.agent_id:
            continue
        if fact.agent_id in untouchable:
            frozen.add(fact.session_id)
            continue
        seen = (reports[fact.agent_id] or {}).get(fact.session_id)
        if seen is None:
            end = _ending(fact, replayed)
            if end is not None:
                out.ends.append(end)
                causes[fact.session_id] = end.cause
                continue
            held = fact.slots  # SCHEDULED: its start may not have been sent yet
        else:
            held = seen.slots if seen.state == "running" and seen.slots else fact.slots
        for ledger in (("keypair", fact.access_key), ("agent", fact.agent_id)):
            expected.setdefault(ledger, {})[fact.session_id] = dict(held)
    for agent_id, listed in reports.items():
        for found in (listed or {}).values():
            owner = facts.get(found.session_id)
            if (owner is not None and owner.status in HOLDING and owner.agent_id == agent_id) \
                    or found.state != "running":
                continue
            out.orphans.append(Orphan(agent_id, found.session_id, found.container_id,
                                      dict(found.slots), RUNNING_WITHOUT_SESSION))
            if (agent_id, found.session_id) not in stopped:
                # Physically held on the node until it stops: counted against the agent only.
                expected.setdefault(("agent", agent_id), {})[found.session_id] = dict(found.slots)
                causes.setdefault(found.session_id, RUNNING_WITHOUT_SESSION)
    for ledger in sorted(set(ledgers) | set(expected)):
        if ledger[0] == "agent" and ledger[1] in untouchable:
            continue
        now, should = ledgers.get(ledger, {}), expected.get(ledger, {})
        for session_id in sorted(set(now) | set(should)):
            if session_id in frozen:
                continue
            tracked, actual = now.get(session_id), should.get(session_id)
            if same(tracked, actual):
                continue
            cause = causes.get(session_id) or _cause(facts.get(session_id), tracked, actual)
            out.corrections.append(Correction(ledger, session_id,
                                              dict(tracked) if tracked is not None else None,
                                              actual, cause))
    return out


def _ending(fact: SessionFact, replayed: Replayed) -> EndSession | None:
    """An answering agent does not have this holding session: does it end?"""
    if fact.status == SCHEDULED and fact.session_id not in replayed.ended.get(
            fact.agent_id or "", ()):
        return None  # placed, start not (yet) accepted: the worker sends it again
    if fact.session_id in replayed.ended.get(fact.agent_id or "", ()):
        cause = EXIT_NOT_APPLIED
    elif fact.session_id in replayed.open.get(fact.agent_id or "", {}):
        cause = EXIT_EVENT_MISSING
    else:
        cause = CONTAINER_GONE
    return EndSession(fact.session_id, fact.version, CONTAINER_GONE, cause)


def _cause(fact: SessionFact | None, tracked: Mapping[str, str] | None,
           actual: Mapping[str, str] | None) -> str:
    if fact is None:
        return UNKNOWN_SESSION
    if actual is None:
        return ENDED_BUT_RESERVED
    return RESERVATION_MISSING if tracked is None else RESERVATION_WRONG


def same(a: Mapping[str, str] | None, b: Mapping[str, str] | None) -> bool:
    if a is None or b is None:
        return a is b
    if a == b:  # the common case, without decimal arithmetic
        return True
    return _norm(a) == _norm(b)


def _norm(slots: Mapping[str, str]) -> dict[str, Decimal]:
    return {k: v for k, v in s.from_wire(dict(slots)).items() if v != 0}


def apply(ledgers: Ledgers, corrections: Iterable[Correction]
          ) -> dict[tuple[str, str], dict[str, Mapping[str, str]]]:
    """The ledgers after the corrections (for drift sums and tests)."""
    after = {k: dict(entries) for k, entries in ledgers.items()}
    for c in corrections:
        entries = after.setdefault(c.ledger, {})
        if c.actual is None:
            entries.pop(c.session_id, None)
        else:
            entries[c.session_id] = dict(c.actual)
    return after


def drifts(ledgers: Ledgers, corrections: list[Correction],
           facts: Mapping[str, SessionFact]) -> list[Drift]:
    """Per (subject, slot): the total tracked before and the total after the corrections.

    Subjects: every corrected ledger (agent:<id>, keypair:<ak>) and the users, projects and
    domains whose keypair reservations changed (their occupancy sums those)."""
    by_subject: dict[str, list[Correction]] = {}
    for c in corrections:
        for subject in _subjects(c, facts):
            by_subject.setdefault(subject, []).append(c)
    before = _totals(ledgers, facts, set(by_subject))
    after = {subject: dict(total) for subject, total in before.items()}
    for c in corrections:  # after = before + what each correction changed
        for subject in _subjects(c, facts):
            total = after.setdefault(subject, {})
            _accumulate(total, c.actual or {}, 1)
            _accumulate(total, c.tracked or {}, -1)
    out = []
    for subject, changes in sorted(by_subject.items()):
        cause = ",".join(sorted({c.cause for c in changes}))
        was, now = before.get(subject, {}), after.get(subject, {})
        for slot in sorted(set(was) | set(now)):
            tracked, actual = was.get(slot, Decimal(0)), now.get(slot, Decimal(0))
            if tracked != actual:
                out.append(Drift(subject, slot, _fmt(tracked), _fmt(actual), cause))
    return out


def _subjects(c: Correction, facts: Mapping[str, SessionFact]) -> list[str]:
    subjects = [f"{c.ledger[0]}:{c.ledger[1]}"]
    fact = facts.get(c.session_id)
    if c.ledger[0] == "keypair" and fact is not None:
        subjects += [f"{kind}:{key}" for kind, key in (
            ("user", fact.user_id), ("project", fact.project), ("domain", fact.domain)) if key]
    return subjects


def _accumulate(total: dict[str, Decimal], slots: Mapping[str, str], sign: int) -> None:
    for slot, value in slots.items():
        total[slot] = total.get(slot, Decimal(0)) + sign * Decimal(value)


def _totals(ledgers: Ledgers, facts: Mapping[str, SessionFact], wanted: set[str]
            ) -> dict[str, dict[str, Decimal]]:
    """One pass: the total of every wanted subject (agent:, keypair:, user:, project:, domain:).
    Entries are gathered per subject first and summed per distinct slot set (most are alike),
    so a hundred thousand entries cost a few hundred decimal additions, not a million."""
    members: dict[str, list[Mapping[str, str]]] = {}
    groups = {kind: {w.split(":", 1)[1] for w in wanted if w.startswith(kind + ":")}
              for kind in ("user", "project", "domain")}
    users, projects, domains = groups["user"], groups["project"], groups["domain"]
    any_group = bool(users or projects or domains)
    for (kind, key), entries in ledgers.items():
        own = f"{kind}:{key}"
        if own in wanted:
            members.setdefault(own, []).extend(entries.values())
        if kind != "keypair" or not any_group:
            continue
        for session_id, slots in entries.items():
            fact = facts.get(session_id)
            if fact is None:
                continue
            if fact.user_id in users:
                members.setdefault(f"user:{fact.user_id}", []).append(slots)
            if fact.project in projects:
                members.setdefault(f"project:{fact.project}", []).append(slots)
            if fact.domain in domains:
                members.setdefault(f"domain:{fact.domain}", []).append(slots)
    return {subject: _sum(many) for subject, many in members.items()}


def _sum(many: Iterable[Mapping[str, str]]) -> dict[str, Decimal]:
    alike: dict[tuple[tuple[str, str], ...], int] = {}
    for slots in many:
        key = tuple(slots.items())
        alike[key] = alike.get(key, 0) + 1
    total: dict[str, Decimal] = {}
    for key, count in alike.items():
        for slot, value in key:
            total[slot] = total.get(slot, Decimal(0)) + count * Decimal(value)
    return total


def _group(fact: SessionFact, kind: str) -> str | None:
    return {"user": fact.user_id, "project": fact.project, "domain": fact.domain}[kind]


def _fmt(value: Decimal) -> str:
    return format(value.normalize(), "f") if value != 0 else "0"


def occupancy(ledgers: Ledgers, facts: Mapping[str, SessionFact]
              ) -> dict[str, dict[str, dict[str, str]]]:
    """What each keypair, user, project, domain and agent holds now, by its ledgers."""
    out: dict[str, dict[str, s.Slots]] = {k: {} for k in
                                          ("keypair", "user", "project", "domain", "agent")}
    for (kind, key), entries in ledgers.items():
        for session_id, raw in entries.items():
            slots = s.from_wire(dict(raw))
            out[kind][key] = s.add(out[kind].get(key, {}), slots)
            fact = facts.get(session_id)
            if kind == "keypair" and fact is not None:
                for group in ("user", "project", "domain"):
                    name = _group(fact, group)
                    if name:
                        out[group][name] = s.add(out[group].get(name, {}), slots)
    return {kind: {key: s.to_wire(v) for key, v in sorted(rows.items()) if s.to_wire(v)}
            for kind, rows in out.items()}


__all__ = ["PENDING", "HOLDING", "SessionFact", "Seen", "Replayed", "replay", "plan", "Plan",
           "Correction", "EndSession", "Orphan", "Drift", "drifts", "apply", "occupancy"]

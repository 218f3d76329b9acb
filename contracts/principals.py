"""Who may do what on the bus: the streams, durables and key-value buckets the operator
provisions, and every bus user's permissions. nats-server's configuration is rendered from
this table (services/cli/natsconf.py) and provisioning creates what it declares
(services/runtime/provision.py); nothing else grants a right.

Rules the table keeps (see services/runtime/README.md, "Bus permissions"):
- only the provisioner may create or change streams, consumers and buckets;
- no component may create a consumer at all (so none can make a push consumer deliver into a
  command subject); streams are read by sequence with direct gets, and pull durables declared
  here are read only with `CONSUMER.MSG.NEXT` and acked by their owner;
- only the gateway receives the gateway's replies and may ask the secret-returning queries;
- an agent may publish only its own events and heartbeat and hear only its own commands.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from contracts import subjects
from contracts.identity import Subjects as IdentitySubjects
from contracts.values import SERVICE_NAMES

GATEWAY = "gateway"
OPERATOR = "admin"  # day-to-day tools, `baikal events tail`, tests
PROVISIONER = "provision"  # creates streams, durables and buckets; nothing else
AGENT_PREFIX = "agent-"
PRODUCERS = tuple(s for s in SERVICE_NAMES if s != GATEWAY)  # one stream each
# Queries whose answers carry secrets: only the gateway may ask them.
SECRET_QUERIES = (IdentitySubjects.KEYPAIR_RESOLVE, IdentitySubjects.LOGIN,
                  IdentitySubjects.TOKEN_ISSUE)  # a token lets its bearer act as the user
DUPLICATE_WINDOW_SECONDS = 300.0


@dataclass(frozen=True)
class StreamSpec:
    name: str
    subjects: tuple[str, ...]
    duplicate_window: float = DUPLICATE_WINDOW_SECONDS


@dataclass(frozen=True)
class Durable:
    """A pull consumer the provisioner creates; only `owner` may pull from it and ack."""

    owner: str
    producer: str
    name: str
    filter: str
    ack_wait_seconds: float = 30.0
    max_ack_pending: int = 1000


@dataclass(frozen=True)
class KvBucket:
    """A key-value bucket (a stream `KV_<name>`); entries expire after `ttl_seconds`."""

    name: str
    ttl_seconds: float
    writers: tuple[str, ...]
    readers: tuple[str, ...]
    history: int = 1


@dataclass(frozen=True)
class Principal:
    user: str
    publish: tuple[str, ...]
    subscribe: tuple[str, ...]
    deny_publish: tuple[str, ...] = ()
    deny_subscribe: tuple[str, ...] = field(default_factory=tuple)


STREAMS = tuple(StreamSpec(subjects.stream(s), (subjects.events_of(s),)) for s in PRODUCERS)

# Whose events each component reads (tracked consumers and replicas, by sequence).
READS: dict[str, tuple[str, ...]] = {
    "identity": ("quota", "rbac"),
    "rbac": ("identity",),
    "quota": ("identity", "rbac"),  # rbac: its scoped reads follow the grants
    "storage": ("identity", "quota", "rbac", "scheduler"),  # scheduler: ended sessions free mounts
    "scheduler": ("agent", "identity", "quota", "rbac"),
    GATEWAY: PRODUCERS,  # GET /events (superadmin) reads any stream
}

# Pull durables every component needs (none today: every consumer keeps its position in its
# own store and reads by sequence, see services/runtime/reader.py). One line each.
DURABLES: tuple[Durable, ...] = ()

# Key-value buckets. The gateways' shared replay cache: a signature's key lives twice the
# clock-skew window (services/gateway/replay.py), written and heard by the gateways alone.
BUCKETS: tuple[KvBucket, ...] = (
    KvBucket(subjects.REPLAY_BUCKET, 2 * 900, writers=(GATEWAY,), readers=(GATEWAY,)),
)

# Queries only the scheduler may ask (no other user may even publish them): whether a session's
# owner may mount its folders, answered with their host paths.
SCHEDULER_QUERIES = (subjects.query("storage", "folders", "admit-mounts"),)

# What some components may do beyond their own subjects.
EXTRA_PUBLISH: dict[str, tuple[str, ...]] = {
    # The scheduler directs agents, asks storage at admission whether a session may mount its
    # folders, and holds them when the session starts (folder.mount).
    "scheduler": (subjects.commands_of("agent"), *SCHEDULER_QUERIES,
                  subjects.command("storage", "folder", "mount")),
}
EXTRA_SUBSCRIBE: dict[str, tuple[str, ...]] = {"scheduler": (subjects.AGENT_HEARTBEATS,)}


def _inbox(user: str) -> str:
    return f"{subjects.inbox(user)}.>"


def _reading(streams: tuple[str, ...]) -> tuple[str, ...]:
    """Read a stream by sequence (direct gets) and learn its state; never change it."""
    rights: list[str] = []
    for name in streams:
        rights += [subjects.js_api("STREAM", "INFO", name), subjects.js_api("DIRECT", "GET", name)]
    return tuple(rights)


def _owned(user: str) -> tuple[str, ...]:
    """Pull and ack on the durables `user` owns; read and write the buckets it may."""
    rights: list[str] = []
    for d in DURABLES:
        if d.owner == user:
            stream = subjects.stream(d.producer)
            rights += [subjects.js_api("CONSUMER", "MSG", "NEXT", stream, d.name),
                       subjects.js_api("CONSUMER", "INFO", stream, d.name),
                       subjects.js_acks(stream, d.name)]
    for b in BUCKETS:
        if user in b.readers or user in b.writers:
            stream = subjects.kv_stream(b.name)  # a key's value: the last message on its subject
            rights += [*_reading((stream,)), subjects.js_api("DIRECT", "GET", stream, ">")]
        if user in b.writers:
            rights.append(subjects.kv_keys(b.name))
    return tuple(rights)


def _heard_buckets(user: str) -> tuple[str, ...]:
    """The key subjects of the buckets `user` reads: it hears every write as it happens."""
    return tuple(subjects.kv_keys(b.name) for b in BUCKETS if user in b.readers)


def service_principal(service: str) -> Principal:
    """A service publishes only its own events, answers only its own subjects, reads the
    streams it consumes and its own (the relay finds its position in it by a direct get)."""
    own = subjects.stream(service)
    reads = tuple(subjects.stream(p) for p in READS.get(service, ()))
    return Principal(
        user=service,
        publish=(subjects.events_of(service), *_reading((own,)),
                 subjects.js_api("DIRECT", "GET", own, subjects.events_of(service)),
                 *_reading(reads),
                 *_owned(service), *EXTRA_PUBLISH.get(service, ())),
        subscribe=(subjects.commands_of(service), subjects.queries_of(service), _inbox(service),
                   *(subjects.events_of(p) for p in READS.get(service, ())),
                   *EXTRA_SUBSCRIBE.get(service, ())),
    )


def agent_user(agent_id: str) -> str:
    return f"{AGENT_PREFIX}{agent_id}"


def agent_principal(agent_id: str) -> Principal:
    """A node agent (the most exposed credential) does its own node's job and nothing else:
    its own events and heartbeat, its own directed commands, its own inbox. In the shared
    agent stream it reads only the last of its own events (its relay's position), with a
    direct get whose subject names them: no request by sequence, none of other agents'."""
    stream = subjects.stream("agent")
    user = agent_user(agent_id)
    own_events = subjects.events_of_agent(agent_id)
    return Principal(
        user=user,
        publish=(own_events, subjects.heartbeat(agent_id),
                 subjects.js_api("STREAM", "INFO", stream),
                 subjects.js_api("DIRECT", "GET", stream, own_events), *_owned(user)),
        subscribe=(subjects.directed_commands_of(agent_id), _inbox(user)),
    )


def gateway_principal() -> Principal:
    """The only user that may ask the secret-returning queries and hear the gateway's
    replies; it reads streams with `STREAM.MSG.GET` for `GET /events`."""
    streams = tuple(subjects.stream(p) for p in READS[GATEWAY])
    return Principal(
        user=GATEWAY,
        publish=(subjects.ALL_COMMANDS, subjects.ALL_QUERIES, *_reading(streams),
                 *(subjects.js_api("STREAM", "MSG", "GET", s) for s in streams),
                 *_owned(GATEWAY)),
        subscribe=(_inbox(GATEWAY), *_heard_buckets(GATEWAY)),
        deny_publish=SCHEDULER_QUERIES,
    )


def operator_principal() -> Principal:
    """The operator sends commands and queries (never the secret-returning ones), reads every
    stream by sequence and hears events and heartbeats; it cannot create or change a stream
    or a consumer, so it cannot capture anyone's traffic."""
    streams = tuple(subjects.stream(p) for p in PRODUCERS)
    return Principal(
        user=OPERATOR,
        publish=(subjects.ALL_COMMANDS, subjects.ALL_QUERIES, *_reading(streams),
                 *(subjects.js_api("STREAM", "MSG", "GET", s) for s in streams)),
        subscribe=(_inbox(OPERATOR), subjects.ALL_EVENTS, subjects.ALL_HEARTBEATS),
        deny_publish=(*SECRET_QUERIES, *SCHEDULER_QUERIES),
    )


def provisioner_principal() -> Principal:
    """Creates and configures the declared streams, durables and buckets, by name. The
    configuration it sends is not checked by nats-server (a stream's subjects are in the
    request body), so this credential is the bus's root key: kept in the data dir, used only
    by `baikal up` and `baikal provision`."""
    names = [s.name for s in STREAMS] + [subjects.kv_stream(b.name) for b in BUCKETS]
    publish = [subjects.js_api("INFO")]
    for name in names:
        publish += [subjects.js_api("STREAM", verb, name) for verb in ("CREATE", "UPDATE", "INFO")]
    for d in DURABLES:
        stream = subjects.stream(d.producer)
        publish += [subjects.js_api("CONSUMER", "CREATE", stream, d.name),
                    subjects.js_api("CONSUMER", "CREATE", stream, d.name, ">"),
                    subjects.js_api("CONSUMER", "DURABLE", "CREATE", stream, d.name),
                    subjects.js_api("CONSUMER", "INFO", stream, d.name)]
    return Principal(user=PROVISIONER, publish=tuple(publish), subscribe=(_inbox(PROVISIONER),))


def principals(agent_ids: tuple[str, ...] | list[str]) -> list[Principal]:
    """Every bus user of a stack whose registered agents are `agent_ids`."""
    result = [service_principal(s) for s in PRODUCERS if s != "agent"]
    result += [agent_principal(a) for a in agent_ids]
    result += [gateway_principal(), operator_principal(), provisioner_principal()]
    return result


def users(agent_ids: tuple[str, ...] | list[str]) -> list[str]:
    return [p.user for p in principals(agent_ids)]

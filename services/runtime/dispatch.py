"""Command and query dispatch: parse → prove → catch up → authorize → call the app → reply.

Once per message, before any handler: the envelope's proof is verified (`proofs`) and
replaces the actor it claims; the request waits (bounded) until the replicas that decide
permissions have applied the positions it names (`after`); a proven user who is inactive in
the service's directory is refused. A command's reply carries the position of what it wrote.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import json
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from pydantic import BaseModel, TypeAdapter, ValidationError

from contracts.envelope import Actor, Command, Query, error_reply
from contracts.permissions import Needs
from services.runtime import replies
from services.runtime.context import MessageContext, MustBlock, on_loop, using
from services.runtime.errors import CodedError
from services.runtime.observability import Metrics
from services.runtime.permissions import PermissionGuard
from services.runtime.proofs import ProofVerifier, refused
from services.runtime.replica import StreamReplica
from services.runtime.store import WRITTEN

log = logging.getLogger(__name__)

# A route's handler: the message's context (built once, in `_context`) and its validated
# payload. Services write theirs as `(deps, ctx, payload)` in a table; `runtime/serve.py` binds
# deps. An `async def` handler is awaited on the event loop (its blocking work goes to threads
# itself: the agent's, whose runtimes are asyncio); any other runs in a worker thread.
Handler = Callable[[MessageContext, Any], dict[str, Any] | Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Route:
    subject: str
    envelope: type[Command] | type[Query]
    payload: type[BaseModel]
    handler: Handler
    needs: Needs | None = None  # checked by the guard before the handler runs
    public: bool = False  # no proof asked (the bus login that hands one out)
    # A query whose handler reads in-memory state only: run on the event loop (see `_decide`).
    inline: bool = False
    # An `async def` handler: awaited on the event loop (`_run_awaited`).
    awaited: bool = False


_REPLY: TypeAdapter[dict[str, Any]] = TypeAdapter(dict[str, Any])
MAX_ERRORS = 20
MAX_SEGMENT = 64


def _segment(part: object) -> str:
    text = str(part)
    return text if len(text) <= MAX_SEGMENT else "<key too long>"


def accepted_json(data: dict[str, Any]) -> bytes:
    """`Accepted(data=data)` as pydantic writes it (compact, `status` first, no `positions`):
    the same serializer on the plain dict, without building and validating the model (~2 µs
    of every reply; `tests/unit/runtime/test_dispatch_replies.py` compares the bytes)."""
    if not isinstance(data, dict):
        raise TypeError(f"a handler returned {type(data).__name__}, not a dict")
    return _REPLY.dump_json({"status": "accepted", "data": data})


def validation_details(exc: ValidationError) -> list[dict[str, str]]:
    """Field paths and reasons only: input values are never echoed (they may be secrets);
    path segments and the list are capped so a hostile message cannot bloat the reply."""
    errors = exc.errors(include_input=False, include_url=False)
    details = [
        {"field": ".".join(_segment(p) for p in err["loc"]),
         "reason": err["msg"][:200], "type": err["type"]}
        for err in errors[:MAX_ERRORS]
    ]
    if len(errors) > MAX_ERRORS:
        details.append({"field": "", "reason": f"{len(errors) - MAX_ERRORS} more errors",
                        "type": "truncated"})
    return details


class Dispatcher:
    """Subscribes each route in the service's queue group and replies to every request."""

    def __init__(self, service: str, metrics: Metrics, max_in_flight: int = 64,
                 workers: int = 4, guard: PermissionGuard | None = None,
                 stuck_seconds: float = 30.0) -> None:
        self.service = service
        self.guard = guard
        self.metrics = metrics
        self.routes: dict[str, Route] = {}
        self._subscriptions: list[Subscription] = []
        self._in_flight = asyncio.Semaphore(max_in_flight)
        self.max_in_flight = max_in_flight
        # When each request holding a slot began (monotonic): /health reports not-ready when
        # every slot has been held, or one request has run, longer than `stuck_seconds`.
        self._started: dict[int, float] = {}
        self._saturated_since: float | None = None
        self._slots = 0
        self.stuck_seconds = stuck_seconds
        # Few workers: the store serializes writes anyway, and more threads only contend for
        # the GIL and the connection pool.
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"{service}-cmd")
        self._tasks: set[asyncio.Task[None]] = set()
        # Commands wait here first (the relay's backlog of unpublished events is full).
        self.backpressure: Callable[[], Awaitable[None]] | None = None
        # Set by the host: the proof verifier (None refuses every proof-needing message), the
        # replicas a request's `after` positions are awaited in, per producer, and whether a
        # proven actor is inactive here.
        self.verifier: ProofVerifier | None = None
        self.causal: dict[str, list[StreamReplica]] = {}
        self.causal_wait = 1.0
        self.inactive: Callable[[Actor], bool] = lambda actor: False
        # In-memory queries (`inline` routes) on the event loop; False: every message in a
        # worker thread (BAIKAL_INLINE_QUERIES, set by the host).
        self.inline_queries = True
        # gc.freeze() once subscribed (BAIKAL_GC_FREEZE, set by the host).
        self.freeze_at_start = True
        # The last costs (seconds) of proof verification and of the causal wait, per message.
        self.costs: dict[str, deque[float]] = {"proof": deque(maxlen=10_000),
                                               "causal": deque(maxlen=10_000)}

    def command(self, subject: str, payload: type[BaseModel], handler: Handler,
                needs: Needs) -> None:
        """Every command declares what it needs; the guard checks it before the handler."""
        if self.guard is None:
            raise RuntimeError(f"{subject}: commands need a permission guard")
        self.routes[subject] = Route(subject, Command, payload, handler, needs,
                                     awaited=inspect.iscoroutinefunction(handler))

    def query(self, subject: str, payload: type[BaseModel], handler: Handler,
              needs: Needs | None = None, public: bool = False, inline: bool = False) -> None:
        """Reads are authorized like writes: every query declares what it needs too (a list
        query's handler then keeps only the rows `guard.readable` admits). Only a `public`
        query (the bus login, which hands proofs out and checks a password) has none.
        `inline`: the handler reads in-memory state only (`serve.in_memory`)."""
        if public:
            if needs is not None:
                raise RuntimeError(f"{subject}: a public query asks no proof, so no permission")
        elif needs is None or self.guard is None:
            raise RuntimeError(f"{subject}: queries declare a permission and need a guard")
        self.routes[subject] = Route(subject, Query, payload, handler, needs, public=public,
                                     inline=inline, awaited=inspect.iscoroutinefunction(handler))

    async def start(self, nc: Client) -> None:
        for subject in self.routes:
            sub = await nc.subscribe(subject, queue=self.service, cb=self._on_message)
            self._subscriptions.append(sub)
        # The server has our interest once the flush returns: "ready" then means answerable.
        await nc.flush(timeout=5)
        if self.freeze_at_start:
            # What start-up loaded (modules, views, caches) leaves the collector's generations:
            # a collection of the older generations no longer walks all of it while a request
            # waits (measured in bench/README.md, "bench.rbac").
            gc.collect()
            gc.freeze()

    async def stop(self) -> None:
        for sub in self._subscriptions:
            await sub.unsubscribe()
        self._subscriptions.clear()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=10)
        # Wait for commands already running in threads: the store closes after this.
        await asyncio.get_running_loop().run_in_executor(
            None, lambda: self._pool.shutdown(wait=True, cancel_futures=True))

    async def _on_message(self, msg: Msg) -> None:
        # Each request runs in its own task so a slow command does not hold the others;
        # the semaphore bounds how many run at once.
        await self._in_flight.acquire()
        self._slots += 1
        slot = self._slots
        self._started[slot] = time.monotonic()
        if len(self._started) >= self.max_in_flight and self._saturated_since is None:
            self._saturated_since = time.monotonic()
        try:
            task = asyncio.create_task(self._handle(msg, slot))
        except BaseException:
            self._release(slot)
            raise
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _release(self, slot: int) -> None:
        self._started.pop(slot, None)
        if len(self._started) < self.max_in_flight:
            self._saturated_since = None
        self._in_flight.release()

    async def _handle(self, msg: Msg, slot: int) -> None:
        """Every message that took a slot gives it back, whatever happens: the route lookup
        is inside the `finally` too (a message on a subject we do not serve can arrive by
        another path, e.g. a stream consumer delivering into our subject)."""
        started = time.perf_counter()
        label, outcome = "unroutable", "invalid"
        try:
            route = self.routes.get(msg.subject)
            if route is None:
                reply = self._error_bytes("request.unroutable",
                                          "this service does not serve that subject")
            else:
                label = route.subject
                if route.envelope is Command and self.backpressure is not None:
                    await self.backpressure()
                reply, outcome = await self._decide(route, msg.data)
            if msg.reply:
                try:
                    await msg.respond(reply)
                except nats.errors.MaxPayloadError:
                    await msg.respond(self._error_bytes(
                        "request.invalid", "the request is invalid (details too large)"))
        finally:
            self._release(slot)
            self.metrics.requests(label, outcome).inc()
            self.metrics.latency(label).observe(time.perf_counter() - started)

    def health(self) -> dict[str, Any]:
        """Not ready when every slot has been held, or one request has run, for longer than
        `stuck_seconds`: a supervisor restarts a dispatcher that no longer answers."""
        now = time.monotonic()
        oldest = now - min(self._started.values()) if self._started else 0.0
        saturated = now - self._saturated_since if self._saturated_since is not None else 0.0
        stuck = oldest > self.stuck_seconds or saturated > self.stuck_seconds
        return {"ok": not stuck, "in_flight": len(self._started),
                "max_in_flight": self.max_in_flight, "oldest_seconds": round(oldest, 3),
                "saturated_seconds": round(saturated, 3)}

    async def _decide(self, route: Route, raw: bytes) -> tuple[bytes, str]:
        try:
            envelope = route.envelope.model_validate_json(raw)
        except ValidationError as exc:
            if any(err["type"] == "json_invalid" for err in exc.errors()):
                malformed = self._error_bytes("request.malformed",
                                              "the message is not valid JSON")
                return malformed, "invalid"
            return self._error("request.invalid", exc), "invalid"
        except (ValueError, UnicodeDecodeError):
            malformed = self._error_bytes("request.malformed", "the message is not valid JSON")
            return malformed, "invalid"
        try:
            # Who sent it first: an unproven sender learns nothing about the payload's rules.
            if not route.public:
                envelope = await self._proven(envelope)
            payload = route.payload.model_validate(envelope.data)
            result, written = await self._execute(route, envelope, payload)
            replies.check(route.subject, result)  # BAIKAL_CHECK_REPLIES=1: fails loudly
        except CodedError as exc:
            return self._error_bytes(exc.code, exc.message, **exc.details), "refused"
        except ValidationError as exc:
            return self._error("request.invalid", exc), "invalid"
        except Exception:
            # Process edge for one request: log with traceback, count, answer; the
            # command's transaction did not commit, so nothing half-done remains.
            log.exception("unexpected error handling %s", route.subject)
            self.metrics.errors("dispatch").inc()
            failed = self._error_bytes("internal", "unexpected server error; see service logs")
            return failed, "error"
        body = accepted_json(result)
        if written:  # after `data`, which readers may pass through undecoded
            body = body[:-1] + b',"positions":{"%s":%d}}' % (self.service.encode(), written)
        return body, "accepted"

    async def _proven(self, envelope: Any) -> Any:
        """The envelope with its proven actor, once the replicas reached its `after`."""
        if self.verifier is None:
            raise refused("invalid", "this service has no trusted keys (BAIKAL_TRUSTED_KEYS)")
        started = time.perf_counter()
        actor = self.verifier.verify(envelope.proof)
        claimed = envelope.actor
        if (claimed.system, claimed.access_key) != (actor.system, actor.access_key):
            raise refused("invalid", "the actor named is not the one its proof names")
        proven = time.perf_counter()
        self.costs["proof"].append(proven - started)
        for producer, position in envelope.after.items():
            for replica in self.causal.get(producer, ()):
                if replica.applied < position and not await replica.reached(
                        position, self.causal_wait):
                    raise CodedError(
                        f"this service has not yet seen {producer}'s writes up to {position}; "
                        "retry", code="replica.behind", retryable=True, producer=producer,
                        position=position, applied=replica.applied)
        self.costs["causal"].append(time.perf_counter() - proven)
        if actor.system is None and self.inactive(actor):
            raise refused("inactive", "the proof's user or keypair is inactive")
        envelope.actor = actor  # the envelope is this request's own (no copy needed)
        return envelope

    async def _execute(self, route: Route, envelope: Any, payload: BaseModel
                       ) -> tuple[dict[str, Any], int]:
        """In a worker thread; an in-memory query on the event loop instead (no hand-off to a
        thread and back: ~20 µs of CPU and two wake-ups per read), unless something in it
        would wait (`MustBlock`): then in a worker thread after all, from the start. An
        `async def` handler is awaited here, on the loop."""
        if route.awaited:
            return await self._run_awaited(route, envelope, payload)
        if route.inline and self.inline_queries:
            try:
                with on_loop():
                    return self._run(route, envelope, payload)
            except MustBlock:
                pass
        return await asyncio.get_running_loop().run_in_executor(
            self._pool, self._run, route, envelope, payload)

    def _run(self, route: Route, envelope: Any, payload: BaseModel
             ) -> tuple[dict[str, Any], int]:
        WRITTEN.reset()
        self._authorize(route, envelope, payload)
        ctx = self._context(route, envelope)
        with using(ctx):
            return route.handler(ctx, payload), WRITTEN.position  # type: ignore[return-value]

    async def _run_awaited(self, route: Route, envelope: Any, payload: BaseModel
                           ) -> tuple[dict[str, Any], int]:
        """An `async def` handler on the event loop, in the message's context (a task of its
        own, so the context is this message's). The guard's check runs on the loop too,
        unless it would wait (`MustBlock`): then in a worker thread. What the handler writes
        is saved in threads of its own, so its reply names no position (0)."""
        try:
            with on_loop():
                self._authorize(route, envelope, payload)
        except MustBlock:
            await asyncio.get_running_loop().run_in_executor(
                self._pool, self._authorize, route, envelope, payload)
        ctx = self._context(route, envelope)
        with using(ctx):
            return await route.handler(ctx, payload), 0  # type: ignore[misc]

    def _authorize(self, route: Route, envelope: Any, payload: BaseModel) -> None:
        if route.needs is not None and self.guard is not None:
            self.guard.require(envelope.actor, route.needs, payload)

    @staticmethod
    def _context(route: Route, envelope: Any) -> MessageContext:
        # A query has no id of its own: its correlation id, else a fresh one, names it.
        # (Not getattr(envelope, "id", None): pydantic raises and catches inside it, ~2 µs.)
        own_id = envelope.id if route.envelope is Command else None
        message_id = own_id or envelope.correlation_id or uuid4().hex
        return MessageContext(subject=route.subject, message_id=message_id,
                              actor=envelope.actor,
                              correlation_id=envelope.correlation_id or message_id,
                              causation_id=envelope.causation_id, after=envelope.after)

    def _error(self, code: str, exc: ValidationError) -> bytes:
        return self._error_bytes(code, "the request does not match the schema",
                                 errors=validation_details(exc))

    def _error_bytes(self, code: str, message: str, **details: Any) -> bytes:
        if not code.startswith(f"{self.service}."):
            code = f"{self.service}.{code}"
        body = error_reply(code, message, **details)
        return json.dumps(body.model_dump(mode="json"), default=str).encode()

"""Sessions, agents and the resource indicator (scheduler); the event streams (JetStream)."""

from __future__ import annotations

import json
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response
from nats.js.errors import APIError, NotFoundError

from contracts import scheduler as sc
from contracts import subjects
from contracts.replies import scheduler as schr
from contracts.values import SERVICE_NAMES
from services.gateway.errors import ERROR_RESPONSES, gateway_error
from services.gateway.models import EventPage, Termination
from services.gateway.routes.calls import (
    Reader,
    SuperadminReader,
    Writer,
    body_data,
    json_response,
    query_route,
)

S = sc.Subjects
router = APIRouter(tags=["sessions"], responses=ERROR_RESPONSES)
SessionId = Annotated[str, Path(max_length=64)]
AccessKeyQuery = Annotated[str | None, Query(pattern=r"^AKIA[A-Z2-7]{16}$")]


@router.post("/sessions", status_code=201, response_model=schr.SessionState,
             summary="Request a compute session (SessionRequested; starts PENDING)")
async def request_session(body: sc.RequestSession, call: Writer) -> Response:
    return json_response(await call.command(S.SESSION_REQUEST, body_data(body)), 201)


@router.get("/sessions", response_model=schr.SessionPage)
async def list_sessions(
    call: Reader,
    status: Annotated[list[sc.SessionStatus] | None, Query()] = None,
    access_key: AccessKeyQuery = None,
    user_id: Annotated[str | None, Query(max_length=256)] = None,
    project: Annotated[str | None, Query(max_length=256)] = None,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> Response:
    data = {"status": [s.value for s in status] if status else None, "access_key": access_key,
            "user_id": user_id, "project": project, "offset": offset, "limit": limit}
    return json_response(await call.query(S.SESSION_LIST, data))


@router.get("/sessions/{session_id}", response_model=schr.SessionDetail,
            summary="One session with its status history")
@query_route(S.SESSION_GET)
async def get_session(session_id: SessionId, call: Reader) -> Response:
    """The scheduler's `sessions.get` for this session."""


@router.post("/sessions/{session_id}/terminate", response_model=schr.SessionState)
async def terminate_session(session_id: SessionId, call: Writer,
                            body: Termination | None = None) -> Response:
    data = {"session_id": session_id, "reason": (body or Termination()).reason}
    return json_response(await call.command(S.SESSION_TERMINATE, data))


@router.get("/agents", response_model=schr.AgentList,
            summary="Agents with capacity and occupancy (agent:read at the caller's domain)")
async def list_agents(call: Reader,
                      status: Literal["ALIVE", "LOST"] | None = None) -> Response:
    return json_response(await call.query(S.AGENT_LIST, {"status": status}))


@router.get("/resource-indicator", response_model=schr.KeypairResources,
            summary="Capacity, policy limit, use and what can be allocated now (default: own)")
async def resource_indicator(call: Reader,
                             access_key: AccessKeyQuery = None) -> Response:
    data = {"access_key": access_key or call.caller.access_key}
    return json_response(await call.query(S.RESOURCE_INDICATOR, data))


ProducingService = Literal[tuple(s for s in SERVICE_NAMES if s != "gateway")]  # type: ignore[valid-type]


@router.get("/events", response_model=EventPage, tags=["events"],
            summary="Events of one service's stream from a sequence on (superadmin)")
async def list_events(
    service: ProducingService,  # type: ignore[valid-type]
    call: SuperadminReader,
    after: Annotated[int, Query(ge=0, le=2**53)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    subject: Annotated[str | None, Query(max_length=256, pattern=r"^bai\.evt\.[a-z0-9.*>-]+$")]
    = None,
) -> Response:
    """Reads with JetStream direct gets, one per event, so the page is bounded by `limit`."""
    stream = subjects.stream(service)
    js = call.gateway.nc.jetstream(timeout=call.gateway.settings.request_timeout)  # type: ignore[union-attr]
    items, seq = [], after + 1
    try:
        for _ in range(limit):
            msg = await js.get_msg(stream, seq=seq, subject=subject or subjects.events_of(service),
                                   next=True)
            items.append({"sequence": msg.seq, "subject": msg.subject,
                          "event": json.loads(msg.data or b"{}")})
            seq = (msg.seq or seq) + 1
    except NotFoundError:
        pass  # no more events (or no stream yet: the service never published)
    except TimeoutError:
        raise gateway_error("service.timeout", "JetStream did not answer in time",
                            service="nats") from None
    except APIError as exc:
        raise gateway_error("events.refused", f"JetStream refused the read: {exc.description}",
                            status=400) from None
    return json_response({"stream": stream, "items": items, "next_sequence": seq - 1})

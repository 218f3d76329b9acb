"""RECALCULATE USAGE and the usage view (scheduler): Backend.AI's `/resource/...` paths."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from contracts import scheduler as sc
from contracts.replies import scheduler as schr
from services.gateway.errors import ERROR_RESPONSES
from services.gateway.routes.calls import (
    IDEMPOTENCY_KEY,
    Reader,
    SuperadminReader,
    SuperadminWriter,
    body_data,
    json_response,
)

S = sc.Subjects
router = APIRouter(tags=["resources"], responses=ERROR_RESPONSES)


@router.post("/resource/recalculate-usage", response_model=schr.Recalculation,
             summary="Correct occupancy to what the agents really run (superadmin)")
async def recalculate_usage(call: SuperadminWriter,
                            body: sc.RecalculateUsage | None = None) -> Response:
    """Replays the container events, asks every live agent, corrects the ledgers and returns
    the drifts corrected (the reference answers `{}`; this answers what it did)."""
    data = body_data(body) if body is not None else {}
    return json_response(await call.command(S.USAGE_RECALCULATE, data))


@router.get("/resource/recalculate-usage/{key}", response_model=schr.RecalculationProgress,
            summary="Where the caller's RECALCULATE USAGE run of this Idempotency-Key stands")
async def recalculation(call: SuperadminReader,
                        key: Annotated[str, Path(pattern=IDEMPOTENCY_KEY)]) -> Response:
    """Each stage reached (snapshot, replay, agents, compare, commit), done of total, while
    the POST of the same `Idempotency-Key` runs (the CLI's progress bars poll it)."""
    run_id = f"{call.caller.access_key}:{key}"  # the command id the POST's key became
    return json_response(await call.query(S.USAGE_RECALCULATION, {"run_id": run_id}))


@router.get("/resource/usage", response_model=schr.UsageListing,
            summary="What each keypair, user, project, domain and agent occupies now")
async def usage(call: Reader,
                kind: Annotated[sc.UsageKind | None, Query()] = None) -> Response:
    return json_response(await call.query(S.USAGE_LIST, {"kind": kind}))

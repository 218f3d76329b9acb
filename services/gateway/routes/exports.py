"""Streamed CSV exports of users, keypairs, resource policies and sessions (admins)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from contracts import identity as ic
from contracts import quota as qc
from contracts import scheduler as sc
from services.gateway import exports
from services.gateway.errors import ERROR_RESPONSES
from services.gateway.models import Status
from services.gateway.routes.calls import AdminReader, Call

router = APIRouter(prefix="/exports", tags=["exports"], responses={
    **ERROR_RESPONSES,
    200: {"content": {"text/csv": {"schema": {"type": "string"}}},
          "description": "CSV, streamed; X-Total-Count holds the row count when known"},
})
FileName = Annotated[str | None, Query(
    description="Download name: at most 255 letters, digits, '-', '_' or '.'; default "
                "`<list>_<YYYY-MM-DD>_<HH-MM-SS>.csv`")]
POLICY_LISTS = {"keypair": qc.Subjects.KEYPAIR_POLICY_LIST,
                "user": qc.Subjects.USER_POLICY_LIST,
                "project": qc.Subjects.PROJECT_POLICY_LIST}


def _fetcher(call: Call, subject: str, data: dict[str, Any]
             ) -> Callable[[int, int], Awaitable[dict[str, Any]]]:
    async def fetch(offset: int, limit: int) -> dict[str, Any]:
        return await call.query(subject, {**data, "offset": offset, "limit": limit})

    return fetch


async def _all_items(call: Call, subject: str, data: dict[str, Any]) -> list[dict[str, Any]]:
    settings = call.gateway.settings
    _, pages = await exports.paged(_fetcher(call, subject, data), settings.export_page_size,
                                   settings.export_max_rows)
    return [item async for page in pages for item in page]


async def _respond(call: Call, name: str, columns: list[str], subject: str,
                   data: dict[str, Any], to_row: Callable[[dict[str, Any]], list[Any]]
                   ) -> StreamingResponse:
    settings = call.gateway.settings
    total, pages = await exports.paged(_fetcher(call, subject, data), settings.export_page_size,
                                       settings.export_max_rows)
    body: AsyncIterator[bytes] = exports.csv_stream(columns, pages, to_row)
    headers = {"Content-Disposition": f'attachment; filename="{name}"',
               "Cache-Control": "no-store"}
    if total is not None:
        headers["X-Total-Count"] = str(total)
    return StreamingResponse(body, media_type="text/csv; charset=utf-8", headers=headers)


@router.get("/users", response_class=StreamingResponse,
            summary="Users as CSV: email, username, full name, description, active, domain, "
                    "role, projects")
async def export_users(call: AdminReader, status: Status = "all",
                       filename: FileName = None) -> StreamingResponse:
    name = exports.download_name(filename, "users")
    projects = await call.query(ic.Subjects.PROJECT_LIST, {})
    names = {p["project_id"]: p["name"] for p in projects.get("items", [])}
    data = {"status": None if status == "all" else status, "sort": "email"}
    return await _respond(call, name, exports.USER_COLUMNS, ic.Subjects.USER_LIST, data,
                          lambda user: exports.user_row(user, names))


@router.get("/keypairs", response_class=StreamingResponse,
            summary="Keypairs (credentials, never secrets) with their policy's slots, as CSV")
async def export_keypairs(call: AdminReader, status: Status = "all",
                          filename: FileName = None) -> StreamingResponse:
    name = exports.download_name(filename, "keypairs")
    policies = await _all_items(call, qc.Subjects.KEYPAIR_POLICY_LIST, {})
    # Each slot resolved ("unlimited", or "0" where a limited policy names none).
    slots = {p["name"]: qc.effective_slots(p["policy"]) for p in policies if "policy" in p}
    data = {"is_active": None if status == "all" else status == "active", "sort": "created_at"}
    return await _respond(call, name, exports.KEYPAIR_COLUMNS, ic.Subjects.KEYPAIR_LIST, data,
                          lambda keypair: exports.keypair_row(keypair, slots))


@router.get("/resource-policies", response_class=StreamingResponse,
            summary="Resource policies of one tier as CSV")
async def export_policies(call: AdminReader,
                          tier: Literal["keypair", "user", "project"] = "keypair",
                          filename: FileName = None) -> StreamingResponse:
    name = exports.download_name(filename, f"{tier}-resource-policies")
    return await _respond(call, name, exports.policy_columns(tier), POLICY_LISTS[tier], {},
                          lambda row: exports.policy_row(tier, row))


@router.get("/sessions", response_class=StreamingResponse,
            summary="Sessions as CSV (reference §8.1 columns)")
async def export_sessions(
    call: AdminReader,
    status: Annotated[list[sc.SessionStatus] | None, Query()] = None,
    filename: FileName = None,
) -> StreamingResponse:
    name = exports.download_name(filename, "sessions")
    users = await _all_items(call, ic.Subjects.USER_LIST, {"status": None})
    emails = {u["user_id"]: u["email"] for u in users}
    data = {"status": [s.value for s in status] if status else None}
    return await _respond(call, name, exports.SESSION_COLUMNS, sc.Subjects.SESSION_LIST, data,
                          lambda session: exports.session_row(session, emails))

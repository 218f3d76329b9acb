"""Domains, projects and project membership (identity)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from contracts import identity as ic
from contracts.replies import identity as ir
from services.gateway.errors import ERROR_RESPONSES
from services.gateway.models import MemberRef
from services.gateway.routes.calls import (
    Reader,
    SuperadminWriter,
    Writer,
    body_data,
    json_response,
)

S = ic.Subjects
router = APIRouter(tags=["domains and projects"], responses=ERROR_RESPONSES)
ProjectId = Annotated[str, Path(max_length=64, description="Project id or name")]


@router.get("/domains", response_model=ir.DomainList)
async def list_domains(call: Reader) -> Response:
    return json_response(await call.query(S.DOMAIN_LIST))


@router.post("/domains", status_code=201, response_model=ir.CreatedDomain,
             summary="Create a domain (superadmin)")
async def create_domain(body: ic.CreateDomain,
                        call: SuperadminWriter) -> Response:
    return json_response(await call.command(S.DOMAIN_CREATE, body_data(body)), 201)


@router.get("/projects", response_model=ir.ProjectList)
async def list_projects(call: Reader,
                        domain: Annotated[str | None, Query(max_length=64)] = None) -> Response:
    return json_response(await call.query(S.PROJECT_LIST, {"domain": domain}))


@router.post("/projects", status_code=201, response_model=ir.CreatedProject,
             summary="Create a project in a domain (admin of the domain)")
async def create_project(body: ic.CreateProject, call: Writer) -> Response:
    return json_response(await call.command(S.PROJECT_CREATE, body_data(body)), 201)


@router.post("/projects/{project_id}/members", response_model=ir.Membership,
             summary="Add a user to a project")
async def add_member(project_id: ProjectId, body: MemberRef,
                     call: Writer) -> Response:
    data = {"project_id": project_id, "email": body.email}
    return json_response(await call.command(S.PROJECT_ADD_MEMBER, data))


@router.delete("/projects/{project_id}/members/{email}", response_model=ir.Membership,
               summary="Remove a user from a project")
async def remove_member(project_id: ProjectId,
                        email: Annotated[str, Path(max_length=1024)],
                        call: Writer) -> Response:
    data = {"project_id": project_id, "email": email}
    return json_response(await call.command(S.PROJECT_REMOVE_MEMBER, data))

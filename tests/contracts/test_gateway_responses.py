"""The gateway's response models are the contract reply models: every route that answers what
a service replied names that service's reply class (re-used, not re-declared); only what the
gateway composes itself has a model of its own."""

from __future__ import annotations

import inspect

import pytest
from fastapi.routing import APIRoute

from contracts.replies import identity, quota, rbac, scheduler, storage
from contracts.replies.table import reply_model
from services.gateway import models
from services.gateway.app import ROUTERS
from services.gateway.routes import files
from services.gateway.routes.calls import QUERY_SUBJECT

# Composed by the gateway itself (its own state, JetStream reads, local files), not a reply.
HTTP_ONLY = {models.ApiRoot, models.LoginOut, models.WhoAmI, models.EventPage,
             models.Information, files.FileList, files.FileDone}
ROUTES = [r for router in ROUTERS for r in router.routes
          if isinstance(r, APIRoute) and r.response_model is not None]
REPLY_NAMES = {name for module in (identity, quota, rbac, scheduler, storage)
               for name, value in vars(module).items()
               if inspect.isclass(value) and value.__module__ == module.__name__}


def test_routes_with_a_response_model_are_found() -> None:
    assert len(ROUTES) > 50


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: f"{sorted(r.methods)[0]} {r.path}")
def test_a_response_model_is_a_contract_reply_or_composed_by_the_gateway(route: APIRoute) -> None:
    model = route.response_model
    assert model in HTTP_ONLY or model.__module__.startswith(("contracts.replies.",
                                                              "contracts.agent")), model


@pytest.mark.parametrize("route", [r for r in ROUTES if hasattr(r.endpoint, QUERY_SUBJECT)],
                         ids=lambda r: r.path)
def test_a_query_route_answers_its_query_spec_reply_model(route: APIRoute) -> None:
    assert route.response_model is reply_model(getattr(route.endpoint, QUERY_SUBJECT))


def test_the_gateway_declares_no_reply_model_of_its_own() -> None:
    own = {name for name, value in vars(models).items() if inspect.isclass(value)
           and value.__module__ == models.__name__}
    assert len(REPLY_NAMES) > 60
    assert own & REPLY_NAMES == set(), "re-declared in the gateway: import the contract's"

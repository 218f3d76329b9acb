"""Composition root of the rbac service."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from contracts import rbac as c
from services.rbac.app import RbacApplication
from services.rbac.handlers import HANDLERS, RbacDeps
from services.rbac.reactions import subscriptions
from services.rbac.translate import RbacTranslator
from services.rbac.views import GrantView, RoleCatalogView
from services.runtime.actors import ActorDirectory
from services.runtime.host import ServiceHost, process_edge, run_service
from services.runtime.permissions import PermissionGuard
from services.runtime.serve import serve
from services.runtime.settings import ServiceSettings
from services.runtime.store import store_env


class RbacSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="BAIKAL_", extra="ignore")

    service: str = "rbac"


def build(settings: RbacSettings) -> ServiceHost:
    directory = ActorDirectory()
    app = RbacApplication(store_env(settings, "rbac"), directory)
    catalog = RoleCatalogView(app)
    catalog.attach()
    grants = GrantView(app)
    grants.attach()
    # Role commands are system-wide (superadmins only); rbac's own GrantView answers checks.
    guard = directory.guarding(PermissionGuard(directory.resolve, follow_grants=False))
    deps = RbacDeps(app, catalog, grants)
    host = ServiceHost(settings, app, lambda d: serve(d, c.SPECS, HANDLERS, deps),
                       RbacTranslator(app), subscriptions(app), guard=guard)
    host.components.append(directory)
    host.follow(catalog, grants)
    return host


def main() -> None:
    settings = RbacSettings()
    process_edge(settings)
    run_service(build(settings).run_until_signalled(), settings)


if __name__ == "__main__":
    main()

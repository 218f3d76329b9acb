"""Composition root of the identity service."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from contracts import identity as c
from services.identity.app import BOOTSTRAP_ACTOR, IdentityApplication
from services.identity.handlers import HANDLERS, IdentityDeps
from services.identity.reactions import subscriptions
from services.identity.translate import IdentityTranslator
from services.identity.views import IdentityView
from services.runtime.host import ServiceHost, process_edge, run_service
from services.runtime.permissions import PermissionGuard
from services.runtime.serve import serve
from services.runtime.settings import ServiceSettings
from services.runtime.store import store_env


class IdentitySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="BAIKAL_", extra="ignore")

    service: str = "identity"
    default_keypair_policy: str = "default"


def build(settings: IdentitySettings) -> ServiceHost:
    app = IdentityApplication(store_env(settings, "identity"),
                              default_keypair_policy=settings.default_keypair_policy)
    view = IdentityView(app)
    guard = view.guard = PermissionGuard(view.principal,
                                         trusted_systems=frozenset({BOOTSTRAP_ACTOR}))
    view.attach()
    app.actors = view.principal
    signer = settings.signer()
    deps = IdentityDeps(app, view, guard, signer)
    host = ServiceHost(settings, app, lambda d: serve(d, c.SPECS, HANDLERS, deps),
                       IdentityTranslator(app), subscriptions(app), guard=guard)
    host.dispatcher.inactive = view.inactive  # identity's own read model knows the status
    host.follow(view)
    return host


def main() -> None:
    settings = IdentitySettings()
    process_edge(settings)
    run_service(build(settings).run_until_signalled(), settings)


if __name__ == "__main__":
    main()

"""Composition root of the quota service."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from contracts import quota as c
from services.quota.app import QuotaApplication
from services.quota.handlers import HANDLERS, QuotaDeps
from services.quota.reactions import subscriptions
from services.quota.translate import QuotaTranslator
from services.quota.views import PolicyView
from services.runtime.actors import ActorDirectory
from services.runtime.host import ServiceHost, process_edge, run_service
from services.runtime.permissions import PermissionGuard
from services.runtime.serve import serve
from services.runtime.settings import ServiceSettings
from services.runtime.store import store_env


class QuotaSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="BAIKAL_", extra="ignore")

    service: str = "quota"


def build(settings: QuotaSettings) -> ServiceHost:
    directory = ActorDirectory()
    app = QuotaApplication(store_env(settings, "quota"), directory)
    app.bootstrap_defaults()
    view = PolicyView(app)
    view.attach()
    # Every quota command is system-wide (superadmins only): no grants to follow.
    guard = directory.guarding(PermissionGuard(directory.resolve))  # reads are scoped
    deps = QuotaDeps(app, view)
    host = ServiceHost(settings, app, lambda d: serve(d, c.SPECS, HANDLERS, deps),
                       QuotaTranslator(app), subscriptions(app), guard=guard)
    host.components.append(directory)
    host.follow(view)
    return host


def main() -> None:
    settings = QuotaSettings()
    process_edge(settings)
    run_service(build(settings).run_until_signalled(), settings)


if __name__ == "__main__":
    main()

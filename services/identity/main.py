"""Composition root of the identity service."""

from __future__ import annotations

import asyncio

from pydantic_settings import SettingsConfigDict

from services.identity.app import IdentityApplication
from services.identity.handlers import register
from services.identity.reactions import subscriptions
from services.identity.translate import IdentityTranslator
from services.identity.views import IdentityView
from services.runtime.host import ServiceHost, configure_logging
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
    view.attach()
    app.actors = view.principal
    return ServiceHost(settings, app, lambda d: register(d, app, view), IdentityTranslator(app),
                       subscriptions(app))


def main() -> None:
    settings = IdentitySettings()
    configure_logging(settings.log_level)
    asyncio.run(build(settings).run_until_signalled())


if __name__ == "__main__":
    main()

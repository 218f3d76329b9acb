"""A test consumer process: tallies UserCreated emails with the runtime's tracked consumer.

Run as `python -m tests.support.tally_main` with the usual BAIKAL_* settings. Each event
adds one to a counter in a single aggregate, so an event applied twice shows as a 2.
"""

from __future__ import annotations

import asyncio
import os
import time
from uuid import UUID

from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import Tracking

from contracts import subjects
from contracts.envelope import Event
from services.runtime.host import ServiceHost, Subscription, configure_logging
from services.runtime.settings import ServiceSettings
from services.runtime.store import ServiceApplication, stable_id, store_env

TALLY_ID = stable_id("tally")


class Tally(Aggregate):
    @event("Started")
    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    @staticmethod
    def create_id() -> UUID:
        return TALLY_ID

    @event("Counted")
    def count(self, email: str) -> None:
        self.counts[email] = self.counts.get(email, 0) + 1


class TallyApp(ServiceApplication):
    name = "tally"

    def tally(self) -> Tally:
        found = self.find(TALLY_ID)
        return found if found is not None else Tally()

    def on_event(self, envelope: Event, tracking: Tracking) -> None:
        tally = self.tally()
        if envelope.type == "UserCreated":
            time.sleep(float(os.environ.get("TALLY_DELAY", "0")))
            tally.count(envelope.data["email"])
        self.save_tracked(tracking, tally)


def build(settings: ServiceSettings) -> tuple[ServiceHost, TallyApp]:
    app = TallyApp(store_env(settings, "tally"))
    sub = Subscription("identity", subjects.durable(settings.service, "identity", "tally"),
                       app.on_event)
    host = ServiceHost(settings, app, lambda d: None, lambda e: None, [sub])
    return host, app


def main() -> None:  # run through tests.support.tally_main
    settings = ServiceSettings()
    configure_logging(settings.log_level)
    host, _ = build(settings)
    asyncio.run(host.run_until_signalled())


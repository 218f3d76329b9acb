"""`stable_id_str` is `str(stable_id(...))`, computed without building the UUID: published
event ids (runtime/traced.event_id) must not change."""

from __future__ import annotations

from uuid import uuid4

from services.runtime.ids import stable_id, stable_id_str
from services.runtime.traced import event_id


def test_the_string_id_is_the_uuid_ids_string() -> None:
    for n in range(500):
        parts = ("event", "scheduler", str(uuid4()), str(n))
        assert stable_id_str(*parts) == str(stable_id(*parts))
    assert stable_id_str() == str(stable_id())
    assert stable_id_str("ünïcode", "\x1f") == str(stable_id("ünïcode", "\x1f"))


def test_an_event_id_is_the_one_published_before() -> None:
    # Computed once, before stable_id_str, as str(uuid5(NAMESPACE, "event\x1fscheduler\x1f"
    # + aggregate + "\x1f3")).
    aggregate = "6bb443e2-9efe-4c3e-abd6-3e85c7846738"
    assert event_id("scheduler", aggregate, 3) == "957afd04-4972-5b5f-848a-6c00aa68883c"

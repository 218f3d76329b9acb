"""The dispatcher's reply bytes are the `Accepted` model's (written without building it), and
the metrics it records per message land on the same labelled series as before."""

from __future__ import annotations

import datetime
import enum
import uuid
from decimal import Decimal

import pytest
from prometheus_client import generate_latest
from pydantic import BaseModel

from contracts.envelope import Accepted, Reply
from services.runtime.dispatch import accepted_json
from services.runtime.observability import Metrics


class Row(BaseModel):
    name: str = "row"
    count: int = 1


class Colour(enum.Enum):
    RED = "red"


SAMPLES = [
    {},
    {"user_id": "u1", "email": "ü@example.com", "n": 3, "f": 1.5, "ok": True, "none": None},
    {"when": datetime.datetime(2026, 12, 1, 22, 0, tzinfo=datetime.UTC),
     "day": datetime.date(2026, 12, 1), "id": uuid.UUID(int=7), "amount": Decimal("1.25"),
     "nested": [{"access_key": "AKIA" + "A" * 16, "tags": ("a", "b")}], "set": {1}},
    {"model": Row(), "models": [Row(name="b", count=2)], "enum": Colour.RED, "raw": b"bytes"},
]


@pytest.mark.parametrize("data", SAMPLES)
def test_a_reply_is_byte_for_byte_the_accepted_model(data: dict[str, object]) -> None:
    expected = Accepted(data=data).model_dump_json(exclude={"positions"}).encode()
    assert accepted_json(data) == expected
    assert Reply.model_validate_json(accepted_json(data)).ok


def test_a_handler_that_returns_no_dict_is_not_answered_as_accepted() -> None:
    with pytest.raises(TypeError):
        accepted_json(["not", "a", "dict"])  # type: ignore[arg-type]


def test_labelled_children_are_reused_and_counted_on_their_own_series() -> None:
    metrics = Metrics("svc")
    assert metrics.requests("s.a", "accepted") is metrics.requests("s.a", "accepted")
    metrics.requests("s.a", "accepted").inc()
    metrics.requests("s.a", "accepted").inc()
    metrics.requests("s.a", "refused").inc()
    metrics.latency("s.a").observe(0.002)
    text = generate_latest(metrics.registry).decode()
    assert 'bai_requests_total{outcome="accepted",subject="s.a"} 2.0' in text
    assert 'bai_requests_total{outcome="refused",subject="s.a"} 1.0' in text
    assert 'bai_request_seconds_count{subject="s.a"} 1.0' in text

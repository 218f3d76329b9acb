"""`baikal admin recalculate-usage`'s stage bars, against a fake gateway: the POST runs while
the run's status is polled; a timed-out POST is asked again with the same key."""

from __future__ import annotations

import io
import threading
import time
from typing import Any

import pytest
from rich.console import Console

from services.cli import admin_usage
from services.cli.admin_client import CliError

RESULT = {"run_id": "r", "drifts": [], "summary": {}}


class FakeGateway:
    """The run takes `seconds`; its status moves through the stages meanwhile."""

    def __init__(self, seconds: float = 0.6, timeouts: int = 0) -> None:
        self.seconds = seconds
        self.timeouts = timeouts
        self.began = time.monotonic()
        self.keys: list[str] = []
        self.polls = 0
        self.lock = threading.Lock()

    def call(self, method: str, path: str, *, params: Any = None, body: Any = None,
             headers: dict[str, str] | None = None, timeout: float | None = None) -> Any:
        if method == "POST":
            self.keys.append((headers or {})["Idempotency-Key"])
            if self.timeouts:
                self.timeouts -= 1
                raise CliError("service.timeout (504): the scheduler did not answer in time")
            time.sleep(self.seconds)
            return RESULT
        assert timeout is not None and timeout <= admin_usage.POLL_TIMEOUT  # bounded polls
        with self.lock:
            self.polls += 1
        return self.status(time.monotonic() - self.began)

    def status(self, elapsed: float) -> dict[str, Any]:
        done = elapsed >= self.seconds
        replayed = min(1000, int(1000 * elapsed / (self.seconds / 2)))
        stages = [{"stage": "snapshot", "done": 1, "total": 1},
                  {"stage": "replay", "done": replayed, "total": 1000}]
        if replayed >= 1000:
            stages += [{"stage": "agents", "done": 3, "total": 3},
                       {"stage": "compare", "done": 1, "total": 1},
                       {"stage": "commit", "done": int(done), "total": 1}]
        return {"known": True, "finished": done, "stage": stages[-1]["stage"],
                "stages": stages}


@pytest.fixture
def screen(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    out = io.StringIO()
    monkeypatch.setattr(admin_usage, "console",
                        Console(file=out, force_terminal=True, width=100))
    return out


def test_on_a_terminal_each_stage_gets_a_bar_that_ends_full(screen: io.StringIO) -> None:
    gw = FakeGateway()
    result = admin_usage._with_progress(gw, gw, {}, "k-1")  # type: ignore[arg-type]
    assert result == RESULT and gw.polls >= 2
    shown = screen.getvalue()
    for label, count in (("replaying events", "1000/1000"), ("asking agents", "3/3"),
                         ("comparing", "1/1"), ("committing", "1/1")):
        assert label in shown and count in shown, (label, shown[-2000:])


def test_a_timed_out_post_is_asked_again_with_the_same_key(screen: io.StringIO) -> None:
    gw = FakeGateway(seconds=0.1, timeouts=2)
    assert admin_usage._with_progress(gw, gw, {}, "k-2") == RESULT  # type: ignore[arg-type]
    assert gw.keys == ["k-2", "k-2", "k-2"]


def test_a_refusal_is_not_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    class Refusing(FakeGateway):
        def call(self, method: str, path: str, **kwargs: Any) -> Any:
            if method == "POST":
                self.keys.append("x")
                raise CliError("auth.forbidden (403): superadmins only")
            return {}

    gw = Refusing()
    with pytest.raises(CliError, match="auth.forbidden"):
        admin_usage._post(gw, {}, "k-3")  # type: ignore[arg-type]
    assert gw.keys == ["x"]

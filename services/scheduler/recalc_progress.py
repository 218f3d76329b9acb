"""Where the RECALCULATE USAGE runs of this process stand, for the `usage.recalculation`
query: each stage a run reached (done of total), its current stage, and whether it finished;
kept in memory for the latest `KEPT_RUNS` runs (recalc.py reports, the query reads)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Progress = Callable[[str, int, int], None]  # (stage, done, total)
STAGES = ("snapshot", "replay", "agents", "compare", "commit")
KEPT_RUNS = 64  # progress of the latest runs, for the status query


class RunProgress:
    """The stages of the latest runs, oldest forgotten first (bounded by `KEPT_RUNS`)."""

    def __init__(self) -> None:
        self._runs: dict[str, dict[str, Any]] = {}

    def note(self, run_id: str, stage: str, done: int, total: int) -> None:
        entry = self._runs.get(run_id)
        if entry is None:
            while len(self._runs) >= KEPT_RUNS:
                self._runs.pop(next(iter(self._runs)))
            entry = self._runs[run_id] = {"run_id": run_id, "finished": False, "stages": {}}
        entry["stage"] = stage
        entry["stages"][stage] = {"done": done, "total": total}

    def finish(self, run_id: str) -> None:
        """Committed, or failed with nothing committed: either way over."""
        self._runs.get(run_id, {})["finished"] = True

    def status(self, run_id: str) -> dict[str, Any] | None:
        """The run's stages in `STAGES` order, or None for a run not kept here."""
        entry = self._runs.get(run_id)
        if entry is None:
            return None
        stages = dict(entry["stages"])
        return {"run_id": run_id, "known": True, "finished": entry["finished"],
                "stage": entry["stage"],
                "stages": [{"stage": s, **stages[s]} for s in STAGES if s in stages]}

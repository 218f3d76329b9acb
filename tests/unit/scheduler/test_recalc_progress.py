"""recalc_progress.RunProgress: the stages of the latest RECALCULATE USAGE runs, in stage
order, finished once over, the oldest run forgotten past KEPT_RUNS."""

from __future__ import annotations

from services.scheduler.recalc_progress import KEPT_RUNS, STAGES, RunProgress


def test_a_noted_run_lists_its_stages_in_stage_order_until_it_finishes() -> None:
    progress = RunProgress()
    progress.note("run-1", "agents", 1, 3)
    progress.note("run-1", "snapshot", 1, 1)
    progress.note("run-1", "agents", 3, 3)
    status = progress.status("run-1")
    assert status == {"run_id": "run-1", "known": True, "finished": False, "stage": "agents",
                      "stages": [{"stage": "snapshot", "done": 1, "total": 1},
                                 {"stage": "agents", "done": 3, "total": 3}]}
    progress.finish("run-1")
    assert progress.status("run-1") == {**status, "finished": True}
    assert progress.status("never-began") is None


def test_only_the_latest_runs_are_kept_and_the_oldest_is_forgotten_first() -> None:
    progress = RunProgress()
    for n in range(KEPT_RUNS + 1):
        progress.note(f"run-{n}", STAGES[0], 0, 1)
    assert progress.status("run-0") is None
    assert progress.status("run-1") is not None
    assert progress.status(f"run-{KEPT_RUNS}") is not None


def test_finishing_a_run_never_noted_changes_nothing() -> None:
    progress = RunProgress()
    progress.finish("never-began")
    assert progress.status("never-began") is None

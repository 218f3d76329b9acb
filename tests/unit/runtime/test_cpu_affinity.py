"""Confining a service process to one CPU (its threads share the GIL anyway)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from services.agent.settings import AgentSettings
from services.cli.stack import CPU_ORDER, cpu_for
from services.runtime.settings import ServiceSettings

pytestmark = pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="Linux only")


def affinity_in_child(**env: str) -> list[Any]:
    """Apply the setting in a fresh interpreter (never confine the test process itself)."""
    code = ("from services.runtime.settings import ServiceSettings; import os; "
            "s = ServiceSettings(service='identity'); chosen = s.apply_cpu_affinity(); "
            "import json; print(json.dumps([sorted(chosen) if chosen else None, "
            "sorted(os.sched_getaffinity(0))]))")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("BAIKAL_")} | env
    done = subprocess.run([sys.executable, "-c", code], env=environ, capture_output=True,
                          text=True, timeout=60, check=True)
    return list(json.loads(done.stdout))


def test_auto_confines_to_one_allowed_cpu() -> None:
    allowed = sorted(os.sched_getaffinity(0))
    chosen, now = affinity_in_child(BAIKAL_CPU_AFFINITY="auto")
    if len(allowed) < 2:
        assert chosen is None
    else:
        assert len(chosen) == 1 and now == chosen and set(chosen) <= set(allowed)


def test_none_leaves_the_process_alone() -> None:
    chosen, now = affinity_in_child(BAIKAL_CPU_AFFINITY="none")
    assert chosen is None and now == sorted(os.sched_getaffinity(0))


def test_a_bad_list_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="BAIKAL_CPU_AFFINITY"):
        ServiceSettings(cpu_affinity="zero").apply_cpu_affinity()


def test_cpus_outside_the_allowed_set_are_not_applied() -> None:
    assert ServiceSettings(cpu_affinity="4096").apply_cpu_affinity() is None


def test_the_stack_deals_cpus_out_in_turn_and_leaves_the_agent_free() -> None:
    allowed = sorted(os.sched_getaffinity(0))
    assert AgentSettings().cpu_affinity == "none" and cpu_for("agent") == "none"
    if len(allowed) >= 2:
        dealt = [int(cpu_for(s)) for s in CPU_ORDER]
        assert dealt[:2] == allowed[:2] and set(dealt) <= set(allowed)

"""House habits as tests: ruff clean everywhere, mypy strict on contracts and every domain."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_ruff_finds_nothing_in_contracts_services_tests_or_bench() -> None:
    if shutil.which("ruff") is None:
        pytest.skip("ruff is not installed (pip install -e '.[dev]')")
    result = run("ruff", "check", "contracts", "services", "tests", "bench")
    assert result.returncode == 0, result.stdout[-4000:]


def test_mypy_strict_on_contracts_and_domains() -> None:
    result = run(sys.executable, "-m", "mypy")
    if "No module named mypy" in result.stderr:
        pytest.skip("mypy is not installed (pip install -e '.[dev]')")
    assert result.returncode == 0, result.stdout[-4000:]

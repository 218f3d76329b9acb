"""The README's quickstart, run exactly as written against a `baikal up` stack, so the README
cannot drift from the product."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.up import READY, read_until, stop_up

README = Path(__file__).resolve().parents[2] / "README.md"
MARKER = "<!-- quickstart -->"


def quickstart_block() -> str:
    text = README.read_text()
    assert MARKER in text, "the README has no quickstart block"
    found = re.search(r"```bash\n(.*?)\n```", text[text.index(MARKER):], re.DOTALL)
    assert found, "no ```bash block after the quickstart marker"
    return found.group(1)


def test_the_quickstart_block_is_the_one_after_the_marker() -> None:
    block = quickstart_block()
    assert block.startswith("baikal status")
    assert "baikal bus env" in block and "nats.connect" in block


@pytest.mark.timeout(300)
def test_the_readme_quickstart_runs_as_written(tmp_path: Path) -> None:
    # As a person would: `baikal up` in one terminal, the block in another, same directory,
    # the commands found on PATH where the README's install line put them.
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    for name in ("BAIKAL_ENDPOINT", "BAIKAL_ACCESS_KEY", "BAIKAL_SECRET_KEY", "BAIKAL_CONFIG",
                 "COLUMNS"):
        env.pop(name, None)
    up = subprocess.Popen(["baikal", "up", "--nats-port", "0"], cwd=tmp_path, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          start_new_session=True)
    lines: list[str] = []
    try:
        read_until(up, lines, READY, timeout=120)
        read_until(up, lines, "Ctrl-C stops everything")
        # Not a terminal: nothing is wrapped, each path printed whole on its line.
        assert any(str(tmp_path / ".baikal" / "operator.json") in line for line in lines), lines
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", quickstart_block()],
                              cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=180)
        output = done.stdout + done.stderr
        assert done.returncode == 0, output
        assert "alice@example.com" in done.stdout
        assert '"status":"accepted"' in done.stdout.replace(" ", ""), output
        with open(tmp_path / "users.csv", newline="") as handle:
            assert "alice@example.com" in {row["email"] for row in csv.DictReader(handle)}
    finally:
        stop_up(up, lines)

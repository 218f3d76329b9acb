"""The distribution declares what its code imports: a new virtualenv with `pip install -e .` runs.

Two checks, because each catches what the other cannot: every module of `contracts/` and
`services/` imports in a fresh interpreter (a missing package fails here, in CI's new
virtualenv, before it fails for a newcomer), and every third-party package the code imports by
name is a direct dependency in pyproject.toml (a package that is only there because another
dependency happens to pull it in today is not declared).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
CODE = ("contracts", "services")

IMPORT_EVERYTHING = """
import importlib, json, pkgutil, sys
failed = {}
for root in ("contracts", "services"):
    package = importlib.import_module(root)
    for module in pkgutil.walk_packages(package.__path__, root + "."):
        if module.name.endswith("__main__"):
            continue  # running it starts the service
        try:
            importlib.import_module(module.name)
        except ImportError as exc:
            failed[module.name] = f"{type(exc).__name__}: {exc}"
print(json.dumps(failed))
"""


def declared_distributions() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {Requirement(spec).name.lower().replace("_", "-") for spec in project["dependencies"]}


def imported_top_level_names() -> dict[str, str]:
    """Top-level module name → one file importing it, for every absolute import in the code."""
    names: dict[str, str] = {}
    for root in CODE:
        for path in sorted((ROOT / root).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    found = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    found = [node.module]
                else:
                    continue
                for name in found:
                    names.setdefault(name.partition(".")[0], str(path.relative_to(ROOT)))
    return names


def test_every_module_imports_in_a_fresh_interpreter() -> None:
    done = subprocess.run([sys.executable, "-c", IMPORT_EVERYTHING], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=True)
    failed = json.loads(done.stdout.strip().splitlines()[-1])
    assert failed == {}, f"modules that do not import (undeclared dependency?): {failed}"


def test_every_imported_package_is_a_declared_dependency() -> None:
    providers = packages_distributions()
    declared = declared_distributions()
    local = {*CODE, "tests", "bench"}
    undeclared = {}
    for name, where in imported_top_level_names().items():
        if name in local or name in sys.stdlib_module_names or name == "__future__":
            continue
        dists = {d.lower().replace("_", "-") for d in providers.get(name, [])}
        assert dists, f"{where} imports {name!r}, which no installed distribution provides"
        if not dists & declared:
            undeclared[name] = f"{where} (provided by {sorted(dists)})"
    assert undeclared == {}, f"imported but not declared in pyproject.toml: {undeclared}"


def test_the_import_check_sees_a_package_that_is_not_declared() -> None:
    # The check above could pass by finding nothing: `packaging` is installed (pytest needs it)
    # but is not one of baikal's dependencies, so it must be reported as undeclared.
    providers = packages_distributions()
    assert "packaging" in {d.lower() for d in providers["packaging"]}
    assert "packaging" not in declared_distributions()
    assert "nats" in imported_top_level_names()

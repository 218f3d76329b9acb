"""Every `file.py::name` a service README points a reader to exists: the trail of one command
(subject → handler → app method → aggregate → event) stays true when code moves."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
READMES = sorted((ROOT / "services").glob("*/README.md"))
# `services/identity/app.py::IdentityApplication.update_user`, `learn.py::_learn`,
# `contracts/identity.py::SPECS[Subjects.USER_UPDATE]`
REFERENCE = re.compile(r"(?<![\w/])((?:[a-z_]+/)*[a-z_]+\.py)::([A-Za-z_][\w.]*(?:\[[\w.]+\])?)")


def references(readme: Path) -> list[tuple[str, str]]:
    return REFERENCE.findall(readme.read_text())


def candidates(readme: Path, path: str) -> list[Path]:
    """A path with a top-level folder is from the repository root; a bare one is the
    README's own service's, the runtime's, or (when another service is named) any service's."""
    if path.split("/")[0] in {"services", "contracts", "bench", "tests"}:
        return [ROOT / path]
    return [readme.parent / path, ROOT / "services" / "runtime" / path,
            *sorted((ROOT / "services").glob(f"*/{path}"))]


def resolves(file: Path, name: str) -> bool:
    module = importlib.import_module(
        ".".join(file.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"))
    dotted, _, key = name.rstrip("]").partition("[")  # `SPECS[Subjects.USER_UPDATE]`
    try:
        value = lookup(module, dotted)
        if key:
            value = value[lookup(module, key)]
    except (AttributeError, KeyError):
        return False
    return True


def lookup(module: object, dotted: str) -> object:
    value = module
    for part in dotted.split("."):
        value = getattr(value, part)
    return value


@pytest.mark.parametrize("readme", READMES, ids=lambda p: p.parent.name)
def test_every_name_a_service_readme_points_to_exists_in_the_file_it_names(readme: Path) -> None:
    found = references(readme)
    stale = []
    for path, name in found:
        files = [f for f in candidates(readme, path) if f.is_file()]
        if not any(resolves(f, name) for f in files):
            stale.append(f"{path}::{name}" + ("" if files else " (no such file)"))
    assert not stale, f"{readme.relative_to(ROOT)} points to names that do not exist: {stale}"


def test_each_service_readme_opens_with_the_trail_of_one_command() -> None:
    services = ("identity", "quota", "rbac", "scheduler", "agent", "storage")
    for service in services:
        text = (ROOT / "services" / service / "README.md").read_text()
        head = text.split("**Owns**")[0]
        assert "One command, followed by name" in head, service
        steps = [p for p, _ in REFERENCE.findall(head)]
        assert any(p.startswith("contracts/") for p in steps), f"{service}: no spec in the trail"
        assert any("handlers" in p for p in steps), f"{service}: no handler in the trail"
        assert any("domain/" in p for p in steps), f"{service}: no aggregate in the trail"


def test_the_reference_pattern_finds_names_and_rejects_a_stale_one() -> None:
    sample = ROOT / "services" / "identity" / "README.md"
    assert ("services/identity/app.py", "IdentityApplication.update_user") in references(sample)
    app = ROOT / "services" / "identity" / "app.py"
    assert resolves(app, "IdentityApplication.update_user")
    assert not resolves(app, "IdentityApplication.no_such_method")

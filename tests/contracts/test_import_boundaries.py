"""Import boundaries of DESIGN §1, read from the source with `ast` (nothing is imported)."""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from contracts.values import SERVICE_NAMES

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = ROOT / "contracts"
SERVICES = ROOT / "services"
RUNTIME = "runtime"
# None: the CLI too starts services as processes (`python -m services.<svc>`) and talks to
# them over the bus or HTTP; what it shares with one (request signing) lives in contracts.
COMPOSITION_TOOLS: set[str] = set()
CONTRACTS_MAY_IMPORT = {"pydantic", "contracts"}
IO_MODULES = {
    "nats", "asyncio", "aiohttp", "psycopg", "psycopg_pool", "sqlite3", "socket", "subprocess",
    "faststream", "httpx", "aiodocker", "requests", "urllib3", "selectors", "ssl",
}


@dataclass(frozen=True)
class Import:
    path: Path
    line: int
    module: str  # absolute dotted name

    def __str__(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line} imports {self.module}"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, source: str | None = None) -> Iterator[Import]:
    """Every imported module, relative imports resolved; `from pkg import sub` yields both."""
    text = path.read_text(encoding="utf-8") if source is None else source
    tree = ast.parse(text, filename=str(path))
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package.pop()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(path, node.lineno, alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module == "__future__":
                continue
            yield Import(path, node.lineno, module)
            for alias in node.names:
                if alias.name != "*":
                    yield Import(path, node.lineno, f"{module}.{alias.name}")
        elif isinstance(node, ast.Call) and _is_dynamic_import(node):
            arg = node.args[0] if node.args else None
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                yield Import(path, node.lineno, arg.value)


def _is_dynamic_import(node: ast.Call) -> bool:
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
    return name in {"import_module", "__import__"}


def python_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def service_packages() -> list[str]:
    """Every folder under services/ that holds Python code, found on disk."""
    return sorted(
        p.name for p in SERVICES.iterdir()
        if p.is_dir() and not p.name.startswith(("_", ".")) and python_files(p)
    )


def top(module: str) -> str:
    return module.split(".")[0]


def service_of(module: str) -> str | None:
    """'services.rbac.app' -> 'rbac'; None for anything outside services.<svc>."""
    parts = module.split(".")
    return parts[1] if parts[0] == "services" and len(parts) > 1 else None


# ---- the finder itself ---------------------------------------------------------------------


def test_finder_resolves_relative_and_from_imports() -> None:
    source = (
        "from __future__ import annotations\n"
        "import os.path\n"
        "from . import model\n"
        "from ..app import thing\n"
        "from services import rbac\n"
        "import importlib\n"
        "importlib.import_module('services.quota')\n"
    )
    path = SERVICES / "identity" / "domain" / "probe.py"
    found = {i.module for i in imports_of(path, source)}
    assert {"os.path", "services.identity.domain.model", "services.identity.app.thing",
            "services.rbac", "services.quota"} <= found
    assert "__future__" not in found
    package_init = SERVICES / "identity" / "__init__.py"
    assert {i.module for i in imports_of(package_init, "from .app import X\n")} == {
        "services.identity.app", "services.identity.app.X"}


def test_service_packages_are_found() -> None:
    packages = service_packages()
    assert {"identity", RUNTIME} <= set(packages)


# ---- the rules -----------------------------------------------------------------------------


def test_contracts_import_only_stdlib_pydantic_and_contracts() -> None:
    allowed = set(sys.stdlib_module_names) | CONTRACTS_MAY_IMPORT
    bad = [str(i) for p in python_files(CONTRACTS) for i in imports_of(p)
           if top(i.module) not in allowed]
    assert bad == []


def foreign_imports(service: str, imports: Iterator[Import]) -> list[str]:
    """Imports of `service` that reach into another service (the runtime is shared)."""
    return [str(i) for i in imports if service_of(i.module) not in (None, service, RUNTIME)]


@pytest.mark.parametrize("service", [s for s in service_packages() if s not in COMPOSITION_TOOLS])
def test_service_imports_no_other_service(service: str) -> None:
    bad = [b for path in python_files(SERVICES / service)
           for b in foreign_imports(service, imports_of(path))]
    assert bad == []


def test_the_cli_importing_the_gateway_fails_the_boundary_check() -> None:
    assert "cli" in service_packages() and "cli" not in COMPOSITION_TOOLS
    probe = SERVICES / "cli" / "probe.py"
    for source in ("from services.gateway.signing import signed_headers\n",
                   "from services.gateway import signing\n",
                   "import services.gateway.auth\n"):
        assert foreign_imports("cli", imports_of(probe, source)), source
    assert foreign_imports("cli", imports_of(probe, "from contracts import signing\n")) == []


def test_runtime_imports_no_service_and_no_domain_contracts() -> None:
    domain_contracts = {f"contracts.{name}" for name in SERVICE_NAMES}
    bad = []
    for path in python_files(SERVICES / RUNTIME):
        for imp in imports_of(path):
            other = service_of(imp.module)
            if (other is not None and other != RUNTIME) or any(
                imp.module == c or imp.module.startswith(c + ".") for c in domain_contracts
            ):
                bad.append(str(imp))
    assert bad == []


@pytest.mark.parametrize(
    "service", [s for s in service_packages() if (SERVICES / s / "domain").is_dir()]
)
def test_domain_does_no_io(service: str) -> None:
    bad = [str(i) for p in python_files(SERVICES / service / "domain") for i in imports_of(p)
           if top(i.module) in IO_MODULES]
    assert bad == []


# Of the runtime, domain code needs its ids, its coded errors and the traced aggregate base
# (each event keeps who, correlation and causation), never the store's application or factory
# (runtime/store.py is split by job so that this holds).
DOMAIN_MAY_IMPORT_FROM_RUNTIME = ("services.runtime.ids", "services.runtime.errors",
                                  "services.runtime.traced")


def runtime_imports_of_domain(imports: Iterator[Import]) -> list[str]:
    return [str(i) for i in imports if service_of(i.module) == RUNTIME
            and i.module != "services.runtime"
            and not any(i.module == m or i.module.startswith(m + ".")
                        for m in DOMAIN_MAY_IMPORT_FROM_RUNTIME)]


@pytest.mark.parametrize(
    "service", [s for s in service_packages() if (SERVICES / s / "domain").is_dir()]
)
def test_domain_imports_only_ids_errors_and_the_traced_base_from_the_runtime(service: str) -> None:
    bad = [b for p in python_files(SERVICES / service / "domain")
           for b in runtime_imports_of_domain(imports_of(p))]
    assert bad == []


def test_a_domain_importing_the_application_fails_the_ids_rule() -> None:
    probe = SERVICES / "identity" / "domain" / "probe.py"
    for source in ("from services.runtime.store import stable_id\n",
                   "from services.runtime.application import Decision\n",
                   "import services.runtime.store_factory\n"):
        assert runtime_imports_of_domain(imports_of(probe, source)), source
    assert runtime_imports_of_domain(
        imports_of(probe, "from services.runtime.ids import stable_id\n")) == []

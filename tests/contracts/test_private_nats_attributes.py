"""No service reads nats-py's private attributes of a JetStream context or connection
(`js._nc`, ...): the connection is handed to whoever reads over it (host.py), so an upgrade of
nats-py cannot break a reader silently."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRIVATE = {"_nc", "_js"}  # nats-py's: the connection behind a context, the context


def private_reads(source: str) -> list[tuple[int, str]]:
    return [(node.lineno, node.attr) for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Attribute) and node.attr in PRIVATE]


def test_the_checker_finds_a_private_connection_read_and_passes_public_ones() -> None:
    assert private_reads("nc = js._nc\nok = host.nc\n") == [(1, "_nc")]


def test_no_service_reads_the_private_connection_of_a_jetstream_context() -> None:
    found = [f"{path.relative_to(ROOT)}:{line}: .{attr}"
             for path in sorted((ROOT / "services").rglob("*.py"))
             for line, attr in private_reads(path.read_text(encoding="utf-8"))]
    assert found == [], "pass the connection explicitly instead:\n" + "\n".join(found)

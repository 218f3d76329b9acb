"""Test names are sentences: every test function under tests/ states in four words or more the
behaviour it checks (STYLE.md, "Test names are sentences")."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"
FEWEST_WORDS = 4  # "test_fits", "test_empty_policy", "test_too_many_pending" say too little


def words_after_test(name: str) -> list[str]:
    return [word for word in name.removeprefix("test_").split("_") if word]


def short_test_names(source: str) -> list[tuple[int, str]]:
    """(line, name) of every test function or method whose name has too few words."""
    return [(node.lineno, node.name) for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and node.name.startswith("test_")
            and len(words_after_test(node.name)) < FEWEST_WORDS]


def test_the_checker_flags_short_test_names_and_passes_sentences() -> None:
    short, sentence = "test_fits", "test_a_request_fits_when_the_agent_has_room"
    source = (f"def {short}() -> None: ...\n"
              f"async def {sentence}() -> None: ...\n"
              f"class TestPlacement:\n    async def {short}_now(self) -> None: ...\n"
              f"def helper() -> None: ...\n")
    assert short_test_names(source) == [(1, short), (4, f"{short}_now")]
    assert words_after_test("test_too_many_pending") == ["too", "many", "pending"]
    assert words_after_test("test__x__y_") == ["x", "y"]  # stray underscores are no words


def test_every_test_function_under_tests_is_named_as_a_sentence() -> None:
    short = [f"{path.relative_to(ROOT)}:{line}: {name}"
             for path in sorted(TESTS.rglob("*.py"))
             for line, name in short_test_names(path.read_text(encoding="utf-8"))]
    assert short == [], (f"{len(short)} test name(s) of three words or fewer; name each as a "
                         "sentence saying what it checks:\n" + "\n".join(short))

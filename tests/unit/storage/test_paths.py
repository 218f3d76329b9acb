"""Paths inside a folder: whatever is asked, the answer is inside the folder or a refusal."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.runtime.errors import CodedError
from services.storage.paths import resolve_inside

PIECES = st.sampled_from(["..", ".", "", "a", "b", "out", "link", "inner", "x" * 300, "\x00",
                          "é", "c:", "\\", "..\\..", "/"])
PATHS = st.one_of(st.lists(PIECES, max_size=8).map("/".join), st.text(max_size=64))
CODES = {"storage.path.escape", "storage.path.absolute", "storage.path.invalid",
         "storage.path.too_long"}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("paths")
    root = base / "folder"
    (root / "inner").mkdir(parents=True)
    (base / "secret").write_text("outside")
    os.symlink(base, root / "out")  # a symlink pointing out
    os.symlink(root / "inner", root / "link")  # one pointing in
    return root


@settings(max_examples=400, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(relative=PATHS)
def test_every_path_resolves_inside_the_folder_or_is_refused_with_a_stable_code(folder, relative):
    try:
        resolved = resolve_inside(folder, relative)
    except CodedError as exc:
        assert exc.code in CODES
        return
    real_root = Path(os.path.realpath(folder))
    assert resolved == real_root or real_root in resolved.parents


@pytest.mark.parametrize(("relative", "code"), [
    ("../secret", "storage.path.escape"), ("inner/../../secret", "storage.path.escape"),
    ("/etc/passwd", "storage.path.absolute"), ("out/secret", "storage.path.escape"),
    ("a\x00b", "storage.path.invalid"), ("n" * 256, "storage.path.too_long"),
    ("d/" * 2100, "storage.path.too_long")])
def test_known_escapes_are_refused(folder, relative, code):
    with pytest.raises(CodedError) as caught:
        resolve_inside(folder, relative)
    assert caught.value.code == code


def test_a_symlink_that_stays_inside_is_followed(folder):
    assert resolve_inside(folder, "link/file") == Path(os.path.realpath(folder)) / "inner/file"

"""The learner bundle (``python -m course_utils release``): student notebooks, package, setup; no solutions."""
from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from course_utils.instructor import build, release

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    out = tmp_path_factory.mktemp("release")
    folder, archive = release.release(out)
    return folder, archive


def test_bundle_has_what_learners_need(bundle):
    folder, archive = bundle
    names = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    for needed in ("README.md", "pyproject.toml", "course.sh", "course_utils/__init__.py",
                   "course_utils/feedback.py", "course_utils/exercise_state.py", "course_utils/checks/__init__.py"):
        assert needed in names, f"{needed} missing from the bundle"
    student = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert sorted(p.name for p in (folder / "notebooks").glob("*.ipynb")) == student
    for name in student:
        assert (folder / "notebooks" / name).read_bytes() == (ROOT / "notebooks" / name).read_bytes()
    assert "Handing in" in (folder / "README.md").read_text()


def test_bundle_has_no_solutions_or_maintainer_files(bundle):
    folder, archive = bundle
    rel = [p.relative_to(folder) for p in folder.rglob("*")]
    assert not [p for p in rel if "solutions" in p.parts]
    assert not [p for p in rel if p.parts[0] in ("tests", "docs", "benchmarks", ".ci", ".venv")]
    assert not [p for p in rel if "__pycache__" in p.parts or p.suffix == ".pyc"]
    for path in folder.rglob("*.ipynb"):
        text = path.read_text()
        assert build.BEGIN not in text and build.END not in text, f"solution region in {path.name}"
    assert release.solution_leaks(folder) == []


def test_zip_matches_folder(bundle):
    folder, archive = bundle
    with zipfile.ZipFile(archive) as zf:
        zipped = sorted(n for n in zf.namelist() if not n.endswith("/"))
    files = sorted(f"{folder.name}/{p.relative_to(folder).as_posix()}" for p in folder.rglob("*") if p.is_file())
    assert zipped == files
    assert not [n for n in zipped if "/solutions/" in n or n.startswith("solutions/")]


def test_leak_detection(tmp_path):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "x.ipynb").write_text('{"cells": [{"source": "### BEGIN SOLUTION"}]}')
    (tmp_path / "solutions").mkdir()
    (tmp_path / "solutions" / "y.txt").write_text("")
    assert release.solution_leaks(tmp_path) == ["notebooks/x.ipynb", "solutions", "solutions/y.txt"]


def test_command_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "course_utils", "release", "--out", str(tmp_path), "--name", "b"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "b" / "README.md").exists() and (tmp_path / "b.zip").exists()

"""Grade every real course notebook: solutions get full points, untouched student notebooks get zero.

An integration test (it executes every notebook twice, ``./course.sh test-integration``); the failure modes
of grading are unit-tested on a tiny course in ``tests/test_grading.py``.
"""
from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from course_utils.instructor.grading import batch, runner

ROOT = Path(__file__).resolve().parents[2]


def _code(source: str, cell_id: str):
    cell = nbformat.v4.new_code_cell(source)
    cell.id = cell_id
    return cell


def _write(folder: Path, learner: str, name: str, content) -> None:
    path = folder / learner / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, (str, bytes)):
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    else:
        path.write_text(json.dumps(content, indent=1))


STUDENT = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.skipif(not STUDENT, reason="no course notebooks yet")
def test_solutions_get_full_points_and_untouched_notebooks_zero(tmp_path):
    subs = tmp_path / "subs"
    for path in STUDENT:
        _write(subs, "solved", path.name, (ROOT / "solutions" / path.name).read_bytes())
        _write(subs, "untouched", path.name, path.read_bytes())
    # and one real check module rebound by a learner cell: the fresh import in the check cell undoes it
    first = nbformat.read(STUDENT[0], as_version=4)
    module = f"nb{STUDENT[0].name[:2]}"
    patch = _code(f"from course_utils.checks import {module}\n"
                  f"for _name in dir({module}):\n"
                  f"    if _name.startswith('check_'):\n"
                  f"        setattr({module}, _name, lambda *a, **k: True)", "learner-patch")
    first.cells.insert(2, patch)
    _write(subs, "patched", STUDENT[0].name, first)
    rows = batch.grade_batch(subs, tmp_path / "out", workers=2,
                             limits=runner.Limits(cell_timeout=300, wall_timeout=900), log=lambda *a: None)
    assert len(rows) == 2 * len(STUDENT) + 1
    for row in rows:
        assert row["status"] == "ok", row
        expected = row["max_points"] if row["learner"] == "solved" else "0"
        assert row["total"] == expected, f"{row['learner']} {row['notebook']}: {row['total']} / " \
                                         f"{row['max_points']}; see {tmp_path / 'out' / 'feedback'}"

"""Two copies of notebook 07 graded at once give what each gives alone (heavy: three runs of notebook 07).

Notebook 07 keeps its tracker runs in a file and starts it ``fresh``: before each submission had its own
temporary folder (and the tracker a per-process default), two copies graded at once deleted and appended to
the same file.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from course_utils.instructor.grading import batch, runner

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = "07_rgb_lidar_fusion.ipynb"
LIMITS = dict(cell_timeout=900, wall_timeout=3000, threads=1)   # same threads alone and at once


def _feedback(out: Path, learner: str) -> str:
    text = (out / "feedback" / learner / NOTEBOOK.replace(".ipynb", ".md")).read_text()
    return re.sub(rf"\b{learner}\b", "LEARNER", text)


def _grade(subs: Path, out: Path, workers: int) -> dict:
    rows = batch.grade_batch(subs, out, ROOT / "notebooks", workers=workers, limits=runner.Limits(**LIMITS),
                             log=lambda *a: None)
    return {r["learner"]: r for r in rows}


@pytest.mark.skipif(not (ROOT / "solutions" / NOTEBOOK).exists(), reason="no notebook 07")
def test_two_notebook_07_at_once_grade_as_each_alone(tmp_path):
    solved = ROOT / "solutions" / NOTEBOOK
    alone_subs, both_subs = tmp_path / "alone", tmp_path / "both"
    for folder, learners in ((alone_subs, ["ann"]), (both_subs, ["ann", "bob"])):
        for learner in learners:
            (folder / learner).mkdir(parents=True)
            shutil.copy(solved, folder / learner / NOTEBOOK)
    alone = _grade(alone_subs, tmp_path / "out-alone", workers=1)["ann"]
    both = _grade(both_subs, tmp_path / "out-both", workers=2)
    columns = [c for c in alone if c not in ("learner", "submission", "sha256", "detail")]
    assert alone["status"] == "ok" and alone["total"] == alone["max_points"], alone
    reference = _feedback(tmp_path / "out-alone", "ann")
    for learner, row in both.items():
        assert {c: row[c] for c in columns} == {c: alone[c] for c in columns}, (learner, row["detail"])
        assert _feedback(tmp_path / "out-both", learner) == reference

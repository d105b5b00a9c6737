"""Gradescope end to end: the autograder zip unpacked into Gradescope's folders under ``tmp_path``.

For each of a solved, a partly solved, a broken and a timed-out submission, ``run_autograder`` from the zip
runs as Gradescope runs it (``/autograder`` replaced by a temporary root, the current Python instead of the
image's virtual environment) and its ``results/results.json`` is validated against Gradescope's schema.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from course_utils.instructor.grading import gradescope
from test_grading import LIMITS, SOLVED, _solve, tiny_course
from test_grading_exports import validate_results

NEVER_ENDS = "import time\n    while True: time.sleep(0.1)"   # a loop that takes no core from the other tests
SUBMISSIONS = {
    # name: (notebook content or bytes, expected score, expected per-test scores, text in the output)
    "solved": (lambda tiny: _solve(tiny, **SOLVED), 5.0, [2.0, 3.0], "status ok"),
    "partly": (lambda tiny: _solve(tiny, add="return a + b"), 2.0, [2.0, 0.0], "status ok"),
    "broken": (lambda tiny: b'{"cells": [', 0.0, [0.0, 0.0], "invalid notebook"),
    "timed_out": (lambda tiny: _solve(tiny, add="return a + b", mul=NEVER_ENDS), 2.0, [2.0, 0.0],
                  "status timeout"),
}


@pytest.fixture(scope="module")
def autograder_zip(tmp_path_factory):
    folder = tmp_path_factory.mktemp("course")
    course = tiny_course(folder / "ref")
    # the failure-mode batch's per-cell limit (tests/test_grading.py): long enough for a check cell's first
    # imports on a loaded machine; the timed-out submission's busy loop runs this long
    path = gradescope.build_zip(folder / "autograder.zip", "90_tiny", folder / "ref",
                                cell_timeout=LIMITS["cell_timeout"], wall_timeout=180, memory_limit="2G")
    return path, course


@pytest.mark.parametrize("name", list(SUBMISSIONS))
def test_run_autograder_writes_valid_results(autograder_zip, tmp_path, name):
    path, course = autograder_zip
    make, score, per_test, text = SUBMISSIONS[name]
    root = tmp_path / "autograder"
    with zipfile.ZipFile(path) as zf:
        zf.extractall(root / "source")
    (root / "submission").mkdir()
    content = make(course["tiny"])
    target = root / "submission" / "homework.ipynb"              # Gradescope keeps the uploaded name
    target.write_bytes(content if isinstance(content, bytes) else json.dumps(content).encode())
    env = dict(os.environ, AUTOGRADER_ROOT=str(root), AUTOGRADER_PYTHON=sys.executable)
    env.pop("PYTHONPATH", None)                                   # the zip's own course_utils is graded with
    proc = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads((root / "results" / "results.json").read_text())
    validate_results(data)
    assert data["score"] == score, data
    assert [t["score"] for t in data["tests"]] == per_test and [t["name"] for t in data["tests"]] == ["90.add", "90.mul"]
    assert [t["max_score"] for t in data["tests"]] == [2.0, 3.0]
    assert text in data["output"], data["output"]
    if name == "timed_out":
        assert "per-cell limit" in data["output"]
    if name == "partly":
        assert data["tests"][1]["status"] == "failed" and "not implemented" in data["tests"][1]["output"]

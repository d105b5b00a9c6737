"""PrairieLearn: the files ``python -m course_utils prairielearn`` writes, and its grader's entrypoint.

The Docker images cannot be built here (no Docker, no network): these tests run the entrypoint script itself
(``run.sh``, as PrairieLearn would, with ``PL_GRADE_ROOT`` pointing at PrairieLearn's ``/grade`` folders laid out
under a temporary folder, and ``PL_PYTHON`` at this environment's Python) on the tiny course of
``test_grading``, and validate every results.json against a JSON Schema written from PrairieLearn's
documentation:

- https://docs.prairielearn.com/externalGrading/ (PrairieLearn/PrairieLearn ``docs/externalGrading.md``;
  ``externalGradingOptions``: ``image``, ``entrypoint``,
  ``serverFilesCourse``, ``timeout``, ``enableNetworking``; the ``/grade`` folders; results.json: ``gradable``,
  ``score`` in [0, 1], ``format_errors``, ``message``, ``output``, ``tests`` with ``name``, ``description``,
  ``points``, ``max_points``, ``message``, ``output``; "this file should be limited to 1 MB"; ``format_errors`` may
  be a string or a list, this grader writes a list);
- https://docs.prairielearn.com/workspaces/ (PrairieLearn/PrairieLearn ``docs/workspaces/index.md``;
  ``workspaceOptions``: ``image``, ``port``, ``home``, ``gradedFiles``, ``rewriteUrl``; workspaces run as uid 1001).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from course_utils.instructor import cli
from course_utils.instructor.grading import prairielearn as pl
from course_utils.instructor.grading import results
from submissions import write_submission
from test_grading import SOLVED, _solve, _with, tiny_course

#: results.json as PrairieLearn reads it (externalGrading docs, "Grading results"), as far as this grader uses it
RESULTS_SCHEMA = {
    "type": "object",
    "required": ["gradable", "score", "tests"],
    "properties": {
        "gradable": {"type": "boolean"},
        "score": {"type": "number", "minimum": 0, "maximum": 1},
        "format_errors": {"type": "array", "items": {"type": "string"}},
        "message": {"type": "string"},
        "output": {"type": "string"},
        "tests": {"type": "array", "items": {
            "type": "object",
            "required": ["name", "points", "max_points"],
            "properties": {"name": {"type": "string"}, "description": {"type": "string"},
                           "points": {"type": "number", "minimum": 0},
                           "max_points": {"type": "number", "minimum": 0},
                           "message": {"type": "string"}, "output": {"type": "string"}},
            "additionalProperties": False}},
    },
    "additionalProperties": False,
    "if": {"properties": {"gradable": {"const": False}}},
    "then": {"required": ["format_errors"], "properties": {"format_errors": {"minItems": 1}}},
}

#: the parts of a question's info.json this grader writes (externalGrading and workspaces docs)
INFO_SCHEMA = {
    "type": "object",
    "required": ["uuid", "title", "topic", "type", "gradingMethod", "externalGradingOptions", "workspaceOptions"],
    "properties": {
        "gradingMethod": {"const": "External"},
        "externalGradingOptions": {
            "type": "object", "required": ["enabled", "image", "entrypoint", "timeout", "enableNetworking"],
            "properties": {"enabled": {"const": True}, "image": {"type": "string", "minLength": 1},
                           "entrypoint": {"type": "string", "pattern": "^/"},
                           "serverFilesCourse": {"type": "array", "items": {"type": "string"}},
                           "timeout": {"type": "integer", "minimum": 1, "maximum": 600},
                           "enableNetworking": {"const": False}},
            "additionalProperties": False},
        "workspaceOptions": {
            "type": "object", "required": ["image", "port", "home", "gradedFiles"],
            "properties": {"image": {"type": "string"}, "port": {"type": "integer"}, "home": {"type": "string"},
                           "gradedFiles": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                           "rewriteUrl": {"type": "boolean"}},
            "additionalProperties": False},
    },
}


def valid_results(path: Path) -> dict:
    raw = path.read_bytes()
    assert len(raw) < pl.RESULTS_LIMIT, f"results.json is {len(raw)} bytes, PrairieLearn's limit is 1 MB"
    data = json.loads(raw)
    jsonschema.validate(data, RESULTS_SCHEMA)
    return data


@pytest.fixture()
def plcourse(tmp_path):
    data = tiny_course(tmp_path / "ref")
    out = tmp_path / "pl"
    pl.build(out, ["90_tiny"], tmp_path / "ref", timeout=90, margin=60, cell_timeout=20, memory_limit="2G")
    return data, out


def grade_with_entrypoint(course_out: Path, job: Path, files: dict, python: str = sys.executable) -> dict:
    """Lay out PrairieLearn's /grade under ``job``, run run.sh on it, return the validated results.json."""
    shutil.copytree(course_out / "serverFilesCourse", job / "serverFilesCourse")
    shutil.copytree(course_out / "questions" / "notebook_90_tiny" / "tests", job / "tests")
    (job / "student").mkdir(parents=True)
    for name, content in files.items():
        write_submission(job, "student", name, content)
    env = {**os.environ, "PL_GRADE_ROOT": str(job), "PL_PYTHON": python, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(["bash", str(job / "serverFilesCourse" / pl.GRADER_DIR / "run.sh")], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return valid_results(job / "results" / "results.json")


def test_course_files(plcourse, tmp_path):
    _, out = plcourse
    info = json.loads((out / "questions" / "notebook_90_tiny" / "info.json").read_text())
    jsonschema.validate(info, INFO_SCHEMA)
    ext = info["externalGradingOptions"]
    assert ext["timeout"] == 90 and ext["enableNetworking"] is False
    assert ext["entrypoint"] == pl.ENTRYPOINT and ext["serverFilesCourse"] == [f"{pl.GRADER_DIR}/"]
    assert info["workspaceOptions"]["gradedFiles"] == ["90_tiny.ipynb"]
    assert not (out / "questions" / "notebook_91_other").exists()
    grader = out / "serverFilesCourse" / pl.GRADER_DIR
    run_sh = (grader / "run.sh").read_text()
    assert os.access(grader / "run.sh", os.X_OK)
    assert "--wall-timeout 30" in run_sh and "--timeout 20" in run_sh and "PL_GRADE_ROOT" in run_sh
    assert (grader / "course_utils" / "instructor" / "grading" / "prairielearn.py").is_file()
    assert (grader / "notebooks" / "90_tiny.ipynb").is_file() and not (grader / "solutions").exists()
    assert not list(grader.rglob("__pycache__"))
    image = (out / "docker" / "grader" / "Dockerfile").read_text()
    assert "download.pytorch.org/whl/cpu" in image and "course_utils" not in image.split("FROM", 1)[1]
    assert "FROM prairielearn/" in (out / "docker" / "workspace" / "Dockerfile").read_text()
    # the uuid is stable across rebuilds
    again = pl.build(tmp_path / "again", ["90_tiny.ipynb"], tmp_path / "ref")
    assert json.loads((again[0] / "info.json").read_text())["uuid"] == info["uuid"]


@pytest.mark.parametrize("kw, message", [
    (dict(timeout=601), "PrairieLearn's limit"), (dict(timeout=0), "PrairieLearn's limit"),
    (dict(margin=100, timeout=90), "--margin"), (dict(notebooks=["99_nope"]), "not a course notebook"),
    (dict(memory_limit="lots"), "memory limit")])
def test_bad_options_are_refused(plcourse, tmp_path, kw, message):
    with pytest.raises(ValueError, match=message):
        pl.build(tmp_path / "x", **{"reference": tmp_path / "ref", **kw})


def test_command_line(plcourse, tmp_path, capsys):
    assert cli.main(["prairielearn", "--out", str(tmp_path / "cl"), "--reference", str(tmp_path / "ref"),
                     "--notebook", "90_tiny", "91_other", "--timeout", "300"]) == 0
    assert (tmp_path / "cl" / "questions" / "notebook_91_other" / "info.json").is_file()
    assert cli.main(["prairielearn", "--out", str(tmp_path / "cl"), "--reference", str(tmp_path / "ref"),
                     "--timeout", "900"]) == 2
    assert "PrairieLearn's limit" in capsys.readouterr().err


def test_solved_partly_and_broken_submissions(plcourse, tmp_path):
    data, out = plcourse
    solved = grade_with_entrypoint(out, tmp_path / "solved", {"90_tiny.ipynb": _solve(data["tiny"], **SOLVED)})
    assert solved["gradable"] and solved["score"] == 1.0
    assert [(t["name"], t["points"], t["max_points"]) for t in solved["tests"]] == [
        ("90.add", 2.0, 2.0), ("90.mul", 3.0, 3.0)]
    # partly solved, and the wrong mul prints a flood of output: the file stays under 1 MB
    flood = _solve(data["tiny"], add="return a + b", mul="print('flood ' * 400_000); return a + b")
    partly = grade_with_entrypoint(out, tmp_path / "partly", {"90_tiny.ipynb": flood})
    assert partly["gradable"] and partly["score"] == pytest.approx(2 / 5)
    assert [t["points"] for t in partly["tests"]] == [2.0, 0.0] and partly["tests"][1]["message"]
    # broken: the learner's code raises before the checks
    broken = _solve(data["tiny"], add="raise RuntimeError('broken')", mul="return a +* b")
    got = grade_with_entrypoint(out, tmp_path / "broken", {"90_tiny.ipynb": broken})
    assert got["gradable"] and got["score"] == 0 and [t["points"] for t in got["tests"]] == [0.0, 0.0]


def test_timed_out_submission_still_gets_results(plcourse, tmp_path):
    """The whole-notebook limit (PrairieLearn's timeout less the margin) stops it; results.json is written."""
    data, _ = plcourse
    out = tmp_path / "long_cells"
    pl.build(out, ["90_tiny"], tmp_path / "ref", timeout=80, margin=60, cell_timeout=500, memory_limit="2G")
    slow = _with(_solve(data["tiny"], **SOLVED), "check-90-add", "import time\ntime.sleep(600)", "learner-sleep")
    got = grade_with_entrypoint(out, tmp_path / "slow", {"90_tiny.ipynb": slow})   # run.sh: wall 20 s < 80 s
    assert got["gradable"] and got["score"] == pytest.approx(2 / 5)
    assert "timeout" in got["message"] and "whole notebook" in got["message"]
    assert [t["points"] for t in got["tests"]] == [2.0, 0.0]


@pytest.mark.parametrize("files, error", [
    ({}, "empty"),
    ({"notes.txt": "forgot the notebook"}, "No notebook"),
])
def test_ungradable_submissions_charge_no_attempt(plcourse, tmp_path, files, error):
    _, out = plcourse
    got = grade_with_entrypoint(out, tmp_path / "job", files)
    assert got["gradable"] is False and got["score"] == 0 and error in got["format_errors"][0]


@pytest.mark.parametrize("content, error", [
    ('{"cells": [ {"cell_type": ', "invalid notebook"), ("", "invalid notebook"),
    ("other", "wrong notebook")])
def test_unreadable_or_other_notebooks_charge_no_attempt(plcourse, tmp_path, content, error):
    """The same entrypoint function run.sh calls, in this process (no kernel starts for these)."""
    data, _ = plcourse
    if content == "other":
        content = _solve(data["other"], sub="return a - b")
    write_submission(tmp_path / "job", "student", "90_tiny.ipynb", content)
    pl.run(tmp_path / "job", tmp_path / "ref", "90_tiny")
    got = valid_results(tmp_path / "job" / "results" / "results.json")
    assert got["gradable"] is False and got["score"] == 0 and error in got["format_errors"][0]


def test_results_stay_under_one_megabyte_for_any_flood(tmp_path):
    flood = "x" * 3_000_000
    model = results.SubmissionResults("l", "s", "90_tiny.ipynb", "ok", flood, exercises=[
        results.ExerciseResult(f"90.e{i}", 0, 1, "failed", flood, flood) for i in range(40)])
    data = pl.results_json(model)
    path = pl.write_results(tmp_path, data)
    got = valid_results(path)
    assert "characters cut" in got["tests"][0]["message"] and len(got["tests"]) == 40
    assert got["score"] == 0


def test_a_planted_results_link_is_replaced_not_followed(tmp_path):
    """A kernel that could write results/ beforehand gains nothing: the grader's file replaces what it left."""
    (tmp_path / "results").mkdir()
    target = tmp_path / "elsewhere.txt"
    target.write_text("keep")
    (tmp_path / "results" / "results.json").symlink_to(target)
    path = pl.write_results(tmp_path, pl.not_gradable(["The submission is empty: submit 90_tiny.ipynb."]))
    assert not path.is_symlink() and target.read_text() == "keep"
    assert valid_results(path)["gradable"] is False
    assert [p.name for p in (tmp_path / "results").iterdir()] == ["results.json"]


def test_a_grader_that_cannot_start_still_writes_results(plcourse, tmp_path):
    _, out = plcourse
    got = grade_with_entrypoint(out, tmp_path / "job", {"90_tiny.ipynb": "{}"}, python="/bin/false")
    assert got["gradable"] is False and "could not start" in got["format_errors"][0]

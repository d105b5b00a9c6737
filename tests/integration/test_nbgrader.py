"""The course in a real nbgrader course: nbgrader's autograde agrees with the course's grader.

A temporary nbgrader course (``nbgrader_config.py`` = ``docs/nbgrader_config.py``, ``source/ps1/`` = two
solved notebooks from ``solutions/``) goes through ``nbgrader generate_assignment``; six learners hand in
the released notebooks (solved, unsolved, partly solved, check cells edited to print "passed", solved with
stderr noise in their code and in a cell of their own); ``nbgrader autograde`` and
``python -m course_utils grade`` grade the same files, and every per-exercise score and every notebook total
must be equal. ``nbgrader validate`` fails the unsolved student notebook and passes the solved one.

nbgrader runs as ``$NBGRADER_PYTHON -m nbgrader`` (a Python that has nbgrader and the course's
dependencies), else with this interpreter if it has nbgrader; without either the test is skipped locally
and, under CI (``CI`` set), made for the run by ``tests/integration/nbgrader_env.sh``.
"""
from __future__ import annotations

import copy
import csv
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ["00_setup_and_tour", "01_synthetic_multimodal_data"]   # short, three exercises in all
ASSIGNMENT = "ps1"
BEGIN = "### BEGIN SOLUTION"


def nbgrader_python(scratch: Path) -> str:
    """``$NBGRADER_PYTHON``, this interpreter if it has nbgrader, under CI a venv made for the run, else skip."""
    explicit = os.environ.get("NBGRADER_PYTHON")
    if explicit:
        return explicit
    if importlib.util.find_spec("nbgrader") is not None:
        return sys.executable
    if not os.environ.get("CI"):
        pytest.skip("nbgrader is not installed: set NBGRADER_PYTHON to a Python with the `nbgrader` extra's "
                    "pin, e.g. `eval export $(tests/integration/nbgrader_env.sh /tmp/nbgrader-venv | tail -1)`")
    made = subprocess.run(["bash", str(Path(__file__).with_name("nbgrader_env.sh")), str(scratch / "venv")],
                          env=dict(os.environ, PYTHON=sys.executable), capture_output=True, text=True)
    assert made.returncode == 0, f"could not make the nbgrader venv:\n{made.stdout}\n{made.stderr}"
    return made.stdout.strip().splitlines()[-1].split("=", 1)[1]


def environment(home: Path, python: str) -> dict:
    """Course code from this checkout; nbgrader's venv first on PATH (nbgrader runs its ``alembic`` script);
    Jupyter's config, data and runtime files in the test's own folder."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
               PATH=os.pathsep.join([str(Path(python).parent), os.environ.get("PATH", "")]),
               OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", MPLBACKEND="Agg")
    for name in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR", "MPLCONFIGDIR"):
        env[name] = str(home / name.lower())
    return env


def run(args, cwd: Path, env: dict, timeout: int = 900) -> subprocess.CompletedProcess:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{args} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


# -- the submissions ---------------------------------------------------------------------------------
def solved_sources(name: str) -> dict:
    """Cell id -> solved source, for every cell of the solution notebook with a solution region."""
    nb = nbformat.read(ROOT / "solutions" / f"{name}.ipynb", as_version=4)
    return {c.id: c.source for c in nb.cells if BEGIN in c.source}


def without_markers(source: str, noise: bool = False) -> str:
    """The solved code as a learner would hand it in (no markers); with ``noise``, the learner's code writes
    a debugging line to stderr each time it runs (so also while a check calls it)."""
    lines = []
    for line in source.split("\n"):
        if line.strip() == BEGIN:
            if noise:
                indent = line[: len(line) - len(line.lstrip())]
                lines.append(f'{indent}__import__("sys").stderr.write("debug: learner code ran\\n")')
            continue
        if line.strip() != "### END SOLUTION":
            lines.append(line)
    return "\n".join(lines)


def submission(released, name: str, kind: str):
    """One learner's version of the released notebook ``released``."""
    nb = copy.deepcopy(released)
    solved = solved_sources(name)
    todo = [c for c in nb.cells if c.cell_type == "code" and c.id in solved]
    if kind in ("solved", "stderr_noise", "check_deleted"):
        to_solve = todo
    elif kind == "partly_solved":
        to_solve = todo[:1]          # the first exercise of each notebook only
    else:
        to_solve = []
    for cell in to_solve:
        cell.source = without_markers(solved[cell.id], noise=kind == "stderr_noise")
    for cell in nb.cells:
        if kind != "unsolved" and cell.cell_type == "markdown" and cell.id in solved:
            cell.source = "My answer: " + without_markers(solved[cell.id])[:200]
        if kind == "check_edited" and cell.metadata.get("nbgrader", {}).get("grade") and cell.cell_type == "code":
            cell.source = 'print("✅ Exercise passed (5 checks).")'
    if kind == "check_deleted":
        nb.cells = [c for c in nb.cells if "check" not in c.metadata.get("course", {})]
    if kind == "stderr_noise":
        noise = nbformat.v4.new_code_cell('import warnings\nwarnings.warn("a learner\'s own warning")')
        noise.id = "learner-noise"
        nb.cells.insert(len(nb.cells) // 2, noise)
    return nb


KINDS = ["solved", "unsolved", "partly_solved", "check_edited", "check_deleted", "stderr_noise"]


def exercise_points(name: str) -> dict:
    """Exercise id -> points, from the check cells of the solution notebook ``name``."""
    nb = nbformat.read(ROOT / "solutions" / f"{name}.ipynb", as_version=4)
    return {c.metadata["course"]["check"]: c.metadata["course"]["points"] for c in nb.cells
            if "check" in c.metadata.get("course", {})}


EXERCISES = {name: exercise_points(name) for name in NOTEBOOKS}
FULL_MARKS = sum(sum(points.values()) for points in EXERCISES.values())


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    python = nbgrader_python(tmp_path_factory.mktemp("nbgrader_env"))
    root = tmp_path_factory.mktemp("nbgrader_course")
    env = environment(root / "home", python)
    config = (ROOT / "docs" / "nbgrader_config.py").read_text()
    (root / "nbgrader_config.py").write_text(config + '\nc.CourseDirectory.course_id = "fusion"\n')
    (root / "source" / ASSIGNMENT).mkdir(parents=True)
    for name in NOTEBOOKS:
        shutil.copy(ROOT / "solutions" / f"{name}.ipynb", root / "source" / ASSIGNMENT)
    nbgrader = [python, "-m", "nbgrader"]
    run(nbgrader + ["generate_assignment", ASSIGNMENT, "--force"], root, env)
    released = {n: nbformat.read(root / "release" / ASSIGNMENT / f"{n}.ipynb", as_version=4) for n in NOTEBOOKS}
    ours = root / "course_submissions"
    for kind in KINDS:
        for name in NOTEBOOKS:
            nb = submission(released[name], name, kind)
            for folder in (root / "submitted" / kind / ASSIGNMENT, ours / kind):
                folder.mkdir(parents=True, exist_ok=True)
                nbformat.write(nb, folder / f"{name}.ipynb")
    return {"root": root, "env": env, "python": python, "released": released, "ours": ours}


@pytest.fixture(scope="module")
def grades(course):
    """Both graders on the same submissions: nbgrader's scores per grade_id, the course's grades.csv rows.

    The two run at the same time (one kernel each, one thread per kernel: a core each on 2 cores); they share
    nothing but the submitted files, which neither writes (nbgrader writes under ``autograded/``, the course's
    grader into ``grades/``)."""
    root, env, python = course["root"], course["env"], course["python"]
    ours = [sys.executable, "-m", "course_utils", "grade", str(course["ours"]), "--out", str(root / "grades"),
            "--workers", "1", "--timeout", "300"]   # the same cell limit as nbgrader
    course_grader = subprocess.Popen(ours, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
    try:
        autograde(python, root, env)
    finally:
        out, err = course_grader.communicate(timeout=2400)
    assert course_grader.returncode == 0, f"{ours} failed ({course_grader.returncode}):\n{out[-3000:]}\n{err[-3000:]}"
    dump = run([python, "-c", GRADEBOOK_DUMP, str(root / "gradebook.db"), ASSIGNMENT], root, env).stdout
    with open(root / "grades" / "grades.csv", newline="") as handle:
        course_rows = list(csv.DictReader(handle))
    return {"nbgrader": json.loads(dump), "course": course_rows}


#: nbgrader's kernel, like nbval's and the course grader's, can die before it answers when another kernel started at
#: the same moment takes one of its ports (the course grader beside it, the other pytest worker: conftest.py)
KERNEL_DIED = "Kernel died before replying to kernel_info"
AUTOGRADE_ATTEMPTS = 3


def autograde(python: str, root: Path, env: dict) -> subprocess.CompletedProcess:
    """``nbgrader autograde --force``; where a kernel died before it answered, autograde again without ``--force``,
    which grades only the submissions nbgrader removed as failed (up to :data:`AUTOGRADE_ATTEMPTS` runs)."""
    args = [python, "-m", "nbgrader", "autograde", ASSIGNMENT, "--force"]
    for _ in range(AUTOGRADE_ATTEMPTS):
        done = subprocess.run(args, cwd=root, env=env, capture_output=True, text=True, timeout=2400)
        if done.returncode == 0 or KERNEL_DIED not in done.stdout + done.stderr:
            break
        args = args[:-1]
    assert done.returncode == 0, f"{args} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


GRADEBOOK_DUMP = """
import json, sys
from nbgrader.api import Gradebook
scores = {}
with Gradebook("sqlite:///" + sys.argv[1]) as gb:
    for sub in gb.assignment_submissions(sys.argv[2]):
        for nb in sub.notebooks:
            scores.setdefault(sub.student_id, {})[nb.name] = {
                "total": nb.score, "max": nb.max_score,
                "grades": {g.name: [g.score, g.max_score] for g in nb.grades}}
print(json.dumps(scores))
"""


def test_released_notebooks_carry_both_metadata(course):
    for name, nb in course["released"].items():
        checks = [c for c in nb.cells if "check" in c.metadata.get("course", {})]
        assert checks, name
        for cell in checks:
            meta = cell.metadata["nbgrader"]
            assert meta["grade"] and meta["locked"] and not meta["solution"]
            assert meta["grade_id"] == cell.metadata["course"]["check"].replace(".", "_")
            assert meta["points"] == cell.metadata["course"]["points"]
        assert not any(BEGIN in c.source for c in nb.cells), f"{name}: nbgrader left a solution region"


def test_nbgrader_autograde_agrees_with_the_course_grader(grades):
    ours = {(r["learner"], r["notebook"].removesuffix(".ipynb")): r for r in grades["course"]}
    theirs = grades["nbgrader"]
    assert sorted(theirs) == sorted(KINDS)
    compared = 0
    for kind in KINDS:
        for name in NOTEBOOKS:
            row = ours[(kind, name)]
            assert row["status"] == "ok", row
            graded = theirs[kind][name]
            for grade_id, (score, max_score) in graded["grades"].items():
                exercise = grade_id.replace("_", ".", 1)
                if exercise in row:          # an exercise (check cell); the rest are 0-point reflections
                    assert float(row[exercise]) == score, (kind, name, exercise, row[exercise], score)
                    compared += 1
                else:
                    assert max_score == 0 and score == 0, (kind, name, grade_id, score, max_score)
            assert float(row["total"]) == graded["total"], (kind, name, row["total"], graded["total"])
            assert float(row["max_points"]) == graded["max"], (kind, name)
    assert compared == len(KINDS) * sum(len(points) for points in EXERCISES.values())


def test_the_fixture_spans_full_partial_and_no_credit(grades):
    totals = {r["learner"]: sum(float(x["total"]) for x in grades["course"] if x["learner"] == r["learner"])
              for r in grades["course"]}
    assert totals["solved"] == totals["stderr_noise"] == totals["check_deleted"] == FULL_MARKS
    assert totals["unsolved"] == totals["check_edited"] == 0
    assert 0 < totals["partly_solved"] < FULL_MARKS


@pytest.mark.parametrize("kind, passes", [("unsolved", False), ("solved", True),
                                          ("stderr_noise", False)])   # documented: validate has no stderr hook
def test_nbgrader_validate(course, kind, passes):
    path = course["root"] / "submitted" / kind / ASSIGNMENT / f"{NOTEBOOKS[0]}.ipynb"
    out = run([course["python"], "-m", "nbgrader", "validate", str(path)], course["root"], course["env"]).stdout
    assert ("Success! Your notebook passes all the tests." in out) == passes, out
    assert ("VALIDATION FAILED" in out) == (not passes), out


def test_nbgrader_validate_fails_the_course_student_notebook(course):
    """The issue's report: the untouched notebooks/00 used to pass nbgrader's validate."""
    copy_dir = course["root"] / "course_notebook"
    copy_dir.mkdir(exist_ok=True)
    path = Path(shutil.copy(ROOT / "notebooks" / f"{NOTEBOOKS[0]}.ipynb", copy_dir))
    out = run([course["python"], "-m", "nbgrader", "validate", str(path)], course["root"], course["env"]).stdout
    assert "VALIDATION FAILED" in out, out


STDERR_PROBE = """
import json, nbformat
from nbgrader import utils
from course_utils.instructor.nbgrader_preprocessors import StderrIsNotFailure
cell = nbformat.v4.new_code_cell("check(f)")
cell.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True, "points": 2,
                             "grade_id": "05_demo", "schema_version": 3}
cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="passed"),
                nbformat.v4.new_output("stream", name="stderr", text="UserWarning: noisy")]
before = utils.determine_grade(cell)[0]
StderrIsNotFailure().preprocess_cell(cell, {}, 0)
after = utils.determine_grade(cell)[0]
cell.outputs.append(nbformat.v4.new_output("error", ename="CheckFailed", evalue="wrong", traceback=[]))
failed = utils.determine_grade(cell)[0]
print(json.dumps([before, after, failed]))
"""


def test_stderr_in_a_check_cell_costs_points_only_without_the_course_preprocessor(course):
    """What StderrIsNotFailure changes in nbgrader's own scoring: stderr no longer zeroes a passed check;
    an error still does."""
    out = run([course["python"], "-c", STDERR_PROBE], course["root"], course["env"]).stdout
    assert json.loads(out.strip().splitlines()[-1]) == [0, 2, 0]

"""Instructor grading (``python -m course_utils grade``): restore, match, run, score, CSV, feedback, resume,
isolation (each submission's own folders, environment and user) and records out of the learner's reach.

Every failure mode uses a tiny synthetic course (two notebooks, built in ``tmp_path``) so the suite
stays fast. Grading every real course notebook (solutions get full points, untouched student notebooks
zero) is an integration test: ``tests/integration/test_grading_course.py``.
"""
from __future__ import annotations

import copy
import csv
import json
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import nbformat
import pytest
from submissions import code_cell as _code
from submissions import write_submission

from course_utils.instructor import cli
from course_utils.instructor.grading import batch, isolation, runner
from course_utils.instructor.grading import notebooks as nbs

ROOT = Path(__file__).resolve().parent.parent

# -- a tiny course ------------------------------------------------------------------------------------
STUB = "    # YOUR CODE HERE\n    raise NotImplementedError()"


def _check_source(exercise: str, fn: str, call: str, expected: str) -> str:
    # The check code goes through course_utils.feedback, the module the grader re-imports fresh.
    return (f"from course_utils import feedback\n"
            f"@feedback.exercise({exercise!r}, {fn!r})\n"
            f"def _check(check, fn):\n"
            f"    check.expect(check.call(fn, {call}) == {expected}, '{fn}({call}) == {expected}',\n"
            f"                 '{fn}({call}) should be {expected}')\n"
            f"_check({fn})")




def _notebook(cells):
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    return nb


def tiny_course(folder: Path) -> dict:
    """Reference notebooks 90_tiny (add: 2 points, mul: 3 points) and 91_other (sub: 1 point)."""
    folder.mkdir(parents=True, exist_ok=True)
    md = nbformat.v4.new_markdown_cell("# Tiny notebook")
    md.id = "title-90"
    tiny = _notebook([
        md,
        _code("import sys", "setup-90"),
        _code(f"def add(a, b):\n{STUB}", "todo-add"),
        _code(_check_source("90.add", "add", "2, 3", "5"), "check-90-add", "90.add", 2),
        _code(f"def mul(a, b):\n{STUB}", "todo-mul"),
        _code(_check_source("90.mul", "mul", "2, 3", "6"), "check-90-mul", "90.mul", 3),
        _code("done = True", "end-90"),
    ])
    other = _notebook([
        _code(f"def sub(a, b):\n{STUB}", "todo-sub"),
        _code(_check_source("91.sub", "sub", "5, 3", "2"), "check-91-sub", "91.sub", 1),
    ])
    nbformat.write(tiny, folder / "90_tiny.ipynb")
    nbformat.write(other, folder / "91_other.ipynb")
    return {"tiny": tiny, "other": other}


def _solve(nb, **bodies):
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        for name, body in bodies.items():
            if cell.get("id") == f"todo-{name}":
                cell.source = f"def {name}(a, b):\n    {body}"
    return nb


def _with(nb, after_id: str, source: str, cell_id: str):
    nb = copy.deepcopy(nb)
    index = [c.get("id") for c in nb.cells].index(after_id)
    nb.cells.insert(index + 1, _code(source, cell_id))
    return nb


SOLVED = dict(add="return a + b", mul="return a * b")

# learner -> (expected points for 90.add, 90.mul, total, status)
EXPECTED = {
    "solved":         (2, 3, 5, "ok"),
    "unsolved":       (0, 0, 0, "ok"),
    "partly":         (2, 0, 2, "ok"),
    "edited_check":   (0, 3, 3, "ok"),
    "deleted_check":  (2, 3, 5, "ok"),
    "duplicated":     (2, 3, 5, "ok"),
    "monkeypatch":    (0, 0, 0, "ok"),
    "hidden_errors":  (0, 0, 0, "ok"),
    "infinite_loop":  (2, 0, 2, "timeout"),
    "kernel_killed":  (2, 0, 2, "kernel died"),
    "memory_bomb":    (2, 0, 2, "memory limit"),
    "invalid_json":   (0, 0, 0, "invalid notebook"),
    "empty_file":     (0, 0, 0, "invalid notebook"),
    "wrong_notebook": (0, 0, 0, "wrong notebook"),
    "noisy_stderr":   (2, 3, 5, "ok"),
    "renamed":        (2, 3, 5, "ok"),
}


def make_submissions(folder: Path, course: dict) -> None:
    tiny, other = course["tiny"], course["other"]
    name = "90_tiny.ipynb"
    solved = _solve(tiny, **SOLVED)
    write_submission(folder, "solved", name, solved)
    write_submission(folder, "unsolved", name, tiny)
    write_submission(folder, "partly", name, _solve(tiny, add="return a + b"))
    edited = _solve(tiny, mul="return a * b")
    for cell in edited.cells:
        if cell.id == "check-90-add":
            cell.source = "print('✅ Exercise 90.add passed')"      # edited to pass
    write_submission(folder, "edited_check", name, edited)
    deleted = copy.deepcopy(solved)
    deleted.cells = [c for c in deleted.cells if c.get("id") != "check-90-add"]
    write_submission(folder, "deleted_check", name, deleted)
    dup = copy.deepcopy(solved)
    cells = []
    for i, cell in enumerate(dup.cells):
        cells.append(cell)
        if cell.cell_type == "code":                                # every code cell pasted twice
            copy_ = copy.deepcopy(cell)
            copy_.id = f"copy-{i}"
            cells.append(copy_)
    dup.cells = cells
    write_submission(folder, "duplicated", name, dup)
    write_submission(folder, "monkeypatch", name, _with(tiny, "todo-add", (
        "import course_utils.feedback as fb\n"
        "fb.exercise = lambda *a, **k: (lambda f: (lambda *x, **y: True))\n"
        "fb.Check.expect = lambda self, *a, **k: None\n"
        "fb.Check.call = lambda self, *a, **k: 5\n"
        "_check = lambda *a: True"), "learner-patch"))
    write_submission(folder, "hidden_errors", name, _with(tiny, "setup-90", (
        "shell = get_ipython()\n"
        "shell._showtraceback = lambda *a, **k: None      # errors no longer reach the output"), "learner-hide"))
    # a loop that never ends; it sleeps, so it takes no core from the rest of the test run (the per-cell limit is
    # wall time either way: tests/integration/test_gradescope.py does the same)
    write_submission(folder, "infinite_loop", name, _solve(tiny, add="return a + b",
                                                           mul="import time\n    while True: time.sleep(0.1)"))
    killed = _with(solved, "check-90-add", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)", "learner-kill")
    write_submission(folder, "kernel_killed", name, killed)
    write_submission(folder, "memory_bomb", name, _solve(tiny, add="return a + b",
                                               mul="hog = bytearray(64 * 2**30); return a * b"))
    write_submission(folder, "invalid_json", name, '{"cells": [ {"cell_type": "code", ')
    write_submission(folder, "empty_file", name, "")
    write_submission(folder, "wrong_notebook", name, _solve(other, sub="return a - b"))
    noisy = _solve(tiny, add="import sys, warnings; warnings.warn('deprecated!'); "
                             "print('noise', file=sys.stderr); return a + b", mul="return a * b")
    noisy = _with(noisy, "setup-90", "import sys, warnings\nprint('a warning on stderr', file=sys.stderr)\n"
                                     "warnings.warn('UserWarning from learner code')", "learner-noise")
    write_submission(folder, "noisy_stderr", name, noisy)
    write_submission(folder, "renamed", "my_homework.ipynb", solved)


LIMITS = dict(cell_timeout=20, wall_timeout=120, memory_bytes=2 << 30)


# -- fast unit tests (no kernel) -----------------------------------------------------------------------
@pytest.fixture()
def course(tmp_path):
    data = tiny_course(tmp_path / "ref")
    return data, nbs.load_references(tmp_path / "ref")


def _checks(nb):
    return [(c.get("id"), c.metadata.get("course", {}).get("check")) for c in nb.cells
            if c.metadata.get("course", {}).get("check")]


def test_restore_replaces_edited_check_cells(course):
    data, refs = course
    nb = copy.deepcopy(data["tiny"])
    nb.cells[3].source = "print('passed')"
    nb.cells[3].metadata = {}                                       # metadata stripped as well
    restored = nbs.restore(nb, refs["90_tiny.ipynb"])
    assert restored.cells[3].source.endswith(data["tiny"].cells[3].source)
    assert restored.cells[3].source.startswith(nbs.PURGE_LINE)
    assert _checks(restored) == [("check-90-add", "90.add"), ("check-90-mul", "90.mul")]


def test_restore_puts_back_deleted_checks_in_place(course):
    data, refs = course
    nb = copy.deepcopy(data["tiny"])
    nb.cells = [c for c in nb.cells if not c.id.startswith("check-")]
    restored = nbs.restore(nb, refs["90_tiny.ipynb"])
    ids = [c.id for c in restored.cells]
    assert ids == ["title-90", "setup-90", "todo-add", "check-90-add", "todo-mul", "check-90-mul", "end-90"]


def test_restore_drops_copies_and_minted_checks(course):
    data, refs = course
    nb = copy.deepcopy(data["tiny"])
    copy_ = copy.deepcopy(nb.cells[3])
    copy_.id = "pasted"
    minted = _code("pass", "mine", "90.bonus", 100)
    other_check = _code("pass", "mine2", "91.sub", 1)
    nb.cells[4:4] = [copy_, minted, other_check]
    restored = nbs.restore(nb, refs["90_tiny.ipynb"])
    assert _checks(restored) == [("check-90-add", "90.add"), ("check-90-mul", "90.mul")]
    assert all(c.source.count("feedback.exercise") <= 1 for c in restored.cells)


def test_a_notebook_with_reflection_questions_only_is_a_course_notebook(tmp_path):
    """The capstone has no check cell, only reflection questions: it is graded (0 points), not a wrong notebook;
    a notebook with neither is no course notebook."""
    folder = tmp_path / "ref"
    folder.mkdir()
    setup, answer = nbformat.v4.new_code_cell("x = 1"), nbformat.v4.new_markdown_cell("✏️ *Your answer here.*")
    setup.id, answer.id = "setup-99", "answer-99-q1"
    answer.metadata = {"course": {"question": "99.q1", "points": 0}}
    capstone = nbformat.v4.new_notebook(cells=[setup, answer])
    nbformat.write(capstone, folder / "99_capstone.ipynb")
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("y = 2")]), folder / "98_plain.ipynb")
    refs = nbs.load_references(folder)
    assert list(refs) == ["99_capstone.ipynb"]
    assert refs["99_capstone.ipynb"].questions == ["99.q1"] and refs["99_capstone.ipynb"].max_points == 0
    matched = nbs.match(capstone, "99_capstone.ipynb", refs)
    assert matched.reference is refs["99_capstone.ipynb"] and not matched.problem


def test_a_submission_of_the_capstone_under_its_old_name_still_matches():
    """The capstone was renamed 12_capstone -> 13_capstone (12 is now the interactions notebook); its cell and
    question ids did not change, so a learner's copy saved under the old name is matched to 13 by its ids."""
    refs = nbs.load_references(ROOT / "solutions")
    assert "12_capstone.ipynb" not in refs and "13_capstone.ipynb" in refs
    old = nbformat.read(ROOT / "notebooks" / "13_capstone.ipynb", as_version=4)
    matched = nbs.match(old, "12_capstone.ipynb", refs)
    assert matched.reference is refs["13_capstone.ipynb"] and not matched.problem
    assert {"08.q5", "12.q1"} <= set(matched.reference.questions)


def test_match_by_name_then_by_ids(course):
    data, refs = course
    assert nbs.match(data["tiny"], "90_tiny.ipynb", refs).reference.name == "90_tiny.ipynb"
    assert nbs.match(data["tiny"], "homework (1).ipynb", refs).reference.name == "90_tiny.ipynb"
    wrong = nbs.match(data["other"], "90_tiny.ipynb", refs)
    assert wrong.reference is None and "91_other" in wrong.problem
    stranger = nbs.match(_notebook([_code("1", "x")]), "x.ipynb", refs)
    assert stranger.reference is None
    assert nbs.match(data["other"], "x.ipynb", refs, assignment="90_tiny.ipynb").reference is None


@pytest.mark.parametrize("data, reason", [(b"", "empty"), (b"{oops", "JSON"), (b"[1, 2]", "not a notebook"),
                                          (b'{"cells": 3}', "not a notebook")])
def test_unreadable_notebooks_are_named(data, reason):
    with pytest.raises(nbs.InvalidNotebook, match=reason):
        nbs.read_notebook(data)


def test_parse_size():
    assert runner.parse_size("4G") == 4 << 30
    assert runner.parse_size("512MiB") == 512 << 20
    assert runner.parse_size("0") == 0
    with pytest.raises(ValueError, match="4G or 512M"):
        runner.parse_size("lots")


@pytest.mark.parametrize("cpus, at_once, pinned, threads", [
    (8, 2, None, 4), (8, 3, None, 2), (2, 4, None, 1),      # CPU count over the submissions graded at once
    (8, 2, "1", 1), (8, 1, "16", 8), (8, 2, "", 4), (8, 2, "two", 4), (8, 2, "0", 4)])   # never above $OMP_NUM_THREADS
def test_kernel_threads_default(monkeypatch, cpus, at_once, pinned, threads):
    monkeypatch.setattr(os, "cpu_count", lambda: cpus)
    if pinned is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", pinned)
    assert runner.default_threads(at_once) == threads


def test_resume_skips_unchanged_and_regrades_changed(course, tmp_path):
    # invalid and wrong notebooks are graded without a kernel: this test needs no notebook execution
    subs = tmp_path / "subs"
    write_submission(subs, "ann", "90_tiny.ipynb", "")
    write_submission(subs, "bob", "90_tiny.ipynb", "{bad")
    write_submission(subs, "cat", "90_tiny.ipynb", course[0]["other"])
    out = tmp_path / "out"
    rows = batch.grade_batch(subs, out, tmp_path / "ref", log=lambda *a: None)
    assert [(r["learner"], r["status"]) for r in rows] == [
        ("ann", "invalid notebook"), ("bob", "invalid notebook"), ("cat", "wrong notebook")]
    # a crash tore the last row; ann's file changed since
    text = (out / "grades.csv").read_text()
    (out / "grades.csv").write_text(text[: len(text) - 30])
    write_submission(subs, "ann", "90_tiny.ipynb", "{still bad")
    seen = []
    rows = batch.grade_batch(subs, out, tmp_path / "ref", resume=True, log=seen.append)
    assert "resume: 1 submission(s) already graded and unchanged, 2 to grade" in seen
    assert [(r["learner"], r["status"]) for r in rows] == [
        ("ann", "invalid notebook"), ("bob", "invalid notebook"), ("cat", "wrong notebook")]
    assert "JSON" in rows[0]["detail"]
    assert (out / "feedback" / "cat" / "90_tiny.md").exists()


# -- one batch with every failure mode ----------------------------------------------------------------
def _write_roster(path: Path, learners: list[str]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["learner", "id", "name", "section"])
        for i, name in enumerate(learners):
            writer.writerow([name, 1000 + i, name.title(), "S"])


def test_batch_with_every_failure_mode(course, tmp_path, capsys):
    """Every failure mode in one batch, graded as an instructor does (the command line, with a roster and a Canvas
    export): the points, statuses and feedback of each, and every row of ``canvas.csv`` and ``grades-long.csv``
    agreeing with ``grades.csv``; the folder missing from the roster and the roster learner without a submission
    are listed."""
    data, _ = course
    subs, out = tmp_path / "subs", tmp_path / "out"
    make_submissions(subs, data)
    on_roster = [name for name in sorted(EXPECTED) if name != "renamed"] + ["absent"]
    _write_roster(tmp_path / "roster.csv", on_roster)
    code = cli.main(["grade", str(subs), "--out", str(out), "--reference", str(tmp_path / "ref"), "--workers", "2",
                     "--timeout", str(LIMITS["cell_timeout"]), "--wall-timeout", str(LIMITS["wall_timeout"]),
                     "--memory-limit", str(LIMITS["memory_bytes"]), "--roster", str(tmp_path / "roster.csv"),
                     "--canvas", "total"])
    assert code == 0
    printed = capsys.readouterr().out
    with open(out / "grades.csv", newline="") as f:
        header = next(csv.reader(f))                      # one column per exercise
    rows = list(csv.DictReader(open(out / "grades.csv", newline="")))
    got = {r["learner"]: r for r in rows}
    assert sorted(got) == sorted(EXPECTED)
    problems = []
    for learner, (add, mul, total, status) in EXPECTED.items():
        row = got[learner]
        actual = (row["90.add"], row["90.mul"], row["total"], row["status"])
        if actual != (str(add), str(mul), str(total), status):
            problems.append(f"{learner}: expected {(add, mul, total, status)}, got {actual}: {row['detail']}")
    assert not problems, "\n".join(problems)
    assert all(r["max_points"] == "5" for r in rows if r["status"] != "wrong notebook")
    assert header[:5] == ["learner", "notebook", "90.add", "90.mul", "91.sub"]
    # feedback: every check's message
    partly = (out / "feedback" / "partly" / "90_tiny.md").read_text()
    assert "90.mul: 0 / 3" in partly and "not implemented yet" in partly and "add(2, 3) == 5" in partly
    bomb = (out / "feedback" / "memory_bomb" / "90_tiny.md").read_text()
    assert "MemoryError" in bomb
    assert "per-cell limit" in (out / "feedback" / "infinite_loop" / "90_tiny.md").read_text()
    assert (out / "feedback" / "renamed" / "my_homework.md").exists()
    assert "wrong notebook" in (out / "feedback" / "wrong_notebook" / "90_tiny.md").read_text()
    assert got["wrong_notebook"]["detail"] == "this is notebook 91_other.ipynb, expected 90_tiny.ipynb"
    # summary: per exercise mean and full-points count
    assert "90.add" in printed and "status:" in printed
    assert not (out / ".scratch").exists()
    _check_exports(out, got, on_roster, printed)


def _check_exports(out: Path, grades: dict, on_roster: list[str], printed: str) -> None:
    """The roster report, ``canvas.csv`` and ``grades-long.csv`` of the failure-mode batch agree with its grades."""
    assert "not in the roster: renamed" in printed and "absent (Absent)" in printed
    canvas = list(csv.reader(open(out / "canvas.csv", newline="")))
    assert canvas[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Notebooks total"]
    assert canvas[1][0] == "Points Possible" and canvas[1][5] == "6"        # 90_tiny (5) + 91_other (1)
    by_id = {row[1]: row for row in canvas[2:]}
    for i, name in enumerate(on_roster):
        row = by_id[str(1000 + i)]
        if name == "absent":
            assert row[5] == ""
            continue
        expected_total = EXPECTED[name][2]
        assert row[5] == str(expected_total) == grades[name]["total"], (name, row, grades[name]["detail"])
    long = list(csv.DictReader(open(out / "grades-long.csv", newline="")))
    for name, (add, mul, _, status) in EXPECTED.items():
        if name == "wrong_notebook" or grades[name]["notebook"] != "90_tiny.ipynb":
            continue
        mine = {r["item"]: r for r in long if r["learner"] == name}
        assert (mine["90.add"]["points"], mine["90.mul"]["points"], mine["90.add"]["status"]) == \
            (str(add), str(mul), status) == (grades[name]["90.add"], grades[name]["90.mul"], grades[name]["status"]), name
    problems = list(csv.DictReader(open(out / "roster-problems.csv", newline="")))
    assert sorted((p["problem"], p["learner"]) for p in problems) == [("missing", "absent"), ("unknown", "renamed")]


def test_wall_timeout_keeps_finished_checks(course, tmp_path):
    """20 s: the kernel's start and the first check take 3-5 s on the loaded 2-core machine; the test waits it out."""
    data, _ = course
    slow = _with(_solve(data["tiny"], **SOLVED), "check-90-add", "import time\ntime.sleep(600)", "learner-sleep")
    write_submission(tmp_path / "subs", "slow", "90_tiny.ipynb", slow)
    rows = batch.grade_batch(tmp_path / "subs", tmp_path / "out", tmp_path / "ref",
                             limits=runner.Limits(cell_timeout=500, wall_timeout=20, memory_bytes=2 << 30),
                             log=lambda *a: None)
    assert (rows[0]["status"], rows[0]["90.add"], rows[0]["90.mul"]) == ("timeout", "2", "0"), rows[0]
    assert "whole notebook" in rows[0]["detail"]


@pytest.mark.parametrize("failed_starts", [runner.START_ATTEMPTS - 1, runner.START_ATTEMPTS])
def test_a_kernel_that_does_not_start_is_started_again(course, tmp_path, monkeypatch, failed_starts):
    """As when another process takes one of the kernel's ports first: the run is repeated in fresh folders."""
    data, _ = course
    write_submission(tmp_path / "subs", "ann", "90_tiny.ipynb", _solve(data["tiny"], **SOLVED))
    original, broken = isolation.Submission._kernel_spec, []

    def kernel_spec(self):           # the first `failed_starts` kernels exit at once, as one that cannot bind
        original(self)
        if len(broken) < failed_starts:
            path = self.private / "share" / "kernels" / isolation.KERNEL_NAME / "kernel.json"
            spec = json.loads(path.read_text())
            spec["argv"] = [sys.executable, "-c", "raise SystemExit('Address already in use')"]
            path.write_text(json.dumps(spec))
            broken.append(self.private)

    monkeypatch.setattr(isolation.Submission, "_kernel_spec", kernel_spec)
    rows = batch.grade_batch(tmp_path / "subs", tmp_path / "out", tmp_path / "ref",
                             limits=runner.Limits(**LIMITS), log=lambda *a: None)
    row = rows[0]
    assert len(broken) == failed_starts and not any(p.exists() for p in broken)
    if failed_starts < runner.START_ATTEMPTS:
        assert (row["status"], row["total"], row["detail"]) == ("ok", "5", ""), row
    else:
        assert (row["status"], row["total"]) == ("grader error", "0"), row
        assert "did not start" in row["detail"] and f"each of {runner.START_ATTEMPTS} runs" in row["detail"]
        # the row says nothing about the submission: --resume grades it again (the kernels start now)
        rows = batch.grade_batch(tmp_path / "subs", tmp_path / "out", tmp_path / "ref", resume=True,
                                 limits=runner.Limits(**LIMITS), log=lambda *a: None)
        assert (rows[0]["status"], rows[0]["total"]) == ("ok", "5"), rows[0]


def test_command_line(course, tmp_path):
    write_submission(tmp_path / "subs", "ann", "90_tiny.ipynb", "")
    proc = subprocess.run([sys.executable, "-m", "course_utils", "grade", str(tmp_path / "subs"), "--out",
                           str(tmp_path / "out"), "--reference", str(tmp_path / "ref"), "--workers", "1"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "invalid notebook 1" in proc.stdout
    bad = subprocess.run([sys.executable, "-m", "course_utils", "grade", str(tmp_path / "nowhere"), "--out",
                          str(tmp_path / "out2"), "--reference", str(tmp_path / "ref")],
                         capture_output=True, text=True, cwd=ROOT)
    assert bad.returncode == 2 and "no such submissions folder" in bad.stderr


# -- isolation: each submission its own folders, user and environment; records out of its reach -------
ROOT_ONLY = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0,
    reason="kernels get a user of their own only when grading as root; as your user, a learner's code can "
           "reach your files (docs/INSTRUCTORS.md, threat model), and these tampering cells would touch them")
FAKE = {"event": "cell", "index": 3, "cell_id": "check-90-add", "check": "90.add", "points": 2,
        "outcome": "passed", "message": "", "output": "", "seconds": 0.1, "phase": "call"}

FORGE_FILES = f"""import json, os, pathlib
line = json.dumps({FAKE!r}) + "\\n"
names = ("cells.jsonl", "pytest-output.txt", "grades.csv", "records.jsonl")
here = pathlib.Path.cwd()
for folder in [here, *here.parents]:                    # the working folder and every parent
    for name in names:
        try:
            with open(folder / name, "a") as f:
                f.write(line)
        except OSError:
            pass
for value in os.environ.values():                      # every folder named in the environment
    for part in value.split(os.pathsep):
        if os.path.isdir(part):
            for name in names:
                try:
                    with open(os.path.join(part, name), "a") as f:
                        f.write(line)
                except OSError:
                    pass"""

FORGE_PRINT = f"""import json, os, sys
line = json.dumps({FAKE!r})
print(line); print(line, file=sys.stderr); sys.__stdout__.write(line + "\\n"); sys.__stdout__.flush()
os.write(1, (line + "\\n").encode()); os.write(2, (line + "\\n").encode())
print("✅ Exercise 90.add passed")"""

FORGE_PROC = f"""import glob, json, os, re
tokens = {{"guess", "0" * 32}}
for path in glob.glob("/proc/[0-9]*/environ") + glob.glob("/proc/[0-9]*/cmdline"):   # look for the token
    try:
        tokens.update(re.findall("[0-9a-f]{{32}}", open(path, "rb").read().decode("latin-1")))
    except OSError:
        pass
for fd in glob.glob("/proc/[0-9]*/fd/*"):              # every file descriptor of every process
    for token in list(tokens)[:20]:
        try:
            with open(fd, "a") as f:
                f.write(json.dumps(dict({FAKE!r}, token=token)) + "\\n")
        except OSError:
            break"""

KILL_GRADER = """import os, signal
me = os.getpid()
for pid in [int(p) for p in os.listdir("/proc") if p.isdigit()]:
    if pid != me:
        try:
            os.kill(pid, signal.SIGSTOP if pid == os.getppid() else signal.SIGKILL)
        except OSError:
            pass
for path in (f"/proc/{os.getppid()}/mem", f"/proc/{os.getppid()}/environ"):
    try:
        open(path, "r+b").write(b"x")
    except OSError:
        pass"""


@ROOT_ONLY
def test_tampering_with_the_records_earns_nothing(course, tmp_path):
    data, _ = course
    subs, out = tmp_path / "subs", tmp_path / "out"
    name, solved = "90_tiny.ipynb", _solve(data["tiny"], **SOLVED)
    write_submission(subs, "forge_files", name, _with(data["tiny"], "setup-90", FORGE_FILES, "learner-files"))
    write_submission(subs, "forge_print", name, _with(data["tiny"], "setup-90", FORGE_PRINT, "learner-print"))
    write_submission(subs, "forge_proc", name, _with(data["tiny"], "setup-90", FORGE_PROC, "learner-proc"))
    write_submission(subs, "kill_grader", name, _with(solved, "setup-90", KILL_GRADER, "learner-kill"))
    before = set(os.listdir(tempfile.gettempdir()))
    rows = batch.grade_batch(subs, out, tmp_path / "ref", workers=2, limits=runner.Limits(**LIMITS),
                             log=lambda *a: None)
    got = {r["learner"]: (r["90.add"], r["90.mul"], r["total"], r["status"]) for r in rows}
    assert got == {"forge_files": ("0", "0", "0", "ok"), "forge_print": ("0", "0", "0", "ok"),
                   "forge_proc": ("0", "0", "0", "ok"), "kill_grader": ("2", "3", "5", "ok")}, \
        [(r["learner"], r["status"], r["detail"]) for r in rows]
    assert "90.add: 0 / 2" in (out / "feedback" / "forge_print" / "90_tiny.md").read_text()
    # nothing the kernels wrote outside their own folders survives them
    assert not {n for n in set(os.listdir(tempfile.gettempdir())) - before if n.endswith((".jsonl", ".csv", ".txt"))}


PROBE = """import json, os, subprocess, sys, tempfile
sleeper = subprocess.Popen(["sleep", "300"], start_new_session=True)
marker = os.path.join("/tmp", f"leftover-{os.getpid()}.txt")
try:
    open(marker, "w").write("left behind")
except OSError:
    marker = None
print("PROBE " + json.dumps({"uid": os.getuid(), "cwd": os.getcwd(), "tmp": tempfile.gettempdir(),
                             "home": os.path.expanduser("~"), "env": dict(os.environ), "sleeper": sleeper.pid,
                             "marker": marker}))"""


def _probe(output: str) -> dict:
    line = next(ln for ln in output.splitlines() if ln.startswith("PROBE "))
    return json.loads(line[len("PROBE "):])


def test_each_submission_has_its_own_folders_user_and_environment(course, tmp_path):
    data, refs = course
    nb = _solve(data["tiny"], mul="return a * b", add="exec(_PROBE); return a + b")
    nb = _with(nb, "setup-90", f"_PROBE = {PROBE!r}", "learner-probe")
    ref = refs["90_tiny.ipynb"]
    results = {}

    def grade(learner):
        results[learner] = runner.grade(tmp_path / learner, learner, "90_tiny.ipynb", nbs.Match(ref, ref.name),
                                        nbs.read_notebook(json.dumps(nb).encode()), runner.Limits(**LIMITS))

    threads = [threading.Thread(target=grade, args=(name,)) for name in ("ann", "bob")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    probes = {}
    for learner, result in results.items():
        assert (result.status, result.total) == ("ok", 5), (result.detail, result.checks)
        probes[learner] = _probe(result.checks[0].output)
    ann, bob = probes["ann"], probes["bob"]
    for key in ("cwd", "tmp", "home"):
        assert ann[key] != bob[key]
        for probe in (ann, bob):
            assert not Path(probe[key]).exists(), f"{key} {probe[key]} survived the submission"
            assert not Path(probe[key]).is_relative_to(tmp_path)
    for probe in (ann, bob):
        env = probe["env"]
        for var in ("HOME", "TMPDIR", "MPLCONFIGDIR", "TORCH_HOME", "IPYTHONDIR", "XDG_CACHE_HOME",
                    "XDG_CONFIG_HOME", "JUPYTER_RUNTIME_DIR", "JUPYTER_DATA_DIR"):
            assert Path(env[var]).is_relative_to(Path(probe["cwd"]).parent), (var, env[var])  # its own folder
        assert not [k for k in env if k.startswith(("PYTEST", "COURSE_GRADING_", "JUPYTER_PATH"))], sorted(env)
        assert set(env) <= isolation_allowed(), sorted(set(env) - isolation_allowed())
    if os.geteuid() == 0:
        assert ann["uid"] != 0 and bob["uid"] != 0 and ann["uid"] != bob["uid"]
        for probe in (ann, bob):
            assert not _alive(probe["sleeper"]), "a process the learner started outlived the submission"
            assert probe["marker"] is None or not Path(probe["marker"]).exists()


SEEN = """import importlib, json, os, sys
def _importable(name):
    try:
        importlib.import_module(name)
        return True
    except ImportError:
        return False
def _readable(path):
    try:
        return len(open(path).read()) > 0
    except OSError:
        return False
import course_utils
print("PROBE " + json.dumps({
    "nb02": _importable("course_utils.references.nb02"), "nb03": _importable("course_utils.references.nb03"),
    "instructor": _importable("course_utils.instructor"),
    "nb03_file": _readable(os.path.join(PACKAGE, "references", "nb03.py")),
    "instructor_file": _readable(os.path.join(PACKAGE, "instructor", "release.py")),
    "beside": sorted(os.listdir(os.path.dirname(PACKAGE))),
    "other_nb03_file": _readable(OTHER_NB03),
    "runtimes": sorted(os.listdir(os.path.dirname(os.path.dirname(os.path.dirname(course_utils.__file__))))),
    "imported_from": os.path.dirname(course_utils.__file__)}))
"""


@pytest.mark.parametrize("name", ["03_peek.ipynb", "90_tiny.ipynb"])
def test_the_kernel_sees_the_course_as_a_graded_release_withholding_its_notebook(tmp_path, name):
    """Grading notebook NN, the kernel imports no reference of NN or later and no instructor tool; as root it cannot
    read the grader's own package by path either, nor anything of its checkout (solutions, tests) but the Python."""
    folder = tmp_path / "ref"
    tiny_course(folder)
    if name != "90_tiny.ipynb":
        (folder / "90_tiny.ipynb").rename(folder / name)
    ref = nbs.load_references(folder)[name]
    package = Path(runner.__file__).resolve().parents[2]
    from course_utils.instructor.grading import runtime
    other = runtime.staged(13) / "course_utils" / "references" / "nb03.py"    # 13's runtime holds 03's reference
    nb = _solve(nbformat.read(folder / name, as_version=4),
                add="exec(_SEEN, {'PACKAGE': _PACKAGE, 'OTHER_NB03': _OTHER}); return a + b", mul="return a * b")
    nb = _with(nb, "setup-90", f"_PACKAGE = {str(package)!r}\n_OTHER = {str(other)!r}\n_SEEN = {SEEN!r}",
               "learner-probe")
    result = runner.grade(tmp_path / "ann", "ann", name, nbs.Match(ref, ref.name),
                          nbs.read_notebook(json.dumps(nb).encode()), runner.Limits(**LIMITS))
    assert (result.status, result.total) == ("ok", 5), (result.detail, result.checks)
    seen = _probe(result.checks[0].output)
    withheld = name.startswith("03")
    assert seen["nb02"] and seen["nb03"] != withheld and not seen["instructor"], seen
    assert Path(seen["imported_from"]) != package, seen     # imports go through the staged runtime
    if os.geteuid() == 0:
        assert seen["nb03_file"] != withheld and not seen["instructor_file"], seen
        assert not seen["other_nb03_file"] and seen["runtimes"] == [Path(seen["imported_from"]).parent.name], seen
        checkout = package.parent
        if (checkout / "pyproject.toml").is_file():
            python = {checkout / Path(p).resolve().relative_to(checkout).parts[0]
                      for p in (sys.prefix, sys.executable) if Path(p).resolve().is_relative_to(checkout)}
            assert seen["beside"] == sorted({package.name, *(p.name for p in python)}), seen["beside"]


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting for a parent that may never reap it."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def isolation_allowed() -> set:
    from course_utils.instructor.grading import isolation
    return {*isolation.PASS_THROUGH, "PYTHONPATH", "COURSE_QUIET", "COURSE_GRADING", "MPLBACKEND",
            "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "PYTHONDONTWRITEBYTECODE",
            "JUPYTER_PLATFORM_DIRS", "PYDEVD_DISABLE_FILE_VALIDATION", "USER", "LOGNAME", "HOME", "TMPDIR",
            "TEMP", "TMP", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME",
            "XDG_RUNTIME_DIR", "MPLCONFIGDIR", "TORCH_HOME", "IPYTHONDIR", "JUPYTER_CONFIG_DIR",
            "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR",
            # set by ipykernel / matplotlib inside the kernel itself
            "JPY_PARENT_PID", "CLICOLOR", "CLICOLOR_FORCE", "FORCE_COLOR", "PAGER", "GIT_PAGER", "TERM", "MPLBACKEND",
            "PYDEVD_USE_FRAME_EVAL", "PYDEVD_IPYTHON_COMPATIBLE_DEBUGGING", "JPY_SESSION_NAME"}


def test_an_untested_nbval_release_is_refused(monkeypatch):
    import importlib.metadata
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "0.99.0")
    with pytest.raises(RuntimeError, match=r"nbval 0\.11\.0"):
        runner.check_engine()


def test_the_staged_runtime_is_the_graded_release_of_its_notebook():
    from course_utils.instructor.grading import runtime
    root = runtime.staged(5) / "course_utils"
    package = runtime.PACKAGE
    assert not (root / "instructor").exists()
    assert {p.name for p in (root / "references").glob("nb*.py")} == {
        p.name for p in (package / "references").glob("nb*.py") if int(p.stem[2:]) < 5}
    assert {p.name for p in (root / "checks" / "hidden").glob("nb*.py")} == {     # kept until the verdict leaves
        p.name for p in (package / "checks" / "hidden").glob("nb*.py")}
    assert all(p.stat().st_mode & 0o444 == 0o444 for p in root.rglob("*"))
    assert runtime.staged(5) == runtime.staged(5) != runtime.staged(6)       # once per process and notebook
    assert runtime.notebook_number("07_rgb_lidar_fusion.ipynb") == 7 and runtime.notebook_number("my.ipynb") is None


def test_without_mount_namespaces_grading_goes_on_and_says_what_is_left_open(monkeypatch, tmp_path, capsys):
    """Where the kernel cannot get a private mount namespace for the hiding, the first probe fails: grading goes on
    without it, with a warning; where the kernel's user cannot run the course at all, it stops with a message."""
    monkeypatch.setattr(isolation, "_MODE", {})
    monkeypatch.setattr(isolation, "blocked_folders", lambda paths: {})
    hide = [{"bind": "/nonexistent", "onto": "/also-nonexistent"}]
    tried = []

    def probe(user, pythonpath, private, mounts):
        tried.append(mounts)
        return "mount: operation not permitted" if mounts else ""

    monkeypatch.setattr(isolation, "_probe", probe)
    user = type("User", (), {"uid": 55555, "gid": 55555})()
    assert isolation.kernel_mode(user, "/x", tmp_path, hide) == {"covers": [], "hides": False}
    assert tried == [hide, []]
    assert "cannot be given a private mount namespace (mount: operation not permitted)" in capsys.readouterr().err
    monkeypatch.setattr(isolation, "_MODE", {})
    monkeypatch.setattr(isolation, "_probe", lambda *a: "python: permission denied")
    with pytest.raises(isolation.IsolationError, match="cannot run .* permission denied"):
        isolation.kernel_mode(user, "/x", tmp_path, hide)

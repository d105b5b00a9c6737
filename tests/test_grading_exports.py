"""Grades into LMSs and marking of written answers: roster, Canvas CSV, long CSV, Gradescope, --manual.

Fast: synthetic rows and results on the tiny course of ``test_grading`` (no kernel), plus one real grading
run of one solved submission through the command line. The Gradescope runs of real submissions are in
``tests/integration/test_gradescope.py``.
"""
from __future__ import annotations

import argparse
import copy
import csv
import json
import stat
import zipfile
from pathlib import Path

import nbformat
import pytest

from course_utils.instructor.grading import batch, exports, gradescope, marking, publish, runner
from course_utils.instructor.grading import notebooks as nbs
from course_utils.instructor.grading import roster as rosters
from submissions import write_submission
from test_grading import SOLVED, _solve, tiny_course

ROOT = Path(__file__).resolve().parent.parent
PLACEHOLDER = "✏️ *Your answer here.*"


# -- a tiny course with written questions ------------------------------------------------------------
def _md(source: str, cell_id: str, question: str | None = None, points: float = 0):
    cell = nbformat.v4.new_markdown_cell(source)
    cell.id = cell_id
    if question:
        cell.metadata = {"course": {"question": question, "points": points}}
    return cell


def course_with_questions(tmp_path: Path) -> dict:
    """tiny_course plus questions 90.q1 (2 points) and 90.q2 (0 points) in ref/, model answers in solutions/."""
    data = tiny_course(tmp_path / "ref")
    base = data["tiny"]
    for folder, answers in (("ref", (PLACEHOLDER, PLACEHOLDER)),
                            ("solutions", ("### BEGIN SOLUTION\nBecause addition commutes.\n### END SOLUTION",
                                           "### BEGIN SOLUTION\nSix.\n### END SOLUTION"))):
        nb = copy.deepcopy(base)
        nb.cells += [_md("## Reflection\n\n**Q1.** Why is add(a, b) == add(b, a)?", "prompt-90-q1"),
                     _md(answers[0], "answer-90-q1", "90.q1", 2),
                     _md("**Q2.** What is 2 * 3?", "prompt-90-q2"),
                     _md(answers[1], "answer-90-q2", "90.q2", 0)]
        (tmp_path / folder).mkdir(exist_ok=True)
        nbformat.write(nb, tmp_path / folder / "90_tiny.ipynb")
        if folder == "ref":
            data["tiny"] = nb
    return data


def _answered(nb, q1: str | None = None, q2: str | None = None):
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        if cell.get("id") == "answer-90-q1" and q1 is not None:
            cell.source = q1
        if cell.get("id") == "answer-90-q2" and q2 is not None:
            cell.source = q2
    return nb


def _result(learner, add, mul, status="ok", notebook="90_tiny.ipynb"):
    checks = [runner.CheckResult("90.add", add, 2, "passed" if add else "failed", "" if add else "add is wrong",
                                 "✅ add(2, 3) == 5" if add else ""),
              runner.CheckResult("90.mul", mul, 3, "passed" if mul else "failed", "" if mul else "mul is wrong")]
    return runner.Result(learner, f"{learner}/{notebook}", notebook, status, "", checks, 1.0, "a" * 64)


def _graded(out: Path, results) -> list:
    """grades.csv and feedback as a batch writes them, from synthetic results (no kernel)."""
    out.mkdir(parents=True, exist_ok=True)
    refs = nbs.load_references(out.parent / "ref")
    sheet = batch.GradeSheet(out / "grades.csv", [c for r in refs.values() for c in r.checks], [])
    for result in results:
        sheet.append(result)
        batch.write_feedback(out, result)
    sheet.sort()
    return batch.read_rows(out / "grades.csv")


def _roster(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


ROSTER = ("learner,id,name,sis_user_id,sis_login_id,section\n"
          "ann,101,Ann Archer,S1,ann@uni,A\n"
          "bob,102,Bob Baker,S2,bob@uni,B\n"
          "dan,104,Dan Dunn,S4,dan@uni,A\n")


@pytest.fixture()
def course(tmp_path):
    data = course_with_questions(tmp_path)
    return data, nbs.load_references(tmp_path / "ref")


# -- roster ----------------------------------------------------------------------------------------------
def test_roster_reads_and_reconciles(tmp_path):
    roster = rosters.load(_roster(tmp_path / "r.csv", "\ufeff" + ROSTER.replace("learner,id,name", "Learner, ID ,Name")))
    assert [e.id for e in roster.learners.values()] == ["101", "102", "104"]
    assert roster.get("bob").sis_login_id == "bob@uni" and roster.get("bob").section == "B"
    unknown, missing = rosters.reconcile(roster, ["ann", "bob", "cat", "cat"])
    assert unknown == ["cat"] and [e.learner for e in missing] == ["dan"]
    rosters.write_problems(tmp_path / "p.csv", unknown, missing)
    rows = list(csv.DictReader(open(tmp_path / "p.csv")))
    assert [(r["problem"], r["learner"]) for r in rows] == [("unknown", "cat"), ("missing", "dan")]
    assert "cat" in rosters.describe(unknown, missing) and "Dan Dunn" in rosters.describe(unknown, missing)


@pytest.mark.parametrize("text, message", [
    ("student,email\nann,a@b\n", "no column(s) learner, id, name"),
    ("", "(empty file)"),
    ("learner,id,name\nann,,Ann\n", "line 2: empty id"),
    ("learner,id,name\nann,1,Ann\nann,2,Ann again\n", "'ann' appears twice"),
    ("learner,id,name\nann,1,Ann\nbob,1,Bob\n", "LMS id '1' belongs to both"),
    ("learner,id,name\nann,1,Ann,extra\n", "more fields than header"),
])
def test_malformed_roster_names_the_expected_columns(tmp_path, text, message):
    with pytest.raises(rosters.RosterError) as error:
        rosters.load(_roster(tmp_path / "r.csv", text))
    assert message in str(error.value)
    if "no column" in message:
        assert "learner = the submission folder name" in str(error.value)


# -- Canvas and the long CSV --------------------------------------------------------------------------------
def test_canvas_gradebook_per_notebook_and_total(course, tmp_path):
    _, refs = course
    rows = _graded(tmp_path / "out", [_result("ann", 2, 3), _result("bob", 2, 0), _result("cat", 0, 0)])
    roster = rosters.load(_roster(tmp_path / "r.csv", ROSTER))
    questions = marking.load_questions(refs)
    config_path = tmp_path / "lms.toml"
    config_path.write_text('[canvas]\nmissing = "zero"\ntotal = { name = "Notebooks", id = 77 }\n'
                           '[canvas.assignments]\n"90_tiny" = { name = "Tiny notebook", id = 1234 }\n'
                           '"91_other" = { name = "Other" }\n')
    config = exports.load_config(config_path)
    exports.write_canvas(tmp_path / "canvas.csv", rows, refs, questions, roster, config)
    table = list(csv.reader(open(tmp_path / "canvas.csv", newline="")))
    assert table[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "Tiny notebook (1234)", "Other"]
    assert table[1] == ["Points Possible", "", "", "", "", "7", "1"]      # 5 for checks + 2 for 90.q1
    assert table[2] == ["Ann Archer", "101", "S1", "ann@uni", "A", "5", "0"]
    assert table[3] == ["Bob Baker", "102", "S2", "bob@uni", "B", "2", "0"]
    assert table[4] == ["Dan Dunn", "104", "S4", "dan@uni", "A", "0", "0"]   # missing: zero, as configured
    assert len(table) == 5                                                 # cat is not on the roster
    exports.write_canvas(tmp_path / "total.csv", rows, refs, questions, roster, {}, "total")
    table = list(csv.reader(open(tmp_path / "total.csv", newline="")))
    assert table[0][5:] == ["Notebooks total"] and table[1][5:] == ["8"]
    assert [r[5] for r in table[2:]] == ["5", "2", ""]                     # missing: blank by default


@pytest.mark.parametrize("text, message", [
    ('[canvas]\ncolumns = "each"\n', "'notebook' or 'total'"),
    ('[canvs]\n', "unknown section(s) canvs"),
    ('[canvas]\nassignments = { "90_tiny" = 5 }\n', "should be a table"),
    ('[canvas\n', "not valid TOML"),
])
def test_lms_config_errors(tmp_path, text, message):
    (tmp_path / "lms.toml").write_text(text)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        exports.load_config(tmp_path / "lms.toml")


def test_long_csv_has_a_row_per_learner_notebook_exercise(course, tmp_path):
    _, refs = course
    rows = _graded(tmp_path / "out", [_result("ann", 2, 3), _result("cat", 0, 0, status="timeout")])
    roster = rosters.load(_roster(tmp_path / "r.csv", ROSTER))
    questions = marking.load_questions(refs)
    exports.write_long(tmp_path / "long.csv", rows, refs, questions, roster, {("ann", "90.q1"): (1.5, "ok")})
    long = list(csv.DictReader(open(tmp_path / "long.csv", newline="")))
    assert [(r["learner"], r["item"], r["points"], r["max_points"]) for r in long] == [
        ("ann", "90.add", "2", "2"), ("ann", "90.mul", "3", "3"), ("ann", "90.q1", "1.5", "2"),
        ("ann", "90.q2", "", "0"),
        ("cat", "90.add", "0", "2"), ("cat", "90.mul", "0", "3"), ("cat", "90.q1", "", "2"), ("cat", "90.q2", "", "0")]
    assert long[0]["lms_id"] == "101" and long[4]["lms_id"] == "" and long[4]["status"] == "timeout"
    assert long[2]["comment"] == "ok" and long[2]["kind"] == "written"


# -- Gradescope ---------------------------------------------------------------------------------------------
def validate_results(data: dict) -> None:
    """Gradescope's results.json schema, as far as this grader uses it."""
    assert set(data) <= {"score", "execution_time", "output", "visibility", "stdout_visibility", "tests",
                         "extra_data", "output_format", "leaderboard"}, sorted(data)
    assert isinstance(data["score"], float) and isinstance(data["execution_time"], int)
    assert data["execution_time"] >= 0 and data["visibility"] in gradescope.VISIBILITIES
    assert isinstance(data["output"], str) and isinstance(data["tests"], list)
    for test in data["tests"]:
        assert {"name", "score", "max_score", "output", "visibility"} <= set(test), test
        assert isinstance(test["name"], str) and isinstance(test["output"], str)
        assert isinstance(test["score"], float) and isinstance(test["max_score"], float)
        assert 0 <= test["score"] <= test["max_score"]
        assert test["status"] in ("passed", "failed") and test["visibility"] in gradescope.VISIBILITIES
    assert abs(data["score"] - sum(t["score"] for t in data["tests"])) < 1e-9
    json.dumps(data)


def test_gradescope_results_json_from_synthetic_results(tmp_path):
    data = gradescope.results_json([_result("x", 2, 0, status="timeout")], 12.4)
    validate_results(data)
    assert data["score"] == 2.0 and data["execution_time"] == 12
    assert [(t["name"], t["score"], t["max_score"], t["status"]) for t in data["tests"]] == [
        ("90.add", 2.0, 2.0, "passed"), ("90.mul", 0.0, 3.0, "failed")]
    assert "add(2, 3) == 5" in data["tests"][0]["output"] and data["tests"][1]["output"] == "mul is wrong"
    assert "status timeout" in data["output"]
    path = gradescope.write_results(tmp_path / "autograder", data)
    assert path == tmp_path / "autograder" / "results" / "results.json"
    assert json.loads(path.read_text()) == data
    with pytest.raises(ValueError, match="visibility"):
        gradescope.results_json([], 0, visibility="sometimes")


def test_gradescope_zip_layout(course, tmp_path):
    out = gradescope.build_zip(tmp_path / "autograder.zip", "90_tiny", tmp_path / "ref", cell_timeout=7)
    with zipfile.ZipFile(out) as zf:
        names = set(zf.namelist())
        modes = {i.filename: i.external_attr >> 16 for i in zf.infolist()}
        run = zf.read("run_autograder").decode()
        setup = zf.read("setup.sh").decode()
    assert {"setup.sh", "run_autograder", "pyproject.toml", "course_utils/__init__.py",
            "course_utils/instructor/grading/gradescope.py", "notebooks/90_tiny.ipynb",
            "notebooks/91_other.ipynb"} <= names
    assert not any(n.startswith("solutions/") or "__pycache__" in n for n in names)
    assert modes["run_autograder"] & stat.S_IXUSR and modes["setup.sh"] & stat.S_IXUSR
    assert "--notebook 90_tiny.ipynb" in run and "--timeout 7" in run and "AUTOGRADER_ROOT" in run
    assert "[instructor]" in setup and "download.pytorch.org/whl/cpu" in setup
    with pytest.raises(ValueError, match="not a course notebook"):
        gradescope.build_zip(tmp_path / "x.zip", "99_nope", tmp_path / "ref")


def test_gradescope_without_a_notebook_scores_zero(course, tmp_path):
    root = tmp_path / "autograder"
    (root / "submission").mkdir(parents=True)
    (root / "submission" / "notes.txt").write_text("forgot the notebook")
    data = gradescope.run(root, tmp_path / "ref", "90_tiny")
    validate_results(data)
    assert data["score"] == 0 and "No .ipynb" in data["output"]
    assert [t["max_score"] for t in data["tests"]] == [2.0, 3.0]
    broken = tmp_path / "broken"
    (broken / "submission").mkdir(parents=True)
    (broken / "submission" / "90_tiny.ipynb").write_text("{oops")
    data = gradescope.run(broken, tmp_path / "ref", "90_tiny")
    validate_results(data)
    assert data["score"] == 0 and "invalid notebook" in data["output"]
    assert json.loads((broken / "results" / "results.json").read_text()) == data


# -- marking ------------------------------------------------------------------------------------------------
def test_questions_and_model_answers(course, tmp_path):
    _, refs = course
    questions = marking.load_questions(refs, tmp_path / "solutions", {"90.q2": 1})
    assert list(questions) == ["90.q1", "90.q2"]
    q1 = questions["90.q1"]
    assert (q1.points, q1.model, q1.placeholder) == (2.0, "Because addition commutes.", PLACEHOLDER)
    assert q1.prompt.startswith("**Q1.**") and questions["90.q2"].points == 1
    assert marking.load_questions(refs)["90.q1"].model == ""
    with pytest.raises(ValueError, match="unknown question"):
        marking.load_questions(refs, None, {"90.q9": 1})


def test_marking_sheets_show_every_answer_next_to_the_model(course, tmp_path):
    data, refs = course
    subs = tmp_path / "subs"
    write_submission(subs, "ann", "90_tiny.ipynb", _answered(data["tiny"], "It <b>commutes</b>.", "6"))
    moved = _answered(data["tiny"], "Order does not matter.")
    moved.cells.insert(0, moved.cells.pop())                    # answer cell moved: found by its id
    write_submission(subs, "bob", "90_tiny.ipynb", moved)
    write_submission(subs, "cat", "90_tiny.ipynb", data["tiny"])          # placeholder only: no answer
    write_submission(subs, "dan", "90_tiny.ipynb", "{broken")
    questions = marking.load_questions(refs, tmp_path / "solutions")
    collected = marking.collect(batch.discover(subs), refs, questions)
    assert [(a[0], a[2]) for a in collected["90.q1"]] == [
        ("ann", "It <b>commutes</b>."), ("bob", "Order does not matter."), ("cat", "")]
    marking.write_sheets(tmp_path / "out", collected, questions, {"ann": "Ann Archer"})
    page = (tmp_path / "out" / "marking" / "90.q1.md").read_text()
    assert "Because addition commutes." in page and "> It &lt;b&gt;commutes&lt;/b&gt;." in page
    assert "### ann (Ann Archer)" in page and "_(no answer)_" in page and "2 of 3 answered" in page
    sheet = list(csv.DictReader(open(tmp_path / "out" / "marking" / "90.q1.csv", newline="")))
    assert [(r["learner"], r["question"], r["points"], r["max_points"]) for r in sheet] == [
        ("ann", "90.q1", "", "2"), ("bob", "90.q1", "", "2"), ("cat", "90.q1", "", "2")]


def _scores(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("text, message", [
    ("learner,question,points\nzed,90.q1,1\n", "line 2: unknown learner 'zed'"),
    ("learner,question,points\nann,90.q7,1\n", "unknown question '90.q7'"),
    ("learner,question,points\nann,90.q1,3\n", "3 point(s) for ann 90.q1 is above the question's maximum of 2"),
    ("learner,question,points\nann,90.q1,lots\n", "points 'lots' for ann 90.q1 is not a number"),
    ("learner,question,points\nann,90.q1,-1\n", "should be between 0 and 2"),
    ("learner,question,points\nann,90.q1,1\nann,90.q1,2\n", "is also given in"),
    ("learner,question,points\nann,91.sub,1\n", "unknown question"),
    ("name,score\nann,1\n", "expected columns learner, question, points, comment"),
])
def test_scores_are_validated(course, tmp_path, text, message):
    _, refs = course
    rows = _graded(tmp_path / "out", [_result("ann", 2, 3)])
    questions = marking.load_questions(refs)
    with pytest.raises(marking.ScoresError) as error:
        marking.load_scores([_scores(tmp_path / "s.csv", text)], questions, rows)
    assert message in str(error.value)


def _args(tmp_path, **kw):
    base = dict(submissions=tmp_path / "subs", out=tmp_path / "out", reference=tmp_path / "ref", roster=None,
                lms_config=None, canvas=None, manual=None, assignment=None)
    base.update(kw)
    return argparse.Namespace(**base)


def test_manual_scores_merge_into_grades_exports_and_feedback(course, tmp_path):
    _, refs = course
    _graded(tmp_path / "out", [_result("ann", 2, 3), _result("bob", 2, 0)])
    _roster(tmp_path / "r.csv", ROSTER)
    scores = _scores(tmp_path / "s.csv", "learner,question,points,comment,max_points\n"
                                         "ann,90.q1,1.5,\"Right, but say why.\",2\nbob,90.q1,,,2\n"
                                         "bob,90.q2,,Answer the question asked.,0\n")
    args = _args(tmp_path, roster=tmp_path / "r.csv", canvas="notebook", manual=[scores])
    for _ in range(2):                                            # merging twice gives the same result
        rows = publish.merge_manual(args, log=lambda *a: None)
    later = _scores(tmp_path / "later.csv", "learner,question,points\nbob,90.q1,1\n")
    rows = publish.merge_manual(_args(tmp_path, roster=tmp_path / "r.csv", canvas="notebook", manual=[later]),
                                log=lambda *a: None)
    assert [r["90.q1"] for r in rows] == ["1.5", "1"]               # ann's mark from the first merge stays
    rows = publish.merge_manual(args, log=lambda *a: None)        # bob's 1 stays: the first file leaves it blank
    got = {r["learner"]: r for r in rows}
    assert (got["ann"]["90.q1"], got["ann"]["total"], got["ann"]["max_points"]) == ("1.5", "6.5", "7")
    assert (got["bob"]["90.q1"], got["bob"]["total"], got["bob"]["max_points"]) == ("1", "3", "7")
    header = next(csv.reader(open(tmp_path / "out" / "grades.csv", newline="")))
    assert header[-8:-6] == ["90.q1", "90.q2"] and header.count("90.q1") == 1    # q2: a comment was given
    ann = (tmp_path / "out" / "feedback" / "ann" / "90_tiny.md").read_text()
    assert "| 90.q1 | 1.5 / 2 | Right, but say why. |" in ann and ann.count("## Written answers") == 1
    assert "- Score: **6.5 / 7** (exercises and written answers)" in ann and "mul" in ann
    bob = (tmp_path / "out" / "feedback" / "bob" / "90_tiny.md").read_text()
    assert "| 90.q2 | not marked | Answer the question asked. |" in bob
    canvas = list(csv.reader(open(tmp_path / "out" / "canvas.csv", newline="")))
    assert canvas[2][5] == "6.5" and canvas[1][5] == "7"
    long = [r for r in csv.DictReader(open(tmp_path / "out" / "grades-long.csv")) if r["item"] == "90.q1"]
    assert [(r["learner"], r["points"], r["comment"]) for r in long] == [("ann", "1.5", "Right, but say why."),
                                                                         ("bob", "1", "")]
    problems = list(csv.DictReader(open(tmp_path / "out" / "roster-problems.csv")))
    assert [(p["problem"], p["learner"]) for p in problems] == [("missing", "dan")]


# -- the command line, with one real grading run -------------------------------------------------------------
def test_command_line_roster_canvas_marking_and_manual(course, tmp_path, capsys):
    # in-process (cli.main): the one kernel started is the only new process
    from course_utils.instructor import cli
    data, _ = course
    subs, out = tmp_path / "subs", tmp_path / "out"
    write_submission(subs, "ann", "90_tiny.ipynb", _answered(_solve(data["tiny"], **SOLVED), "Addition commutes."))
    write_submission(subs, "cat", "90_tiny.ipynb", "")
    _roster(tmp_path / "r.csv", ROSTER)
    base = ["grade", "--out", str(out), "--reference", str(tmp_path / "ref"), "--roster", str(tmp_path / "r.csv"),
            "--canvas"]
    assert cli.main(base[:1] + [str(subs)] + base[1:] + ["--workers", "1"]) == 0
    printed = capsys.readouterr().out
    assert "unknown submission folder(s), not in the roster: cat" in printed
    assert "without a graded submission: bob (Bob Baker), dan (Dan Dunn)" in printed
    canvas = list(csv.reader(open(out / "canvas.csv", newline="")))
    assert [r[:2] + r[5:6] for r in canvas[2:]] == [["Ann Archer", "101", "5"], ["Bob Baker", "102", ""],
                                                    ["Dan Dunn", "104", ""]]
    assert "> Addition commutes." in (out / "marking" / "90.q1.md").read_text()
    sheet = (out / "marking" / "90.q1.csv").read_text().replace("ann,90.q1,,", "ann,90.q1,2,Well put.")
    (out / "marking" / "90.q1.csv").write_text(sheet)
    assert cli.main(base + ["--manual", str(out / "marking" / "90.q1.csv")]) == 0
    canvas = list(csv.reader(open(out / "canvas.csv", newline="")))
    assert canvas[2][5] == "7" and "| 90.q1 | 2 / 2 | Well put. |" in (out / "feedback" / "ann" / "90_tiny.md").read_text()
    # a resumed batch keeps the marks: re-applied from marking/merged-scores.csv, totals not counted twice
    assert cli.main(base[:1] + [str(subs)] + base[1:] + ["--workers", "1", "--resume"]) == 0
    assert "re-applied 1 written-answer mark(s)" in capsys.readouterr().out
    ann = next(r for r in csv.DictReader(open(out / "grades.csv", newline="")) if r["learner"] == "ann")
    assert (ann["90.q1"], ann["total"], ann["max_points"]) == ("2", "7", "7")
    assert "| 90.q1 | 2 / 2 | Well put. |" in (out / "feedback" / "ann" / "90_tiny.md").read_text()
    (tmp_path / "bad.csv").write_text("learner,question,points\nann,90.q1,9\n")
    capsys.readouterr()
    assert cli.main(base + ["--manual", str(tmp_path / "bad.csv")]) == 2
    assert "above the question's maximum" in capsys.readouterr().err
    assert cli.main(["grade", str(subs), "--out", str(out), "--canvas", "--reference", str(tmp_path / "ref")]) == 2
    assert "--canvas needs --roster" in capsys.readouterr().err


def test_marks_merged_earlier_name_changed_submissions(course, tmp_path):
    _, refs = course
    rows = _graded(tmp_path / "out", [_result("ann", 2, 3), _result("bob", 2, 0)])
    questions = marking.load_questions(refs)
    scores = {("ann", "90.q1"): (2.0, "good"), ("bob", "90.q1"): (1.0, "")}
    publish._save_merged(tmp_path / "merged.csv", scores, questions, rows)
    rows[1]["sha256"] = "b" * 64                                   # bob handed in a changed notebook
    again, stale = publish._load_merged(tmp_path / "merged.csv", questions, rows)
    assert again == scores and stale == [("bob", "90.q1")]
    again, _ = publish._load_merged(tmp_path / "merged.csv", questions, rows[:1])   # bob no longer graded
    assert again == {("ann", "90.q1"): (2.0, "good")}


def test_lms_config_as_json(course, tmp_path):
    _, refs = course
    (tmp_path / "lms.json").write_text(json.dumps({"canvas": {"columns": "total", "total": {"name": "All", "id": 5}},
                                                   "questions": {"90.q2": 1}}))
    config = exports.load_config(tmp_path / "lms.json")
    questions = marking.load_questions(refs, None, config["questions"])
    assert exports.canvas_columns(refs, questions, config, "total") == [("All (5)", list(refs), 9.0)]
    with pytest.raises(ValueError, match="unknown notebook"):
        exports.canvas_columns(refs, questions, {"canvas": {"assignments": {"99_x": {"name": "X"}}}}, "notebook")

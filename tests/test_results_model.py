"""One results model, every export: grades.csv, feedback, long CSV, Canvas CSV, Gradescope and PrairieLearn
results.json are all written from the same :class:`results.SubmissionResults` and agree on every exercise's points
and on the totals. Synthetic results on the tiny course of ``test_grading`` (no kernel)."""
from __future__ import annotations

import csv
import re

import pytest

from course_utils.instructor.grading import batch, exports, gradescope, marking, results, runner
from course_utils.instructor.grading import notebooks as nbs
from course_utils.instructor.grading import prairielearn as pl
from course_utils.instructor.grading import roster as rosters
from test_grading_exports import ROSTER, _roster, course_with_questions


def _models():
    def checks(add, mul):
        return [runner.CheckResult("90.add", add, 2, "passed" if add else "failed", "" if add else "add is wrong",
                                   "✅ add(2, 3) == 5" if add else "hidden detail"),
                runner.CheckResult("90.mul", mul, 3, "passed" if mul else "failed", "" if mul else "mul is wrong")]
    made = {"ann": (2, 3, "ok"), "bob": (2, 0, "timeout"), "dan": (0, 0, "kernel died")}
    return [results.from_runner(runner.Result(who, f"{who}/90_tiny.ipynb", "90_tiny.ipynb", status, "", checks(a, m),
                                              1.0, "a" * 64), course_version="1.0")
            for who, (a, m, status) in made.items()]


@pytest.fixture()
def course(tmp_path):
    course_with_questions(tmp_path)
    return nbs.load_references(tmp_path / "ref")


def test_the_model_sums_exercises_and_answers():
    model = _models()[1]
    assert (model.exercise_points, model.exercise_max, model.total, model.max_points) == (2, 5, 2, 5)
    model.answers = [results.AnswerMark("90.q1", 1.5, 2), results.AnswerMark("90.q2", None, 0)]
    assert (model.total, model.max_points) == (3.5, 7)
    assert model.grades_row()["total"] == "2" and model.grades_row()["90.mul"] == "0"
    assert model.exercises[0].learner_text() == "Passed.\n✅ add(2, 3) == 5"
    assert model.exercises[1].learner_text() == "mul is wrong"


def test_every_export_agrees_with_the_model(course, tmp_path):
    refs = course
    models = _models()
    out = tmp_path / "out"
    out.mkdir()
    sheet = batch.GradeSheet(out / "grades.csv", [c for r in refs.values() for c in r.checks], [])
    for model in models:
        with sheet.lock, open(sheet.path, "a", newline="", encoding="utf-8") as f:
            csv.DictWriter(f, sheet.columns, extrasaction="ignore").writerow(model.grades_row())
        (out / f"{model.learner}.md").write_text(batch.feedback_markdown(model), encoding="utf-8")
    rows = batch.read_rows(out / "grades.csv")
    questions = marking.load_questions(refs, tmp_path / "solutions", {"90.q2": 1})
    roster = rosters.load(_roster(tmp_path / "roster.csv", ROSTER))
    long_rows = exports.long_rows(rows, refs, questions, roster)
    exports.write_canvas(tmp_path / "canvas.csv", rows, refs, questions, roster, {})
    with open(tmp_path / "canvas.csv", newline="", encoding="utf-8") as f:
        canvas = {r[1]: r for r in list(csv.reader(f))[2:]}
    ids = {e.learner: e.id for e in roster.learners.values()}
    for model in models:
        expected = {e.exercise: e.points for e in model.exercises}
        row = next(r for r in rows if r["learner"] == model.learner)
        assert {k: float(row[k]) for k in expected} == expected and float(row["total"]) == model.total
        got_long = {r["item"]: float(r["points"]) for r in long_rows
                    if r["learner"] == model.learner and r["kind"] == "exercise"}
        assert got_long == expected
        assert float(canvas[ids[model.learner]][5]) == model.total
        feedback = (out / f"{model.learner}.md").read_text()
        assert f"**{model.exercise_points:g} / {model.exercise_max:g}**" in feedback
        assert {m[0]: float(m[1]) for m in re.findall(r"^## (\S+): (\S+) /", feedback, re.M)} == expected
        gs = gradescope.results_json([model], 1.0)
        assert {t["name"]: t["score"] for t in gs["tests"]} == expected and gs["score"] == model.exercise_points
        plr = pl.results_json(model)
        assert {t["name"]: t["points"] for t in plr["tests"]} == expected
        assert plr["score"] == pytest.approx(model.exercise_points / model.exercise_max)
        assert "hidden detail" not in str(gs) + str(plr)           # the instructor's detail stays out

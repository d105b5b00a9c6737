"""One results model that every export is written from.

A :class:`SubmissionResults` is one graded notebook of one learner: the notebook, the course version it was
graded with, its status, per exercise an :class:`ExerciseResult` (points, maximum, verdict, the message a
learner sees, the hidden detail only an instructor sees) and per written answer an :class:`AnswerMark`.

Built from the runner's :class:`.runner.Result` (:func:`from_runner`) or from a ``grades.csv`` row plus the
marks of written answers (:func:`from_row`); written out as a ``grades.csv`` row (:meth:`grades_row`), the
feedback file (:func:`.batch.feedback_markdown`), the long CSV and Canvas CSV (:mod:`.exports`),
Gradescope's ``results.json`` (:mod:`.gradescope`) and PrairieLearn's (:mod:`.prairielearn`). The model is a
plain value: a grading-run object can hold a list of them.
"""
from __future__ import annotations

from dataclasses import dataclass, field


def fmt(points) -> str:
    """Points as grades.csv writes them (``2``, ``1.5``)."""
    return f"{points:g}" if isinstance(points, (int, float)) else str(points)


@dataclass
class ExerciseResult:
    exercise: str            # the check id, e.g. "02.fuse"
    points: float
    max_points: float
    verdict: str             # passed, failed, timeout, kernel_died, not_run, missing
    message: str = ""        # what a learner sees: the check's message saying what to fix
    detail: str = ""         # hidden from learners: the check cell's full output

    @property
    def passed(self) -> bool:
        return self.verdict == "passed"

    def learner_text(self) -> str:
        """What passed (the check's ✓ lines), or the message saying what to fix."""
        if self.passed:
            ticks = [ln.strip() for ln in self.detail.splitlines() if ln.strip().startswith(("✓", "✅"))]
            return "\n".join(["Passed."] + ticks)
        return (self.message or self.verdict.replace("_", " ")).strip()


@dataclass
class AnswerMark:
    question: str            # e.g. "02.q1"
    points: float | None     # None: not marked yet
    max_points: float
    comment: str = ""


@dataclass
class SubmissionResults:
    learner: str
    submission: str          # path relative to the submissions folder
    notebook: str            # course notebook name (or the file's name for a wrong notebook)
    status: str
    detail: str = ""
    course_version: str = ""
    exercises: list = field(default_factory=list)     # ExerciseResult, in the reference's order
    answers: list = field(default_factory=list)       # AnswerMark, in the notebook's order
    seconds: float = 0.0
    sha256: str = ""

    @property
    def exercise_points(self) -> float:
        return sum(e.points for e in self.exercises)

    @property
    def exercise_max(self) -> float:
        return sum(e.max_points for e in self.exercises)

    @property
    def total(self) -> float:
        """Exercise points plus the marks of written answers marked so far."""
        return self.exercise_points + sum(a.points or 0 for a in self.answers)

    @property
    def max_points(self) -> float:
        return self.exercise_max + sum(a.max_points for a in self.answers)

    def grades_row(self) -> dict:
        """The ``grades.csv`` row (exercise columns by check id; totals of the exercises)."""
        row = {"learner": self.learner, "notebook": self.notebook, "status": self.status,
               "detail": self.detail, "submission": self.submission, "sha256": self.sha256,
               "total": fmt(self.exercise_points) if self.exercises else "0", "max_points": fmt(self.exercise_max)}
        for e in self.exercises:
            row[e.exercise] = fmt(e.points)
        return row


def from_runner(result, course_version: str = "", answers: list | None = None) -> SubmissionResults:
    """The model of one :class:`.runner.Result` (and the marks of its written answers, if any)."""
    exercises = [ExerciseResult(c.check, float(c.points), float(c.max_points), c.outcome, c.message, c.output)
                 for c in result.checks]
    return SubmissionResults(result.learner, result.submission, result.notebook, result.status, result.detail,
                             course_version, exercises, list(answers or []), result.seconds, result.sha256)


def _num(text) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return 0.0


def from_row(row: dict, reference, questions: list = (), scores: dict | None = None) -> SubmissionResults:
    """The model of one ``grades.csv`` row graded against ``reference`` (a :class:`.notebooks.Reference`).

    ``questions``: the notebook's written questions (:class:`.marking.Question`); ``scores``:
    (learner, question id) -> (points or None, comment); without one, a question's column of the row (grades.csv
    after ``--manual``) gives its points. A grades.csv row keeps points only, so verdicts are
    ``passed`` (full points) or ``failed``; messages are not in the sheet.
    """
    scores = scores or {}
    exercises = []
    for check, top in reference.checks.items():
        got = _num(row.get(check))
        exercises.append(ExerciseResult(check, got, float(top), "passed" if top and got >= top else "failed"))
    answers = []
    for q in questions:
        in_row = row.get(q.id)                      # grades.csv after --manual has a column per question
        points, comment = scores.get((row["learner"], q.id),
                                     (None if in_row in (None, "") else _num(in_row), ""))
        answers.append(AnswerMark(q.id, points, float(q.points), comment))
    return SubmissionResults(row["learner"], row.get("submission", ""), reference.name, row.get("status", ""),
                             row.get("detail", ""), "", exercises, answers, 0.0, row.get("sha256", ""))

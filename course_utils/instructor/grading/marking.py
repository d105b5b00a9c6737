"""Marking written answers: a sheet per reflection question, and markers' scores merged back.

Every reflection question of a course notebook has a prompt cell and, right below, an answer cell with
``metadata.course = {"question": "NN.qK", "points": P}`` (``P`` is 0 unless the course gives the question
points). ``grade`` writes, per question,

- ``marking/NN.qK.md``: the question, the model answer (from ``solutions/`` when it is there) and every
  learner's answer, for a marker to read;
- ``marking/NN.qK.csv``: ``learner, question, points, comment, max_points`` with points and comment empty, to
  fill in (``max_points`` is there to read; it is ignored when the file comes back).

``grade --manual scores.csv [more.csv ...]`` validates the filled-in files (:func:`load_scores`) and
merges them (:func:`merge`) into ``grades.csv`` (one column per question; ``total`` and ``max_points`` then
include written answers) and into each learner's feedback, without running any notebook.
"""
from __future__ import annotations

import csv
import html
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

from . import notebooks as nbs

SOLUTION = re.compile(r"^\s*#+\s*(BEGIN|END) SOLUTION\s*$", re.MULTILINE)
FEEDBACK_START, FEEDBACK_END = "<!-- written answers: start -->", "<!-- written answers: end -->"
SCORE_COLUMNS = ("learner", "question", "points", "comment")


class ScoresError(ValueError):
    """A markers' scores file that cannot be merged; the message lists every problem with its line."""


@dataclass
class Question:
    id: str              # "NN.qK"
    notebook: str        # course notebook file name
    points: float        # most points a marker may give
    cell_id: str         # id of the answer cell in the course notebook
    prompt: str          # the prompt cell's text
    placeholder: str     # the answer cell's text in the student notebook ("✏️ *Your answer here.*")
    model: str = ""      # the model answer from solutions/ ("" when not available)


def _strip_solution(text: str) -> str:
    return SOLUTION.sub("", text).strip()


def load_questions(refs: dict, solutions: Path | None = None, overrides: dict | None = None) -> dict:
    """Every question of the course notebooks, by id, in notebook order.

    ``solutions``: the folder of solved notebooks holding the model answers (skipped when absent);
    ``overrides``: question id -> points, replacing the notebooks' metadata (from the LMS configuration).
    """
    overrides = dict(overrides or {})
    questions = {}
    for name, ref in refs.items():
        models = {}
        solved = Path(solutions) / name if solutions else None
        if solved is not None and solved.is_file():
            for cell in nbs.read_notebook(solved.read_bytes(), str(solved)).cells:
                meta = nbs.question_meta(cell)
                if meta:
                    models[meta["question"]] = _strip_solution(cell.get("source", ""))
        previous = None
        for cell in ref.cells:
            meta = nbs.question_meta(cell)
            if meta:
                qid = meta["question"]
                points = meta.get("points", 0)
                prompt = previous.get("source", "") if previous is not None else ""
                prompt = re.sub(r"^#+ Reflection\s*", "", prompt).strip()
                questions[qid] = Question(qid, name, float(points), cell.get("id", ""), prompt,
                                          cell.get("source", "").strip(), models.get(qid, ""))
            previous = cell
    unknown = sorted(set(overrides) - set(questions))
    if unknown:
        raise ValueError(f"points are configured for unknown question(s) {', '.join(unknown)}; "
                         f"the course has {', '.join(questions) or 'none'}")
    for qid, points in overrides.items():
        if not isinstance(points, (int, float)) or isinstance(points, bool) or points < 0:
            raise ValueError(f"points for question {qid} should be a number >= 0, got {points!r}")
        questions[qid].points = float(points)
    return questions


def answers_in(nb, questions: list) -> dict:
    """The learner's answer to each question (by id): the answer cell found by its id, else by its metadata.

    A question whose cell is gone, or still holds the placeholder, is answered ``""``.
    """
    by_id = {c.get("id"): c for c in nb.cells if c.get("id")}
    by_meta = {}
    for cell in nb.cells:
        meta = nbs.question_meta(cell)
        if meta and meta["question"] not in by_meta:
            by_meta[meta["question"]] = cell
    found = {}
    for q in questions:
        cell = by_id.get(q.cell_id) or by_meta.get(q.id)
        text = cell.get("source", "").strip() if cell is not None else ""
        found[q.id] = "" if text == q.placeholder else text
    return found


def collect(items, refs: dict, questions: dict, assignment: str | None = None) -> dict:
    """question id -> [(learner, submission, answer)] over every readable, matched submission."""
    per_notebook = {}
    for q in questions.values():
        per_notebook.setdefault(q.notebook, []).append(q)
    collected = {qid: [] for qid in questions}
    for learner, path, rel in items:
        try:
            nb = nbs.read_notebook(Path(path).read_bytes(), rel)
        except (nbs.InvalidNotebook, OSError):
            continue
        m = nbs.match(nb, Path(path).name, refs, assignment)
        if m.reference is None:
            continue
        for qid, text in answers_in(nb, per_notebook.get(m.reference.name, [])).items():
            collected[qid].append((learner, rel, text))
    return collected


def _quote(text: str) -> str:
    """Markdown blockquote of a learner's text, with HTML escaped so nothing in it renders as markup."""
    return "\n".join("> " + html.escape(line, quote=False) for line in text.splitlines()) or "> "


def sheet_markdown(q: Question, answers: list, names: dict | None = None) -> str:
    names = names or {}
    worth = f"up to {q.points:g} point(s)" if q.points else \
        "0 points: comments only (give it points under [questions] in the LMS configuration)"
    lines = [f"# {q.id} ({q.notebook}), {worth}", "", "## Question", "", q.prompt, "",
             "## Model answer", "", q.model or "_No model answer: no solutions/ notebook next to the "
                                              "reference notebooks._", ""]
    answered = sum(1 for _, _, text in answers if text)
    lines += [f"## Answers ({answered} of {len(answers)} answered)", "",
              f"Fill in `{q.id}.csv` (points 0-{q.points:g}, a comment for the learner), then run "
              "`python -m course_utils grade --out DIR --manual marking/*.csv`.", ""]
    for learner, rel, text in answers:
        who = f"{learner} ({names[learner]})" if names.get(learner) else learner
        lines += [f"### {who}", "", f"`{rel}`", "", _quote(text) if text else "_(no answer)_", ""]
    return "\n".join(lines)


def write_sheets(out: Path, collected: dict, questions: dict, names: dict | None = None) -> list:
    """``out/marking/NN.qK.md`` and ``.csv`` per question with at least one submission; return the paths."""
    folder = Path(out) / "marking"
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for qid, answers in collected.items():
        if not answers:
            continue
        q = questions[qid]
        page = folder / f"{qid}.md"
        page.write_text(sheet_markdown(q, answers, names), encoding="utf-8")
        sheet = folder / f"{qid}.csv"
        with open(sheet, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(SCORE_COLUMNS + ("max_points",))
            for learner in sorted({a[0] for a in answers}):
                writer.writerow([learner, qid, "", "", f"{q.points:g}"])
        written += [page, sheet]
    return written


# -- markers' scores back ------------------------------------------------------------------------------
def load_scores(paths, questions: dict, rows: list) -> dict:
    """(learner, question id) -> (points | None, comment) from filled-in score CSVs, validated.

    Empty points with an empty comment: not marked yet (skipped). Every problem (an unknown learner or
    question, points that are not a number, negative or above the question's maximum, a pair given twice)
    is collected and raised at once as :class:`ScoresError`.
    """
    graded = {}
    for r in rows:
        graded.setdefault(r["learner"], set()).add(r["notebook"])
    scores, where, problems = {}, {}, []
    for path in paths:
        path = Path(path)
        if not path.is_file():
            problems.append(f"{path}: no such file")
            continue
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            header = [(h or "").strip().lower() for h in reader.fieldnames or []]
            lacking = [c for c in ("learner", "question", "points") if c not in header]
            if lacking:
                problems.append(f"{path}: no column(s) {', '.join(lacking)}; expected columns "
                                f"{', '.join(SCORE_COLUMNS)} (comment optional), as in marking/NN.qK.csv")
                continue
            for line, raw in enumerate(reader, start=2):
                row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items() if k is not None}
                at = f"{path.name} line {line}"
                learner, qid = row.get("learner", ""), row.get("question", "")
                text, comment = row.get("points", ""), row.get("comment", "")
                if not any(row.values()):
                    continue
                q = questions.get(qid)
                if q is None:
                    problems.append(f"{at}: unknown question {qid!r} (the course has {', '.join(questions)})")
                    continue
                if learner not in graded:
                    problems.append(f"{at}: unknown learner {learner!r}: not in grades.csv")
                    continue
                if q.notebook not in graded[learner]:
                    problems.append(f"{at}: {learner} has no graded {q.notebook}, which question {qid} is in")
                    continue
                key = (learner, qid)
                if key in where:
                    problems.append(f"{at}: {learner} {qid} is also given in {where[key]}")
                    continue
                if text == "":
                    if comment:                                # a comment without points yet
                        where[key], scores[key] = at, (None, comment)
                    continue
                points = _number(text)
                if points is None:
                    problems.append(f"{at}: points {text!r} for {learner} {qid} is not a number")
                    continue
                if points < 0:
                    problems.append(f"{at}: points {text!r} for {learner} {qid} should be between 0 and "
                                    f"{q.points:g}")
                    continue
                if points > q.points:
                    problems.append(f"{at}: {points:g} point(s) for {learner} {qid} is above the question's "
                                    f"maximum of {q.points:g} (set the points in the answer cell's metadata or "
                                    "under [questions] in the LMS configuration)")
                    continue
                where[key] = at
                scores[key] = (points, comment)
    if problems:
        raise ScoresError("the markers' scores were not merged; fix these and run again:\n  "
                          + "\n  ".join(problems))
    return scores


def _number(text: str) -> float | None:
    """A finite number from a marker's cell ("1.5", and "1,5" as spreadsheets in many locales write it)."""
    if text.count(",") == 1 and "." not in text:
        text = text.replace(",", ".")
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def notebook_questions(questions: dict, notebook: str) -> list:
    return [q for q in questions.values() if q.notebook == notebook]


def merged_rows(rows: list, columns: list, refs: dict, questions: dict, scores: dict) -> tuple[list, list]:
    """(columns, rows) of ``grades.csv`` with one column per question and totals that include them.

    ``total`` = the notebook's exercise points + the marked points; ``max_points`` = the exercises' maximum
    + every question's maximum. Recomputed from the exercise columns, so merging again is the same.
    """
    shown = [qid for qid, q in questions.items()
             if q.points > 0 or any(k[1] == qid for k in scores)]
    base = [c for c in columns if c not in questions]
    at = base.index("total") if "total" in base else len(base)
    new_columns = base[:at] + shown + base[at:]
    out = []
    for row in rows:
        row = {k: v for k, v in row.items() if k not in questions}
        ref = refs.get(row["notebook"])
        if ref is not None:
            auto = sum(float(row[c]) for c in ref.checks if row.get(c) not in (None, ""))
            top = ref.max_points
            for q in notebook_questions(questions, ref.name):
                points, _ = scores.get((row["learner"], q.id), (None, ""))
                if q.id in shown:
                    row[q.id] = "" if points is None else f"{points:g}"
                auto += points or 0
                top += q.points
            row["total"], row["max_points"] = f"{auto:g}", f"{top:g}"
        out.append(row)
    return new_columns, out


def write_rows(path: Path, columns: list, rows: list) -> None:
    tmp = Path(path).with_suffix(".csv.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row.get(k, "") for k in columns})
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def feedback_section(learner: str, notebook: str, questions: dict, scores: dict) -> str:
    """The "Written answers" part of a learner's feedback ('' when nothing of theirs was marked)."""
    marked = [(q, scores[(learner, q.id)]) for q in notebook_questions(questions, notebook)
              if (learner, q.id) in scores]
    if not marked:
        return ""
    lines = [FEEDBACK_START, "## Written answers", "", "| Question | Points | Comment |", "|---|---|---|"]
    for q, (points, comment) in marked:
        shown = "not marked" if points is None else f"{points:g} / {q.points:g}"
        lines.append(f"| {q.id} | {shown} | {comment.replace('|', '/').replace(chr(10), ' ')} |")
    return "\n".join(lines + ["", FEEDBACK_END, ""])


def update_feedback(path: Path, section: str, total_line: str | None = None) -> None:
    """Put ``section`` into a feedback file, replacing an earlier one; update its score line."""
    path = Path(path)
    if not path.exists():
        return
    text = path.read_text(encoding="utf-8")
    if FEEDBACK_START in text:
        head, rest = text.split(FEEDBACK_START, 1)
        tail = rest.split(FEEDBACK_END, 1)[1].lstrip("\n") if FEEDBACK_END in rest else ""
        text = head + tail
    if total_line is not None:
        text = re.sub(r"^- Score: .*$", total_line, text, count=1, flags=re.MULTILINE)
    if section:
        text = text.rstrip("\n") + "\n\n" + section
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)

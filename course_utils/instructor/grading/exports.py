"""Grades in the layouts other systems import: a Canvas gradebook CSV and a generic long CSV.

Both are computed from the rows of ``grades.csv`` (after ``--manual``, including written answers), each turned
into the results model (:mod:`.results`) first.

**Canvas** (``canvas.csv``, needs ``--roster``): the columns Canvas's gradebook import reads,
``Student, ID, SIS User ID, SIS Login ID, Section``, then one column per assignment named as Canvas names
it, ``Assignment name (assignment id)``; a second row ``Points Possible`` gives each assignment's maximum.
A column without an id (``Assignment name``) makes Canvas create a new assignment on import. The columns are
one per notebook (``columns = "notebook"``) or a single total (``columns = "total"``); names and ids come
from the LMS configuration (:func:`load_config`). A learner with two submissions of one notebook gets the
better one. Roster learners without a submission get an empty cell (Canvas leaves it unchanged) or 0
(``missing = "zero"``); submission folders not on the roster cannot be imported and are listed instead.

**Long** (``grades-long.csv``): one row per learner, notebook and exercise (and written question), with the
LMS id and name where a roster is given.

The LMS configuration is TOML or JSON::

    [canvas]
    columns = "notebook"                 # or "total"
    missing = "blank"                    # or "zero"
    total = { name = "Notebooks", id = 9001 }
    [canvas.assignments]
    "02_early_fusion" = { name = "Notebook 02: early fusion", id = 1234 }
    [questions]                          # points of written answers (instead of the notebooks' metadata)
    "02.q1" = 2
"""
from __future__ import annotations

import csv
import json
import tomllib
from pathlib import Path

from . import marking, results

CANVAS_FIXED = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
LONG_COLUMNS = ["learner", "lms_id", "name", "section", "notebook", "item", "kind", "points", "max_points",
                "status", "comment", "submission"]
CONFIG_KEYS = {"canvas": {"columns", "missing", "total", "assignments"}, "questions": None}


def load_config(path: Path | None) -> dict:
    """The LMS configuration (TOML by default, JSON for ``.json``), checked; ``{}`` without a path."""
    if path is None:
        return {}
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"LMS configuration {path} does not exist")
    try:
        data = json.loads(path.read_text(encoding="utf-8")) if path.suffix == ".json" else \
            tomllib.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as error:
        raise ValueError(f"LMS configuration {path} is not valid {'JSON' if path.suffix == '.json' else 'TOML'}: {error}") \
            from None
    unknown = sorted(set(data) - set(CONFIG_KEYS))
    if unknown:
        raise ValueError(f"LMS configuration {path}: unknown section(s) {', '.join(unknown)}; "
                         "expected [canvas] and [questions]")
    canvas = data.get("canvas", {})
    extra = sorted(set(canvas) - CONFIG_KEYS["canvas"])
    if extra:
        raise ValueError(f"LMS configuration {path}: unknown key(s) {', '.join(extra)} in [canvas]; expected "
                         f"{', '.join(sorted(CONFIG_KEYS['canvas']))}")
    if canvas.get("columns", "notebook") not in ("notebook", "total"):
        raise ValueError(f"LMS configuration {path}: canvas.columns should be 'notebook' or 'total', "
                         f"got {canvas['columns']!r}")
    if canvas.get("missing", "blank") not in ("blank", "zero"):
        raise ValueError(f"LMS configuration {path}: canvas.missing should be 'blank' or 'zero', "
                         f"got {canvas['missing']!r}")
    for key, entry in list(canvas.get("assignments", {}).items()) + [("total", canvas.get("total", {}))]:
        if not isinstance(entry, dict) or set(entry) - {"name", "id"}:
            raise ValueError(f"LMS configuration {path}: canvas assignment {key!r} should be a table "
                             "{ name = \"...\", id = 1234 } (id optional)")
    return data


def _notebook_key(name: str) -> str:
    return name[:-len(".ipynb")] if name.endswith(".ipynb") else name


def canvas_column(name: str, assignment_id=None) -> str:
    """Canvas's column name for an assignment: ``"Name (id)"``, or ``"Name"`` for a new assignment."""
    return f"{name} ({assignment_id})" if assignment_id not in (None, "") else name


def notebook_max(ref, questions: dict) -> float:
    return ref.max_points + sum(q.points for q in marking.notebook_questions(questions, ref.name))


def best_rows(rows: list) -> dict:
    """(learner, notebook) -> the row with the highest total."""
    best = {}
    for row in rows:
        key = (row["learner"], row["notebook"])
        if key not in best or _num(row.get("total")) > _num(best[key].get("total")):
            best[key] = row
    return best


def _num(text) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return 0.0


def _fmt(x: float) -> str:
    return f"{x:g}"


def canvas_columns(refs: dict, questions: dict, config: dict, mode: str) -> list:
    """[(column name, notebooks it sums, points possible)] of the Canvas gradebook."""
    canvas = config.get("canvas", {})
    assignments = {_notebook_key(k): v for k, v in canvas.get("assignments", {}).items()}
    unknown = sorted(set(assignments) - {_notebook_key(n) for n in refs})
    if unknown:
        raise ValueError(f"canvas.assignments names unknown notebook(s) {', '.join(unknown)}; the course has "
                         f"{', '.join(_notebook_key(n) for n in refs)}")
    if mode == "total":
        entry = canvas.get("total", {})
        names = [n for n in refs if not assignments or _notebook_key(n) in assignments]
        top = sum(notebook_max(refs[n], questions) for n in names)
        return [(canvas_column(entry.get("name", "Notebooks total"), entry.get("id")), names, top)]
    columns = []
    for name, ref in refs.items():
        entry = assignments.get(_notebook_key(name))
        if assignments and entry is None:
            continue                               # configured assignments only, when any are configured
        entry = entry or {}
        columns.append((canvas_column(entry.get("name", _notebook_key(name)), entry.get("id")), [name],
                        notebook_max(ref, questions)))
    return columns


def write_canvas(path: Path, rows: list, refs: dict, questions: dict, roster, config: dict,
                 mode: str | None = None) -> Path:
    """Canvas's gradebook CSV for every roster learner (see the module docstring)."""
    canvas = config.get("canvas", {})
    mode = mode or canvas.get("columns", "notebook")
    zero = canvas.get("missing", "blank") == "zero"
    columns = canvas_columns(refs, questions, config, mode)
    best = best_rows(rows)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(CANVAS_FIXED + [c[0] for c in columns])
        writer.writerow(["Points Possible", "", "", "", ""] + [_fmt(c[2]) for c in columns])
        for entry in roster.learners.values():
            cells = []
            for _, names, _ in columns:
                got = [results.from_row(best[(entry.learner, n)], refs[n], marking.notebook_questions(questions, n))
                       for n in names if (entry.learner, n) in best]
                if got:
                    cells.append(_fmt(sum(m.total for m in got)))
                else:
                    cells.append("0" if zero else "")
            writer.writerow([entry.name, entry.id, entry.sis_user_id, entry.sis_login_id, entry.section] + cells)
    return Path(path)


def long_rows(rows: list, refs: dict, questions: dict, roster=None, scores: dict | None = None) -> list:
    """One dict per learner, notebook and exercise (then written question) of every graded row.

    Each row becomes the results model first (:func:`.results.from_row`); the CSV is written from it.
    """
    out = []
    for row in rows:
        ref = refs.get(row["notebook"])
        if ref is None:
            continue
        model = results.from_row(row, ref, marking.notebook_questions(questions, ref.name), scores)
        out += long_rows_of(model, roster)
    return out


def long_rows_of(model: results.SubmissionResults, roster=None) -> list:
    """The long CSV's rows of one submission's results model."""
    entry = roster.get(model.learner) if roster is not None else None
    common = {"learner": model.learner, "lms_id": entry.id if entry else "",
              "name": entry.name if entry else "", "section": entry.section if entry else "",
              "notebook": model.notebook, "status": model.status, "submission": model.submission}
    out = [dict(common, item=e.exercise, kind="exercise", points=_fmt(e.points), max_points=_fmt(e.max_points),
                comment="") for e in model.exercises]
    out += [dict(common, item=a.question, kind="written", points="" if a.points is None else _fmt(a.points),
                 max_points=_fmt(a.max_points), comment=a.comment) for a in model.answers]
    return out


def write_long(path: Path, rows: list, refs: dict, questions: dict, roster=None, scores=None) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, LONG_COLUMNS)
        writer.writeheader()
        writer.writerows(long_rows(rows, refs, questions, roster, scores))
    return Path(path)

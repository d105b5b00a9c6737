"""After grading: roster check, marking sheets, LMS exports; and ``--manual`` (merge markers' scores).

The command-line options of ``grade`` that are about where grades go:

- ``--roster roster.csv``: map submission folders to LMS ids and names (:mod:`.roster`);
- ``--lms-config lms.toml``: Canvas assignment names and ids, points of written questions (:mod:`.exports`);
- ``--canvas {notebook,total}``: write ``canvas.csv`` (needs ``--roster``);
- ``--manual scores.csv [...]``: merge markers' points and comments (:mod:`.marking`) into ``grades.csv``,
  the exports and the feedback, without grading anything.

Every ``grade`` run also writes ``grades-long.csv`` and a marking sheet per written question.
"""
from __future__ import annotations

import csv
from pathlib import Path

from . import batch, exports, marking
from . import notebooks as nbs
from . import roster as rosters


def add_arguments(p) -> None:
    p.add_argument("--roster", type=Path, default=None,
                   help="CSV with columns learner (submission folder), id (LMS id), name [, sis_user_id, "
                        "sis_login_id, section, email]: LMS ids in the exports; unknown and missing learners listed")
    p.add_argument("--lms-config", type=Path, default=None,
                   help="TOML/JSON with [canvas] assignment names and ids and [questions] points (see INSTRUCTORS.md)")
    p.add_argument("--canvas", nargs="?", const="config", choices=["notebook", "total", "config"], default=None,
                   metavar="notebook|total",
                   help="write canvas.csv (needs --roster): one column per notebook, or one total "
                        "(default: canvas.columns of --lms-config, else notebook)")
    p.add_argument("--manual", type=Path, nargs="+", default=None, metavar="SCORES_CSV",
                   help="merge markers' scores (learner, question, points, comment) into grades.csv, the exports "
                        "and the feedback, without grading; SUBMISSIONS may then be left out")


def _setting(args, name):
    return getattr(args, name, None)


def _context(args):
    reference = Path(args.reference or batch.ROOT / "notebooks")
    refs = nbs.load_references(reference)
    config = exports.load_config(_setting(args, "lms_config"))
    solutions = reference.parent / "solutions"
    questions = marking.load_questions(refs, solutions if solutions.is_dir() else None,
                                       config.get("questions"))
    roster = rosters.load(args.roster) if _setting(args, "roster") else None
    if _setting(args, "canvas") and roster is None:
        raise ValueError("--canvas needs --roster: Canvas imports grades by its learner ids (column ID)")
    return refs, config, questions, roster


def check_arguments(args) -> None:
    """Read the roster and the LMS configuration before grading, so a mistake in them stops at once."""
    _context(args)


def write_exports(args, out: Path, rows: list, refs, config, questions, roster, scores=None, log=print) -> None:
    """grades-long.csv, canvas.csv (when asked) and the roster problems, from the rows of grades.csv."""
    exports.write_long(out / "grades-long.csv", rows, refs, questions, roster, scores)
    written = ["grades-long.csv"]
    if roster is not None:
        unknown, missing = rosters.reconcile(roster, [r["learner"] for r in rows])
        rosters.write_problems(out / "roster-problems.csv", unknown, missing)
        log(rosters.describe(unknown, missing) + ("; see roster-problems.csv" if unknown or missing else ""))
        written.append("roster-problems.csv")
    if _setting(args, "canvas"):
        mode = None if args.canvas == "config" else args.canvas
        exports.write_canvas(out / "canvas.csv", rows, refs, questions, roster, config, mode)
        written.append("canvas.csv")
    log(f"exports in {out}: {', '.join(written)}")


MERGED = Path("marking") / "merged-scores.csv"   # the marks last merged, re-applied after a regrade


def after_batch(args, rows: list, log=print) -> None:
    """Hook at the end of ``grade``: marking sheets, marks merged earlier, and exports for the rows just written."""
    out = Path(args.out)
    refs, config, questions, roster = _context(args)
    names = {k: v.name for k, v in roster.learners.items()} if roster is not None else {}
    items = batch.discover(Path(args.submissions))
    assignment = args.assignment
    if assignment is not None and not assignment.endswith(".ipynb"):
        assignment += ".ipynb"
    collected = marking.collect(items, refs, questions, assignment)
    sheets = marking.write_sheets(out, collected, questions, names)
    if sheets:
        log(f"marking: {len(sheets) // 2} question sheet(s) in {out / 'marking'}; merge the filled-in CSVs with "
            f"--manual")
    scores = {}
    if (out / MERGED).exists():
        scores, stale = _load_merged(out / MERGED, questions, rows)
        rows = _apply(out, rows, refs, questions, scores)
        log(f"marking: re-applied {len(scores)} written-answer mark(s) merged earlier ({out / MERGED})")
        if stale:
            log("marking: these learners handed in a changed notebook since they were marked; check their "
                "answers and merge again: " + ", ".join(f"{learner} {qid}" for learner, qid in stale))
    write_exports(args, out, rows, refs, config, questions, roster, scores, log=log)


def _apply(out: Path, rows: list, refs, questions, scores) -> list:
    """Write grades.csv with the marks and put them into each learner's feedback; return the merged rows."""
    sheet = out / "grades.csv"
    with open(sheet, newline="", encoding="utf-8") as f:
        header = next(csv.reader(f))
    columns, merged = marking.merged_rows(rows, header, refs, questions, scores)
    marking.write_rows(sheet, columns, merged)
    for row in merged:
        section = marking.feedback_section(row["learner"], row["notebook"], questions, scores)
        total = f"- Score: **{row['total']} / {row['max_points']}** (exercises and written answers)" \
            if row["notebook"] in refs else None
        marking.update_feedback(batch.feedback_path(out, row["learner"], row["submission"]), section, total)
    return merged


def _hashes(rows: list) -> dict:
    found = {}
    for row in rows:
        found.setdefault((row["learner"], row["notebook"]), set()).add(row.get("sha256", ""))
    return found


def _save_merged(path: Path, scores: dict, questions: dict, rows: list) -> None:
    hashes = _hashes(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["learner", "question", "points", "comment", "sha256"])
        for (learner, qid), (points, comment) in sorted(scores.items()):
            digest = ";".join(sorted(hashes.get((learner, questions[qid].notebook), ())))
            writer.writerow([learner, qid, "" if points is None else f"{points:g}", comment, digest])


def _load_merged(path: Path, questions: dict, rows: list) -> tuple[dict, list]:
    """Marks saved by the last merge that still fit the sheet, and the (learner, question) whose file changed."""
    hashes = _hashes(rows)
    scores, stale = {}, []
    with open(path, newline="", encoding="utf-8") as f:
        for entry in csv.DictReader(f):
            q = questions.get(entry["question"])
            if q is None or (entry["learner"], q.notebook) not in hashes:
                continue
            points = float(entry["points"]) if entry["points"] else None
            scores[(entry["learner"], q.id)] = (min(points, q.points) if points is not None else None,
                                                entry["comment"])
            if not set(entry["sha256"].split(";")) & hashes[(entry["learner"], q.notebook)]:
                stale.append((entry["learner"], q.id))
    return scores, stale


def merge_manual(args, log=print) -> list:
    """``grade --out DIR --manual scores.csv``: merge, rewrite grades.csv, exports and feedback; return rows."""
    out = Path(args.out)
    sheet = out / "grades.csv"
    rows = batch.read_rows(sheet)
    if not rows:
        raise FileNotFoundError(f"no graded rows in {sheet}: grade the submissions first, then merge --manual")
    refs, config, questions, roster = _context(args)
    new = marking.load_scores(args.manual, questions, rows)
    scores = _load_merged(out / MERGED, questions, rows)[0] if (out / MERGED).exists() else {}
    scores.update(new)                      # marks merged earlier stay unless these files mark them again
    merged = _apply(out, rows, refs, questions, scores)
    _save_merged(out / MERGED, scores, questions, rows)
    marked = sum(1 for points, _ in new.values() if points is not None)
    log(f"merged {marked} marked answer(s) ({len(new) - marked} comment(s) only) into {sheet} and the feedback; "
        f"{len(scores)} in all, kept in {out / MERGED}")
    write_exports(args, out, merged, refs, config, questions, roster, scores, log=log)
    return merged

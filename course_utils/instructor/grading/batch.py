"""Grade a folder of submissions in parallel; write ``grades.csv`` row by row and one feedback file each.

``python -m course_utils grade SUBMISSIONS --out DIR [--workers N | --scheduler ADDRESS] [--timeout S] [--memory-limit SIZE] [--resume]``
``[--roster CSV] [--lms-config TOML] [--canvas [notebook|total]]``; ``grade --out DIR --manual SCORES.csv ...``
(the LMS side lives in :mod:`.publish`).

SUBMISSIONS is laid out ``<learner>/<notebook>.ipynb`` (notebooks further down a learner's folder
count too; a notebook directly in SUBMISSIONS is graded with its file stem as the learner; a single
notebook path works, graded with its folder's name as the learner).
"""
from __future__ import annotations

import csv
import hashlib
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from . import notebooks as nbs
from . import results, runner

ROOT = Path(__file__).resolve().parents[3]
FIXED_HEAD = ["learner", "notebook"]
FIXED_TAIL = ["total", "max_points", "status", "detail", "submission", "sha256"]
#: statuses that say nothing about the submission (the grading machine failed): ``--resume`` grades them again
RETRIED_ON_RESUME = (runner.WORKER_LOST, runner.GRADER_ERROR)


# -- discovery -------------------------------------------------------------------------------------
def discover(submissions: Path) -> list[tuple[str, Path, str]]:
    """(learner, path, path relative to SUBMISSIONS) for every ``.ipynb``, sorted."""
    submissions = Path(submissions)
    if submissions.is_file():
        return [(submissions.resolve().parent.name, submissions, submissions.name)]
    if not submissions.is_dir():
        raise FileNotFoundError(f"no such submissions folder or notebook: {submissions}")
    found = []
    for path in sorted(submissions.rglob("*.ipynb")):
        rel = path.relative_to(submissions)
        if any(part.startswith(".") for part in rel.parts):  # .ipynb_checkpoints, hidden folders
            continue
        learner = rel.parts[0] if len(rel.parts) > 1 else path.stem
        found.append((learner, path, rel.as_posix()))
    return found


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _fmt(points) -> str:
    return f"{points:g}" if isinstance(points, (int, float)) else str(points)


# -- CSV ---------------------------------------------------------------------------------------------
class GradeSheet:
    """``grades.csv``: a row is appended, flushed and fsynced as each submission finishes."""

    def __init__(self, path: Path, exercise_columns: list[str], kept_rows: list[dict]):
        self.path = Path(path)
        self.columns = FIXED_HEAD + exercise_columns + FIXED_TAIL
        self.exercises = exercise_columns
        self.lock = threading.Lock()
        with open(self.path, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, self.columns, extrasaction="ignore")
            writer.writeheader()
            for row in kept_rows:
                writer.writerow({k: row.get(k, "") for k in self.columns})
            f.flush()
            os.fsync(f.fileno())

    def row(self, result: runner.Result) -> dict:
        return results.from_runner(result).grades_row()

    def append(self, result: runner.Result) -> dict:
        row = self.row(result)
        with self.lock, open(self.path, "a", newline="", encoding="utf-8") as f:
            csv.DictWriter(f, self.columns, extrasaction="ignore").writerow(row)
            f.flush()
            os.fsync(f.fileno())
        return row

    def sort(self) -> None:
        """Rewrite the finished sheet sorted by learner and notebook (atomically)."""
        rows = read_rows(self.path)
        rows.sort(key=lambda r: (r.get("learner", ""), r.get("notebook", ""), r.get("submission", "")))
        tmp = self.path.with_suffix(".csv.tmp")
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, self.columns, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)


def read_rows(path: Path) -> list[dict]:
    """Complete rows of an existing sheet (a row torn by a crash lacks its hash and is dropped)."""
    if not Path(path).exists():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return [r for r in csv.DictReader(f) if r.get("sha256") and len(r["sha256"]) == 64 and r.get("status")]


# -- feedback ----------------------------------------------------------------------------------------
def feedback_markdown(result) -> str:
    """The learner's feedback file, from the results model (a :class:`runner.Result` is converted first)."""
    r = result if isinstance(result, results.SubmissionResults) else results.from_runner(result)
    icon = {"passed": "✅", "failed": "❌", "timeout": "⏱️", "kernel_died": "💥", "not_run": "⏭️",
            "missing": "⏭️"}
    lines = [f"# Feedback on {r.notebook}", "",
             f"- Learner: {r.learner}", f"- Submission: `{r.submission}`",
             f"- Score: **{_fmt(r.exercise_points)} / {_fmt(r.exercise_max)}**" if r.exercises else
             "- Score: 0", f"- Status: {r.status}" + (f": {r.detail}" if r.detail else ""), ""]
    if r.exercises:
        lines += ["| Exercise | Points | Result |", "|---|---|---|"]
        for e in r.exercises:
            lines.append(f"| {e.exercise} | {_fmt(e.points)} / {_fmt(e.max_points)} | {icon.get(e.verdict, '')} "
                         f"{e.verdict.replace('_', ' ')} |")
        lines.append("")
        for e in r.exercises:
            lines += [f"## {e.exercise}: {_fmt(e.points)} / {_fmt(e.max_points)} {icon.get(e.verdict, '')}", ""]
            if e.passed:
                passed = [ln.strip() for ln in e.detail.splitlines() if ln.strip().startswith(("✓", "✅"))]
                lines += ["Passed." if not passed else "Passed:", ""] + [f"- {ln}" for ln in passed]
            else:
                lines += ["```text", e.message.strip() or e.verdict, "```"]
            lines.append("")
    else:
        lines += ["This submission could not be graded; see the status above. Nothing was run.", ""]
    lines += ["Check cells are restored from the course notebook before grading, so only your code in the "
              "other cells counts. Re-run the notebook top to bottom (Kernel > Restart & Run All) before "
              "handing it in to see these same messages.", ""]
    return "\n".join(lines)


def feedback_path(out: Path, learner: str, submission: str) -> Path:
    """``out/feedback/<learner>/<notebook path below the learner's folder>.md``."""
    stem = Path(submission).with_suffix("").as_posix().replace("/", "__")
    learner_part = Path(submission).parts
    if len(learner_part) > 1 and learner_part[0] == learner:
        stem = Path(*learner_part[1:]).with_suffix("").as_posix().replace("/", "__")
    return Path(out) / "feedback" / _safe(learner) / f"{_safe(stem)}.md"


def write_feedback(out: Path, result: runner.Result) -> Path:
    path = feedback_path(out, result.learner, result.submission)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(feedback_markdown(result), encoding="utf-8")
    os.replace(tmp, path)
    return path


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_.@+" else "_" for ch in name) or "_"


# -- summary ------------------------------------------------------------------------------------------
def summary(rows: list[dict], exercises: dict) -> str:
    """Per exercise: submissions graded, mean points, max points, how many got full points."""
    lines = [f"{'exercise':<28} {'graded':>6} {'mean':>7} {'max':>5} {'full':>5}"]
    for ex in exercises:
        values = [float(r[ex]) for r in rows if r.get(ex) not in (None, "")]
        if not values:
            continue
        top = exercises[ex]
        full = sum(v >= top for v in values) if top else 0
        lines.append(f"{ex:<28} {len(values):>6} {sum(values) / len(values):>7.2f} {_fmt(top):>5} {full:>5}")
    statuses = {}
    for r in rows:
        statuses[r["status"]] = statuses.get(r["status"], 0) + 1
    lines.append("status: " + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items())))
    return "\n".join(lines)


# -- the batch ----------------------------------------------------------------------------------------
def prepare(learner: str, path: Path, rel: str, refs: dict, assignment: str | None, data: bytes | None = None):
    """Read and match one submission; return (Result for an ungradable one | None, match, nb, hash).

    ``data``: the file's bytes when they came from elsewhere (a Dask worker gets bytes, not the file).
    """
    data = path.read_bytes() if data is None else data
    digest = hashlib.sha256(data).hexdigest()
    try:
        nb = nbs.read_notebook(data, rel)
    except (nbs.InvalidNotebook, OSError) as error:
        name = assignment or path.name
        checks = _zero_checks(refs.get(name), "not graded: the file is not a readable notebook")
        return runner.Result(learner, rel, name, runner.INVALID, str(error), checks, 0.0, digest), None, None, digest
    m = nbs.match(nb, path.name, refs, assignment)
    if m.reference is None:
        checks = _zero_checks(refs.get(m.notebook), "not graded: wrong notebook")
        return runner.Result(learner, rel, m.notebook, runner.WRONG, m.problem, checks, 0.0, digest), m, nb, digest
    return None, m, nb, digest


def note_version(result: runner.Result, nb, reference) -> runner.Result:
    """Add to ``detail`` when the submission was made from another course version than the one graded with.

    Both versions come from ``metadata.course.version``, which every build and release stamps. Points are not
    changed: the note tells the instructor why a learner's checks may differ from what they saw.
    """
    import json
    made = (nb.get("metadata", {}).get("course") or {}).get("version") if nb is not None else None
    try:
        graded = json.loads(Path(reference.path).read_text(encoding="utf-8"))["metadata"]["course"]["version"]
    except (OSError, ValueError, KeyError, TypeError):
        graded = None
    if made is None or graded is None or str(made) == str(graded):
        return result
    note = f"made from course version {made}, graded with {graded}"
    result.detail = f"{result.detail}; {note}" if result.detail else note
    return result


def grade_one(learner: str, rel: str, data: bytes, refs: dict, assignment: str | None,
              limits: runner.Limits) -> runner.Result:
    """Grade one submission given as bytes: the same on every pool (threads here, or a Dask worker)."""
    path = Path(rel)
    early, m, nb, digest = prepare(learner, path, rel, refs, assignment, data)
    if early is not None:
        return early
    return note_version(runner.grade(path, learner, rel, m, nb, limits, None, digest), nb, m.reference)


# -- pools: where submissions are graded -------------------------------------------------------------
class LocalPool:
    """``--workers N`` threads on this machine, each grading one submission at a time (in its own process)."""

    def __init__(self, workers: int):
        self.workers = max(1, workers)
        self.executor = None

    def describe(self) -> str:
        return f"{self.workers} worker(s)"

    def grade(self, todo: list, refs: dict, assignment: str | None, limits: runner.Limits):
        """Yield ((learner, path, rel), Result or the exception grading raised) as each finishes."""
        if limits.threads <= 0:
            limits.threads = runner.default_threads(self.workers)

        def job(learner, path, rel):
            return grade_one(learner, rel, path.read_bytes(), refs, assignment, limits)

        runner.STOPPING.clear()
        self.executor = ThreadPoolExecutor(max_workers=self.workers)
        futures = {self.executor.submit(job, *item): item for item in todo}
        for future in as_completed(futures):
            try:
                yield futures[future], future.result()
            except Exception as error:
                yield futures[future], error

    def stop(self) -> None:
        """Interrupted: cancel what has not started and kill the grading processes running now."""
        if self.executor is not None:
            self.executor.shutdown(wait=False, cancel_futures=True)
        runner.kill_all()

    def close(self) -> None:
        if self.executor is not None:
            self.executor.shutdown(wait=True)


def choose_pool(workers: int | None, scheduler: str | None = None):
    """The local pool (``--workers``), or a Dask cluster's workers (``--scheduler``, :mod:`.distributed`)."""
    if scheduler is None:
        return LocalPool(workers or os.cpu_count() or 1)
    from . import distributed
    pool = distributed.DaskPool(scheduler)
    pool.connect()
    return pool


def _zero_checks(ref, message):
    if ref is None:
        return []
    return [runner.CheckResult(c, 0, p, "not_run", message) for c, p in ref.checks.items()]


def grade_batch(submissions: Path, out: Path, reference: Path | None = None, workers: int | None = 1,
                limits: runner.Limits | None = None, resume: bool = False, assignment: str | None = None,
                log=print, scheduler: str | None = None) -> list[dict]:
    """Grade everything under ``submissions``; return the rows of ``out/grades.csv``.

    ``scheduler``: a Dask scheduler address or scheduler file; each submission is then graded on the
    cluster (:mod:`.distributed`) and only this process writes ``out``.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    refs = nbs.load_references(Path(reference or ROOT / "notebooks"))
    if assignment is not None:
        assignment = assignment if assignment.endswith(".ipynb") else assignment + ".ipynb"
        if assignment not in refs:
            raise ValueError(f"--assignment {assignment!r} is not a course notebook; have {sorted(refs)}")
    limits = limits or runner.Limits()
    exercises = {c: p for ref in refs.values() for c, p in ref.checks.items()}
    sheet_path = out / "grades.csv"

    items = discover(Path(submissions))
    done = {}
    if resume:
        for row in read_rows(sheet_path):
            done[(row["learner"], row["submission"])] = row
    kept, todo = [], []
    for learner, path, rel in items:
        row = done.get((learner, rel))
        if row is not None and row["sha256"] == sha256(path) and row["status"] not in RETRIED_ON_RESUME:
            kept.append(row)
        else:
            todo.append((learner, path, rel))
    pool = choose_pool(workers, scheduler)  # before the sheet is rewritten: a cluster that fails leaves it alone
    sheet = GradeSheet(sheet_path, list(exercises), kept)
    if resume:
        log(f"resume: {len(kept)} submission(s) already graded and unchanged, {len(todo)} to grade")
    rows = list(kept)
    started = time.monotonic()
    try:
        for n, (item, result) in enumerate(pool.grade(todo, refs, assignment, limits), start=1):
            learner, path, rel = item
            if isinstance(result, BaseException):  # a bug must not lose the batch: record it and go on
                result = runner.Result(learner, rel, path.name, runner.GRADER_ERROR,
                                       f"{type(result).__name__}: {result}", [], 0.0, sha256(path))
            write_feedback(out, result)
            rows.append(sheet.append(result))
            log(f"[{n}/{len(todo)}] {learner}/{Path(rel).name}: {_fmt(result.total)}/{_fmt(result.max_points)} "
                f"{result.status} ({result.seconds:.1f} s)")
    except BaseException:  # Ctrl-C: rows written so far stay; stop the rest now (--resume continues)
        pool.stop()
        raise
    pool.close()
    sheet.sort()
    log(f"graded {len(todo)} submission(s) in {time.monotonic() - started:.1f} s with {pool.describe()}; "
        f"results in {sheet_path}")
    log(summary(rows, exercises))
    return read_rows(sheet_path)


def main(args) -> int:
    from . import publish  # roster, marking sheets, LMS exports, --manual (see publish.py)
    try:
        if getattr(args, "manual", None):
            publish.merge_manual(args)
            return 0
        if args.submissions is None:
            raise ValueError("name the SUBMISSIONS folder (only --manual works without one)")
        publish.check_arguments(args)
        if getattr(args, "scheduler", None) is not None and args.workers is not None:
            raise ValueError("--workers sizes the local pool; with --scheduler the Dask cluster's workers grade "
                             "(start more with `dask worker`), so leave --workers out")
        limits = runner.Limits(cell_timeout=args.timeout, wall_timeout=args.wall_timeout,
                               memory_bytes=runner.parse_size(args.memory_limit), threads=args.threads)
        rows = grade_batch(args.submissions, args.out, args.reference, args.workers, limits, args.resume,
                           args.assignment, scheduler=getattr(args, "scheduler", None))
        publish.after_batch(args, rows)
    except (FileNotFoundError, ValueError) as error:
        print(f"grade: {error}", file=sys.stderr)
        return 2
    return 0


def add_arguments(p) -> None:
    p.add_argument("submissions", type=Path, nargs="?", default=None,
                   help="folder laid out <learner>/<notebook>.ipynb, or one notebook")
    p.add_argument("--out", type=Path, required=True, help="folder for grades.csv and feedback/")
    p.add_argument("--workers", type=int, default=None,
                   help="submissions graded at once on this machine (default: CPU count)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="grade on a Dask cluster: its scheduler's address (tcp://host:8786) or scheduler file "
                        "(needs course_utils[dask]; docs/INSTRUCTORS.md, 'Grading on a Dask cluster')")
    p.add_argument("--timeout", type=float, default=120.0, help="per-cell time limit in seconds (default 120)")
    p.add_argument("--wall-timeout", type=float, default=1800.0,
                   help="time limit for a whole submission in seconds (default 1800)")
    p.add_argument("--memory-limit", default="4G",
                   help="address-space limit of each submission's kernel, e.g. 4G, 512M; 0: none (default 4G)")
    p.add_argument("--threads", type=int, default=0,
                   help="CPU threads per kernel (default: CPU count / workers, at most $OMP_NUM_THREADS when set)")
    p.add_argument("--resume", action="store_true",
                   help="keep rows of an existing grades.csv whose submission is unchanged; grade the rest "
                        "and rows whose status says the grader failed (worker lost, grader error)")
    p.add_argument("--reference", type=Path, default=None,
                   help="folder of course (student) notebooks to grade against (default: notebooks/)")
    p.add_argument("--assignment", default=None,
                   help="grade every submission as this course notebook (e.g. 02_early_fusion); "
                        "others are 'wrong notebook'")
    from . import publish
    publish.add_arguments(p)

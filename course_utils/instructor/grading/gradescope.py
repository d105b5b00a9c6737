"""Gradescope: build the autograder zip, and grade the one submission inside Gradescope's container.

``python -m course_utils gradescope --out autograder.zip [--notebook NN] [--timeout S] [--wall-timeout S]``
writes a zip with, at its root,

- ``setup.sh``: run once when Gradescope builds the image: a Python >= 3.11 virtual environment in
  ``/autograder/venv`` with CPU PyTorch and this course's package with its ``[instructor]`` extra;
- ``run_autograder``: run for every submission: grades the notebook(s) in ``/autograder/submission`` with this
  grader (:func:`run`) and writes ``/autograder/results/results.json``;
- the course: ``pyproject.toml``, ``course_utils/`` (with the hidden checks and references) and the course
  notebooks the grader restores check cells from (``notebooks/``). Never ``solutions/``.

Gradescope unzips it into ``/autograder/source``. ``run_autograder`` reads ``AUTOGRADER_ROOT`` (default
``/autograder``) and ``AUTOGRADER_PYTHON`` (default the virtual environment's Python), so tests can lay out
Gradescope's folders anywhere.

``results.json`` (Gradescope's schema): ``score`` (the sum of the tests), ``execution_time`` (seconds),
``output`` (the submission's status), ``visibility``, and ``tests``: one per exercise with ``name``,
``number``, ``score``, ``max_score``, ``status`` (``passed``/``failed``), ``output`` (what passed, or the check's
message saying what to fix) and ``visibility``.
"""
from __future__ import annotations

import argparse
import json
import os
import stat
import sys
import time
import traceback
import zipfile
from pathlib import Path

from . import batch, results, runner
from . import notebooks as nbs

ROOT = batch.ROOT
VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")
SKIP_PARTS = {"__pycache__", ".ipynb_checkpoints", ".pytest_cache"}

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image (Ubuntu).
set -euo pipefail
cd /autograder/source
PY=""
for candidate in python3.13 python3.12 python3.11; do
  if command -v "$candidate" >/dev/null 2>&1; then PY="$candidate"; break; fi
done
if [ -z "$PY" ]; then
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y python3.11 python3.11-venv
  PY=python3.11
fi
if ! "$PY" -m venv /autograder/venv; then
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y "$PY-venv"
  "$PY" -m venv /autograder/venv
fi
/autograder/venv/bin/python -m pip install --upgrade pip
/autograder/venv/bin/python -m pip install torch --index-url https://download.pytorch.org/whl/cpu
/autograder/venv/bin/python -m pip install "/autograder/source[instructor]"
/autograder/venv/bin/python -m ipykernel install --sys-prefix --name python3
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission; it writes $ROOT/results/results.json.
set -u
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
PYTHON="${{AUTOGRADER_PYTHON:-$ROOT/venv/bin/python}}"
cd "$ROOT/source"
exec "$PYTHON" -m course_utils.instructor.grading.gradescope --root "$ROOT" \\
  --reference "$ROOT/source/notebooks" {options}
"""


# -- results.json ---------------------------------------------------------------------------------------
def results_json(graded: list, seconds: float, visibility: str = "visible", note: str = "") -> dict:
    """Gradescope's results for the graded notebook(s) of one submission.

    ``graded``: :class:`.results.SubmissionResults` each (a :class:`runner.Result` is converted first).
    """
    if visibility not in VISIBILITIES:
        raise ValueError(f"visibility should be one of {', '.join(VISIBILITIES)}, got {visibility!r}")
    tests, lines = [], [note] if note else []
    for r in (g if isinstance(g, results.SubmissionResults) else results.from_runner(g) for g in graded):
        lines.append(f"{r.notebook}: {r.exercise_points:g} / {r.exercise_max:g}, status {r.status}"
                     + (f": {r.detail}" if r.detail else ""))
        for e in r.exercises:
            tests.append({"name": e.exercise, "number": str(len(tests) + 1), "score": float(e.points),
                          "max_score": float(e.max_points), "status": "passed" if e.passed else "failed",
                          "output": e.learner_text(), "visibility": visibility})
    return {"score": float(sum(t["score"] for t in tests)), "execution_time": int(round(seconds)),
            "output": "\n".join(lines), "visibility": visibility, "stdout_visibility": "hidden",
            "tests": tests}


def write_results(root: Path, data: dict) -> Path:
    path = Path(root) / "results" / "results.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)
    return path


# -- grading one submission ---------------------------------------------------------------------------
def grade_submission(submission: Path, refs: dict, assignment: str | None, limits: runner.Limits) -> list:
    """Results for the notebooks in Gradescope's submission folder, best per course notebook."""
    items = [(path, path.relative_to(submission).as_posix()) for path in sorted(submission.rglob("*.ipynb"))
             if not any(p.startswith(".") for p in path.relative_to(submission).parts)]
    results = []
    for path, rel in items:
        early, m, nb, digest = batch.prepare("submission", path, rel, refs, assignment)
        results.append(early if early is not None else
                       runner.grade(path, "submission", rel, m, nb, limits, None, digest))
    if assignment is not None:
        right = [r for r in results if r.notebook == assignment and r.status != runner.WRONG]
        results = right or results[:1]
    best = {}
    for r in results:
        if r.notebook not in best or r.total > best[r.notebook].total:
            best[r.notebook] = r
    return [best[k] for k in sorted(best)]


def run(root: Path, reference: Path, assignment: str | None = None, limits: runner.Limits | None = None,
        visibility: str = "visible") -> dict:
    """Grade ``root/submission`` and write ``root/results/results.json``; return what was written."""
    started = time.monotonic()
    root = Path(root)
    try:
        refs = nbs.load_references(reference)
        if assignment is not None:
            assignment = assignment if assignment.endswith(".ipynb") else assignment + ".ipynb"
            if assignment not in refs:
                raise ValueError(f"--notebook {assignment!r} is not a course notebook; have {sorted(refs)}")
        results = grade_submission(root / "submission", refs, assignment, limits or runner.Limits())
        note = ""
        if not results:
            note = "No .ipynb file was found in your submission: upload the notebook file itself."
            if assignment is not None:
                results = [runner.Result("submission", "", assignment, "missing", "no notebook submitted",
                                         batch._zero_checks(refs[assignment], "not graded: no notebook submitted"))]
        data = results_json(results, time.monotonic() - started, visibility, note)
    except Exception as error:  # Gradescope shows this text; a traceback in its log helps the instructor
        traceback.print_exc()
        data = {"score": 0.0, "execution_time": int(round(time.monotonic() - started)), "visibility": visibility,
                "output": f"The autograder failed ({type(error).__name__}: {error}); please tell your instructor.",
                "tests": []}
    write_results(root, data)
    return data


# -- the zip --------------------------------------------------------------------------------------------
def _add(zf: zipfile.ZipFile, name: str, data: bytes, executable: bool = False) -> None:
    info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
    info.external_attr = ((0o755 if executable else 0o644) | stat.S_IFREG) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    zf.writestr(info, data)


def build_zip(out: Path, assignment: str | None = None, reference: Path | None = None,
              cell_timeout: float = 120.0, wall_timeout: float = 1200.0, memory_limit: str = "3G",
              visibility: str = "visible", source: Path = ROOT) -> Path:
    """Write Gradescope's autograder zip (see the module docstring); return its path."""
    source = Path(source)
    reference = Path(reference or source / "notebooks")
    refs = nbs.load_references(reference)
    if assignment is not None:
        assignment = assignment if assignment.endswith(".ipynb") else assignment + ".ipynb"
        if assignment not in refs:
            raise ValueError(f"--notebook {assignment!r} is not a course notebook; have {sorted(refs)}")
    if visibility not in VISIBILITIES:
        raise ValueError(f"--visibility should be one of {', '.join(VISIBILITIES)}")
    runner.parse_size(memory_limit)
    options = [f"--timeout {cell_timeout:g}", f"--wall-timeout {wall_timeout:g}",
               f"--memory-limit {memory_limit}", f"--visibility {visibility}"]
    if assignment:
        options.append(f"--notebook {assignment}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w") as zf:
        _add(zf, "setup.sh", SETUP_SH.encode(), executable=True)
        _add(zf, "run_autograder", RUN_AUTOGRADER.format(options=" ".join(options)).encode(), executable=True)
        _add(zf, "pyproject.toml", (source / "pyproject.toml").read_bytes())
        if (source / "README.md").exists():
            _add(zf, "README.md", (source / "README.md").read_bytes())
        package = source / "course_utils"
        for path in sorted(package.rglob("*")):
            rel = path.relative_to(source)
            if path.is_file() and not SKIP_PARTS & set(rel.parts) and path.suffix not in (".pyc", ".pyo"):
                _add(zf, rel.as_posix(), path.read_bytes())
        for name in refs:
            _add(zf, f"notebooks/{name}", (reference / name).read_bytes())
    os.replace(tmp, out)
    return out


def add_arguments(p) -> None:
    p.add_argument("--out", type=Path, required=True, help="the zip to write, e.g. autograder.zip")
    p.add_argument("--notebook", default=None,
                   help="grade every submission as this course notebook (e.g. 02_early_fusion); "
                        "default: whichever course notebook each uploaded file is")
    p.add_argument("--reference", type=Path, default=None, help="course notebooks (default: notebooks/)")
    p.add_argument("--timeout", type=float, default=120.0, help="per-cell time limit in seconds (default 120)")
    p.add_argument("--wall-timeout", type=float, default=1200.0,
                   help="limit for the whole notebook in seconds (default 1200; keep it below Gradescope's)")
    p.add_argument("--memory-limit", default="3G", help="address-space limit of the kernel (default 3G)")
    p.add_argument("--visibility", default="visible", choices=VISIBILITIES,
                   help="when learners see the results (Gradescope's visibility; default visible)")


def main(args) -> int:
    try:
        path = build_zip(args.out, args.notebook, args.reference, args.timeout, args.wall_timeout,
                         args.memory_limit, args.visibility)
    except (FileNotFoundError, ValueError) as error:
        print(f"gradescope: {error}", file=sys.stderr)
        return 2
    print(f"wrote {path}: upload it as the autograder of a Gradescope programming assignment")
    return 0


def run_main(argv=None) -> int:
    """Entry point of ``run_autograder`` (inside Gradescope's container)."""
    p = argparse.ArgumentParser(prog="run_autograder", description="grade ROOT/submission for Gradescope")
    p.add_argument("--root", type=Path, default=Path("/autograder"))
    p.add_argument("--reference", type=Path, required=True)
    p.add_argument("--notebook", default=None)
    p.add_argument("--timeout", type=float, default=120.0)
    p.add_argument("--wall-timeout", type=float, default=1200.0)
    p.add_argument("--memory-limit", default="3G")
    p.add_argument("--visibility", default="visible", choices=VISIBILITIES)
    a = p.parse_args(argv)
    limits = runner.Limits(cell_timeout=a.timeout, wall_timeout=a.wall_timeout,
                           memory_bytes=runner.parse_size(a.memory_limit), threads=runner.default_threads(1))
    data = run(a.root, a.reference, a.notebook, limits, a.visibility)
    print(f"score {data['score']:g}; results in {a.root / 'results' / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main())

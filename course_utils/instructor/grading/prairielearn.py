"""PrairieLearn: the files of a PrairieLearn course, and the grader's entrypoint inside its container.

``python -m course_utils prairielearn --out DIR [--notebook NN ...]`` writes, below DIR (a PrairieLearn
course folder, or a folder to copy into one):

- ``questions/notebook_NN/``: per course notebook a question: ``info.json`` (``externalGradingOptions``:
  image, entrypoint, ``serverFilesCourse``, ``timeout`` <= 600 s, ``enableNetworking`` false; and
  ``workspaceOptions``: PrairieLearn's JupyterLab image with the course added, ``gradedFiles`` naming the
  notebook), ``question.html`` (workspace and grader results), ``workspace/NN.ipynb`` (the learner's
  starting notebook) and ``tests/notebook.txt`` (which notebook the grader grades);
- ``serverFilesCourse/course_grader/``: ``run.sh`` (the entrypoint), ``pyproject.toml``, ``course_utils/``
  (with the hidden checks and references) and the course notebooks check cells are restored from. It
  reaches a grading job only, never a learner;
- ``docker/grader/Dockerfile`` and ``docker/workspace/Dockerfile`` (from ``docker/prairielearn/``): the
  grading image (CPU PyTorch, the learner runtime and the grading engine; no course files, so it may be
  public) and the workspace image.

In the container the job's files lie under ``/grade`` (``student/``, ``serverFilesCourse/``, ``tests/``,
``results/``); ``run.sh`` reads ``PL_GRADE_ROOT`` (default ``/grade``) and ``PL_PYTHON`` (default
``python3``) so tests can lay them out anywhere. It grades ``student/`` with this grader (:func:`run`) and
always writes ``results/results.json`` in PrairieLearn's schema: ``gradable``, ``score`` in [0, 1],
``format_errors`` (when the submission is empty, not a notebook, or not this course's notebook: no attempt
is charged), ``message``, ``output`` and ``tests`` (``name``, ``description``, ``points``, ``max_points``,
``message``, ``output``), under PrairieLearn's 1 MB limit (long texts are cut, with a note).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
import uuid
from pathlib import Path

from . import batch, results, runner
from . import notebooks as nbs

ROOT = batch.ROOT
DOCKER = ROOT / "docker" / "prairielearn"
PL_MAX_TIMEOUT = 600                 # PrairieLearn's limit on externalGradingOptions.timeout (seconds)
RESULTS_LIMIT = 1_000_000            # PrairieLearn drops a results.json above 1 MB
FIELD_LIMIT = 20_000                 # characters of one message or output before it is cut
SKIP_PARTS = {"__pycache__", ".ipynb_checkpoints", ".pytest_cache"}
GRADER_DIR = "course_grader"
ENTRYPOINT = f"/grade/serverFilesCourse/{GRADER_DIR}/run.sh"

RUN_SH = """#!/usr/bin/env bash
# PrairieLearn runs this for every submission (as root); it writes $GRADE/results/results.json.
set -u
GRADE="${{PL_GRADE_ROOT:-/grade}}"
PYTHON="${{PL_PYTHON:-python3}}"
HERE="$GRADE/serverFilesCourse/{grader_dir}"
NOTEBOOK="${{COURSE_NOTEBOOK:-$(cat "$GRADE/tests/notebook.txt" 2>/dev/null)}}"
cd "$HERE"
export PYTHONPATH="$HERE${{PYTHONPATH:+:$PYTHONPATH}}"
rm -f "$GRADE/results/results.json"
"$PYTHON" -m course_utils.instructor.grading.prairielearn --root "$GRADE" \\
  --reference "$HERE/notebooks" --notebook "$NOTEBOOK" {options}
code=$?
if [ ! -s "$GRADE/results/results.json" ]; then
  # the grader did not even start (a broken image): still tell PrairieLearn, charging no attempt
  mkdir -p "$GRADE/results"
  cat > "$GRADE/results/results.json" <<'JSON'
{{"gradable": false, "score": 0, "format_errors": ["The grader could not start (exit code in the job's log); please tell your instructor. No attempt was charged."], "message": "The grader could not start; please tell your instructor.", "output": "", "tests": []}}
JSON
  echo "grader exited with code $code without results.json" >&2
fi
exit 0
"""

QUESTION_HTML = """<pl-question-panel>
  <p>Work on <code>{name}</code> in the workspace, run it top to bottom, then save and submit it from the
  workspace. The check cells are restored from the course before grading.</p>
  <pl-workspace></pl-workspace>
</pl-question-panel>
<pl-submission-panel>
  <pl-external-grader-results></pl-external-grader-results>
  <pl-file-preview></pl-file-preview>
</pl-submission-panel>
"""


# -- results.json ---------------------------------------------------------------------------------------
def clip(text: str, limit: int = FIELD_LIMIT) -> str:
    """``text`` cut to ``limit`` characters, with a note saying how much was cut."""
    text = text or ""
    if len(text) <= limit:
        return text
    cut = len(text) - limit
    return text[:limit] + f"\n[... {cut} more characters cut: PrairieLearn keeps results under 1 MB]"


def not_gradable(errors: list, message: str = "") -> dict:
    """results.json for a submission PrairieLearn should not charge an attempt for."""
    return {"gradable": False, "score": 0.0, "format_errors": [clip(e, 2000) for e in errors],
            "message": clip(message or errors[0], 2000), "output": "", "tests": []}


def results_json(model: results.SubmissionResults, seconds: float = 0.0) -> dict:
    """PrairieLearn's results for one graded submission (its results model)."""
    top = model.exercise_max
    tests = [{"name": e.exercise, "description": f"{model.notebook}: exercise {e.exercise}",
              "points": float(e.points), "max_points": float(e.max_points),
              "message": clip(e.learner_text()), "output": clip(e.verdict.replace("_", " "))}
             for e in model.exercises]
    status = f"{model.notebook}: {model.exercise_points:g} / {top:g}, status {model.status}"
    data = {"gradable": True, "score": min(1.0, max(0.0, model.exercise_points / top)) if top else 0.0,
            "message": clip(status + (f": {model.detail}" if model.detail else ""), 4000),
            "output": f"graded in {seconds:.1f} s", "tests": tests}
    return fit(data)


def fit(data: dict, limit: int = RESULTS_LIMIT) -> dict:
    """Cut the tests' texts until the JSON is under ``limit`` bytes (PrairieLearn's limit is 1 MB)."""
    size = len(json.dumps(data, ensure_ascii=False).encode())
    field = FIELD_LIMIT
    while size >= limit and field > 50:
        field //= 4
        for test in data.get("tests", []):
            test["message"], test["output"] = clip(test["message"], field), clip(test["output"], field)
        data["message"], data["output"] = clip(data["message"], field), clip(data["output"], field)
        size = len(json.dumps(data, ensure_ascii=False).encode())
    return data


def write_results(root: Path, data: dict) -> Path:
    """Write ``root/results/results.json`` atomically, through a fresh file of a random name (created with
    O_EXCL, so a name planted in ``results/`` beforehand is never followed)."""
    path = Path(root) / "results" / "results.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".results-", suffix=".json", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(json.dumps(data, indent=1, ensure_ascii=False))
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    return path


# -- grading one submission ---------------------------------------------------------------------------
def grade_student(student: Path, refs: dict, assignment: str, limits: runner.Limits) -> dict:
    """PrairieLearn's results for the notebook in ``student/`` graded as course notebook ``assignment``."""
    started = time.monotonic()
    files = [p for p in sorted(student.rglob("*")) if p.is_file()
             and not any(part.startswith(".") for part in p.relative_to(student).parts)] if student.is_dir() else []
    if not files:
        return not_gradable([f"The submission is empty: submit {assignment} from the workspace."])
    candidates = [p for p in files if p.suffix == ".ipynb"]
    if not candidates:
        names = ", ".join(p.name for p in files[:5])
        return not_gradable([f"No notebook was submitted (got {names}): submit {assignment} itself."])
    candidates.sort(key=lambda p: p.name != assignment)      # the graded file's own name first
    problems = []
    for path in candidates:
        rel = path.relative_to(student).as_posix()
        early, match, nb, digest = batch.prepare("student", path, rel, refs, assignment)
        if early is not None:
            problems.append(f"{rel}: {early.status}: {early.detail}")
            continue
        result = batch.note_version(runner.grade(path, "student", rel, match, nb, limits, None, digest),
                                    nb, match.reference)
        version = str((nb.get("metadata", {}).get("course") or {}).get("version", ""))
        return results_json(results.from_runner(result, version), time.monotonic() - started)
    return not_gradable([f"Not this course's {assignment}: {p}" for p in problems])


def run(root: Path, reference: Path, assignment: str, limits: runner.Limits | None = None) -> dict:
    """Grade ``root/student`` and write ``root/results/results.json``; return what was written."""
    root = Path(root)
    try:
        refs = nbs.load_references(reference)
        assignment = assignment if assignment.endswith(".ipynb") else assignment + ".ipynb"
        if assignment not in refs:
            raise ValueError(f"notebook {assignment!r} is not a course notebook; have {sorted(refs)}")
        data = grade_student(root / "student", refs, assignment, limits or runner.Limits())
    except Exception as error:       # PrairieLearn shows the message; the traceback goes to the job's log
        traceback.print_exc()
        data = not_gradable([f"The grader failed ({type(error).__name__}: {error}); please tell your "
                             "instructor. No attempt was charged."])
    write_results(root, data)
    return data


# -- the course files ---------------------------------------------------------------------------------
def question_id(name: str) -> str:
    return "notebook_" + name.removesuffix(".ipynb")


def info_json(name: str, grader_image: str, workspace_image: str, timeout: int) -> dict:
    """A question's info.json (uuid derived from the notebook's name, so rebuilding keeps it)."""
    return {"uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"course_utils/prairielearn/{name}")),
            "title": f"Notebook {name.removesuffix('.ipynb')}", "topic": "Notebooks", "tags": ["notebook"],
            "type": "v3", "singleVariant": True, "gradingMethod": "External",
            "externalGradingOptions": {"enabled": True, "image": grader_image, "entrypoint": ENTRYPOINT,
                                       "serverFilesCourse": [f"{GRADER_DIR}/"], "timeout": timeout,
                                       "enableNetworking": False},
            "workspaceOptions": {"image": workspace_image, "port": 8080, "home": "/home/jovyan",
                                 "rewriteUrl": False, "gradedFiles": [name]}}


def _copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)


def build(out: Path, notebooks: list | None = None, reference: Path | None = None, timeout: int = PL_MAX_TIMEOUT,
          margin: float = 60.0, cell_timeout: float = 120.0, memory_limit: str = "3G",
          grader_image: str = "COURSE/notebook-grader", workspace_image: str = "COURSE/notebook-workspace",
          source: Path = ROOT) -> list:
    """Write the PrairieLearn files (module docstring); return the question folders written."""
    source, out = Path(source), Path(out)
    reference = Path(reference or source / "notebooks")
    refs = nbs.load_references(reference)
    if not 0 < timeout <= PL_MAX_TIMEOUT:
        raise ValueError(f"--timeout should be in (0, {PL_MAX_TIMEOUT}] seconds (PrairieLearn's limit), got {timeout}")
    if not 0 < margin < timeout:
        raise ValueError(f"--margin should be between 0 and --timeout ({timeout} s), got {margin:g}")
    runner.parse_size(memory_limit)
    names = [n if n.endswith(".ipynb") else n + ".ipynb" for n in (notebooks or [])] or list(refs)
    for name in names:
        if name not in refs:
            raise ValueError(f"--notebook {name!r} is not a course notebook; have {sorted(refs)}")
    wall = timeout - margin
    options = (f"--timeout {cell_timeout:g} --wall-timeout {wall:g} "
               f"--memory-limit {memory_limit}")
    grader = out / "serverFilesCourse" / GRADER_DIR
    if grader.exists():
        shutil.rmtree(grader)
    grader.mkdir(parents=True)
    entry = grader / "run.sh"
    entry.write_text(RUN_SH.format(grader_dir=GRADER_DIR, options=options), encoding="utf-8")
    entry.chmod(0o755)
    _copy(source / "pyproject.toml", grader / "pyproject.toml")
    for path in sorted((source / "course_utils").rglob("*")):
        rel = path.relative_to(source)
        if path.is_file() and not SKIP_PARTS & set(rel.parts) and path.suffix not in (".pyc", ".pyo"):
            _copy(path, grader / rel)
    for name in refs:
        _copy(reference / name, grader / "notebooks" / name)
    for kind in ("grader", "workspace"):
        _copy(DOCKER / f"{kind}.Dockerfile", out / "docker" / kind / "Dockerfile")
    written = []
    for name in names:
        q = out / "questions" / question_id(name)
        (q / "tests").mkdir(parents=True, exist_ok=True)
        (q / "info.json").write_text(json.dumps(info_json(name, grader_image, workspace_image, timeout),
                                                indent=2) + "\n", encoding="utf-8")
        (q / "question.html").write_text(QUESTION_HTML.format(name=name), encoding="utf-8")
        (q / "tests" / "notebook.txt").write_text(name + "\n", encoding="utf-8")
        _copy(reference / name, q / "workspace" / name)
        written.append(q)
    return written


def add_arguments(p) -> None:
    p.add_argument("--out", type=Path, required=True, help="PrairieLearn course folder to write into")
    p.add_argument("--notebook", nargs="+", default=None, help="course notebooks to make questions of "
                   "(e.g. 02_early_fusion; default: every course notebook)")
    p.add_argument("--reference", type=Path, default=None, help="course notebooks (default: notebooks/)")
    p.add_argument("--timeout", type=int, default=PL_MAX_TIMEOUT,
                   help=f"PrairieLearn's job timeout in seconds (at most {PL_MAX_TIMEOUT}; default {PL_MAX_TIMEOUT})")
    p.add_argument("--margin", type=float, default=60.0,
                   help="the grader stops this many seconds before PrairieLearn's timeout (default 60)")
    p.add_argument("--cell-timeout", type=float, default=120.0, help="per-cell limit in seconds (default 120)")
    p.add_argument("--memory-limit", default="3G", help="address-space limit of the kernel (default 3G)")
    p.add_argument("--grader-image", default="COURSE/notebook-grader",
                   help="Docker Hub name of the grading image built from docker/grader/Dockerfile")
    p.add_argument("--workspace-image", default="COURSE/notebook-workspace",
                   help="Docker Hub name of the workspace image built from docker/workspace/Dockerfile")


def main(args) -> int:
    try:
        written = build(args.out, args.notebook, args.reference, args.timeout, args.margin, args.cell_timeout,
                        args.memory_limit, args.grader_image, args.workspace_image)
    except (FileNotFoundError, ValueError) as error:
        print(f"prairielearn: {error}", file=sys.stderr)
        return 2
    print(f"wrote {len(written)} question(s) under {args.out / 'questions'} and the grader under "
          f"{args.out / 'serverFilesCourse' / GRADER_DIR}; build and push the images in {args.out / 'docker'}")
    return 0


def run_main(argv=None) -> int:
    """Entry point of ``run.sh`` (inside PrairieLearn's grading container)."""
    p = argparse.ArgumentParser(prog="run.sh", description="grade ROOT/student for PrairieLearn")
    p.add_argument("--root", type=Path, default=Path("/grade"))
    p.add_argument("--reference", type=Path, required=True)
    p.add_argument("--notebook", required=True)
    p.add_argument("--timeout", type=float, default=120.0)
    p.add_argument("--wall-timeout", type=float, default=540.0)
    p.add_argument("--memory-limit", default="3G")
    a = p.parse_args(argv)
    limits = runner.Limits(cell_timeout=a.timeout, wall_timeout=a.wall_timeout,
                           memory_bytes=runner.parse_size(a.memory_limit), threads=runner.default_threads(1))
    data = run(a.root, a.reference, a.notebook, limits)
    print(f"gradable {data['gradable']}, score {data['score']:g}; results in {a.root / 'results' / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main())
